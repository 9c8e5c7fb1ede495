"""The Redis L2 against a real Redis server: binary records, expiry, tag purges, and surviving an outage."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from cdn.messages import StoredResponse
from cdn.stores.base import CacheRecord
from cdn.stores.encoding import decode, encode
from cdn.stores.memory import MemoryStore
from cdn.stores.redis import RedisStore, connect_redis
from cdn.stores.tiered import TieredStore

pytestmark = pytest.mark.anyio


def record(
    body: bytes = b"<html>\x00\xff binary-safe</html>", tags: tuple[str, ...] = (), ttl: float = 60
) -> CacheRecord:
    now = time.time()
    response = StoredResponse(
        status=200,
        headers=(("content-type", "text/html; charset=utf-8"), ("surrogate-key", " ".join(tags)), ("x-é", "ü")),
        body=body,
        request_time=now - 0.25,
        response_time=now,
        vary=(("x-market", "eu"),),
    )
    return CacheRecord(response=response, tags=tags, expires_at=now + ttl)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[tuple[RedisStore, Redis, str]]:
    client = Redis.from_url(redis_url)
    try:
        await client.ping()
    except Exception as exc:  # a missing Redis is a broken test setup, not a skip
        pytest.fail(f"these tests need Redis at {redis_url} (make test provides one): {exc}")
    prefix = f"test-{secrets.token_hex(4)}:"
    yield RedisStore(client, prefix=prefix), client, prefix
    async for key in client.scan_iter(match=prefix + "*"):
        await client.unlink(key)
    await client.aclose()


def test_encoding_round_trips_exactly() -> None:
    original = record(tags=("product:1", "category:2"))
    assert decode(encode(original)) == original
    assert b"base64" not in encode(original) and original.response.body in encode(original)


async def test_set_get_with_expiry_in_redis(store: tuple[RedisStore, Redis, str]) -> None:
    l2, client, prefix = store
    original = record(ttl=30)
    await l2.set("es:entry:a", original, time.time())
    assert await l2.get("es:entry:a", time.time()) == original
    ttl_ms = await client.pttl(prefix + "es:entry:a")
    assert 25_000 < ttl_ms <= 30_000
    assert await l2.get("es:entry:missing", time.time()) is None


async def test_hard_purge_by_tag_removes_records_and_the_tag_set(store: tuple[RedisStore, Redis, str]) -> None:
    l2, client, prefix = store
    await l2.set("es:entry:p1", record(tags=("product:1", "category:9")), time.time())
    await l2.set("es:entry:p2", record(tags=("product:2", "category:9")), time.time())
    await l2.set("es:entry:p3", record(tags=("product:3",)), time.time())
    assert await l2.purge_tags(["category:9"], soft=False) == 2
    assert await l2.get("es:entry:p1", time.time()) is None and await l2.get("es:entry:p2", time.time()) is None
    assert await l2.get("es:entry:p3", time.time()) is not None
    assert not await client.exists(prefix + "es:tag:category:9")


async def test_soft_purge_flips_the_stale_flag_in_place(store: tuple[RedisStore, Redis, str]) -> None:
    l2, client, prefix = store
    original = record(tags=("product:1",), ttl=60)
    await l2.set("es:entry:p1", original, time.time())
    assert await l2.purge_tags(["product:1"], soft=True) == 1
    purged = await l2.get("es:entry:p1", time.time())
    assert purged is not None and purged.stale and purged.response == original.response
    assert await client.pttl(prefix + "es:entry:p1") > 50_000  # the expiry was kept


async def test_tag_sets_live_as_long_as_their_longest_member(store: tuple[RedisStore, Redis, str]) -> None:
    l2, client, prefix = store
    await l2.set("es:entry:long", record(tags=("t",), ttl=300), time.time())
    await l2.set("es:entry:short", record(tags=("t",), ttl=10), time.time())
    assert await client.pttl(prefix + "es:tag:t") > 250_000


async def test_an_unreachable_redis_is_a_miss_not_an_error() -> None:
    dead = RedisStore(connect_redis("redis://127.0.0.1:1/0", timeout=0.2), retry_after=30)
    assert await dead.get("es:entry:a", time.time()) is None
    assert not dead.available  # it backs off instead of paying a timeout per request
    await dead.set("es:entry:a", record(), time.time())  # dropped quietly
    assert await dead.get("es:entry:a", time.time()) is None


async def test_tiered_store_promotes_l2_hits_and_purges_both(store: tuple[RedisStore, Redis, str]) -> None:
    l2, _, _ = store
    node_a = TieredStore(MemoryStore(1_000_000), l2)
    node_b = TieredStore(MemoryStore(1_000_000), l2)
    await node_a.set("es:entry:p1", record(tags=("product:1",)), time.time())
    assert await node_b.l1.get("es:entry:p1", time.time()) is None
    assert await node_b.get("es:entry:p1", time.time()) is not None  # from L2
    assert await node_b.l1.get("es:entry:p1", time.time()) is not None  # promoted
    await node_b.purge_tags(["product:1"], soft=False)
    assert await node_b.get("es:entry:p1", time.time()) is None
    assert await l2.get("es:entry:p1", time.time()) is None
    # node A's own L1 still holds it until the purge bus tells it (next step of the edge)
    assert await node_a.l1.get("es:entry:p1", time.time()) is not None


async def test_tiered_store_keeps_serving_from_l1_when_redis_is_down() -> None:
    node = TieredStore(MemoryStore(1_000_000), RedisStore(connect_redis("redis://127.0.0.1:1/0", timeout=0.2)))
    await node.set("es:entry:a", record(), time.time())
    assert await node.get("es:entry:a", time.time()) is not None
