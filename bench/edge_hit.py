"""Edge cache-hit throughput and latency against the bare floor, measured with wrk on loopback.

Three servers, each a real uvicorn process (uvloop + httptools) on one core's worth of load:
  floor   a bare ASGI app that answers the same bytes from a dict (what any Python server can do at best)
  edge    the edgeshop edge with the page in its L1, in front of an origin it no longer needs
  origin  the origin those bytes come from (only asked once, to fill the cache)
for a 30 KB HTML page and a 2 KB JSON response. Reported as requests/s, p50/p99 latency, and edge/floor.

    .venv/bin/python bench/edge_hit.py [--seconds 5] [--connections 64]      (needs wrk: apt-get install wrk)
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

PAGES = {"/page": ("text/html; charset=utf-8", 30_000), "/data.json": ("application/json", 2_000)}

SERVERS = textwrap.dedent(
    """
    import sys
    import uvicorn
    PAGES = {pages!r}
    BODIES = {{path: (kind, (b"x" * size)) for path, (kind, size) in PAGES.items()}}
    HEADERS = {{path: [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode()),
                       (b"cache-control", b"public, s-maxage=3600"), (b"surrogate-key", b"bench")]
               for path, (kind, body) in BODIES.items()}}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        path = scope["path"]
        body = BODIES.get(path, (None, b"ok"))[1]
        await send({{"type": "http.response.start", "status": 200, "headers": HEADERS.get(path, [])}})
        await send({{"type": "http.response.body", "body": body}})

    if __name__ == "__main__":
        role, port = sys.argv[1], int(sys.argv[2])
        if role == "edge":
            from edge import EdgeApp, EdgeSettings
            target = EdgeApp(EdgeSettings(origin=sys.argv[3]))
        else:
            target = app
        uvicorn.run(target, host="127.0.0.1", port=port, log_level="error", loop="uvloop", http="httptools",
                    access_log=False, date_header=role != "edge", server_header=role != "edge")
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(script: Path, *args: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, str(script), *args], cwd=Path(__file__).resolve().parent.parent)
    url = f"http://127.0.0.1:{args[1]}/data.json"
    for _ in range(100):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{args[0]} did not start")


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return rps, percentile("50"), percentile("99")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "servers.py"
        script.write_text(SERVERS.format(pages=PAGES))
        floor_port, origin_port, edge_port = free_port(), free_port(), free_port()
        processes = [start(script, "floor", str(floor_port)), start(script, "origin", str(origin_port))]
        processes.append(start(script, "edge", str(edge_port), f"http://127.0.0.1:{origin_port}"))
        try:
            for path in PAGES:  # fill the edge's cache, and check it is a hit from now on
                httpx.get(f"http://127.0.0.1:{edge_port}{path}")
                assert httpx.get(f"http://127.0.0.1:{edge_port}{path}").headers["x-cache"] == "HIT"
            print(f"wrk -t1 -c{args.connections} -d{args.seconds}s, uvicorn + uvloop + httptools, one process each\n")
            print("| response | floor req/s | edge HIT req/s | edge / floor | floor p50 / p99 ms | edge p50 / p99 ms |")
            print("|---|---|---|---|---|---|")
            for path, (_, size) in PAGES.items():
                floor = wrk(f"http://127.0.0.1:{floor_port}{path}", args.seconds, args.connections)
                edge = wrk(f"http://127.0.0.1:{edge_port}{path}", args.seconds, args.connections)
                print(
                    f"| {size // 1000} KB {path} | {floor[0]:.0f} | {edge[0]:.0f} | {edge[0] / floor[0]:.2f} "
                    f"| {floor[1]:.2f} / {floor[2]:.2f} | {edge[1]:.2f} / {edge[2]:.2f} |"
                )
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)


if __name__ == "__main__":
    main()
