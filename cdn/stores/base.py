"""The cache store interface: every tier (memory L1, Redis L2, tiered) keeps records the same way."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from cdn.messages import StoredResponse
from cdn.policy import Freshness, freshness


@dataclass(frozen=True, slots=True)
class CacheRecord:
    response: StoredResponse
    tags: tuple[str, ...]
    # Wall-clock second after which the record is useless (past freshness and every stale window).
    expires_at: float
    # Soft-purged: still servable while it is revalidated, never again as fresh.
    stale: bool = False
    # Derived from `response` alone; worked out once here so that no hit parses the response's fields again.
    freshness: Freshness = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "freshness", freshness(self.response))  # frozen: set once, at construction

    def soft_purged(self) -> CacheRecord:
        return replace(self, stale=True)

    @property
    def size(self) -> int:
        return self.response.size + sum(len(tag) for tag in self.tags)


class CacheStore(ABC):
    """An ABC rather than a Protocol: the expiry rule lives here once for every backend."""

    @staticmethod
    def expired(record: CacheRecord, now: float) -> bool:
        return record.expires_at <= now

    @abstractmethod
    async def get(self, key: str, now: float) -> CacheRecord | None: ...

    @abstractmethod
    async def set(self, key: str, record: CacheRecord, now: float) -> None: ...

    @abstractmethod
    async def delete(self, keys: Iterable[str]) -> None: ...

    @abstractmethod
    async def purge_tags(self, tags: Iterable[str], *, soft: bool) -> int:
        """Remove (or, soft, mark stale) every record carrying one of `tags`; returns how many."""

    @abstractmethod
    async def clear(self) -> None: ...
