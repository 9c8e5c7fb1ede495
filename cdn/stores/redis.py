"""The Redis L2: records as binary blobs with their own expiry, tag sets for purging.

Redis going away must never turn into a 5xx at the edge: every failure is logged once, the store answers as a
miss (or drops the write) and stays out of the way for `retry_after` seconds before trying again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from cdn.keys import tag_key
from cdn.stores.base import CacheRecord, CacheStore
from cdn.stores.encoding import STALE_OFFSET, CorruptRecord, decode, encode

log = logging.getLogger("edgeshop.cdn")

# Flip the stale flag in place on every member of the tag sets; skip members that already expired.
_SOFT_PURGE = """
local count = 0
for _, tag in ipairs(KEYS) do
  for _, key in ipairs(redis.call('SMEMBERS', tag)) do
    if redis.call('EXISTS', key) == 1 then
      redis.call('SETRANGE', key, tonumber(ARGV[1]), '\\1')
      count = count + 1
    end
  end
end
return count
"""
_HARD_PURGE = """
local count = 0
for _, tag in ipairs(KEYS) do
  local members = redis.call('SMEMBERS', tag)
  for i = 1, #members, 500 do
    count = count + redis.call('UNLINK', unpack(members, i, math.min(i + 499, #members)))
  end
  redis.call('UNLINK', tag)
end
return count
"""


def connect_redis(url: str, *, timeout: float = 0.25) -> Redis:
    """A client for the cache path: short timeouts and no retries, so an outage costs one timeout, not seconds
    of backoff per request (the store's own back-off takes over after the first failure)."""
    return Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )


class RedisStore(CacheStore):
    def __init__(self, client: Redis, *, prefix: str = "", retry_after: float = 1.0) -> None:
        self._redis = client
        self._prefix = prefix
        self._retry_after = retry_after
        self._down_until = 0.0
        self._soft = client.register_script(_SOFT_PURGE)
        self._hard = client.register_script(_HARD_PURGE)

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, operation: str, exc: Exception) -> None:
        if self.available:  # log the first failure of an outage, not every request during it
            log.warning("redis %s failed, using L1 only for %.1fs: %s", operation, self._retry_after, exc)
        self._down_until = time.monotonic() + self._retry_after

    async def get(self, key: str, now: float) -> CacheRecord | None:
        if not self.available:
            return None
        try:
            data = await self._redis.get(self._prefix + key)
        except RedisError as exc:
            self._failed("get", exc)
            return None
        if not isinstance(data, bytes):  # absent (or a client made with decode_responses, which we never use)
            return None
        try:
            record = decode(data)
        except CorruptRecord:
            log.warning("dropping an unreadable cache record %s", key)
            return None
        return None if self.expired(record, now) else record

    async def set(self, key: str, record: CacheRecord, now: float) -> None:
        if not self.available or self.expired(record, now):
            return
        full_key = self._prefix + key
        expires_ms = int(record.expires_at * 1000)
        try:
            # One round trip: the record with its expiry, then each tag set kept alive as long as its longest member.
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(full_key, encode(record), pxat=expires_ms)
                for tag in record.tags:
                    tag_name = self._prefix + tag_key(tag)
                    pipe.sadd(tag_name, full_key)
                    pipe.pexpireat(tag_name, expires_ms, nx=True)
                    pipe.pexpireat(tag_name, expires_ms, gt=True)
                await pipe.execute()
        except RedisError as exc:
            self._failed("set", exc)

    async def delete(self, keys: Iterable[str]) -> None:
        names = [self._prefix + key for key in keys]
        if not names or not self.available:
            return
        try:
            await self._redis.unlink(*names)
        except RedisError as exc:
            self._failed("delete", exc)

    async def purge_tags(self, tags: Iterable[str], *, soft: bool) -> int:
        names = [self._prefix + tag_key(tag) for tag in tags]
        if not names:
            return 0
        try:
            if soft:
                return int(await self._soft(keys=names, args=[STALE_OFFSET]))
            return int(await self._hard(keys=names))
        except RedisError as exc:
            # A purge that did not reach Redis must not be forgotten quietly: the caller decides (retry, bus).
            self._failed("purge", exc)
            raise

    async def clear(self) -> None:
        try:
            async for batch_key in self._redis.scan_iter(match=self._prefix + "es:*", count=1000):
                await self._redis.unlink(batch_key)
        except RedisError as exc:
            self._failed("clear", exc)
            raise
