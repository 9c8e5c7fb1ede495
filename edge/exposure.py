"""Experiment exposures: recorded once per shopper and experiment, as a log line and a metric.

A shopper is exposed when a response they get depends on their arm (it names the experiment's header in
`Vary`); being assigned an arm on a page that ignores it is not an exposure. "Once" holds per edge process
through a bounded memory of recent (shopper, experiment) pairs, and across nodes and regions when the edge
has Redis (`SET NX` with a 30-day expiry decides who records it first).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

from cachetools import TTLCache
from prometheus_client import Counter

log = logging.getLogger("edgeshop.experiments")

EXPOSURES = Counter(
    "edgeshop_experiment_exposures",
    "Shoppers exposed to an experiment arm (once per shopper and experiment)",
    ["experiment", "arm"],
)
REMEMBER_SECONDS = 30 * 86_400


class ExposureLog:
    def __init__(self, redis: Any | None = None, prefix: str = "", max_pairs: int = 200_000) -> None:
        self._seen: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=max_pairs, ttl=86_400)
        self._redis = redis
        self._prefix = f"{prefix}exposed:"
        self._pending: set[asyncio.Task[None]] = set()

    def exposed(self, sticky_id: str, experiment: str, arm: str, market: str, segment: str) -> None:
        """Called on the request path: costs a dict lookup when already recorded, never waits on Redis."""
        pair = (sticky_id, experiment)
        if pair in self._seen:
            return
        self._seen[pair] = True
        if self._redis is None:
            self._record(sticky_id, experiment, arm, market, segment)
            return
        task = asyncio.ensure_future(self._record_once(sticky_id, experiment, arm, market, segment))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record_once(self, sticky_id: str, experiment: str, arm: str, market: str, segment: str) -> None:
        try:
            first = await self._redis.set(  # type: ignore[union-attr]
                f"{self._prefix}{experiment}:{sticky_id}", arm, nx=True, ex=REMEMBER_SECONDS
            )
        except Exception:
            log.warning("exposure store unavailable; recording %s here", experiment, exc_info=True)
            first = True  # counting twice beats losing an exposure
        if first:
            self._record(sticky_id, experiment, arm, market, segment)

    @staticmethod
    def _record(sticky_id: str, experiment: str, arm: str, market: str, segment: str) -> None:
        EXPOSURES.labels(experiment, arm).inc()
        if log.isEnabledFor(logging.INFO):
            # The sticky id is pseudonymous already; the log gets a digest of it, enough to join on.
            shopper = hashlib.sha256(sticky_id.encode()).hexdigest()[:16]
            log.info(json.dumps({"event": "experiment_exposure", "experiment": experiment, "arm": arm,
                                 "market": market, "segment": segment, "shopper": shopper}))  # fmt: skip

    async def drain(self) -> None:
        if not self._pending:
            return
        _, pending = await asyncio.wait(set(self._pending), timeout=2.0)
        for task in pending:
            task.cancel()


__all__ = ["EXPOSURES", "ExposureLog"]
