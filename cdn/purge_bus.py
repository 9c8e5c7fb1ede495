"""The purge bus: purges reach every edge node's L1 through Redis pub/sub, with a bound on missed messages.

Every purge increments a generation counter and is appended to a short log in Redis, then published. A node
applies messages in generation order. When it sees a gap (it was disconnected, or a message was lost) it
replays the missing purges from the log, or, if they are no longer there, clears its L1.

The bound: while the node cannot confirm it is up to date (subscriber down, or the last confirmation older
than `max_lag` seconds), `trusted_since()` tells the cache to refuse L1 records stored before that moment.
A purge the node missed therefore keeps purged content alive for at most `max_lag` seconds.

Each message carries its publication time (`at`, Unix seconds), so a node can tell how long a purge took to reach
it. Nodes that predate the field ignore it; messages without it decode with `published_at = 0` (unknown).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("edgeshop.cdn")

CHANNEL = "es:purge"
GENERATION = "es:purge:generation"
LOG = "es:purge:log"
LOG_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class Purge:
    tags: tuple[str, ...] = ()
    soft: bool = False
    everything: bool = False
    generation: int = 0
    sender: str = ""
    published_at: float = 0.0  # when the sender published it (its wall clock); 0: not said

    def encode(self) -> str:
        return json.dumps(
            {"tags": list(self.tags), "soft": self.soft, "all": self.everything, "gen": self.generation,
             "from": self.sender, "at": self.published_at}
        )  # fmt: skip

    @classmethod
    def decode(cls, raw: str | bytes) -> Purge:
        data = json.loads(raw)
        try:
            published_at = float(data.get("at") or 0.0)
        except (TypeError, ValueError):
            published_at = 0.0  # a stamp nobody can read costs the measurement, never the purge
        return cls(tuple(data.get("tags", ())), bool(data.get("soft")), bool(data.get("all")), int(data["gen"]),
                   str(data.get("from", "")), published_at)  # fmt: skip


Apply = Callable[[Purge], Awaitable[None]]


@dataclass(slots=True)
class PurgeBus:
    redis: Redis
    node: str
    apply_locally: Apply  # purge this node's L1
    prefix: str = ""  # namespaces the channel and counters, like RedisStore's prefix
    max_lag: float = 5.0
    reconnect_every: float = 1.0
    _seen: int = -1
    _confirmed_at: float = 0.0
    _task: asyncio.Task[None] | None = None

    async def publish(self, purge: Purge) -> Purge:
        """Record and announce a purge; raises RedisError when it could not be announced."""
        generation = int(await self.redis.incr(self.prefix + GENERATION))
        stamped = Purge(purge.tags, purge.soft, purge.everything, generation, self.node, time.time())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(self.prefix + LOG, stamped.encode())
            pipe.ltrim(self.prefix + LOG, 0, LOG_LENGTH - 1)
            pipe.publish(self.prefix + CHANNEL, stamped.encode())
            await pipe.execute()
        return stamped

    def trusted_since(self, now: float) -> float:
        """L1 records stored before this moment must not be served (0: everything is trusted)."""
        if now - self._confirmed_at <= self.max_lag:
            return 0.0
        return now - self.max_lag

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (RedisError, OSError) as exc:
                log.warning("purge bus disconnected (%s); retrying in %.1fs", exc, self.reconnect_every)
            await asyncio.sleep(self.reconnect_every)

    async def _listen(self) -> None:
        async with self.redis.pubsub() as pubsub:
            await pubsub.subscribe(self.prefix + CHANNEL)
            await self._catch_up()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self.max_lag / 2)
                if message is not None and message["type"] == "message":
                    purge = Purge.decode(message["data"])
                    if purge.generation > self._seen + 1 and self._seen >= 0:
                        await self._catch_up()
                    elif purge.generation > self._seen:
                        await self._apply(purge)
                else:
                    await self._catch_up()  # quiet channel: confirm we are current by reading the counter

    async def _catch_up(self) -> None:
        current = int(await self.redis.get(self.prefix + GENERATION) or 0)
        if self._seen < 0:
            self._seen = current  # a fresh node has nothing to purge yet
        elif current > self._seen:
            entries = [Purge.decode(raw) for raw in await self.redis.lrange(self.prefix + LOG, 0, LOG_LENGTH - 1)]
            missing = sorted((p for p in entries if p.generation > self._seen), key=lambda p: p.generation)
            if not missing or missing[0].generation != self._seen + 1:
                log.warning("purge bus: %d purges lost, clearing this node's cache", current - self._seen)
                await self.apply_locally(Purge(everything=True, generation=current))
                self._seen = current
            for purge in missing:
                await self._apply(purge)
        self._confirmed_at = time.time()

    async def _apply(self, purge: Purge) -> None:
        if purge.sender != self.node:  # the sender already purged its own tiers
            await self.apply_locally(purge)
        self._seen = max(self._seen, purge.generation)
        self._confirmed_at = time.time()
