"""Stampede with real processes: 500 concurrent shoppers on a cold key make one origin request."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port
from tests.edge.live import wait_ok


@pytest.fixture
def edge_and_origin(tmp_path: Path) -> Iterator[tuple[str, str]]:
    origin_port, edge_port = free_port(), free_port()
    origin = subprocess.Popen([sys.executable, "-m", "tests.edge.counting_origin", str(origin_port)], cwd=REPO)
    edge = subprocess.Popen(
        [sys.executable, "-m", "wrangler_py.cli", "edge", "--origin", f"http://127.0.0.1:{origin_port}",
         "--port", str(edge_port), "--log-level", "warning"],
        cwd=tmp_path,  # no wrangler.toml here: the edge runs on its defaults
    )  # fmt: skip
    try:
        wait_ok(f"http://127.0.0.1:{origin_port}/healthz", origin)
        wait_ok(f"http://127.0.0.1:{edge_port}/healthz", edge)
        yield f"http://127.0.0.1:{origin_port}", f"http://127.0.0.1:{edge_port}"
    finally:
        for process in (edge, origin):
            process.terminate()
            process.wait(timeout=10)


def test_500_concurrent_requests_for_a_cold_key_reach_the_origin_once(edge_and_origin: tuple[str, str]) -> None:
    origin_url, edge_url = edge_and_origin

    async def stampede() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
        async with httpx.AsyncClient(base_url=edge_url, limits=limits, timeout=30) as client:
            return await asyncio.gather(*(client.get("/slow") for _ in range(500)))

    answers = asyncio.run(stampede())
    assert [a.status_code for a in answers] == [200] * 500
    assert {a.text for a in answers} == {"<html>cold page</html>"}
    assert httpx.get(origin_url + "/count").json() == {"slow": 1}
