"""Single flight: one fetch per key however many ask at once."""

from __future__ import annotations

import asyncio

import pytest

from cdn.coalesce import SingleFlight

pytestmark = pytest.mark.anyio


async def test_concurrent_callers_share_one_fetch() -> None:
    flight: SingleFlight[str] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "page"

    tasks = [asyncio.create_task(flight.run("k", fetch, wait=5)) for _ in range(500)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert {value for value, _ in results} == {"page"}
    assert sum(led for _, led in results) == 1
    assert len(flight) == 0


async def test_an_error_reaches_every_waiter_and_the_next_call_tries_again() -> None:
    flight: SingleFlight[str] = SingleFlight()
    release = asyncio.Event()

    async def failing() -> str:
        await release.wait()
        raise ConnectionError("origin down")

    tasks = [asyncio.create_task(flight.run("k", failing, wait=5)) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)

    async def working() -> str:
        return "ok"

    assert await flight.run("k", working, wait=5) == ("ok", True)


async def test_waiters_are_bounded_in_time() -> None:
    flight: SingleFlight[str] = SingleFlight()
    never = asyncio.Event()

    async def slow() -> str:
        await never.wait()
        return "late"

    leader = asyncio.create_task(flight.run("k", slow, wait=5))
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        await flight.run("k", slow, wait=0.01)
    leader.cancel()
