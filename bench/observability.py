"""What metrics and tracing cost on the edge's hit path: the same edge with observability off, metrics on, and
metrics + tracing on, measured with wrk on loopback in alternating rounds.

Edges (each `wrangler-py edge`, one process, its own wrangler.toml), all in front of one origin (a bare ASGI app
under uvicorn serving a 2 KB JSON response with `s-maxage=3600`):
  off             [edge.observability] metrics = false (tracing off, access log off)
  metrics         metrics = true (the default)
  traced-1.0      metrics = true, tracing = true, sample_ratio = 1.0: every request is traced, so none is answered
                  below ASGI; spans batched to a local OTLP/HTTP collector stub (accepts and keeps the bodies)
  traced-0.01     the same at sample_ratio = 0.01: 1% of requests leave the wire path to be traced
  traced-0.0      the same at sample_ratio = 0.0: tracing on, nothing recorded (the sampling decision's own cost)
Each edge is loaded for the same response twice per round:
  wire            a plain GET: answered below ASGI (`edge/wire.py`) where the configuration allows
  asgi            the same GET with `Cache-Control: max-stale=0`, which the wire path leaves to ASGI: still a HIT
The order of the edges rotates by one place each round, so no configuration always runs first or last; ratios
are taken against `off` within each round, then their median and range reported (the machine is noisy).
Reported per edge and path: req/s (median, min–max), ratio to off, p50/p99, the edge's CPU and its CPU time per
request; and for the traced edges the spans the collector received against the requests sent.

    .venv/bin/python bench/observability.py [--rounds 5] [--seconds 3] [--connections 64]
    (needs wrk: apt-get install wrk)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import textwrap
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
from _harness import Spread, WrkResult, answers, free_port, need_wrk, running, stop_on_sigterm, table, tool, wrk

PATH = "/data.json"
SIZE = 2_000
PATHS = {"wire": (), "asgi": ("Cache-Control: max-stale=0",)}

ORIGIN = textwrap.dedent(
    f"""
    BODY = b"x" * {SIZE}
    HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"{SIZE}"),
               (b"cache-control", b"public, s-maxage=3600")]

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({{"type": message["type"] + ".complete"}})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        await send({{"type": "http.response.start", "status": 200, "headers": HEADERS}})
        await send({{"type": "http.response.body", "body": BODY}})
    """
)

# An OTLP/HTTP endpoint that answers at once and keeps the bodies; /stats decodes them and counts the spans by
# service name once the measurements are over, so decoding never competes with one.
COLLECTOR = textwrap.dedent(
    """
    import json
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    BODIES = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        if scope["path"] == "/stats":
            spans = {}
            for body in BODIES:
                for resource in ExportTraceServiceRequest.FromString(body).resource_spans:
                    name = next(a.value.string_value for a in resource.resource.attributes if a.key == "service.name")
                    spans[name] = spans.get(name, 0) + sum(len(s.spans) for s in resource.scope_spans)
            answer = json.dumps({"exports": len(BODIES), "bytes": sum(map(len, BODIES)), "spans": spans}).encode()
            json_type = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": json_type})
            await send({"type": "http.response.body", "body": answer})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] == "POST":
            BODIES.append(body)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/x-protobuf"), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
    """
)


@dataclass(frozen=True, slots=True)
class Edge:
    name: str
    describe: str
    observability: str  # the [edge.observability] table's body
    traced: bool = False


EDGES = [
    Edge("off", "metrics off, tracing off", "metrics = false\n"),
    Edge("metrics", "metrics on (default), tracing off", "metrics = true\n"),
    *(
        Edge(
            f"traced-{ratio}",
            f"metrics + tracing, sample {ratio}",
            f'tracing = true\nsample_ratio = {ratio}\nservice_name = "traced-{ratio}"\n',
            traced=True,
        )
        for ratio in ("1.0", "0.01", "0.0")
    ),
]
RUN_OVERHEAD_S = 0.5  # per wrk run besides its duration: wrk's start, /proc reads, the collector's stats


def uvicorn_command(module: str, folder: Path, port: int) -> list[str]:
    found = tool("uvicorn")
    assert found is not None, "uvicorn is not installed"
    return [found, f"{module}:app", "--app-dir", str(folder), "--host", "127.0.0.1", "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "error"]  # fmt: skip


def edge_command(edge: Edge, folder: Path, port: int, origin: int, collector: int) -> list[str]:
    config = folder / f"{edge.name}.toml"
    endpoint = f'otlp_endpoint = "http://127.0.0.1:{collector}/v1/traces"\n' if edge.traced else ""
    config.write_text(f'[edge]\nhost = "127.0.0.1"\n\n[edge.observability]\n{edge.observability}{endpoint}')
    found = tool("wrangler-py")
    assert found is not None, "wrangler-py is not installed (pip install -e .)"
    return [found, "--config", str(config), "edge", "--origin", f"http://127.0.0.1:{origin}", "--port", str(port),
            "--log-level", "warning"]  # fmt: skip


def check_hit(base: str) -> None:
    for extra in PATHS.values():
        headers = dict(line.split(": ", 1) for line in extra)
        for _ in range(2):
            response = httpx.get(base + PATH, headers=headers, timeout=15, trust_env=False)
        if response.headers.get("x-cache") != "HIT" or len(response.content) != SIZE:
            raise RuntimeError(f"{base}: {response.status_code} {response.headers.get('x-cache')}, not a HIT")


Results = dict[tuple[str, str], dict[int, WrkResult]]


def measure(live: dict[str, tuple[str, int]], args: argparse.Namespace, deadline: float) -> Results:
    results: Results = {(edge.name, path): {} for edge in EDGES for path in PATHS}
    names = [edge.name for edge in EDGES if edge.name in live]
    began = time.monotonic()
    for index in range(args.rounds):
        if index and time.monotonic() + len(names) * len(PATHS) * (args.seconds + RUN_OVERHEAD_S) > deadline:
            print(f"note: time bound reached, stopping after {index} of {args.rounds} rounds", flush=True)
            break
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            base, pid = live[name]
            for path, headers in PATHS.items():
                results[name, path][index] = wrk(base + PATH, args.seconds, args.connections, headers=headers,
                                                 server_pid=pid)  # fmt: skip
        print(f"round {index + 1}/{args.rounds} at {time.monotonic() - began:.0f}s, load "
              f"{os.getloadavg()[0]:.2f}: " + ", ".join(
                  f"{name} {results[name, path][index].rps:.0f}/{path}" for name in names for path in PATHS),
              flush=True)  # fmt: skip
    return results


def report(results: Results, exported: dict[str, tuple[int, int]], args: argparse.Namespace) -> None:
    print(f"\nwrk -t1 -c{args.connections} -d{args.seconds}s, loopback, {args.rounds} rounds, edges in rotating order;")
    print("ratio: req/s over the `off` edge's in the same round (median, min–max); CPU: cores the edge used;")
    print("µs/req: the edge's CPU time per answered request (median over rounds).")
    for path in PATHS:
        rows = []
        for edge in EDGES:
            runs = results.get((edge.name, path), {})
            rps = Spread.of(run.rps for run in runs.values())
            if rps is None:
                continue
            base = results.get(("off", path), {})
            ratio = Spread.of(runs[i].rps / base[i].rps for i in sorted(runs.keys() & base.keys()) if base[i].rps)
            p50 = Spread.of(run.p50_ms for run in runs.values())
            p99 = Spread.of(run.p99_ms for run in runs.values())
            cpu = Spread.of(run.server_cpu or 0.0 for run in runs.values())
            per = Spread.of((run.server_cpu or 0.0) * 1e6 / run.rps for run in runs.values() if run.rps)
            assert p50 is not None and p99 is not None and cpu is not None and per is not None
            errors = sum(run.errors for run in runs.values())
            rows.append([f"{edge.name}: {edge.describe}", rps.show(), ratio.show(2) if ratio else "–",
                         f"{p50.median:.2f} / {p99.median:.2f}", f"{cpu.median:.2f}", f"{per.median:.1f}",
                         errors, len(runs)])  # fmt: skip
        header = [f"{path} hits", "req/s median (min–max)", "ratio to off", "p50 / p99 ms", "CPU", "µs/req",
                  "errors", "n"]  # fmt: skip
        print("\n" + table(header, rows))
    for name, (spans, requests) in exported.items():
        if requests:
            print(
                f"\n{name}: the collector received {spans} spans for the {requests} requests wrk sent it "
                f"({spans / requests:.3f} per request; a traced hit makes 2: the request and its cache lookup)"
            )
    rows = [[name, path, *(f"{runs[i].rps:.0f}" if i in runs else "–" for i in range(args.rounds))]
            for path in PATHS for edge in EDGES if (runs := results.get((name := edge.name, path)))]  # fmt: skip
    print("\nreq/s per round:\n")
    print(table(["edge", "path", *(f"r{i + 1}" for i in range(args.rounds))], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3, help="each measured wrk run")
    parser.add_argument("--warmup", type=int, default=1, help="one unmeasured run per edge and path first")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds < 1 or args.warmup < 0 or args.connections < 1:
        parser.error("--rounds, --seconds and --connections must be at least 1, --warmup at least 0")
    need_wrk()
    stop_on_sigterm()
    began = time.monotonic()
    runs = len(EDGES) * len(PATHS)
    expected = runs * (args.rounds * (args.seconds + RUN_OVERHEAD_S) + args.warmup + RUN_OVERHEAD_S) + 10
    bound = 2 * expected + 60
    print(f"{len(EDGES)} edges × {len(PATHS)} paths × {args.rounds} rounds × {args.seconds}s: expected ≈ "
          f"{expected:.0f}s; no round starts that would end after {bound:.0f}s; load {os.getloadavg()[0]:.2f}",
          flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="observability-") as folder, ExitStack() as stack:
        tmp = Path(folder)
        (tmp / "origin_app.py").write_text(ORIGIN)
        (tmp / "collector_app.py").write_text(COLLECTOR)
        origin, collector = free_port(), free_port()
        stack.enter_context(
            running(
                "origin",
                uvicorn_command("origin_app", tmp, origin),
                cwd=tmp,
                ready=answers(f"http://127.0.0.1:{origin}{PATH}"),
                log=tmp / "origin.log",
            )
        )
        collector_base = f"http://127.0.0.1:{collector}"
        stack.enter_context(running("collector", uvicorn_command("collector_app", tmp, collector), cwd=tmp,
                                    ready=answers(collector_base + "/stats"), log=tmp / "collector.log"))  # fmt: skip
        live: dict[str, tuple[str, int]] = {}
        for edge in EDGES:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            process = stack.enter_context(running(edge.name, edge_command(edge, tmp, port, origin, collector),
                                                  ready=answers(base + "/healthz"), cwd=tmp,
                                                  log=tmp / f"{edge.name}.log"))  # fmt: skip
            check_hit(base)
            live[edge.name] = (base, process.pid)
        print("running: " + ", ".join(f"{name} (pid {pid})" for name, (_, pid) in live.items()), flush=True)
        sent = dict.fromkeys(live, 0)
        for name, (base, _) in live.items():
            for headers in PATHS.values():
                if args.warmup:
                    sent[name] += wrk(base + PATH, args.warmup, args.connections, headers=headers).requests
        results = measure(live, args, deadline=began + bound)
        for base, _ in live.values():
            check_hit(base)
        for (name, _), runs in results.items():
            sent[name] = sent.get(name, 0) + sum(run.requests for run in runs.values())
        time.sleep(6)  # the batch span processors export every 5 s
        spans = httpx.get(collector_base + "/stats", timeout=120, trust_env=False).json()["spans"]
        exported = {edge.name: (spans.get(edge.name, 0), sent[edge.name]) for edge in EDGES if edge.traced}
    print(f"took {time.monotonic() - began:.0f}s; load at end {os.getloadavg()[0]:.2f}")
    report(results, exported, args)


if __name__ == "__main__":
    main()
