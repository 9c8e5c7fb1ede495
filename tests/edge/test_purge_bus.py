"""Two edge nodes sharing one real Redis: purges reach both, and a node that missed purges catches up."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from edge.app import EdgeApp
from tests.edge.conftest import FakeOrigin, drop_keys

pytestmark = pytest.mark.anyio
AUTH = {"authorization": "Bearer s3cret"}


@pytest.fixture
async def nodes(
    make_edge: Callable[..., EdgeApp], redis_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, EdgeApp, EdgeApp]]:
    prefix = f"bus-{secrets.token_hex(4)}:"
    settings: dict[str, Any] = {
        "redis_url": redis_url, "redis_prefix": prefix, "purge_token": "s3cret", "max_purge_lag_seconds": 0.5,
    }  # fmt: skip
    app_a, app_b = make_edge(**settings), make_edge(**settings)
    await app_a.start()
    await app_b.start()
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://shop.example") for a in (app_a, app_b)
    ]
    await asyncio.sleep(0.2)  # both subscribed
    yield clients[0], clients[1], app_a, app_b
    for client in clients:
        await client.aclose()
    await app_a.stop()
    await app_b.stop()
    await drop_keys(redis_url, prefix)


async def eventually(check: Callable[[], Any], within: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_a_purge_on_one_node_reaches_the_other(nodes: Any, origin: FakeOrigin) -> None:
    a, b, _, _ = nodes
    await a.get("/page")
    assert (await b.get("/page")).headers["x-cache"] == "HIT"  # from the shared L2, now in B's L1 too
    origin.version = 2
    assert (await a.post("/_edge/purge", json={"tags": ["product:1"]}, headers=AUTH)).status_code == 200

    async def b_sees_new_version() -> bool:
        return (await b.get("/page")).text == "page v2"

    await eventually(b_sees_new_version)


async def test_soft_purge_serves_stale_once_then_fresh_on_the_other_node(nodes: Any, origin: FakeOrigin) -> None:
    a, b, _, app_b = nodes
    await b.get("/page")
    origin.version = 2
    await a.post("/_edge/purge", json={"tags": ["product:1"], "soft": True}, headers=AUTH)

    async def b_marked_stale() -> bool:
        return (await b.get("/page")).headers["x-cache"] == "STALE"

    await eventually(b_marked_stale)
    await app_b.cache.drain()
    assert (await b.get("/page")).text == "page v2"


async def test_a_node_that_missed_purges_clears_what_it_cannot_confirm(nodes: Any, origin: FakeOrigin) -> None:
    a, b, _, app_b = nodes
    await b.get("/page")
    assert app_b.bus is not None
    await app_b.bus.stop()  # B loses the bus
    origin.version = 2
    await a.post("/_edge/purge", json={"tags": ["product:1"]}, headers=AUTH)
    # within the lag bound B may still serve what it has; past it, B refuses its unconfirmed L1 records
    await asyncio.sleep(0.6)
    answer = await b.get("/page")
    assert answer.text == "page v2" and answer.headers["x-cache"] == "MISS"
    app_b.bus.start()  # reconnects, catches up from the purge log

    async def confirmed() -> bool:
        return app_b.bus.trusted_since(time.time()) == 0.0

    await eventually(confirmed)
    assert (await b.get("/page")).headers["x-cache"] == "HIT"
