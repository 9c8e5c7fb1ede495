"""Fixtures shared by the whole suite: configs in temp folders, in-process apps and real origin processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from wrangler_py.config import LoadedConfig, load_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def write_config(folder: Path, *, seed_products: int = 60, extra: str = "", origin_extra: str = "") -> Path:
    """A wrangler.toml whose data lives in `folder` and whose CMS content is the repo's demo content."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "wrangler.toml"
    path.write_text(
        f"""
name = "test-store"
[origin]
data_dir = "data"
seed_products = {seed_products}
{origin_extra}
[connectors.cms]
vendor = "builtin"
path = "{(REPO / "content").as_posix()}"
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., LoadedConfig]:
    def make(*, seed_products: int = 60, extra: str = "", origin_extra: str = "", name: str = "store") -> LoadedConfig:
        path = write_config(tmp_path / name, seed_products=seed_products, extra=extra, origin_extra=origin_extra)
        return load_config(path, environ=os.environ)

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveOrigin:
    """A real `wrangler-py dev` process: the origin on one loopback port (`url`), its edge on another."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.edge_port = free_port()
        self.edge_url = f"http://127.0.0.1:{self.edge_port}"
        self.data_dir = config_path.parent / "data"
        self._log = (config_path.parent / "origin.log").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wrangler_py.cli",
                "--config",
                str(config_path),
                "dev",
                "--origin-port",
                str(self.port),
                "--port",
                str(self.edge_port),
                "--log-level",
                "warning",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"origin exited: {(self.config_path.parent / 'origin.log').read_text()}")
            try:
                ready = httpx.get(self.url + "/readyz", timeout=1).status_code == 200
                if ready and httpx.get(self.edge_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError("origin did not become ready")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture
def live_origin(tmp_path: Path) -> Iterator[Callable[..., LiveOrigin]]:
    started: list[LiveOrigin] = []

    def start(
        *,
        seed_products: int = 60,
        prepare: Callable[[Path], None] | None = None,
        extra: str = "",
        origin_extra: str = "",
    ) -> LiveOrigin:
        folder = tmp_path / f"live{len(started)}"
        config_path = write_config(folder, seed_products=seed_products, extra=extra, origin_extra=origin_extra)
        if prepare is not None:
            prepare(config_path)
        origin = LiveOrigin(config_path)
        started.append(origin)
        origin.wait_ready()
        return origin

    yield start
    for origin in started:
        origin.stop()


@pytest.fixture
def redis_url() -> str:
    """`make test` exports the URL of a Redis it checked or started; a bare pytest run uses the local default."""
    return os.environ.get("EDGESHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
