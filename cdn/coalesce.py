"""Request coalescing: concurrent misses for one key share a single origin fetch (single flight)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Future[T]] = {}

    def __len__(self) -> int:
        return len(self._inflight)

    def running(self, key: str) -> bool:
        return key in self._inflight

    async def run(self, key: str, fetch: Callable[[], Awaitable[T]], *, wait: float) -> tuple[T, bool]:
        """(result, led): the first caller for `key` runs `fetch`; the others wait up to `wait` seconds for it.

        The fetch runs in its own task, so a leader whose client goes away does not cancel it for the
        waiters; its exception reaches every waiter. A waiter that times out gets TimeoutError.
        """
        future = self._inflight.get(key)
        if future is not None:
            return await asyncio.wait_for(asyncio.shield(future), wait), False
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        task = asyncio.create_task(self._lead(key, fetch, future))
        return await asyncio.shield(task), True

    async def _lead(self, key: str, fetch: Callable[[], Awaitable[T]], future: asyncio.Future[T]) -> T:
        try:
            result = await fetch()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an error nobody waited for is not reported as lost
            raise
        else:
            future.set_result(result)
            return result
        finally:
            self._inflight.pop(key, None)
