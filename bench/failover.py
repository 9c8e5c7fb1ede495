"""Region failover under load: what shoppers of a region see when its origin dies.

Starts `wrangler-py dev --regions us-east,eu-west` (real processes on loopback), loads the EU edge with
concurrent shoppers for `--seconds` (a mix of cached pages and uncached searches, which need an origin), kills
the EU origin with SIGKILL after `--kill-at` seconds, and reports failed requests and latency before and after,
and which region answered the uncached reads.

    .venv/bin/python bench/failover.py [--seconds 8] [--kill-at 2] [--shoppers 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _harness import free_port

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Sample:
    at: float
    ms: float
    outcome: str  # "200 HIT", "200 MISS us-east", "503", "ConnectError", ...


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)


def start(tmp: Path, port: int) -> tuple[subprocess.Popen[bytes], dict[str, str], dict[str, int]]:
    config = tmp / "wrangler.toml"
    config.write_text(
        f'name = "failover-bench"\n[origin]\ndata_dir = "data"\nseed_products = 60\n'
        f'[connectors.cms]\nvendor = "builtin"\npath = "{(REPO / "content").as_posix()}"\n[edge.geo]\ndev = true\n',
        encoding="utf-8",
    )
    log = (tmp / "dev.log").open("w+")
    parent = subprocess.Popen(
        [sys.executable, "-m", "wrangler_py.cli", "--config", str(config), "dev", "--regions", "us-east,eu-west",
         "--port", str(port), "--log-level", "error"],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    text = ""
    while "plan: " not in text:
        if parent.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((tmp / "dev.log").read_text())
        time.sleep(0.2)
        text = (tmp / "dev.log").read_text()
    edges = dict(re.findall(r"(\S+)\s+edge\s+(http://\S+)", text))
    pids = {name: int(pid) for name, pid in re.findall(r"(\S+)\s+origin\s+http://\S+\s+pid (\d+)", text)}
    return parent, edges, pids


def wait_ready(urls: list[str]) -> None:
    for url in urls:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(url)
            time.sleep(0.2)


async def shopper(client: httpx.AsyncClient, edge: str, n: int, until: float, started: float, run: Run) -> None:
    i = 0
    while time.monotonic() < until:
        i += 1
        # four in five: a shared page in the cache; one in five: a search nobody asked before (needs an origin)
        url = f"{edge}/?_geo=DE" if i % 5 else f"{edge}/search?q=tent&_geo=DE&s={n}-{i}"
        t0 = time.monotonic()
        try:
            answer = await client.get(url)
            outcome = f"{answer.status_code} {answer.headers.get('x-cache', '')}"
            if answer.headers.get("x-cache") in ("MISS", "BYPASS"):
                outcome += f" from {answer.headers.get('x-origin-region')}"
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        run.samples.append(Sample(t0 - started, (time.monotonic() - t0) * 1000, outcome))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def report(run: Run, kill_at: float) -> None:
    phases = {"before the kill": [s for s in run.samples if s.at < kill_at],
              "first 2 s after": [s for s in run.samples if kill_at <= s.at < kill_at + 2],
              "after that": [s for s in run.samples if s.at >= kill_at + 2]}  # fmt: skip
    print("| phase | requests | failed | p50 ms | p99 ms | max ms | outcomes |")
    print("|---|---|---|---|---|---|---|")
    for name, samples in phases.items():
        ms = [s.ms for s in samples]
        failed = sum(1 for s in samples if not s.outcome.startswith(("2", "3")))
        outcomes = ", ".join(f"{k} × {v}" for k, v in Counter(s.outcome for s in samples).most_common())
        p50 = statistics.median(ms) if ms else float("nan")
        print(f"| {name} | {len(samples)} | {failed} | {p50:.1f} | {percentile(ms, 99):.1f} "
              f"| {max(ms, default=float('nan')):.1f} | {outcomes} |")  # fmt: skip


async def load(edge: str, shoppers: int, seconds: float, kill_at: float, eu_origin_pid: int) -> Run:
    run = Run()
    started = time.monotonic()
    limits = httpx.Limits(max_connections=shoppers)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:

        async def kill() -> None:
            await asyncio.sleep(kill_at)
            os.kill(eu_origin_pid, signal.SIGKILL)

        until = started + seconds
        await asyncio.gather(kill(), *(shopper(client, edge, n, until, started, run) for n in range(shoppers)))
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--kill-at", type=float, default=2.0)
    parser.add_argument("--shoppers", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, httpx.Client() as probe:
        parent, edges, pids = start(Path(folder), free_port())
        try:
            wait_ready([edges["eu-west"] + "/healthz", edges["us-east"] + "/healthz"])
            for _ in range(2):
                probe.get(edges["eu-west"] + "/?_geo=DE", timeout=30)  # the shared page is in the EU edge's cache
            run = asyncio.run(load(edges["eu-west"], args.shoppers, args.seconds, args.kill_at, pids["eu-west"]))
            kill = f"EU origin killed at {args.kill_at:.0f} s"
            print(f"EU edge, {args.shoppers} shoppers for {args.seconds:.0f} s; {kill}\n")
            report(run, args.kill_at)
        finally:
            os.killpg(parent.pid, signal.SIGTERM)
            parent.wait(timeout=30)


if __name__ == "__main__":
    main()
