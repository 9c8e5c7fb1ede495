"""Edge cache tiers and slow-origin behaviour, through real `wrangler-py edge` processes, loaded by wrk on loopback.

(a) L2 (Redis) hit vs L1 hit. Two edges share Redis (a unique redis_prefix per run). Edge A fills the cache
    and serves L1 hits; edge B runs with the smallest L1 allowed (cache.l1_max_bytes = 1 MiB, the settings'
    minimum, so it cannot be made smaller than one 30 KB object). B is instead made to miss its L1 honestly:
    wrk cycles round-robin over a working set several times the size of B's L1 (128 × 30 KB, 2048 × 2 KB), so
    an LRU never still holds the key asked next and every request on B is an L1 miss + Redis GET (+ promotion
    into L1). A is loaded with the same request stream. Redis keyspace_hits per request checks it: about 1 on
    B, about 0 on A; the origin must see no request at all. Every request carries the same Host header: the
    host is part of the cache key, and A and B listen on different ports.
(b) Stale-while-revalidate with an origin that takes 2 s per request: the page says
    `public, s-maxage=1, stale-while-revalidate=60`. Fill, wait until the edge answers STALE, then load it with
    wrk; shoppers should get stale answers at once while the edge revalidates once per key in the background.
(c) Stampede: 500 concurrent requests for a cold key on the slow origin, a few rounds with a fresh key each,
    from a raw asyncio HTTP/1.1 client (500 connections opened first, then every request written at once): how
    many requests reach the origin (expect 1 per round) and the latency distribution (≈ 2 s, inherent).

  .venv/bin/python bench/edge_tiers.py [--seconds 5] [--connections 64] [--parts a,b,c] [--redis-url URL]
  (needs wrk, and Redis on 127.0.0.1:6379 for part a)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from _harness import WrkResult, answers, free_port, need_wrk, p50_p99, running, table, tool, wrk

ORIGIN = textwrap.dedent(
    """
    import asyncio, json, os
    from collections import Counter

    DELAY = float(os.environ.get("BENCH_ORIGIN_DELAY", "0"))
    COUNTS = Counter()  # path -> requests received (counted on arrival, before the delay)
    LONG = b"public, s-maxage=3600"
    SWR = b"public, s-maxage=1, stale-while-revalidate=60"

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/count":
            body = json.dumps({"total": sum(COUNTS.values()), "paths": COUNTS}).encode()
            headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        else:
            COUNTS[path] += 1
            if DELAY:
                await asyncio.sleep(DELAY)
            parts = path.split("/")
            size = int(parts[2]) if parts[1] == "obj" else 30_000  # /obj/<bytes>/<n>
            body = b"x" * size
            headers = [(b"content-type", b"text/html; charset=utf-8"),
                       (b"cache-control", SWR if parts[1] == "swr" else LONG)]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    """
)

CYCLE_LUA = textwrap.dedent(
    """
    local n = 0
    request = function()
      n = n + 1
      return wrk.format(nil, "/obj/{size}/" .. (n % {keys}))
    end
    """
)

# Tallies the X-Cache header of every answer (wrk's response() hook; costs wrk a little, fine at these rates).
XCACHE_LUA = textwrap.dedent(
    """
    local threads = {}
    counts = {}
    function setup(thread) table.insert(threads, thread) end
    function response(status, headers, body)
      local verdict = headers["x-cache"] or "none"
      counts[verdict] = (counts[verdict] or 0) + 1
    end
    function done(summary, latency, requests)
      for _, thread in ipairs(threads) do
        for verdict, count in pairs(thread:get("counts")) do
          io.write(string.format("x-cache %s %d\\n", verdict, count))
        end
      end
    end
    """
)

SIZES = {30_000: 128, 2_000: 2048}  # object bytes -> keys cycled: 3.8 MB and 4.1 MB, both well over a 1 MiB L1
L1_MIN = 2**20
# One Host for every request: it is part of the cache key, and edges A and B must look up the same keys.
HOST = "shop.bench.test"
SLOW_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Env:
    tmp: Path
    args: argparse.Namespace


def origin_requests(base: str, path: str | None = None) -> int:
    """Requests the origin has received: all told, or for one path."""
    counts = httpx.get(base + "/count", timeout=5).json()
    return int(counts["total"] if path is None else counts["paths"].get(path, 0))


@contextmanager
def origin(env: Env, delay: float) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        _need("uvicorn"), "origin:app", "--app-dir", str(env.tmp), "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "error",
    ]  # fmt: skip
    environ = {**os.environ, "BENCH_ORIGIN_DELAY": str(delay)}
    log = env.tmp / f"origin-{port}.log"
    with running("origin", command, ready=answers(base + "/count"), cwd=env.tmp, log=log, env=environ):
        yield base


@contextmanager
def edge(env: Env, name: str, origin_base: str, config: str) -> Iterator[tuple[str, int]]:
    """A `wrangler-py edge` with its own config file; yields its base URL and PID."""
    port = free_port()
    path = env.tmp / f"{name}.toml"
    path.write_text(config)
    command = [
        _need("wrangler-py"), "--config", str(path), "edge", "--origin", origin_base, "--port", str(port),
        "--log-level", "warning",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    # The edge passes /count through to the origin uncached (no-store): a fine readiness probe.
    with running(name, command, ready=answers(base + "/count"), cwd=env.tmp, log=env.tmp / f"{name}.log") as process:
        yield base, process.pid


def _need(name: str) -> str:
    found = tool(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed")
    return found


async def _fetch_all(base: str, paths: list[str], concurrency: int = 32) -> Counter[str]:
    limit = asyncio.Semaphore(concurrency)
    verdicts: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=base, timeout=15, headers={"host": HOST}) as client:

        async def one(path: str) -> None:
            async with limit:
                response = await client.get(path)
                response.raise_for_status()
                verdicts[response.headers.get("x-cache", "none")] += 1

        await asyncio.gather(*(one(path) for path in paths))
    return verdicts


def redis_hits(client: redis.Redis) -> int:
    return int(client.info("stats")["keyspace_hits"])


@dataclass(frozen=True, slots=True)
class TierRow:
    size: int
    keys: int
    l1: WrkResult
    l2: WrkResult
    l1_redis_per_request: float
    l2_redis_per_request: float
    fill: Counter[str]
    l2_check: Counter[str]
    origin_during_runs: int


def part_a(env: Env) -> list[TierRow]:
    args = env.args
    prefix = f"bench-{secrets.token_hex(4)}:"
    shared = f'[edge]\nredis_url = "{args.redis_url}"\nredis_prefix = "{prefix}"\n'
    client = redis.Redis.from_url(args.redis_url, socket_timeout=5)
    client.ping()
    rows = []
    try:
        with ExitStack() as stack:
            origin_base = stack.enter_context(origin(env, 0.0))
            a, a_pid = stack.enter_context(edge(env, "edge-a", origin_base, shared))
            b, b_pid = stack.enter_context(
                edge(env, "edge-b", origin_base, f"{shared}[edge.cache]\nl1_max_bytes = {L1_MIN}\n")
            )
            for size, keys in SIZES.items():
                paths = [f"/obj/{size}/{n}" for n in range(keys)]
                fill = asyncio.run(_fetch_all(a, paths))  # MISS on A: stored in A's L1 and in Redis
                l2_check = asyncio.run(_fetch_all(b, paths[:64]))  # B: from Redis, HIT (X-Cache has no tier)
                script = env.tmp / f"cycle-{size}.lua"
                script.write_text(CYCLE_LUA.format(size=size, keys=keys))
                before = origin_requests(origin_base)
                results = {}
                for name, base, pid in (("A", a, a_pid), ("B", b, b_pid)):
                    wrk(base + "/", args.warmup, args.connections, script=script, headers=[f"Host: {HOST}"])
                    hits = redis_hits(client)
                    result = wrk(
                        base + "/",
                        args.seconds,
                        args.connections,
                        script=script,
                        headers=[f"Host: {HOST}"],
                        server_pid=pid,
                    )
                    results[name] = (result, (redis_hits(client) - hits) / max(result.requests, 1))
                after = origin_requests(origin_base)
                rows.append(
                    TierRow(size, keys, results["A"][0], results["B"][0], results["A"][1], results["B"][1],
                            fill, l2_check, after - before)
                )  # fmt: skip
    finally:
        for key in client.scan_iter(match=prefix + "*", count=1000):
            client.unlink(key)
        client.close()
    return rows


@dataclass(frozen=True, slots=True)
class SwrResult:
    page: str
    wrk: WrkResult
    verdicts: dict[str, int]
    origin_during_run: int
    origin_total: int


def _xcache_tally(output: str) -> dict[str, int]:
    tally: dict[str, int] = {}
    for line in output.splitlines():
        if line.startswith("x-cache "):
            _, verdict, count = line.split()
            tally[verdict] = tally.get(verdict, 0) + int(count)
    return tally


def _wait_for(base: str, path: str, wanted: str, allowed: tuple[str, ...], within: float = 10.0) -> float:
    """Seconds until the edge answers `path` with X-Cache `wanted` (every other answer must be in `allowed`)."""
    started = time.monotonic()
    while (verdict := httpx.get(base + path, timeout=15).headers["x-cache"]) != wanted:
        if verdict not in allowed:
            raise RuntimeError(f"{path}: X-Cache {verdict} while waiting for {wanted}")
        if time.monotonic() - started > within:
            raise RuntimeError(f"{path}: no {wanted} within {within:.0f}s")
        time.sleep(0.1)
    return time.monotonic() - started


def part_b(env: Env) -> tuple[list[SwrResult], float]:
    """The stale page under load, and a fresh page on the same edge with the same wrk script as the baseline."""
    args = env.args
    script = env.tmp / "xcache.lua"
    script.write_text(XCACHE_LUA)
    results = []
    with origin(env, SLOW_SECONDS) as origin_base, edge(env, "edge-swr", origin_base, "[edge]\n") as (base, pid):
        for path in ("/swr/page", "/fresh/page"):
            first = httpx.get(base + path, timeout=15)  # the fill: waits for the slow origin
            if first.headers["x-cache"] != "MISS":
                raise RuntimeError(f"{path}: the fill was {first.headers['x-cache']}, not MISS")
            if path.startswith("/swr/"):
                to_stale = _wait_for(base, path, "STALE", ("HIT",))
            else:
                _wait_for(base, path, "HIT", ())
            before = origin_requests(origin_base, path)
            result = wrk(base + path, args.seconds, args.connections, script=script, server_pid=pid)
            after = origin_requests(origin_base, path)
            results.append(SwrResult(path, result, _xcache_tally(result.output), after - before, after))
    return results, to_stale


@dataclass(frozen=True, slots=True)
class StampedeRound:
    requests: int
    origin_requests: int
    statuses: Counter[int]
    verdicts: Counter[str]
    latencies: list[float]  # seconds, sorted


async def _one_raw(port: int, path: str, go: asyncio.Event) -> tuple[int, str, float]:
    """One HTTP/1.1 GET on its own connection, opened before `go`; timed from the write to the last body byte."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await go.wait()
        started = time.perf_counter()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(": ", 1) for line in head[1:] if ": " in line)
        await reader.readexactly(int(fields["content-length"]))
        return int(head[0].split()[1]), fields.get("x-cache", "none").upper(), time.perf_counter() - started
    finally:
        writer.close()


async def _stampede(port: int, path: str, concurrency: int) -> tuple[Counter[int], Counter[str], list[float]]:
    """`concurrency` connections opened first, then every request written at once.

    A raw asyncio client rather than httpx: httpx's pool with 500 connections took 5 s to get 500 cache hits
    through on this machine, which would have measured the client, not the edge."""
    go = asyncio.Event()
    tasks = [asyncio.create_task(_one_raw(port, path, go)) for _ in range(concurrency)]
    await asyncio.sleep(1.0)  # let every connection be accepted
    go.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=40)
    statuses: Counter[int] = Counter()
    verdicts: Counter[str] = Counter()
    latencies: list[float] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            statuses[0] += 1
            verdicts[type(outcome).__name__] += 1
            continue
        status, verdict, seconds = outcome
        statuses[status] += 1
        verdicts[verdict] += 1
        latencies.append(seconds)
    return statuses, verdicts, sorted(latencies)


def part_c(env: Env) -> list[StampedeRound]:
    rounds = []
    with origin(env, SLOW_SECONDS) as origin_base, edge(env, "edge-stampede", origin_base, "[edge]\n") as (base, _):
        port = int(base.rsplit(":", 1)[1])
        for _ in range(env.args.rounds):
            path = f"/cold/{secrets.token_hex(6)}"
            statuses, verdicts, latencies = asyncio.run(_stampede(port, path, env.args.stampede))
            time.sleep(0.2)
            asked = origin_requests(origin_base, path)
            rounds.append(StampedeRound(env.args.stampede, asked, statuses, verdicts, latencies))
    return rounds


def _tally(counter: Counter[str] | Counter[int] | dict[str, int]) -> str:
    return ", ".join(f"{key} {count}" for key, count in sorted(counter.items(), key=lambda item: -item[1]))


def report_a(rows: list[TierRow], args: argparse.Namespace) -> None:
    print(f"\n### (a) L2 (Redis) hit vs L1 hit — wrk -t1 -c{args.connections} -d{args.seconds}s, keys cycled\n")
    print(f"Edge B: cache.l1_max_bytes = {L1_MIN} (the settings' minimum); edge A: the default (256 MiB).\n")
    header = [
        "response", "keys (working set)", "L1 hit on A req/s", "A p50 / p99 ms", "L2 hit on B req/s",
        "B p50 / p99 ms", "L2 / L1", "Redis GET hits per request, A / B", "X-Cache: fill on A; B, first 64 keys",
        "origin requests during runs", "wrk errors A / B",
    ]  # fmt: skip
    body = [
        [
            f"{row.size // 1000} KB", f"{row.keys} ({row.size * row.keys / 2**20:.1f} MiB)", f"{row.l1.rps:.0f}",
            p50_p99(row.l1), f"{row.l2.rps:.0f}", p50_p99(row.l2), f"{row.l2.rps / row.l1.rps:.2f}",
            f"{row.l1_redis_per_request:.2f} / {row.l2_redis_per_request:.2f}",
            f"{_tally(row.fill)}; {_tally(row.l2_check)}", row.origin_during_runs, f"{row.l1.errors} / {row.l2.errors}",
        ]
        for row in rows
    ]  # fmt: skip
    print(table(header, body))


def report_b(results: list[SwrResult], to_stale: float, args: argparse.Namespace) -> None:
    print(f"\n### (b) stale-while-revalidate, origin {SLOW_SECONDS:.0f} s per request", end="")
    print(f" — wrk -t1 -c{args.connections} -d{args.seconds}s, X-Cache tallied by a wrk Lua script\n")
    print("/swr/page says `public, s-maxage=1, stale-while-revalidate=60` (the edge answered it STALE", end="")
    print(f" {to_stale:.1f} s after the fill returned); /fresh/page says `public, s-maxage=3600` (plain hits).\n")
    header = [
        "page", "req/s", "p50 / p99 / max ms", "X-Cache during the run", "wrk errors", "origin requests during the run",
        "origin requests for the page, all told",
    ]  # fmt: skip
    rows = [
        [
            item.page, f"{item.wrk.rps:.0f}", f"{p50_p99(item.wrk)} / {item.wrk.max_ms:.2f}", _tally(item.verdicts),
            item.wrk.errors, item.origin_during_run, item.origin_total,
        ]
        for item in results
    ]  # fmt: skip
    print(table(header, rows))


def report_c(rounds: list[StampedeRound]) -> None:
    print(f"\n### (c) stampede: concurrent requests for a cold key, origin {SLOW_SECONDS:.0f} s per request\n")
    header = ["round", "requests", "origin requests", "statuses", "X-Cache", "latency min / p50 / p90 / p99 / max s"]
    body = []
    for number, item in enumerate(rounds, 1):
        lat = item.latencies
        quantiles = (lat[min(len(lat) - 1, int(q * len(lat)))] for q in (0, 0.5, 0.9, 0.99, 1)) if lat else ()
        spread = " / ".join(f"{value:.2f}" for value in quantiles) or "–"
        body.append([number, item.requests, item.origin_requests, _tally(item.statuses), _tally(item.verdicts), spread])
    print(table(header, body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured wrk run before each part-a measurement")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--parts", default="a,b,c", help="comma-separated subset of a,b,c")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--stampede", type=int, default=500, help="concurrent requests per stampede round")
    parser.add_argument("--rounds", type=int, default=3, help="stampede rounds, a cold key each")
    args = parser.parse_args()
    need_wrk()
    parts = {part.strip() for part in args.parts.split(",")}
    with tempfile.TemporaryDirectory(prefix="edge-tiers-") as folder:
        env = Env(Path(folder), args)
        (env.tmp / "origin.py").write_text(ORIGIN)
        print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
        if "a" in parts:
            try:
                report_a(part_a(env), args)
            except redis.RedisError as exc:
                print(f"\nnote: part a skipped, Redis at {args.redis_url} is not usable: {exc}")
        if "b" in parts:
            report_b(*part_b(env), args)
        if "c" in parts:
            report_c(part_c(env))
        print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
