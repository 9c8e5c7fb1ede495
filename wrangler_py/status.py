"""`wrangler-py status`: each region's health, hit ratio, p99 and breaker states, read from the deployables'
`/metrics`, `/healthz` and `/readyz`, as one compact table.

Targets: the regions of a running `wrangler-py dev --regions` (its run plan), else the one edge and origin of the
config, or the ones named with `--edge REGION=URL` / `--origin REGION=URL` (a port-forward to a cluster, say).
Figures are since each process started; with `--watch S` they are over the last S seconds (the difference
between two scrapes), which is what an operator watching a deploy wants.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
from prometheus_client.parser import text_string_to_metric_families

HIT_RESULTS = frozenset({"l1_hit", "l2_hit", "stale"})
NOT_LOOKUPS = frozenset({"pass"})
BREAKER_STATES = {0: "closed", 1: "open", 2: "half-open"}
# Route labels of health probes, metric scrapes and purges: operators', not shoppers', traffic.
OPERATOR_ROUTES = frozenset({"/metrics", "/healthz", "/readyz", "/_edge/healthz", "/_edge/readyz", "/_edge/purge"})
_TIMEOUT = httpx.Timeout(2.0)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True, slots=True)
class Target:
    region: str
    edge: str | None
    origin: str | None


@dataclass(slots=True)
class Scrape:
    """One deployable's answers: health, readiness and its metric samples (name + sorted labels -> value)."""

    url: str
    alive: bool = False
    ready: bool = False
    samples: Samples = field(default_factory=dict)
    error: str | None = None


@dataclass(slots=True)
class RegionStatus:
    region: str
    edge: str  # up/ready, "not ready", "down", "-"
    origin: str
    requests: float | None = None
    hit_ratio: float | None = None
    edge_p99_ms: float | None = None
    origin_p99_ms: float | None = None
    errors_5xx: float | None = None
    breakers: dict[str, str] = field(default_factory=dict)  # origin region (or origin) -> state, the edge's view
    vendors: dict[str, str] = field(default_factory=dict)  # vendor -> breaker state, the origin's view
    since_start: bool = True  # False: figures over the interval since the previous scrape


def parse_samples(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _sum(samples: Samples, name: str, **match: frozenset[str] | str) -> float:
    total = 0.0
    for (sample_name, labels), value in samples.items():
        if sample_name != name:
            continue
        values = dict(labels)
        if all(
            values.get(key) == wanted if isinstance(wanted, str) else values.get(key, "") in wanted
            for key, wanted in match.items()
        ):
            total += value
    return total


def _family(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum", "_total", "_created"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _minus(now: Samples, before: Samples | None) -> Samples:
    """Counters and histogram buckets over an interval. A family with any series that went down belongs to a
    restarted process: it counts from the restart, whole, so its buckets stay a histogram."""
    if before is None:
        return now
    restarted = {_family(name) for (name, labels), value in now.items() if value < before.get((name, labels), 0.0)}
    return {key: value if _family(key[0]) in restarted else value - before.get(key, 0.0) for key, value in now.items()}


def shopper_traffic(samples: Samples) -> Samples:
    """Without the operators' own requests (probes, scrapes, purges): `status` must not count itself."""
    return {key: value for key, value in samples.items() if dict(key[1]).get("route") not in OPERATOR_ROUTES}


def quantile(samples: Samples, name: str, q: float) -> float | None:
    """`histogram_quantile` over every series of the histogram `name` (buckets summed across labels), linear
    within the bucket the rank falls in, as Prometheus computes it."""
    buckets: dict[float, float] = {}
    for (sample_name, labels), value in samples.items():
        if sample_name != f"{name}_bucket":
            continue
        bound = float(dict(labels)["le"])
        buckets[bound] = buckets.get(bound, 0.0) + value
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # above the last finite bucket: its bound is the best a histogram can say
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = bound, count
    return lower


def _gauges(samples: Samples, name: str, key: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for (sample_name, labels), value in sorted(samples.items()):
        if sample_name == name:
            label = dict(labels).get(key, "?")
            state = BREAKER_STATES.get(int(value), str(value))
            # Several origins of one region: the worst state speaks for the region.
            if found.get(label) in (None, "closed") or state == "open":
                found[label] = state
    return found


def scrape(client: httpx.Client, url: str, token: str | None, *, edge: bool) -> Scrape:
    result = Scrape(url)
    health, ready = ("/_edge/healthz", "/_edge/readyz") if edge else ("/healthz", "/readyz")
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        result.alive = client.get(url + health).status_code == 200
        result.ready = client.get(url + ready).status_code == 200
        metrics = client.get(url + "/metrics", headers=headers)
    except httpx.HTTPError as exc:
        result.error = type(exc).__name__
        return result
    if metrics.status_code != 200:
        result.error = f"/metrics answered {metrics.status_code} (an admin network or the admin token is needed)"
        return result
    result.samples = parse_samples(metrics.text)
    return result


def _state(scraped: Scrape | None) -> str:
    if scraped is None:
        return "-"
    if not scraped.alive:
        return "down"
    return "ready" if scraped.ready else "not ready"


def summarize(
    target: Target, edge: Scrape | None, origin: Scrape | None, before: Mapping[str, Samples] | None = None
) -> RegionStatus:
    status = RegionStatus(target.region, _state(edge), _state(origin))
    earlier = before or {}
    urls = [scraped.url for scraped in (edge, origin) if scraped is not None and scraped.samples]
    status.since_start = not urls or any(url not in earlier for url in urls)
    if edge is not None and edge.samples:
        samples = shopper_traffic(_minus(edge.samples, earlier.get(edge.url)))
        status.requests = _sum(samples, "edgeshop_edge_requests_total")
        lookups = sum(
            value for (name, labels), value in samples.items()
            if name == "edgeshop_edge_cache_results_total" and dict(labels).get("cache") not in NOT_LOOKUPS
        )  # fmt: skip
        hits = _sum(samples, "edgeshop_edge_cache_results_total", cache=HIT_RESULTS)
        status.hit_ratio = hits / lookups if lookups else None
        p99 = quantile(samples, "edgeshop_edge_request_duration_seconds", 0.99)
        status.edge_p99_ms = None if p99 is None else p99 * 1000
        errors = _sum(samples, "edgeshop_edge_requests_total", status="5xx")
        status.errors_5xx = errors / status.requests if status.requests else None
        status.breakers = _gauges(edge.samples, "edgeshop_edge_origin_breaker_state", "region")
    if origin is not None and origin.samples:
        samples = shopper_traffic(_minus(origin.samples, earlier.get(origin.url)))
        p99 = quantile(samples, "edgeshop_origin_request_duration_seconds", 0.99)
        status.origin_p99_ms = None if p99 is None else p99 * 1000
        status.vendors = _gauges(origin.samples, "edgeshop_vendor_breaker_state", "vendor")
    return status


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def render_table(rows: list[RegionStatus]) -> str:
    header = ("REGION", "EDGE", "ORIGIN", "REQS", "HIT", "EDGE p99", "ORIGIN p99", "5XX", "BREAKERS", "VENDORS")
    table = [header]
    for row in rows:
        table.append(
            (
                row.region, row.edge, row.origin, _fmt(row.requests, "{:.0f}"), _fmt(row.hit_ratio, "{:.1%}"),
                _fmt(row.edge_p99_ms, "{:.1f}ms"), _fmt(row.origin_p99_ms, "{:.1f}ms"), _fmt(row.errors_5xx, "{:.1%}"),
                " ".join(f"{k}:{v}" for k, v in row.breakers.items()) or "-",
                " ".join(f"{k}:{v}" for k, v in row.vendors.items()) or "-",
            )
        )  # fmt: skip
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                     for line in table)  # fmt: skip


def _named(values: list[str], option: str, default_region: str) -> dict[str, str]:
    named: dict[str, str] = {}
    for value in values:
        region, sep, url = value.partition("=")
        if not sep:
            region, url = default_region, value
        if not url.startswith(("http://", "https://")):
            raise SystemExit(f"wrangler-py status: {option} {value!r}: give REGION=http://host:port or a URL")
        named[region] = url.rstrip("/")
    return named


def targets(args: argparse.Namespace, loaded: Any) -> list[Target]:
    """Explicit --edge/--origin; else a `dev --regions` run plan that answers; else the config's pair."""
    config = loaded.config
    default_region = config.edge.region or "default"
    edges = _named(args.edge, "--edge", default_region)
    origins = _named(args.origin, "--origin", default_region)
    if edges or origins:
        return [Target(region, edges.get(region), origins.get(region)) for region in sorted({*edges, *origins})]
    plan = loaded.data_dir / "regions" / "plan.json"
    if plan.is_file():
        from wrangler_py.regions import Plan

        run = Plan.load(plan)
        found = [Target(r.name, r.edge_url, r.origin_url) for r in run.regions]
        if any(_answers(t.edge) for t in found):
            return found
    edge_host = "127.0.0.1" if config.edge.host in ("0.0.0.0", "::") else config.edge.host  # noqa: S104
    origin_host = "127.0.0.1" if config.origin.host in ("0.0.0.0", "::") else config.origin.host  # noqa: S104
    return [
        Target(default_region, f"http://{edge_host}:{config.edge.port}", f"http://{origin_host}:{config.origin.port}")
    ]


def _answers(url: str | None) -> bool:
    if url is None:
        return False
    try:
        httpx.get(url + "/_edge/healthz", timeout=1.0)
    except httpx.HTTPError:
        return False
    return True


def collect(found: list[Target], edge_token: str | None, origin_token: str | None) -> dict[str, Scrape]:
    scrapes: dict[str, Scrape] = {}
    with httpx.Client(timeout=_TIMEOUT) as client:
        for target in found:
            if target.edge:
                scrapes[target.edge] = scrape(client, target.edge, edge_token, edge=True)
            if target.origin:
                scrapes[target.origin] = scrape(client, target.origin, origin_token, edge=False)
    return scrapes


def report(
    found: list[Target], scrapes: Mapping[str, Scrape], before: Mapping[str, Samples] | None
) -> list[RegionStatus]:
    return [
        summarize(target, scrapes.get(target.edge or ""), scrapes.get(target.origin or ""), before) for target in found
    ]


def cmd_status(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from wrangler_py.config import load_config

    loaded = load_config(Path(args.config), env=getattr(args, "env", None))
    config = loaded.config
    edge_token = config.edge.admin_token.get_secret_value() if config.edge.admin_token else None
    origin_token = config.origin.admin_token.get_secret_value() if config.origin.admin_token else None
    found = targets(args, loaded)
    before: dict[str, Samples] | None = None
    try:
        while True:
            scrapes = collect(found, edge_token, origin_token)
            rows = report(found, scrapes, before)
            if args.json:
                print(json.dumps([asdict(row) for row in rows]), file=out, flush=True)
            else:
                interval = [row for row in rows if not row.since_start]
                span = f"last {args.watch:g}s" if interval else "since each process started"
                if args.watch and out.isatty():
                    print("\x1b[H\x1b[2J", end="", file=out)
                print(f"{config.name} ({span})", file=out)
                print(render_table(rows), file=out)
                if interval:
                    for row in rows:
                        if row.since_start:
                            print(f"  {row.region}: since its processes started (no earlier scrape)", file=out)
                for url, scraped in scrapes.items():
                    if scraped.error:
                        print(f"  {url}: {scraped.error}", file=out)
                out.flush()
            if not args.watch:
                break
            # Only what answered: after a failed scrape the next figures are since start, and say so.
            before = {url: scraped.samples for url, scraped in scrapes.items() if scraped.samples}
            time.sleep(args.watch)
    except KeyboardInterrupt:
        pass
    everything_up = all(row.edge in ("ready", "-") and row.origin in ("ready", "-") for row in rows)
    return 0 if everything_up else 1


def add_status_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("status", parents=parents, help="each region's health, hit ratio, p99 and breakers")
    parser.add_argument("--edge", action="append", default=[], metavar="REGION=URL", help="an edge to ask; repeatable")
    parser.add_argument("--origin", action="append", default=[], metavar="REGION=URL", help="an origin to ask")
    parser.add_argument("--watch", type=float, default=0, metavar="S", help="refresh every S seconds, figures over S")
    parser.add_argument("--json", action="store_true", help="one JSON array per refresh instead of the table")
    parser.set_defaults(func=cmd_status)


__all__ = ["RegionStatus", "Target", "add_status_parser", "cmd_status", "parse_samples", "quantile", "render_table"]
