"""Which origin answers: the nearest healthy region for reads, the market's home region for writes.

Health has two sources. Active probes ask each origin's `/healthz` every `health.interval_seconds` and flip it
after `unhealthy_after` failures in a row (or back after `healthy_after` successes). Passive counting feeds a
circuit breaker per origin from real traffic: `breaker.failures` failures in a row open it, no request goes
there for `breaker.open_seconds`, then one trial request decides (half-open). An origin is used when it is
healthy and its breaker lets the request through; probes are what bring a region back after an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from edge.settings import EdgeSettings, RegionSettings

log = logging.getLogger("edgeshop.edge")


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(slots=True)
class Breaker:
    """Passive health from real traffic. `begin` hands each request a ticket that it gives back with its verdict.

    Only verdicts carrying the current `generation` count: every request of one closed spell shares it, and a
    half-open trial gets its own. Opening, closing and each new trial move it on, so a request that was sent
    before (a slow one from the closed spell, an abandoned trial) cannot decide a later trial, reopen a breaker
    that a newer trial closed, or close an open one before its time is up.
    """

    failures_to_open: int
    open_seconds: float
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    generation: int = 0  # whose verdicts count now; while open, a value nobody holds
    trial_running: bool = False

    def allows(self, now: float) -> bool:
        """Whether a request could go there now (no side effect: listing candidates claims nothing)."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            return now - self.opened_at >= self.open_seconds
        return not self.trial_running

    def begin(self, now: float) -> int | None:
        """Claim the right to send a request: its ticket, or None. In half-open, one request at a time finds out."""
        if not self.allows(now):
            return None
        if self.state is not BreakerState.CLOSED:
            self.state, self.trial_running = BreakerState.HALF_OPEN, True
            self.generation += 1
        return self.generation

    def abandoned(self, ticket: int) -> None:
        """The request ended without a verdict (the shopper left, its body was refused): let another try."""
        if self.state is BreakerState.HALF_OPEN and ticket == self.generation:
            self.trial_running = False
            self.generation += 1  # should it answer after all, that trial no longer decides

    def succeeded(self, ticket: int) -> None:
        if ticket != self.generation:
            return  # sent before the last change of state: it says nothing about the origin now
        if self.state is BreakerState.HALF_OPEN:
            self.reset()
        else:
            self.failures = 0

    def failed(self, ticket: int, now: float) -> None:
        if ticket != self.generation:
            return
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failures_to_open:
            self.state, self.opened_at, self.trial_running = BreakerState.OPEN, now, False
            self.generation += 1

    def reset(self) -> None:
        """Closed, with a clean count (a trial succeeded, or a probe proved the origin answers)."""
        self.state, self.failures, self.trial_running = BreakerState.CLOSED, 0, False
        self.generation += 1


@dataclass(slots=True)
class Origin:
    region: str
    url: str  # base URL without a trailing slash
    breaker: Breaker
    healthy: bool = True
    probe_failures: int = 0
    probe_successes: int = 0

    def available(self, now: float) -> bool:
        return self.healthy and self.breaker.allows(now)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine) between two (latitude, longitude) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


@dataclass(slots=True, weakref_slot=True)  # `edge.metrics` reads the breakers of the live routers when scraped
class OriginRouter:
    """The origins of every region, ordered once by nearness to this edge, filtered per request by health."""

    here: str
    origins: list[Origin]  # nearest region first (then priority, then the order in the config)
    by_region: dict[str, list[Origin]]
    settings: EdgeSettings
    _probe: asyncio.Task[None] | None = field(default=None)

    @classmethod
    def from_settings(cls, settings: EdgeSettings) -> OriginRouter:
        regions = settings.regions or [RegionSettings(name=settings.region or "default", origins=[settings.origin])]
        here = settings.region or regions[0].name
        location = next((r.location for r in regions if r.name == here), None)

        def order(indexed: tuple[int, RegionSettings]) -> tuple[float, int, int]:
            index, region = indexed
            near = distance_km(location, region.location) if location and region.location else 0.0
            return (0.0 if region.name == here else near, region.priority, index)

        origins: list[Origin] = []
        by_region: dict[str, list[Origin]] = {}
        for _, region in sorted(enumerate(regions), key=order):
            for url in region.origins:
                breaker = Breaker(settings.breaker.failures, settings.breaker.open_seconds)
                origin = Origin(region.name, str(url).rstrip("/"), breaker)
                origins.append(origin)
                by_region.setdefault(region.name, []).append(origin)
        return cls(here=here, origins=origins, by_region=by_region, settings=settings)

    def for_read(self, now: float) -> list[Origin]:
        """Where a read may go, best first (as many as the retry budget allows)."""
        budget = self.settings.retry_budget + 1
        return [origin for origin in self.origins if origin.available(now)][:budget]

    def home(self, region: str, now: float) -> Origin | None:
        """Where a write for a market homed in `region` goes; None while that region cannot take it."""
        return next((origin for origin in self.by_region.get(region, ()) if origin.available(now)), None)

    def regions(self) -> Iterable[str]:
        return self.by_region.keys()

    # Active health checks -------------------------------------------------------------------------------------

    def start(self, http: httpx.AsyncClient) -> None:
        if self.settings.regions:  # one implicit origin: nothing to choose between, passive breaker only
            self._probe = asyncio.create_task(self._probe_forever(http))

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe

    async def probe_once(self, http: httpx.AsyncClient) -> None:
        await asyncio.gather(*(self._probe_origin(http, origin) for origin in self.origins))

    async def _probe_forever(self, http: httpx.AsyncClient) -> None:
        while True:
            await self.probe_once(http)
            await asyncio.sleep(self.settings.health.interval_seconds)

    async def _probe_origin(self, http: httpx.AsyncClient, origin: Origin) -> None:
        health = self.settings.health
        try:
            response = await http.get(origin.url + health.path, timeout=health.timeout_seconds)
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            origin.probe_failures, origin.probe_successes = 0, origin.probe_successes + 1
            if not origin.healthy and origin.probe_successes >= health.healthy_after:
                origin.healthy = True
                origin.breaker.reset()  # the probe proved it answers: traffic may return at once
                log.warning("origin %s (%s) is healthy again", origin.url, origin.region)
        else:
            origin.probe_successes, origin.probe_failures = 0, origin.probe_failures + 1
            if origin.healthy and origin.probe_failures >= health.unhealthy_after:
                origin.healthy = False
                log.warning("origin %s (%s) failed %d health probes", origin.url, origin.region, health.unhealthy_after)


__all__ = ["Breaker", "BreakerState", "Origin", "OriginRouter", "distance_km"]
