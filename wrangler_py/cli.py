"""`wrangler-py`: the project tool. Each subcommand is a small function over a loaded config.

Subcommands import the app stack lazily so that `check` stays quick and works without building anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from pydantic import SecretStr

from wrangler_py.build import add_build_parser
from wrangler_py.config import DEFAULT_CONFIG, ConfigError, LoadedConfig, environments, load_config
from wrangler_py.deploy import add_deploy_parser
from wrangler_py.secrets import add_secret_parser, load_with_secret_file
from wrangler_py.status import add_status_parser
from wrangler_py.tail import LOGS_FOLDER, add_tail_parser

if TYPE_CHECKING:
    from edge import EdgeSettings


def _load(args: argparse.Namespace) -> LoadedConfig:
    return load_config(Path(args.config), env=getattr(args, "env", None))


def _logging(args: argparse.Namespace, service: str, region: str | None, log_dir: Path | None = None) -> None:
    """The process's log handlers: `--log-format` on stderr and, for dev processes, JSON lines for `tail`; each
    line carries the fields of the request being served (request id, trace id, market, route)."""
    import edge
    import origin
    from wrangler_py.logs import configure_logging

    providers = {"edge": [edge.log_fields], "origin": [origin.log_fields]}.get(
        service, [edge.log_fields, origin.log_fields]
    )
    configure_logging(
        service, region=region, level=args.log_level, fmt=args.log_format, log_dir=log_dir, providers=providers
    )


def _access_sample(args: argparse.Namespace) -> float | None:
    """The edge's access-log share from --access-log (every request) or --access-log-sample; None: as configured."""
    sample: float | None = getattr(args, "access_log_sample", None)
    return 1.0 if args.access_log and sample is None else sample


def _edge_access_log(settings: EdgeSettings, args: argparse.Namespace) -> EdgeSettings:
    sample = _access_sample(args)
    if sample is None:
        return settings
    observability = settings.observability.model_copy(update={"access_log_sample": sample})
    return settings.model_copy(update={"observability": observability})


def _origin_access_log(loaded: LoadedConfig, args: argparse.Namespace) -> LoadedConfig:
    if not args.access_log:
        return loaded
    cfg = loaded.config
    observability = cfg.origin.observability.model_copy(update={"access_log": True})
    origin = cfg.origin.model_copy(update={"observability": observability})
    return dataclasses.replace(loaded, config=cfg.model_copy(update={"origin": origin}))


def _sample(text: str) -> float:
    """argparse type: a share of requests."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: a share of requests from 0 to 1, e.g. 0.01")
    return value


def cmd_check(args: argparse.Namespace) -> int:
    """The chosen environment; without --env, the top level and then every [env.NAME] in the file."""
    source = Path(args.config)
    defined = environments(source.read_text(encoding="utf-8")) if source.is_file() else []
    names: list[str | None] = [args.env] if args.env else [None, *defined]
    failed = 0
    for env in names:
        try:
            # An environment's secrets: exported, else from its Secret file (`secret put --env`), as deploy reads.
            loaded = load_with_secret_file(source, env) if env else load_config(source)
        except ConfigError as exc:
            failed += 1
            where = f" (environment {env})" if env else ""
            print(f"{exc}{where}", file=sys.stderr)
            continue
        cfg = loaded.config
        vendors = ", ".join(
            f"{cap}={getattr(cfg.connectors, cap).vendor}" for cap in ("commerce", "search", "cms", "payments")
        )
        label = f" [env {env}: {cfg.name}]" if env else ""
        print(f"{loaded.path}{label}: ok ({len(cfg.markets)} markets, default {cfg.default_market}; {vendors})")
    return 1 if failed else 0


def cmd_seed(args: argparse.Namespace) -> int:
    from connectors import BuiltinCommerce
    from origin import reindex
    from wrangler_py.apps import build_store_from_config

    store = build_store_from_config(_load(args))
    commerce = store.connectors.commerce
    if not isinstance(commerce, BuiltinCommerce):
        print(
            f"error: seed fills the built-in catalog; connectors.commerce.vendor is {commerce.vendor!r}",
            file=sys.stderr,
        )
        return 1
    started = time.perf_counter()
    summary = commerce.seed(products=args.products, seed=args.seed)
    seeded = time.perf_counter()
    print(
        f"seeded {summary.products} products, {summary.variants} variants, {summary.categories} categories "
        f"in {seeded - started:.1f}s; indexing for search…",
        flush=True,
    )

    def progress(done: int) -> None:
        print(f"\r  indexed {done}/{summary.products}", end="", flush=True)

    count = anyio.run(lambda: reindex(commerce, store.connectors.search, progress=progress))
    print(f"\nindexed {count} documents in {time.perf_counter() - seeded:.1f}s")
    return 0


def cmd_search_reindex(args: argparse.Namespace) -> int:
    """Rebuilds the configured search index from the catalog: settings, then batches, a progress bar on stderr.

    On a terminal the bar redraws in place; in a CI log it prints a line per tenth of the way. Its total is the
    default market's product count, an estimate; the count reported at the end is what was indexed. A vendor error
    ends the command with status 1 and says how far it got.
    """
    from connectors import ConnectorError
    from origin import reindex
    from wrangler_py.apps import build_store_from_config

    if args.batch_size < 1:
        print(f"wrangler-py search reindex: --batch-size must be at least 1, not {args.batch_size}", file=sys.stderr)
        return 2
    store = build_store_from_config(_load(args))
    vendor = store.connectors.search.vendor
    err = sys.stderr
    live = err.isatty()
    started = time.perf_counter()
    total: int | None = None
    shown = {"done": 0, "step": -1}

    def bar(done: int) -> str:
        rate = f"{done / max(time.perf_counter() - started, 1e-6):.0f}/s"
        if not total:
            return f"  indexed {done} documents ({rate})"
        share = min(done / total, 1.0)
        filled = round(share * 30)
        return f"  [{'#' * filled}{'.' * (30 - filled)}] {done}/{max(total, done)} {share:4.0%} ({rate})"

    def progress(done: int) -> None:
        shown["done"] = done
        if live:
            print("\r" + bar(done), end="", file=err, flush=True)
            return
        step = int(min(done / total, 1.0) * 10) if total else done  # without a total: a line per batch
        if step != shown["step"]:
            shown["step"] = step
            print(bar(done), file=err, flush=True)

    async def run() -> int:
        nonlocal total
        commerce = store.connectors.commerce
        try:
            try:
                total = (await commerce.list_products(price_list=store.markets.default.price_list, per_page=1)).total
            except ConnectorError:
                total = None
            products = f"~{total} products" if total else "the catalog"
            print(
                f"rebuilding the {vendor} search index: settings, then {products} in batches of {args.batch_size}",
                file=err,
                flush=True,
            )
            return await reindex(commerce, store.connectors.search, batch_size=args.batch_size, progress=progress)
        finally:
            await store.connectors.aclose()
            await store.aclose()

    try:
        count = anyio.run(run)
    except ConnectorError as exc:
        if live:
            print(file=err)  # off the bar's line
        print(f"error: reindexing into {vendor} stopped after {shown['done']} documents: {exc}", file=err)
        print("  the index holds what was written so far; fix the cause and run the command again", file=err)
        return 1
    if live:
        print(file=err)
    elapsed = time.perf_counter() - started
    print(f"indexed {count} documents into {vendor} in {elapsed:.1f}s ({count / max(elapsed, 1e-6):.0f} documents/s)")
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """The origin and an edge in front of it, in one process: what `make run` starts."""
    import asyncio

    if args.regions:
        from wrangler_py.regions import run_all

        names = [name.strip() for name in args.regions.split(",") if name.strip()]
        cfg = _load(args).config
        return run_all(
            Path(args.config), names, host=args.host or cfg.edge.host, port=args.port or cfg.edge.port,
            log_level=args.log_level, access_log_sample=_access_sample(args) or 0.0,
        )  # fmt: skip

    import uvicorn

    from edge import EdgeApp, server_config
    from wrangler_py.apps import build_origin_app, edge_settings

    loaded = _load(args)
    if loaded.config.edge.purge_token is None:
        # The pair started here trusts itself: with a one-off token, catalog and content edits purge the edge
        # at once in development too, without asking the developer to set a secret first.
        token = SecretStr(secrets.token_urlsafe(24))
        edge = loaded.config.edge.model_copy(update={"purge_token": token})
        loaded = dataclasses.replace(loaded, config=loaded.config.model_copy(update={"edge": edge}))
    loaded = _origin_access_log(loaded, args)
    cfg = loaded.config
    _logging(args, "dev", cfg.edge.region, loaded.data_dir / LOGS_FOLDER)
    origin_port = args.origin_port or cfg.origin.port
    edge_port = args.port or cfg.edge.port
    settings = edge_settings(loaded).model_copy(update={"origin": f"http://{cfg.origin.host}:{origin_port}"})
    settings = _edge_access_log(settings, args)
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                build_origin_app(loaded, edge_url=f"http://{args.host or cfg.edge.host}:{edge_port}"),
                host=cfg.origin.host,
                port=origin_port,
                log_level=args.log_level,
                access_log=False,  # ours (edgeshop.access) knows the route and request id and drops query strings
                log_config=None,
                lifespan="on",
                timeout_graceful_shutdown=int(cfg.origin.shutdown_grace_seconds),
            )
        ),
        uvicorn.Server(
            server_config(
                EdgeApp(settings, project_dir=loaded.project_dir),
                host=args.host or cfg.edge.host,
                port=edge_port,
                log_level=args.log_level,
                log_config=None,
            )
        ),
    ]
    host = args.host or cfg.edge.host
    print(
        f"edgeshop: {cfg.storefront.name} at http://{host}:{edge_port}/  "
        f"(edge; origin on :{origin_port})  Ctrl-C stops",
        flush=True,
    )

    async def serve() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    asyncio.run(serve())
    return 0


def cmd_edge(args: argparse.Namespace) -> int:
    """An edge on its own in front of any HTTP origin."""
    import uvicorn

    from edge import EdgeApp, EdgeSettings, server_config
    from wrangler_py.apps import edge_settings

    loaded = _load(args) if Path(args.config).is_file() else None
    _logging(args, "edge", loaded.config.edge.region if loaded is not None else None)
    settings = edge_settings(loaded, generate_secret=False) if loaded is not None else EdgeSettings()
    settings = settings.model_copy(update={"origin": args.origin, "port": args.port or settings.port})
    settings = _edge_access_log(settings, args)
    print(f"edge: http://{args.host or settings.host}:{settings.port}/ -> {args.origin}", flush=True)
    config = server_config(
        EdgeApp(settings, project_dir=loaded.project_dir if loaded is not None else None),
        host=args.host or settings.host,
        port=settings.port,
        log_level=args.log_level,
        log_config=None,
    )
    uvicorn.Server(config).run()
    return 0


def cmd_origin(args: argparse.Namespace) -> int:
    """The origin on its own (JSON API, storefront pages, webhooks): what a deployment runs behind its edges."""
    import uvicorn

    from wrangler_py.apps import build_origin_app

    loaded = _origin_access_log(_load(args), args)
    cfg = loaded.config
    host, port = args.host or cfg.origin.host, args.port or cfg.origin.port
    _logging(args, "origin", cfg.edge.region)
    print(f"origin: {cfg.storefront.name} at http://{host}:{port}/", flush=True)
    uvicorn.Server(
        uvicorn.Config(
            build_origin_app(loaded),
            host=host,
            port=port,
            log_level=args.log_level,
            access_log=False,  # ours (edgeshop.access) knows the route and request id and drops query strings
            log_config=None,
            lifespan="on",
            # SIGTERM (a rolling deploy): stop accepting, finish what is in flight, within a bound.
            timeout_graceful_shutdown=int(cfg.origin.shutdown_grace_seconds),
        )
    ).run()
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Purge the edge cache by tag or URL through an edge node's purge endpoint (which tells every node)."""
    import httpx

    cfg = _load(args).config.edge
    if cfg.purge_token is None:
        print('error: edge.purge_token is not set in the config; set it to "env:NAME" and export NAME', file=sys.stderr)
        return 1
    if not (args.tag or args.url or args.all):
        print("error: name what to purge: --tag T, --url /path, or --all", file=sys.stderr)
        return 1
    edge_url = args.edge or f"http://{cfg.host}:{cfg.port}"
    body = {"tags": args.tag, "urls": args.url, "soft": args.soft, "all": args.all}
    try:
        response = httpx.post(
            edge_url + "/_edge/purge",
            json=body,
            headers={"authorization": f"Bearer {cfg.purge_token.get_secret_value()}"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        print(f"error: could not reach the edge at {edge_url}: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"error: the edge answered {response.status_code}: {response.text}", file=sys.stderr)
        return 1
    print(f"purged: {response.json()}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from wrangler_py.init import InitError, scaffold

    try:
        project = scaffold(Path(args.directory), title=args.title)
    except InitError as exc:
        print(f"wrangler-py init: {exc}", file=sys.stderr)
        return 2
    for path in project.written:
        print(f"  created {path}")
    print(f"\n{project.name} is ready. Next:\n  cd {project.folder}\n  wrangler-py dev      # http://127.0.0.1:8787/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wrangler-py", description="Build, run and ship an edgeshop store.")
    parser.add_argument("--config", "-c", default=DEFAULT_CONFIG, help="path to wrangler.toml (default: %(default)s)")
    env_help = "lay [env.NAME] over the top-level keys (staging, production…)"
    parser.add_argument("--env", "-e", default=None, metavar="NAME", help=env_help)
    # `--env` goes before or after the command, as in `wrangler-py check --env production`.
    with_env = argparse.ArgumentParser(add_help=False)
    with_env.add_argument("--env", "-e", default=argparse.SUPPRESS, metavar="NAME", help=env_help)
    sub = parser.add_subparsers(dest="command", required=True)
    log_format_help = "the lines on stderr: text, or one JSON object each (default: %(default)s)"

    init = sub.add_parser("init", parents=[with_env], help="create a new store project in DIR")
    init.add_argument("directory", metavar="DIR")
    init.add_argument("--title", default=None, help="the shop's display name (default: from DIR)")
    init.set_defaults(func=cmd_init)

    check = sub.add_parser("check", parents=[with_env], help="validate the config and print every problem")
    check.set_defaults(func=cmd_check)

    seed = sub.add_parser("seed", parents=[with_env], help="fill the built-in catalog with a generated demo catalog")
    seed.add_argument("--products", type=int, default=200, help="number of products (default: %(default)s)")
    seed.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same catalog")
    seed.set_defaults(func=cmd_seed)

    search = sub.add_parser("search", parents=[with_env], help="search index tasks")
    search_sub = search.add_subparsers(dest="search_command", required=True)
    search_reindex = search_sub.add_parser(
        "reindex",
        parents=[with_env],
        help="rebuild the search index from the catalog: settings, then batches, waiting for the vendor",
    )
    search_reindex.add_argument(
        "--batch-size", type=int, default=500, help="documents per vendor write (default: %(default)s)"
    )
    search_reindex.set_defaults(func=cmd_search_reindex)

    dev = sub.add_parser("dev", parents=[with_env], help="run the store locally: the origin and an edge in front of it")
    dev.add_argument("--host", default=None, help="edge address (default: edge.host)")
    dev.add_argument("--port", type=int, default=None, help="edge port (default: edge.port)")
    dev.add_argument("--origin-port", type=int, default=None, help="origin port (default: origin.port)")
    dev.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    dev.add_argument("--log-format", default="text", choices=["text", "json"], help=log_format_help)
    dev.add_argument("--access-log", action="store_true", help="an edgeshop.access line per request, edge and origin")
    dev.add_argument("--access-log-sample", type=_sample, default=None, metavar="R", help="the edge logs this share")
    dev.add_argument(
        "--regions", default=None, help="several regions as real processes behind a front door: us-east,eu-west"
    )
    dev.set_defaults(func=cmd_dev)

    origin = sub.add_parser("origin", parents=[with_env], help="run the origin alone (as deployed behind edges)")
    origin.add_argument("--host", default=None, help="address (default: origin.host)")
    origin.add_argument("--port", type=int, default=None, help="port (default: origin.port)")
    origin.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    origin.add_argument("--log-format", default="json", choices=["text", "json"], help=log_format_help)
    origin.add_argument("--access-log", action="store_true", help="an edgeshop.access line per request")
    origin.set_defaults(func=cmd_origin)

    purge = sub.add_parser("purge", parents=[with_env], help="purge the edge cache by tag or URL (every node)")
    purge.add_argument("--tag", action="append", default=[], help="surrogate key, repeatable (product:42)")
    purge.add_argument("--url", action="append", default=[], help="path and query, repeatable (/p/boot)")
    purge.add_argument("--all", action="store_true", help="everything")
    purge.add_argument("--soft", action="store_true", help="mark stale (served once while refreshing)")
    purge.add_argument("--edge", default=None, help="edge base URL (default: from edge.host and edge.port)")
    purge.set_defaults(func=cmd_purge)

    edge = sub.add_parser("edge", parents=[with_env], help="run an edge in front of any HTTP origin")
    edge.add_argument("--origin", required=True, help="origin base URL, e.g. http://127.0.0.1:8000")
    edge.add_argument("--host", default=None)
    edge.add_argument("--port", type=int, default=None)
    edge.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    edge.add_argument("--log-format", default="json", choices=["text", "json"], help=log_format_help)
    edge.add_argument("--access-log", action="store_true", help="an edgeshop.access line per request")
    edge.add_argument(
        "--access-log-sample", type=_sample, default=None, metavar="R", help="log this share of requests (0.01)"
    )
    edge.set_defaults(func=cmd_edge)

    add_build_parser(sub, [with_env])
    add_deploy_parser(sub, [with_env])
    add_secret_parser(sub, [with_env])
    add_status_parser(sub, [with_env])
    add_tail_parser(sub, [with_env])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per proxied request is the access log's job
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"{exc.source}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for item in exc.problems:
            print(f"  {item}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
