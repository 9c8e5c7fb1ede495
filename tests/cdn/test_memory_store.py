"""The in-process L1: bounded by bytes, LRU, expiring, indexed by tag."""

from __future__ import annotations

import pytest

from cdn.messages import StoredResponse
from cdn.stores.base import CacheRecord
from cdn.stores.memory import MemoryStore

pytestmark = pytest.mark.anyio
NOW = 1_800_000_000.0


def record(body_size: int = 1000, tags: tuple[str, ...] = (), ttl: float = 60) -> CacheRecord:
    response = StoredResponse(
        status=200, headers=(("content-type", "text/html"),), body=b"x" * body_size, request_time=NOW, response_time=NOW
    )
    return CacheRecord(response=response, tags=tags, expires_at=NOW + ttl)


async def test_bounded_by_bytes_evicting_least_recently_used() -> None:
    store = MemoryStore(max_bytes=3500)
    for key in ("a", "b", "c"):
        await store.set(key, record(), NOW)
    assert await store.get("a", NOW) is not None  # "a" is now the most recently used
    await store.set("d", record(), NOW)
    assert await store.get("b", NOW) is None and await store.get("a", NOW) is not None
    assert store.bytes_used <= 3500


async def test_records_larger_than_the_cache_are_not_stored() -> None:
    store = MemoryStore(max_bytes=500)
    await store.set("big", record(body_size=10_000), NOW)
    assert await store.get("big", NOW) is None and len(store) == 0


async def test_expired_records_are_gone() -> None:
    store = MemoryStore(max_bytes=10_000)
    await store.set("k", record(ttl=10), NOW)
    assert await store.get("k", NOW + 9) is not None
    assert await store.get("k", NOW + 10) is None and len(store) == 0


async def test_hard_and_soft_purge_by_tag() -> None:
    store = MemoryStore(max_bytes=100_000)
    await store.set("p1", record(tags=("product:1", "category:9")), NOW)
    await store.set("p2", record(tags=("product:2", "category:9")), NOW)
    assert await store.purge_tags(["product:1"], soft=True) == 1
    soft = await store.get("p1", NOW)
    assert soft is not None and soft.stale
    assert await store.purge_tags(["category:9"], soft=False) == 2
    assert await store.get("p1", NOW) is None and await store.get("p2", NOW) is None


async def test_evicted_and_replaced_records_leave_no_tag_behind() -> None:
    store = MemoryStore(max_bytes=2500)
    await store.set("a", record(tags=("t:a",)), NOW)
    await store.set("a", record(tags=("t:b",)), NOW)
    assert await store.purge_tags(["t:a"], soft=False) == 0
    await store.set("b", record(tags=("t:c",)), NOW)
    await store.set("c", record(tags=("t:d",)), NOW)  # evicts "a"
    assert "t:b" not in store._tags
    await store.clear()
    assert len(store) == 0 and await store.purge_tags(["t:c"], soft=False) == 0
