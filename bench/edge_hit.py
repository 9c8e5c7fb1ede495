"""Edge cache-hit throughput and latency against bare-server floors and nginx, measured with wrk on loopback.

Every server is started once and kept running; each is loaded by `wrk -t1` (the other core) for a 30 KB HTML page
and a 2 KB JSON response:
  uvicorn         a bare ASGI app answering the same bytes from a dict, uvicorn + uvloop + httptools (the floor)
  granian         the same app under granian (ASGI, 1 worker, its default loop: rloop when installed, else uvloop)
  granian-uvloop  the same under granian with uvloop
  hypercorn       the same under hypercorn (1 worker, uvloop worker class)
  edge            the edgeshop edge with the responses in its L1, started by the real CLI (`wrangler-py edge`)
  nginx           nginx proxy_cache in front of the same origin, one worker, responses asserted to be HITs
The edge and nginx sit in front of an origin (the same app under uvicorn), asked once to fill their caches.

This machine is noisy (the same server can differ by ±25% a minute apart), so the runs are interleaved:
`--rounds` rounds, each measuring every server once per response (`--seconds` each), the order rotated by one place
every round, with the edge and nginx always back to back. A slow phase of the machine then hits every server alike,
and ratios are taken within a round (edge/nginx from two adjacent runs) before their median and range.
Reported: per server the median req/s with its min–max, median p50/p99 and the CPU the server's process tree used;
the per-round ratios edge/uvicorn, edge/nginx and each other server/uvicorn (median and min–max); each round's req/s.

    .venv/bin/python bench/edge_hit.py [--rounds 5] [--seconds 3] [--connections 64] [--servers uvicorn,edge,nginx]
    (needs wrk and nginx: apt-get install wrk nginx-light; granian and hypercorn: pip install -e '.[bench]')
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
from _harness import Spread, WrkResult, answers, free_port, need_wrk, running, stop_on_sigterm, table, tool, wrk

PAGES = {"/page": ("text/html; charset=utf-8", 30_000), "/data.json": ("application/json", 2_000)}

APP = textwrap.dedent(
    """
    PAGES = {pages!r}
    BODIES = {{path: b"x" * size for path, (_, size) in PAGES.items()}}
    HEADERS = {{path: [(b"content-type", kind.encode()), (b"content-length", str(size).encode()),
                       (b"cache-control", b"public, s-maxage=3600"), (b"surrogate-key", b"bench")]
               for path, (kind, size) in PAGES.items()}}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({{"type": message["type"] + ".complete"}})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        await send({{"type": "http.response.start", "status": 200, "headers": HEADERS.get(path, [])}})
        await send({{"type": "http.response.body", "body": BODIES.get(path, b"ok")}})
    """
)

NGINX_CONF = textwrap.dedent(
    """
    worker_processes 1;
    daemon off;
    master_process off;  # one process: the worker is the master (and never switches user)
    pid {dir}/nginx.pid;
    error_log {dir}/error.log warn;
    events {{ worker_connections 4096; }}
    http {{
        access_log off;
        sendfile on;
        tcp_nopush on;
        tcp_nodelay on;
        keepalive_timeout 65;
        keepalive_requests 1000000;
        open_file_cache max=1000 inactive=60s;
        open_file_cache_valid 60s;
        open_file_cache_min_uses 1;
        open_file_cache_errors on;
        client_body_temp_path {dir}/client_body;
        proxy_temp_path {dir}/proxy_temp;
        proxy_cache_path {dir}/cache levels=1:2 keys_zone=edge:10m max_size=256m inactive=60m use_temp_path=off;
        upstream origin {{
            server 127.0.0.1:{origin_port};
            keepalive 16;
        }}
        server {{
            listen 127.0.0.1:{port};
            location / {{
                proxy_pass http://origin;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_cache edge;
                proxy_cache_valid 200 10m;
                proxy_cache_lock on;
                add_header X-Cache-Status $upstream_cache_status always;
            }}
        }}
    }}
    """
)


@dataclass(frozen=True, slots=True)
class Run:
    """What every server launcher gets: the folder with the app, a port, and the origin's port."""

    tmp: Path
    port: int
    origin_port: int


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    describe: str
    needs: tuple[str, ...]  # executables, then "module:" entries for importable packages
    command: Callable[[Run], list[str]]
    cache_header: str | None = None  # the response header that must say HIT before measuring


def _uvicorn(run: Run) -> list[str]:
    return [
        *_tool("uvicorn"), "servers:app", "--app-dir", str(run.tmp), "--host", "127.0.0.1", "--port", str(run.port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "error",
    ]  # fmt: skip


def _granian(loop: str) -> Callable[[Run], list[str]]:
    def command(run: Run) -> list[str]:
        return [
            *_tool("granian"), "--interface", "asgi", "--workers", "1", "--loop", loop, "--host", "127.0.0.1",
            "--port", str(run.port), "--no-access-log", "--log-level", "error", "--working-dir", str(run.tmp),
            "servers:app",
        ]  # fmt: skip

    return command


def _hypercorn(run: Run) -> list[str]:
    return [
        *_tool("hypercorn"), "--worker-class", "uvloop", "--workers", "1", "--bind", f"127.0.0.1:{run.port}",
        "--log-level", "error", "servers:app",
    ]  # fmt: skip


def _edge(run: Run) -> list[str]:
    config = run.tmp / "edge.toml"  # explicit, so the repo's wrangler.toml is not what is measured
    config.write_text('[edge]\nhost = "127.0.0.1"\n')
    return [
        *_tool("wrangler-py"), "--config", str(config), "edge", "--origin", f"http://127.0.0.1:{run.origin_port}",
        "--port", str(run.port), "--log-level", "warning",
    ]  # fmt: skip


def _nginx(run: Run) -> list[str]:
    folder = run.tmp / f"nginx-{run.port}"
    folder.mkdir()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=folder, port=run.port, origin_port=run.origin_port))
    return [*_tool("nginx"), "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]


def _tool(name: str) -> list[str]:
    found = tool(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed")
    return [found]


def granian_default_loop() -> str:
    return "rloop" if importlib.util.find_spec("rloop") else "uvloop"


SERVERS = {
    server.name: server
    for server in (
        Server("uvicorn", "uvicorn + uvloop + httptools", ("uvicorn", "module:uvloop", "module:httptools"), _uvicorn),
        Server(
            "granian", f"granian ASGI, 1 worker, loop auto = {granian_default_loop()}", ("granian",), _granian("auto")
        ),
        Server("granian-uvloop", "granian ASGI, 1 worker, uvloop", ("granian", "module:uvloop"), _granian("uvloop")),
        Server("hypercorn", "hypercorn, 1 worker, uvloop", ("hypercorn", "module:uvloop"), _hypercorn),
        Server("edge", "wrangler-py edge (L1 HIT)", ("wrangler-py",), _edge, cache_header="x-cache"),
        Server("nginx", "nginx proxy_cache, 1 worker (HIT)", ("nginx",), _nginx, cache_header="x-cache-status"),
    )
}


def missing(server: Server) -> list[str]:
    absent = []
    for need in server.needs:
        if need.startswith("module:"):
            if importlib.util.find_spec(need.removeprefix("module:")) is None:
                absent.append(need.removeprefix("module:"))
        elif tool(need) is None:
            absent.append(need)
    return absent


def check_answers(server: Server, base: str) -> None:
    """Same bytes from every server; behind a cache, the second request is a HIT (the first may fill it)."""
    for path, (_, size) in PAGES.items():
        response = httpx.get(base + path, timeout=15, trust_env=False)
        if server.cache_header:
            response = httpx.get(base + path, timeout=15, trust_env=False)
            verdict = response.headers.get(server.cache_header)
            if verdict != "HIT":
                raise RuntimeError(f"{server.name} {path}: {server.cache_header} is {verdict!r}, not HIT")
        if response.status_code != 200 or len(response.content) != size:
            raise RuntimeError(f"{server.name} {path}: {response.status_code}, {len(response.content)} bytes")


RUN_OVERHEAD_S = 0.3  # per wrk run besides its duration: starting wrk, reading /proc for the CPU accounting
START_S = 1.5  # per server: start-up and the HIT checks
FAILURES = (RuntimeError, OSError, httpx.HTTPError, subprocess.TimeoutExpired)
RATIOS = [("edge", "uvicorn"), ("edge", "nginx")] + [
    (name, "uvicorn") for name in ("granian", "granian-uvloop", "hypercorn", "nginx")
]

Results = dict[tuple[str, str], dict[int, WrkResult]]  # (server, path) -> round index -> that round's run


@dataclass(frozen=True, slots=True)
class Live:
    """A server that is up, answered correctly, and stays running until the benchmark's ExitStack closes."""

    server: Server
    base: str
    process: subprocess.Popen[bytes]


def start(server: Server, tmp: Path, origin_port: int, stack: ExitStack) -> Live:
    run = Run(tmp, free_port(), origin_port)
    base = f"http://127.0.0.1:{run.port}"
    ready = answers(base + "/data.json")
    with ExitStack() as own:  # stopped at once if the checks fail, else handed over to `stack`
        process = own.enter_context(
            running(server.name, server.command(run), ready=ready, cwd=tmp, log=tmp / f"{server.name}.log")
        )
        check_answers(server, base)
        stack.enter_context(own.pop_all())
    return Live(server, base, process)


def round_order(names: list[str], index: int) -> list[str]:
    """The order of one round's runs: rotated by one place per round, so no server always goes first or last; the
    edge and nginx stay back to back (which of them goes first alternates), so their ratio compares like with like."""
    pair = "edge" in names and "nginx" in names
    units: list[list[str]] = []
    for name in names:
        if pair and name == "edge":
            units.append(["edge", "nginx"] if index % 2 == 0 else ["nginx", "edge"])
        elif not (pair and name == "nginx"):
            units.append([name])
    shift = index % len(units)
    return [name for unit in units[shift:] + units[:shift] for name in unit]


def still_up(live: dict[str, Live], name: str) -> bool:
    if name in live and live[name].process.poll() is not None:
        print(f"note: {name} exited ({live[name].process.returncode}), left out from now on", flush=True)
        del live[name]
    return name in live


def warm_up(live: dict[str, Live], args: argparse.Namespace) -> None:
    """One unmeasured run per server and response before the first round."""
    for name in list(live):
        for path in PAGES:
            if args.warmup and still_up(live, name):
                try:
                    wrk(live[name].base + path, args.warmup, args.connections)
                except FAILURES as exc:
                    print(f"note: {name} failed its warm-up, left out: {exc}", flush=True)
                    del live[name]


def measure_rounds(live: dict[str, Live], args: argparse.Namespace, deadline: float) -> Results:
    results: Results = {(name, path): {} for name in live for path in PAGES}
    began = time.monotonic()
    for index in range(args.rounds):
        if not live:
            break
        round_s = len(live) * len(PAGES) * (args.seconds + RUN_OVERHEAD_S)
        if index and time.monotonic() + round_s > deadline:
            print(f"note: time bound reached, stopping after {index} of {args.rounds} rounds", flush=True)
            break
        for path in PAGES:
            for name in round_order(list(live), index):
                if not still_up(live, name):
                    continue
                try:
                    run = wrk(live[name].base + path, args.seconds, args.connections, server_pid=live[name].process.pid)
                except FAILURES as exc:
                    print(f"note: {name} {path} round {index + 1} failed, not counted: {exc}", flush=True)
                    continue
                results[name, path][index] = run
        took = time.monotonic() - began
        print(f"round {index + 1}/{args.rounds} done at {took:.0f}s, load {os.getloadavg()[0]:.2f}:", flush=True)
        for path in PAGES:
            done = (
                f"{name} {runs[index].rps:.0f}" for name in SERVERS if index in (runs := results.get((name, path), {}))
            )
            print(f"  {path}: {', '.join(done)}", flush=True)
    return results


def check_after(live: dict[str, Live], results: Results) -> None:
    """Still the same bytes, and still HITs, after all the load; a server failing this is left out of the report."""
    for name in list(live):
        try:
            if not still_up(live, name):
                raise RuntimeError("exited")
            check_answers(live[name].server, live[name].base)
        except FAILURES as exc:
            print(f"note: {name} failed the check after the load, left out: {exc}", flush=True)
            for path in PAGES:
                results.pop((name, path), None)


def ratio(results: Results, top: str, bottom: str, path: str) -> Spread | None:
    """top/bottom req/s within each round both were measured in, then the median and range of those ratios."""
    above, below = results.get((top, path), {}), results.get((bottom, path), {})
    return Spread.of(above[i].rps / below[i].rps for i in sorted(above.keys() & below.keys()) if below[i].rps)


def report(results: Results, args: argparse.Namespace) -> None:
    print(f"\nwrk -t1 -c{args.connections} -d{args.seconds}s --latency, loopback, {args.rounds} rounds interleaved")
    print(f"(after one {args.warmup}s warm-up per server and response). req/s: median (min–max) over the rounds;")
    print("width = (max − min) / median; p50 / p99: medians over the rounds; CPU: median cores used by the server's")
    print("process tree during its runs (wrk has the other core).")
    for path, (_, size) in PAGES.items():
        rows = []
        for name, server in SERVERS.items():
            runs = list(results.get((name, path), {}).values())
            rps = Spread.of(run.rps for run in runs)
            p50 = Spread.of(run.p50_ms for run in runs)
            p99 = Spread.of(run.p99_ms for run in runs)
            cpu = Spread.of(run.server_cpu or 0.0 for run in runs)
            if rps is None or p50 is None or p99 is None or cpu is None:
                continue
            errors = sum(run.errors for run in runs)
            rows.append(
                [f"{name}: {server.describe}", rps.show(), f"{rps.width:.0%}", f"{p50.median:.2f} / {p99.median:.2f}",
                 f"{cpu.median:.2f}", errors, len(runs)]
            )  # fmt: skip
        header = [f"{size // 1000} KB {path}", "req/s median (min–max)", "width", "p50 / p99 ms", "CPU", "errors", "n"]
        print("\n" + table(header, rows))
    rows = []
    for top, bottom in RATIOS:
        spreads = [ratio(results, top, bottom, path) for path in PAGES]
        if any(spreads):
            rounds = max(len(results[top, path].keys() & results[bottom, path].keys()) for path in PAGES)
            rows.append([f"{top} / {bottom}", *(spread.show(2) if spread else "–" for spread in spreads), rounds])
    header = [
        "req/s ratio, per round",
        *(f"{size // 1000} KB {path}: median (min–max)" for path, (_, size) in PAGES.items()),
    ]
    print("\n" + table([*header, "n"], rows))
    rows = [
        [name, path, *(f"{by_round[i].rps:.0f}" if i in by_round else "–" for i in range(args.rounds))]
        for path in PAGES
        for name in SERVERS
        if (by_round := results.get((name, path)))
    ]
    print("\nreq/s per round (order rotated each round; edge and nginx back to back):\n")
    print(table(["server", "response", *(f"r{i + 1}" for i in range(args.rounds))], rows))


def duration(seconds: float) -> str:
    return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of interleaved runs (default %(default)s)")
    parser.add_argument("--seconds", type=int, default=3, help="each measured wrk run (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=1, help="one unmeasured run per server and response first")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of: %(default)s")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds < 1 or args.warmup < 0 or args.connections < 1:
        parser.error("--rounds, --seconds and --connections must be at least 1, --warmup at least 0")
    need_wrk()
    chosen = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(SERVERS)}")
    available = []
    for name in chosen:
        if absent := missing(SERVERS[name]):
            print(f"note: skipping {name}: {', '.join(absent)} not installed", flush=True)
        else:
            available.append(name)
    if not available:
        parser.error("none of the chosen servers is installed")
    stop_on_sigterm()  # so the servers are stopped (ExitStack, `running`'s finally) on SIGTERM too

    began = time.monotonic()
    runs = len(available) * len(PAGES)
    measuring = args.rounds * runs * args.seconds
    expected = args.rounds * runs * (args.seconds + RUN_OVERHEAD_S) + runs * (args.warmup + RUN_OVERHEAD_S)
    expected += (len(available) + 1) * START_S
    bound = 2 * expected + 60
    print(
        f"{len(available)} servers × {len(PAGES)} responses × {args.rounds} rounds × {args.seconds}s: expected "
        f"≈ {duration(expected)} ({measuring}s under load); no round starts that would end after {duration(bound)}",
        flush=True,
    )
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    live: dict[str, Live] = {}
    with tempfile.TemporaryDirectory(prefix="edge-hit-") as folder, ExitStack() as stack:  # servers stop first
        tmp = Path(folder)
        (tmp / "servers.py").write_text(APP.format(pages=PAGES))
        origin_port = free_port()
        origin = Run(tmp, origin_port, origin_port)
        ready = answers(f"http://127.0.0.1:{origin_port}/data.json")
        stack.enter_context(running("origin", _uvicorn(origin), ready=ready, cwd=tmp, log=tmp / "origin.log"))
        for name in available:
            try:
                live[name] = start(SERVERS[name], tmp, origin_port, stack)
            except FAILURES as exc:
                print(f"note: {name} failed to start or to answer, left out: {exc}", flush=True)
        print(f"running: {', '.join(f'{name} (pid {entry.process.pid})' for name, entry in live.items())}", flush=True)
        warm_up(live, args)
        results = measure_rounds(live, args, deadline=began + bound)
        check_after(live, results)
    print(f"load average at end: {os.getloadavg()[0]:.2f}; took {duration(time.monotonic() - began)}")
    report(results, args)


if __name__ == "__main__":
    main()
