"""The edge's Prometheus metrics (served at `/metrics` to admin networks or the admin token only).

- `edgeshop_edge_requests_total` (counter; route, method, status, cache): answered requests, wire hits included.
- `edgeshop_edge_request_duration_seconds` (histogram; route, cache): the edge's time until the response head is
  handed to the server (a streamed body is not waited for); wire hits: from the parsed request to the bytes.
- `edgeshop_edge_cache_results_total` (counter; cache): cache lookups by outcome and tier (the above but `pass`).
- `edgeshop_edge_cache_hit_ratio` (gauge): hits over lookups since the process started.
- `edgeshop_edge_coalesced_waits_total` (counter; outcome): misses that waited for an identical request's origin
  fetch: `shared` its answer, `refetched` their own (not theirs to share), `timeout`, or `failed` with it.
- `edgeshop_edge_purge_lag_seconds` (histogram): from a purge's publication on the purge bus to its application
  on this node (two hosts' wall clocks: their skew is in it). A purge applied "before" it was published is not
  observed here (it would hide as 0): it counts in `edgeshop_edge_purge_clock_skew_total` instead, a sign that
  this node's clock is behind the publisher's (alert on its rate; the lag histogram is then understated too).
- `edgeshop_edge_purge_clock_skew_total` (counter): purges whose publication time was after their application.
- `edgeshop_edge_origin_requests_total` (counter; region, status): origin fetches (reads, writes, refreshes);
  status is the class, or `error` (no answer) or `timeout`.
- `edgeshop_edge_origin_request_duration_seconds` (histogram; region): an origin fetch, until its body is read
  (a streamed one: until its head).
- `edgeshop_edge_origin_breaker_state` (gauge; region, origin): 0 closed, 1 open, 2 half-open (a trial decides).
- `edgeshop_edge_origin_healthy` (gauge; region, origin): 1 while the origin passes its active health probes.
  The `origin` label is the configured URL without its user info (credentials never reach a scrape).

Label values, all from fixed or capped sets:
- `route`: the origin's route template (`/p/{handle}`), declared by the origin in the `X-Edgeshop-Route` response
  field (stored with the cached response, removed before any response leaves the edge); the first `MAX_ROUTES`
  distinct templates, then `other`. An answer without one (an origin failure, a site that is not edgeshop, a 404
  for an unknown path) is `other`; the edge's own endpoints are their path (`/_edge/purge`, `/_edge/healthz`,
  `/_edge/readyz`, `/healthz`, `/readyz`, `/metrics`) and answers of edge handlers and rules are `edge:handler`.
- `method`: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, else `other`; `status`: the class, `2xx`…`5xx`.
- `cache`: `l1_hit`, `l2_hit` (fresh hits from memory or Redis), `stale` (stale-while-revalidate, soft purge or
  stale-if-error), `revalidated` (a 304 from the origin refreshed it), `coalesced` (a miss that took another
  request's origin answer), `miss`, `bypass` (not storable), `pass` (not a cache lookup: writes, the edge's own
  endpoints, handler answers).

Hit ratio over the last five minutes, in PromQL (the gauge is the same since start-up, for a glance)::

    sum(rate(edgeshop_edge_cache_results_total{cache=~"l1_hit|l2_hit|stale"}[5m]))
      / sum(rate(edgeshop_edge_cache_results_total[5m]))

With `edge.observability.metrics = false` none of this is counted (the families stay empty): only to measure
what counting costs (bench/observability.py).

Cost on the hit path: a hit answered below ASGI (`edge.wire`) is counted in plain Python ints on a `Cell` bound to
its ready-made answer when it is armed; ASGI answers find their cell in one dict lookup. The collector below turns
the cells into Prometheus families at scrape time, so no lock, label lookup or string is paid per request.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from itertools import accumulate

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from edge.routing import BreakerState, OriginRouter

# The origin's route template for this response; the origin's own name for it is `origin.metrics.ROUTE_HEADER`.
ROUTE_HEADER = "x-edgeshop-route"
MAX_ROUTES = 64
MAX_ROUTE_LENGTH = 200
OTHER = "other"
HANDLER_ROUTE = "edge:handler"
# Hits are sub-millisecond (a wire hit is tens of microseconds), misses cross an ocean: both ends are covered.
REQUEST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0)  # fmt: skip
ORIGIN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PURGE_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
_ARRIVING_KEYS = 4096
# X-Cache as the shopper sees it -> the cache label (a HIT is from L1 unless the driver says L2).
CACHE_RESULTS = {"HIT": "l1_hit", "STALE": "stale", "REVALIDATED": "revalidated", "MISS": "miss",
                 "BYPASS": "bypass", "PASS": "pass"}  # fmt: skip
HITS = frozenset({"l1_hit", "l2_hit", "stale"})
_BREAKER_VALUES = {BreakerState.CLOSED: 0.0, BreakerState.OPEN: 1.0, BreakerState.HALF_OPEN: 2.0}
_BOUNDS = (*map(floatToGoString, REQUEST_BUCKETS), "+Inf")


class Cell:
    """One (route, method, status, cache) combination's count and latency histogram, as plain numbers."""

    __slots__ = ("buckets", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(REQUEST_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        # bisect_left: the first bound >= seconds, which is what Prometheus's `le` means
        self.buckets[bisect_left(REQUEST_BUCKETS, seconds)] += 1
        self.sum += seconds

    @property
    def count(self) -> int:
        return sum(self.buckets)


def status_class(status: int) -> str:
    index = status // 100 - 1
    return _STATUS_CLASSES[index] if 0 <= index < len(_STATUS_CLASSES) else OTHER


class RequestStats:
    """Every answered request, by cell. One per process (as the registry is), shared by every `EdgeApp` in it."""

    def __init__(self, max_routes: int = MAX_ROUTES) -> None:
        self._max_routes = max_routes
        self._routes: dict[str, str] = {}
        self._own: set[str] = set()
        # (route label, method label, status class, cache label) -> its cell: bounded, as each part is
        self._cells: dict[tuple[str, str, str, str], Cell] = {}
        # The same cells by (route label, method, status code, cache label) as they arrive: no normalizing per
        # request. Capped, since clients choose methods and origins status codes; past it, the slower way.
        self._arriving: dict[tuple[str, str, int, str], Cell] = {}

    def route(self, declared: str | None) -> str:
        """The label for a declared route template: itself while the cap allows, else `other`."""
        if declared is None:
            return OTHER
        known = self._routes.get(declared)
        if known is not None:
            return known
        if (
            len(self._routes) - len(self._own) >= self._max_routes
            or not declared.startswith("/")
            or len(declared) > MAX_ROUTE_LENGTH
            or not declared.isprintable()
        ):
            return OTHER  # not remembered: an origin sending endless values must not grow this table
        self._routes[declared] = declared
        return declared

    def own_route(self, label: str) -> str:
        """A fixed label of the edge's own endpoints, not counted against the origin's cap."""
        if label not in self._routes:
            self._routes[label] = label
            self._own.add(label)
        return label

    def cell(self, route: str, method: str, status: int, cache: str) -> Cell:
        """The cell for a route label (from `route`), any method, a status code and a cache label."""
        key = (route, method if method in _METHODS else OTHER, status_class(status), cache)
        found = self._cells.get(key)
        if found is None:
            found = self._cells[key] = Cell()
        return found

    def observe(self, declared: str | None, method: str, status: int, cache: str, seconds: float) -> None:
        """One answer through the ASGI path: two dict lookups in the usual case."""
        route = OTHER if declared is None else (self._routes.get(declared) or self.route(declared))
        key = (route, method, status, cache)
        found = self._arriving.get(key)
        if found is None:
            found = self.cell(route, method, status, cache)
            if len(self._arriving) < _ARRIVING_KEYS:
                self._arriving[key] = found
        found.observe(seconds)

    def routes(self) -> frozenset[str]:
        return frozenset(self._routes)

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "edgeshop_edge_requests", "Requests answered by the edge", labels=["route", "method", "status", "cache"]
        )
        seconds = HistogramMetricFamily(
            "edgeshop_edge_request_duration_seconds",
            "The edge's time until a response head is handed to the server, wire hits included",
            labels=["route", "cache"],
        )
        results = CounterMetricFamily(
            "edgeshop_edge_cache_results",
            "Cache lookups by outcome and tier (requests but cache=pass)",
            labels=["cache"],
        )
        counts: dict[tuple[str, str, str, str], int] = {}
        merged: dict[tuple[str, str], Cell] = {}
        by_result: dict[str, int] = {}
        for key, cell in list(self._cells.items()):
            count = cell.count
            if not count:
                continue  # armed on the wire path but never used: no series for it
            counts[key] = count
            route, _, _, cache = key
            into = merged.get((route, cache))
            if into is None:
                into = merged[(route, cache)] = Cell()
            into.buckets = [a + b for a, b in zip(into.buckets, cell.buckets, strict=True)]
            into.sum += cell.sum
            if cache != "pass":
                by_result[cache] = by_result.get(cache, 0) + count
        for labels, count in sorted(counts.items()):
            requests.add_metric(list(labels), count)
        for (route, cache), cell in sorted(merged.items()):
            cumulative = list(zip(_BOUNDS, accumulate(cell.buckets), strict=True))
            seconds.add_metric([route, cache], cumulative, cell.sum)
        for cache, count in sorted(by_result.items()):
            results.add_metric([cache], count)
        lookups = sum(by_result.values())
        hits = sum(count for cache, count in by_result.items() if cache in HITS)
        ratio = GaugeMetricFamily(
            "edgeshop_edge_cache_hit_ratio",
            "Cache hits (l1_hit, l2_hit, stale) over all cache lookups since the edge started",
            value=hits / lookups if lookups else float("nan"),
        )
        yield from (requests, seconds, results, ratio)


class OriginStates:
    """Breaker and probe state of every origin of the live routers, read at scrape time: a breaker's state moves
    in several places, and an open one turns half-open by the clock alone."""

    def __init__(self) -> None:
        # by id: a router is a dataclass, equal by value and so not hashable; dead ones leave by themselves
        self._routers: weakref.WeakValueDictionary[int, OriginRouter] = weakref.WeakValueDictionary()

    def watch(self, router: OriginRouter) -> None:
        self._routers[id(router)] = router

    def collect(self) -> Iterator[Metric]:
        breaker = GaugeMetricFamily(
            "edgeshop_edge_origin_breaker_state",
            "Circuit breaker of an origin: 0 closed, 1 open, 2 half-open (a trial request is deciding)",
            labels=["region", "origin"],
        )
        healthy = GaugeMetricFamily(
            "edgeshop_edge_origin_healthy",
            "1 while an origin passes its active health probes",
            labels=["region", "origin"],
        )
        # Two edges in one process (tests) naming the same origin: one series.
        seen: dict[tuple[str, str], tuple[float, float]] = {}
        for router in list(self._routers.values()):
            for origin in router.origins:
                values = (_BREAKER_VALUES[origin.breaker.state], float(origin.healthy))
                seen[(origin.region, _without_userinfo(origin.url))] = values
        for labels, (state, up) in sorted(seen.items()):
            breaker.add_metric(list(labels), state)
            healthy.add_metric(list(labels), up)
        yield from (breaker, healthy)


def _without_userinfo(url: str) -> str:
    """`http://user:secret@origin:8788` as `http://origin:8788`: a label is read by whoever can scrape."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    return scheme + sep + authority.rpartition("@")[2] + slash + path if "@" in authority else url


class _Collector(Collector):
    def collect(self) -> Iterable[Metric]:
        yield from REQUESTS.collect()
        yield from ORIGIN_STATES.collect()

    def describe(self) -> Iterable[Metric]:
        # Names only, so the registry refuses a clash without running collect().
        yield CounterMetricFamily("edgeshop_edge_requests", "")
        yield HistogramMetricFamily("edgeshop_edge_request_duration_seconds", "")
        yield CounterMetricFamily("edgeshop_edge_cache_results", "")
        yield GaugeMetricFamily("edgeshop_edge_cache_hit_ratio", "")
        yield GaugeMetricFamily("edgeshop_edge_origin_breaker_state", "")
        yield GaugeMetricFamily("edgeshop_edge_origin_healthy", "")


REQUESTS = RequestStats()
ORIGIN_STATES = OriginStates()
REGISTRY.register(_Collector())

COALESCED_WAITS = Counter(
    "edgeshop_edge_coalesced_waits",
    "Misses that waited for an identical request's origin fetch: shared its answer, fetched their own after all "
    "(the answer was not theirs to share), timed out waiting, or got the leader's failure",
    ["outcome"],
)
PURGE_LAG = Histogram(
    "edgeshop_edge_purge_lag_seconds",
    "From a purge's publication on the purge bus to its application on this node (wall clocks of two hosts)",
    buckets=PURGE_LAG_BUCKETS,
)
PURGE_CLOCK_SKEW = Counter(
    "edgeshop_edge_purge_clock_skew",
    "Purges applied on this node before their publication time by its clock: the two hosts' clocks disagree",
)
ORIGIN_REQUESTS = Counter(
    "edgeshop_edge_origin_requests",
    "Origin fetches by region and status class (error: no answer; timeout: none in time)",
    ["region", "status"],
)
ORIGIN_SECONDS = Histogram(
    "edgeshop_edge_origin_request_duration_seconds",
    "Origin fetches by region, until the body is read (a streamed body: until its head)",
    ["region"],
    buckets=ORIGIN_BUCKETS,
)


def observe_origin(region: str, status: int | str, seconds: float) -> None:
    """An origin fetch: its status (or `error`/`timeout`) and how long it took. Not on the hit path."""
    ORIGIN_REQUESTS.labels(region, status_class(status) if isinstance(status, int) else status).inc()
    ORIGIN_SECONDS.labels(region).observe(seconds)


def observe_purge_lag(published_at: float, now: float) -> None:
    """A purge that names its publication time (older publishers do not: nothing to observe)."""
    if published_at <= 0:
        return
    if now < published_at:
        PURGE_CLOCK_SKEW.inc()  # clamped to 0, it would look like an instant purge and hide the skew
        return
    PURGE_LAG.observe(now - published_at)


__all__ = [
    "CACHE_RESULTS",
    "COALESCED_WAITS",
    "HANDLER_ROUTE",
    "MAX_ROUTES",
    "ORIGIN_STATES",
    "OTHER",
    "PURGE_CLOCK_SKEW",
    "REQUESTS",
    "ROUTE_HEADER",
    "Cell",
    "RequestStats",
    "observe_origin",
    "observe_purge_lag",
    "status_class",
]
