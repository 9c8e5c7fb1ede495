"""A rolling restart: SIGTERM one origin replica under steady load, and no shopper request fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import free_port, write_config
from tests.edge.live import wait_ok


def start(config: Path, *command: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "wrangler_py.cli", "--config", str(config), *command, "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip


def test_sigterm_to_one_origin_under_load_fails_no_request(tmp_path: Path) -> None:
    first, second, edge_port = free_port(), free_port(), free_port()
    regions = f"""
[edge]
region = "local"
[edge.health]
interval_seconds = 0.5
[[regions]]
name = "local"
origins = ["http://127.0.0.1:{first}", "http://127.0.0.1:{second}"]
"""
    config = write_config(tmp_path, seed_products=10, extra=regions)
    processes = [start(config, "origin", "--port", str(first), log=tmp_path / "origin1.log")]
    try:
        wait_ok(f"http://127.0.0.1:{first}/readyz", processes[0])  # seeds the shared catalog first
        processes.append(start(config, "origin", "--port", str(second), log=tmp_path / "origin2.log"))
        wait_ok(f"http://127.0.0.1:{second}/readyz", processes[1])
        edge_command = ("edge", "--origin", f"http://127.0.0.1:{first}", "--port", str(edge_port))
        processes.append(start(config, *edge_command, log=tmp_path / "edge.log"))
        edge = f"http://127.0.0.1:{edge_port}"
        wait_ok(edge + "/healthz", processes[2])
        outcomes: list[int | str] = []
        stop = threading.Event()

        def shopper() -> None:
            with httpx.Client(base_url=edge, timeout=10) as client:
                while not stop.is_set():
                    try:  # /cart is private: every request reaches an origin
                        outcomes.append(client.get("/cart").status_code)
                    except httpx.HTTPError as exc:
                        outcomes.append(type(exc).__name__)

        load = [threading.Thread(target=shopper) for _ in range(4)]
        for thread in load:
            thread.start()
        time.sleep(1.5)
        before = len(outcomes)
        processes[0].send_signal(signal.SIGTERM)  # the rollout replaces replica one
        # It drains and stops within its grace period; uvicorn re-raises the signal after a graceful shutdown.
        assert processes[0].wait(timeout=25) in (0, -signal.SIGTERM)
        time.sleep(1.5)
        stop.set()
        for thread in load:
            thread.join(15)
        failed = [outcome for outcome in outcomes if outcome != 200]
        assert len(outcomes) - before > 20  # traffic kept flowing after the restart began
        assert failed == [], f"{len(failed)} of {len(outcomes)} requests failed: {failed[:5]}"
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
