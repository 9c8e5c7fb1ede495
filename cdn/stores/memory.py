"""The in-process L1: an LRU bounded by bytes (cachetools), with expiry and a tag index."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cachetools import Cache, LRUCache

from cdn.stores.base import CacheRecord, CacheStore


class _ByteBoundedLRU(LRUCache[str, CacheRecord]):
    """An LRU whose size is the records' bytes; evictions keep the tag index in step."""

    def __init__(self, max_bytes: int, on_evict: Any) -> None:
        super().__init__(maxsize=max_bytes, getsizeof=lambda record: record.size)
        self._on_evict = on_evict

    def popitem(self) -> tuple[str, CacheRecord]:
        key, record = super().popitem()
        self._on_evict(key, record)
        return key, record


class MemoryStore(CacheStore):
    def __init__(self, max_bytes: int) -> None:
        self._records = _ByteBoundedLRU(max_bytes, self._unindex)
        self._tags: dict[str, set[str]] = {}

    @property
    def bytes_used(self) -> int:
        return int(self._records.currsize)

    def __len__(self) -> int:
        return len(self._records)

    def _unindex(self, key: str, record: CacheRecord) -> None:
        for tag in record.tags:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[tag]

    async def get(self, key: str, now: float) -> CacheRecord | None:
        record = self._records.get(key)
        if record is not None and self.expired(record, now):
            await self.delete((key,))
            return None
        return record

    def peek(self, key: str) -> CacheRecord | None:
        """The record as stored, expired or not, without marking it recently used."""
        try:
            return Cache.__getitem__(self._records, key)  # LRUCache's own __getitem__ would reorder
        except KeyError:
            return None

    def lookup(self, key: str) -> CacheRecord | None:
        """The record as stored, expired or not, marked recently used; for callers that judge freshness."""
        return self._records.get(key)

    async def set(self, key: str, record: CacheRecord, now: float) -> None:
        if self.expired(record, now):
            return
        previous = self._records.get(key)
        if previous is not None:
            self._unindex(key, previous)
        try:
            self._records[key] = record
        except ValueError:  # larger than the whole cache: not stored, by design
            self._records.pop(key, None)
            return
        for tag in record.tags:
            self._tags.setdefault(tag, set()).add(key)

    async def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            record = self._records.pop(key, None)
            if record is not None:
                self._unindex(key, record)

    async def purge_tags(self, tags: Iterable[str], *, soft: bool) -> int:
        keys = {key for tag in tags for key in self._tags.get(tag, ())}
        if soft:
            for key in keys:
                record = self._records.get(key)
                if record is not None:
                    self._records[key] = record.soft_purged()
        else:
            await self.delete(keys)
        return len(keys)

    async def clear(self) -> None:
        self._records.clear()
        self._tags.clear()
