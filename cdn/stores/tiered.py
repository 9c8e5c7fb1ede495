"""L1 in front of L2: reads promote L2 hits into L1, writes and purges reach both."""

from __future__ import annotations

from collections.abc import Iterable

from cdn.stores.base import CacheRecord, CacheStore


class TieredStore(CacheStore):
    def __init__(self, l1: CacheStore, l2: CacheStore) -> None:
        self.l1 = l1
        self.l2 = l2

    async def get(self, key: str, now: float) -> CacheRecord | None:
        record = await self.l1.get(key, now)
        if record is not None:
            return record
        record = await self.l2.get(key, now)
        if record is not None:
            await self.l1.set(key, record, now)
        return record

    async def set(self, key: str, record: CacheRecord, now: float) -> None:
        await self.l1.set(key, record, now)
        await self.l2.set(key, record, now)

    async def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        await self.l1.delete(keys)
        await self.l2.delete(keys)

    async def purge_tags(self, tags: Iterable[str], *, soft: bool) -> int:
        tags = list(tags)
        # L1 first: it is local and cannot fail, so this node stops serving the content whatever L2 does.
        local = await self.l1.purge_tags(tags, soft=soft)
        return max(local, await self.l2.purge_tags(tags, soft=soft))

    async def clear(self) -> None:
        await self.l1.clear()
        await self.l2.clear()
