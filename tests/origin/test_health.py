"""`origin.health`: readiness checks run one at a time, and a recent answer is reused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio
import httpx
import pytest

from origin import health
from wrangler_py.apps import build_origin_app, build_store_from_config
from wrangler_py.config import LoadedConfig

pytestmark = pytest.mark.anyio


async def test_probes_share_one_readiness_check(
    make_config: Callable[..., LoadedConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = make_config(seed_products=1, name="ready")
    store = build_store_from_config(loaded)
    calls, release = [], asyncio.Event()

    async def slow() -> None:
        calls.append(1)
        await release.wait()  # a hung store: the check gives up, its work would keep running

    monkeypatch.setattr(store.carts, "reachable", slow)
    monkeypatch.setattr(health, "CHECK_SECONDS", 0.2)
    app = build_origin_app(loaded, store=store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://origin") as probe:
            answers: list[httpx.Response] = []

            async def ask() -> None:
                answers.append(await probe.get("/readyz"))

            async with anyio.create_task_group() as group:
                for _ in range(20):
                    group.start_soon(ask)
            assert len(calls) == 1  # one check for twenty probes
            assert {a.status_code for a in answers} == {503}
            assert {a.json()["failed"]["carts"] for a in answers} == {"Timeout"}
            monkeypatch.setattr(health, "READY_REUSE_SECONDS", 0.0)
            release.set()
            await probe.get("/readyz")
            assert len(calls) == 2  # once the last answer is old, the next probe checks again
