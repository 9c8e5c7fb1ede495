"""The edge's cache driver: decides with `cdn.policy`, does the I/O, and handles every outcome explicitly.

Outcomes, as `X-Cache` reports them: HIT (fresh), STALE (served stale: within stale-while-revalidate, soft
purged, or the origin failed within stale-if-error/grace), REVALIDATED (a 304 from the origin refreshed it),
MISS (fetched, and stored when storable), BYPASS (not storable: fetched for this shopper only).

For the metrics (`edge.metrics`), an answer also says what X-Cache does not: a HIT from L2 rather than L1, and a
MISS that waited for another request's origin fetch (coalesced) instead of making its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import assert_never

from opentelemetry.trace import Tracer

from cdn import (
    CacheRecord,
    CacheStore,
    Headers,
    MemoryStore,
    SingleFlight,
    StoredResponse,
    Verdict,
    client_not_modified,
    evaluate,
    freshen,
    not_storable,
    response_directives,
    revalidation_headers,
    secondary_key,
    surrogate_tags,
    usable_on_error,
    vary_matches,
    vary_names,
    vary_values,
)
from edge.metrics import COALESCED_WAITS, ROUTE_HEADER
from edge.origin_client import (
    BufferLimit,
    Fetched,
    OriginClient,
    OriginError,
    OriginTimeout,
    OriginUnavailable,
    relay_buffer_limit,
)

log = logging.getLogger("edgeshop.edge")
# The `cache lookup` span's verdict (edge.tracing).
_LOOKUP_RESULTS = {Verdict.FRESH: "fresh", Verdict.STALE_WHILE_REVALIDATE: "stale", Verdict.REVALIDATE: "revalidate"}
_SHARED, _REFETCHED, _WAIT_TIMEOUT, _WAIT_FAILED = (
    COALESCED_WAITS.labels(outcome) for outcome in ("shared", "refetched", "timeout", "failed")
)


@dataclass(frozen=True, slots=True)
class CacheRequest:
    method: str  # GET or HEAD
    primary_key: str
    target: str  # path and normalized query, as forwarded
    headers: Headers  # the shopper's request headers
    # What the origin gets; built only when the origin is asked, so a hit never pays for it.
    upstream: Callable[[], Headers]
    home: str | None = None  # set: only this region may answer (a cart or order page)
    traced: bool = False  # the request's trace is recorded: its lookup is a span too


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Headers
    body: bytes
    x_cache: str
    age: int | None = None
    origin_ms: float | None = None
    # The fresh record this answer came from and its key, so the server can answer the same request again
    # below the ASGI layer (edge.wire) while that record stays in L1.
    cached: tuple[str, CacheRecord] | None = None
    # The body after `body`, still streaming from the origin (not stored: uncacheable or too large).
    rest: AsyncIterator[bytes] | None = None
    # The metrics' cache label when X-Cache does not tell it (`l2_hit`, `coalesced`); see `edge.metrics`.
    result: str | None = None

    async def discard(self) -> None:
        if self.rest is not None:
            await self.rest.aclose()  # type: ignore[attr-defined]


class EdgeCache:
    def __init__(
        self,
        store: CacheStore,
        origin: OriginClient,
        *,
        grace: float,
        coalesce_wait: float,
        max_object_bytes: int,
        trusted_since: Callable[[float], float] = lambda now: 0.0,
        l1: MemoryStore | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.store = store
        self._tracer = tracer  # None: tracing is off
        # The first tier when `store` has a second one: a hit is from L1 when L1 held that very record.
        self._l1 = l1
        # Records fetched before this moment may have missed a purge (the purge bus is down): not served.
        self._trusted_since = trusted_since
        self._origin = origin
        self._grace = grace
        self._wait = coalesce_wait
        self._max_object = max_object_bytes
        # The leader's request fields travel with its answer: waiters are judged against the leader's Vary values.
        self._flight: SingleFlight[tuple[Fetched, Headers]] = SingleFlight()
        self._revalidating: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()
        # primary key -> the request headers its responses vary on, learnt from the origin
        self._vary: dict[str, tuple[str, ...]] = {}

    def revalidating(self, key: str) -> bool:
        """A background refresh of this key is running (so a stale answer need not start another)."""
        return key in self._revalidating

    def trusted_since(self, now: float) -> float:
        """Records fetched before this moment may have missed a purge (see `cdn.PurgeBus.trusted_since`)."""
        return self._trusted_since(now)

    def vary_names(self, primary_key: str) -> tuple[str, ...]:
        """The request fields responses for this URL vary on, as last learnt from the origin."""
        return self._vary.get(primary_key, ())

    def _key(self, request: CacheRequest) -> str:
        names = self._vary.get(request.primary_key, ())
        return secondary_key(request.primary_key, vary_values(names, request.headers))

    async def handle(self, request: CacheRequest) -> Answer:
        now = time.time()
        key = self._key(request)
        in_l1 = self._l1.peek(key) if self._l1 is not None else None
        span = self._tracer.start_span("cache lookup") if self._tracer is not None and request.traced else None
        record = await self.store.get(key, now)
        if record is not None and (
            not vary_matches(record.response, request.headers)
            or record.response.response_time < self._trusted_since(now)
        ):
            record = None
        if record is None:
            if span is not None:
                span.set_attribute("edgeshop.cache.result", "miss")
                span.end()
            return await self._miss(request, key)
        verdict = evaluate(record.response, request.headers, now, record.freshness).verdict
        if record.stale and verdict is Verdict.FRESH:
            verdict = Verdict.STALE_WHILE_REVALIDATE  # soft purge: one fast stale answer while refreshing
        if span is not None:
            found_in = "l1" if self._l1 is None or in_l1 is record else "l2"
            span.set_attributes({"edgeshop.cache.result": _LOOKUP_RESULTS[verdict], "edgeshop.cache.tier": found_in})
            span.end()
        match verdict:
            case Verdict.FRESH:
                tier = "l2_hit" if self._l1 is not None and in_l1 is not record else None
                return self._serve(request, record, "HIT", now, key, tier)
            case Verdict.STALE_WHILE_REVALIDATE:
                self._revalidate_in_background(request, key, record)
                return self._serve(request, record, "STALE", now)
            case Verdict.REVALIDATE:
                return await self._revalidate(request, key, record)
            case _:
                assert_never(verdict)

    def _serve(
        self,
        request: CacheRequest,
        record: CacheRecord,
        x_cache: str,
        now: float,
        fresh_key: str | None = None,
        result: str | None = None,
    ) -> Answer:
        response = record.response
        age = int(record.freshness.age(now))
        if client_not_modified(request.headers, response):
            return Answer(304, _validators_only(response.headers), b"", x_cache, age, result=result)
        cached = (fresh_key, record) if fresh_key is not None else None
        return Answer(response.status, response.headers, response.body, x_cache, age, cached=cached, result=result)

    def _buffer_limit(self, request: CacheRequest) -> BufferLimit:
        """Read whole only what may be stored; relay anything else as it streams in."""

        def limit(status: int, headers: Headers) -> int:
            directives = response_directives(headers)
            storable = not_storable("GET", request.headers, status, headers, directives) is None
            return self._max_object if storable else relay_buffer_limit(status, headers)

        return limit

    async def _origin_get(self, request: CacheRequest, extra: Headers = ()) -> Fetched:
        upstream = request.upstream() + extra
        limit = self._buffer_limit(request)
        return await self._origin.fetch("GET", request.target, upstream, buffer_limit=limit, home=request.home)

    async def _fetch(self, request: CacheRequest, key: str, extra: Headers = ()) -> tuple[Fetched, bool]:
        """One origin fetch for identical requests arriving together; a waiter whose answer would differ (it
        is not storable, streams, or varies on a field where the waiter differs from the leader) fetches its own.
        The answer, and whether it was another request's (a coalesced wait).
        """

        async def lead() -> tuple[Fetched, Headers]:
            return await self._origin_get(request, extra), request.headers

        waiter = self._flight.running(key)
        try:
            (fetched, leader), led = await self._flight.run(key, lead, wait=self._wait)
        except TimeoutError:
            if waiter:
                _WAIT_TIMEOUT.inc()
            raise
        except OriginError:
            if waiter:
                _WAIT_FAILED.inc()
            raise
        if led:
            return fetched, False
        if fetched.complete and self._shareable(request, fetched, leader):
            _SHARED.inc()
            return fetched, True
        _REFETCHED.inc()
        return await self._origin_get(request, extra), False

    async def _miss(self, request: CacheRequest, key: str) -> Answer:
        try:
            fetched, shared = await self._fetch(request, key)
        except (OriginError, TimeoutError) as exc:
            return _origin_failed(exc, request.home)
        return await self._answer_fetched(request, fetched, "coalesced" if shared else None)

    async def _answer_fetched(self, request: CacheRequest, fetched: Fetched, result: str | None = None) -> Answer:
        cached = await self._store(request, fetched)
        x_cache = "MISS" if cached else "BYPASS"
        return Answer(
            fetched.status, fetched.headers, fetched.body, x_cache, 0, fetched.duration_ms, cached, fetched.rest,
            result=result,
        )  # fmt: skip

    def _shareable(self, request: CacheRequest, fetched: Fetched, leader: Headers) -> bool:
        """Whether a waiter may take the leader's answer: the same response its own request would get.

        A first miss on a URL keys every variant alike (what it varies on is not known yet), so the answer's
        Vary is checked against the leader's fields, not the waiter's own. A 304 refreshes one known record,
        whose key already holds the Vary values.
        """
        if fetched.status == 304:
            return True
        directives = response_directives(fetched.headers)
        if not_storable("GET", request.headers, fetched.status, fetched.headers, directives) is not None:
            return False
        names = vary_names(fetched.headers)
        stored = StoredResponse(fetched.status, fetched.headers, b"", 0, 0, vary_values(names, leader))
        return vary_matches(stored, request.headers)

    async def _store(self, request: CacheRequest, fetched: Fetched) -> tuple[str, CacheRecord] | None:
        """Store what the origin answered when a shared cache may; the key and record, or None."""
        if not fetched.complete or len(fetched.body) > self._max_object:
            return None
        directives = response_directives(fetched.headers)
        if not_storable("GET", request.headers, fetched.status, fetched.headers, directives) is not None:
            return None
        names = vary_names(fetched.headers)
        self._vary[request.primary_key] = names
        response = StoredResponse(
            status=fetched.status,
            headers=fetched.headers,
            body=fetched.body,
            request_time=fetched.request_time,
            response_time=fetched.response_time,
            vary=vary_values(names, request.headers),
        )
        return await self._put(request, response)

    async def _put(self, request: CacheRequest, response: StoredResponse) -> tuple[str, CacheRecord]:
        tags = (
            url_tag(request.primary_key),
            *surrogate_tags(v for k, v in response.headers if k in ("surrogate-key", "cache-tag")),
        )
        record = CacheRecord(response=response, tags=tags, expires_at=0.0)
        fresh = record.freshness
        windows = max(fresh.stale_while_revalidate, fresh.stale_if_error, self._grace)
        # Useless once past freshness and every stale window (counted from when it was fetched, §4.2.3).
        record = replace(record, expires_at=fresh.fresh_until + windows)
        key = secondary_key(request.primary_key, response.vary)
        await self.store.set(key, record, time.time())
        return key, record

    async def _revalidate(self, request: CacheRequest, key: str, record: CacheRecord) -> Answer:
        try:
            fetched, _ = await self._fetch(request, key, revalidation_headers(record.response))
        except (OriginError, TimeoutError) as exc:
            if usable_on_error(record.response, time.time(), self._grace, record.freshness):
                return self._serve(request, record, "STALE", time.time())
            return _origin_failed(exc, request.home)
        if fetched.status == 304:
            refreshed = freshen(record.response, fetched.headers, fetched.request_time, fetched.response_time)
            fresh_key, fresh_record = await self._put(request, refreshed)
            answer = self._serve(request, fresh_record, "REVALIDATED", time.time(), fresh_key)
            return replace(answer, origin_ms=fetched.duration_ms)
        if fetched.status >= 500 and usable_on_error(record.response, time.time(), self._grace, record.freshness):
            await fetched.discard()
            return self._serve(request, record, "STALE", time.time())
        return await self._answer_fetched(request, fetched)

    def _revalidate_in_background(self, request: CacheRequest, key: str, record: CacheRecord) -> None:
        if key in self._revalidating:
            return  # once per key, not once per request
        self._revalidating.add(key)

        async def refresh() -> None:
            try:
                answer = await self._revalidate(request, key, record)
                await answer.discard()  # nobody reads it: a refresh that is not stored is just dropped
            except Exception:
                log.warning("background revalidation of %s failed", request.target, exc_info=True)
            finally:
                self._revalidating.discard(key)

        task = asyncio.create_task(refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background revalidations (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)


def url_tag(primary_key: str) -> str:
    """Every variant of one URL carries this tag, so a purge by URL reaches them all without an index."""
    return "url:" + primary_key.rsplit(":", 1)[-1]


def _validators_only(headers: Headers) -> Headers:
    # The route template stays for the metrics; it is dropped with every other edge-only field on the way out.
    keep = {"etag", "last-modified", "cache-control", "expires", "vary", "date", "content-location", ROUTE_HEADER}
    return tuple((name, value) for name, value in headers if name in keep)


def problem_answer(status: int, title: str, detail: str, x_cache: str = "PASS") -> Answer:
    """An RFC 9457 problem the edge itself answers; never cached anywhere."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    return Answer(status, (("content-type", "application/problem+json"), ("cache-control", "no-store")), body, x_cache)


def home_unavailable(x_cache: str = "PASS") -> Answer:
    """Carts and orders live in their market's home region: while it cannot be reached they wait, for reads and
    writes alike, rather than being answered (or placed) elsewhere."""
    return problem_answer(503, "This part of the store is unavailable", "please try again in a minute", x_cache)


def _origin_failed(exc: Exception, home: str | None) -> Answer:
    # A coalesced waiter that gave up (TimeoutError) or a fetch that timed out: 504; no region may be asked, or
    # the one home region refused: 503 (a cart read says the same as a cart write); anything else: 502.
    timed_out = isinstance(exc, TimeoutError | OriginTimeout)
    if home is not None and not timed_out:
        return home_unavailable("MISS")
    if isinstance(exc, OriginUnavailable):
        return problem_answer(503, "The store is unavailable", "please try again in a minute", "MISS")
    status = 504 if timed_out else 502
    return problem_answer(status, "The store is not answering", "please try again in a moment", "MISS")


__all__ = ["Answer", "CacheRequest", "EdgeCache", "home_unavailable", "problem_answer", "url_tag"]
