"""Redis killed and restarted under an edge: no 5xx because of it, and caching resumes by itself."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis

from edge.app import EdgeApp
from tests.conftest import free_port
from tests.edge.conftest import FakeOrigin

pytestmark = pytest.mark.anyio


class RedisProcess:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._folder = folder
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server, "redis-server is needed (make test installs it)"
        self._process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self._folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                break
            except Exception:
                time.sleep(0.05)  # a test helper: the server takes a moment to listen
        client.close()

    def kill(self) -> None:
        assert self._process is not None
        self._process.kill()
        self._process.wait()

    def keys(self) -> int:
        client = Redis.from_url(self.url)
        try:
            return int(client.dbsize())
        finally:
            client.close()


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    process = RedisProcess(tmp_path)
    process.start()
    yield process
    if process._process is not None and process._process.poll() is None:
        process.kill()


async def test_no_5xx_while_redis_is_down_and_caching_resumes(
    make_edge: Callable[..., EdgeApp], origin: FakeOrigin, redis_process: RedisProcess
) -> None:
    app = make_edge(redis_url=redis_process.url, max_purge_lag_seconds=0.3)
    await app.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example")
    try:
        assert (await client.get("/page")).status_code == 200
        assert redis_process.keys() > 0  # the record reached L2

        redis_process.kill()
        statuses = [(await client.get(path)).status_code for path in ("/page", "/vary", "/page", "/cookie") * 5]
        assert set(statuses) == {200}

        redis_process.start()  # an empty Redis, as after a restart without persistence
        for attempt in range(60):  # new URLs, so each answer is fetched and written through to L2
            assert (await client.get(f"/page?attempt={attempt}")).status_code == 200
            if redis_process.keys() > 0:
                break
            await asyncio.sleep(0.1)
        assert redis_process.keys() > 0
    finally:
        await client.aclose()
        await app.stop()
