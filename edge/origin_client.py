"""Fetching from the origin with the edge's pooled httpx client, buffering only what the cache may keep.

Bodies travel as the origin sent them (`aiter_raw`: no decompression, so Content-Encoding stays true). A
response is read whole only when `buffer_limit` says it may be stored; anything else (uncacheable, larger than
the cache keeps, or over the limit part-way through a chunked body) comes back with the part read so far and
the rest still streaming from the origin, so a large download or a slow generated page is relayed as it comes
instead of being held in memory.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from opentelemetry.trace import Span, SpanKind, Tracer

from cdn import Headers, redact_capabilities
from edge.metrics import observe_origin
from edge.request_context import CURRENT
from edge.routing import Origin, OriginRouter
from edge.tracing import failed, unsampled, with_trace


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    headers: Headers
    body: bytes  # the whole body, or when `rest` is set, its first part
    request_time: float
    response_time: float
    duration_ms: float
    # The remainder still coming from the origin (iterate it once, to the end or `aclose()` it), or None.
    rest: AsyncIterator[bytes] | None = None

    @property
    def complete(self) -> bool:
        return self.rest is None

    async def discard(self) -> None:
        """Give the connection back without reading what is left (a HEAD, a client that went away)."""
        if self.rest is not None:
            await self.rest.aclose()  # type: ignore[attr-defined]


class OriginError(Exception):
    """The origin could not be reached or did not answer in time."""


class OriginTimeout(OriginError):
    """The origin did not answer in time (a 504, where other failures are a 502)."""


class OriginUnavailable(OriginError):
    """No origin may be asked: every region's breaker is open or its probes fail (a 503)."""


# Given the status and headers, how many body bytes to read before relaying the rest as a stream.
BufferLimit = Callable[[int, Headers], int]


# Bodies the cache will not keep are still read whole up to this size when their length is declared (one send
# instead of a stream for the usual small page); undeclared ones stream from their first chunk, so a slow or
# endless response (server-sent events) reaches the shopper as it is produced.
RELAY_BUFFER_BYTES = 64 * 1024


def relay_buffer_limit(status: int, headers: Headers) -> int:
    return RELAY_BUFFER_BYTES if _declared_length(headers) is not None else 0


def _mapped(exc: httpx.HTTPError) -> OriginError:
    kind = OriginTimeout if isinstance(exc, httpx.TimeoutException) else OriginError
    return kind(f"{type(exc).__name__}: {exc}")


async def _remainder(chunks: AsyncIterator[bytes], response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    except httpx.HTTPError as exc:
        raise _mapped(exc) from exc
    finally:
        await response.aclose()


def _declared_length(headers: Headers) -> int | None:
    values = {value.strip() for name, value in headers if name == "content-length"}
    if len(values) == 1 and (value := values.pop()).isdecimal():
        return int(value)
    return None


# Answers that say the origin (or what is in front of it) could not serve: they count against its breaker and
# let a read try the next region. A 500 is the application's answer, not the region's health.
_UNAVAILABLE = frozenset({502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


# Response fields that describe one exchange with the origin, not the response: never stored with it.
_PER_EXCHANGE = frozenset({"x-origin-region", "x-request-id"})


class OriginClient:
    def __init__(self, client: httpx.AsyncClient, router: OriginRouter, *, tracer: Tracer | None = None) -> None:
        self._client = client
        self.router = router
        self._tracer = tracer  # None: tracing is off

    async def fetch(
        self,
        method: str,
        target: str,
        headers: Headers,
        body: bytes | AsyncIterable[bytes] = b"",
        *,
        buffer_limit: BufferLimit | None = None,
        home: str | None = None,
    ) -> Fetched:
        """Ask an origin: the nearest available one, trying the next region for a failed idempotent read within
        the retry budget; or, with `home`, only that region (carts and orders live in exactly one place).
        The body is read whole unless `buffer_limit` (default: no limit) says to stream it."""
        now = time.monotonic()
        if home is not None:
            origin = self.router.home(home, now)
            if origin is None:
                raise OriginUnavailable(f"region {home} is unavailable")
            candidates = [origin]
        else:
            candidates = self.router.for_read(now)
            if not candidates:
                raise OriginUnavailable("no origin region is available")
        retry = method in IDEMPOTENT and isinstance(body, bytes)
        failure: OriginError | None = None
        for attempt, origin in enumerate(candidates):
            last = attempt == len(candidates) - 1 or not retry
            breaker = origin.breaker
            # The verdict goes back with the ticket: by the time it arrives, the breaker may have moved on.
            ticket = breaker.begin(time.monotonic())
            if ticket is None:
                continue  # another request is the half-open trial right now
            started = time.perf_counter()
            span, sent = self._traced(origin, method, target, headers)
            try:
                fetched = await self._fetch_from(origin, method, target, sent, body, buffer_limit)
            except OriginError as exc:
                kind = "timeout" if isinstance(exc, OriginTimeout) else "error"
                observe_origin(origin.region, kind, time.perf_counter() - started)
                breaker.failed(ticket, time.monotonic())
                if span is not None:
                    failed(span, kind)
                    span.end()
                if last:
                    raise
                failure = exc
                continue
            except BaseException:
                breaker.abandoned(ticket)  # cancelled, or the request body failed: no verdict on the origin
                if span is not None:
                    span.end()
                raise
            observe_origin(origin.region, fetched.status, fetched.duration_ms / 1000)
            if span is not None:
                span.set_attribute("http.response.status_code", fetched.status)
                if fetched.status >= 500:
                    failed(span, f"HTTP {fetched.status}")
                span.end()  # a streamed body: at its head, as the metrics count it
            if fetched.status in _UNAVAILABLE:
                breaker.failed(ticket, time.monotonic())
                if not last:
                    await fetched.discard()
                    continue
            else:
                breaker.succeeded(ticket)
            return fetched
        raise failure or OriginUnavailable("no origin region is available")  # every candidate was mid-trial

    def _traced(self, origin: Origin, method: str, target: str, headers: Headers) -> tuple[Span | None, Headers]:
        """The attempt's span (when its request is recorded) and the request fields telling the origin about it."""
        if self._tracer is None:
            return None, headers
        observed = CURRENT.get()
        if observed is not None and not observed.recording:
            return None, tuple(unsampled(headers, observed.parent))
        attributes = {
            "http.request.method": method,
            "url.path": redact_capabilities(target.split("?", 1)[0]),  # no cart or order id in a span
            "server.address": urlsplit(origin.url).hostname or "",
            "edgeshop.region": origin.region,
        }
        span = self._tracer.start_span("origin fetch", kind=SpanKind.CLIENT, attributes=attributes)
        return span, tuple(with_trace(headers, span))

    async def _fetch_from(
        self,
        origin: Origin,
        method: str,
        target: str,
        headers: Headers,
        body: bytes | AsyncIterable[bytes],
        buffer_limit: BufferLimit | None,
    ) -> Fetched:
        started, request_time = time.perf_counter(), time.time()
        request = self._client.build_request(method, origin.url + target, headers=list(headers), content=body or None)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _mapped(exc) from exc
        decoded = ((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in response.headers.raw)
        # Which region made it is kept with the record: a hit still says where it came from.
        fields = (*((name, value) for name, value in decoded if name not in _PER_EXCHANGE),
                  ("x-origin-region", origin.region))  # fmt: skip
        limit = buffer_limit(response.status_code, fields) if buffer_limit is not None else None
        chunks = response.aiter_raw()
        parts: list[bytes] = []
        try:
            declared = _declared_length(fields)
            if limit is None or declared is None or declared <= limit:
                size = 0
                async for chunk in chunks:
                    parts.append(chunk)
                    size += len(chunk)
                    if limit is not None and size > limit:
                        break
                else:
                    await response.aclose()
                    return self._fetched(response, fields, b"".join(parts), request_time, started)
        except httpx.HTTPError as exc:
            await response.aclose()
            raise _mapped(exc) from exc
        except BaseException:
            await response.aclose()
            raise
        return self._fetched(response, fields, b"".join(parts), request_time, started, _remainder(chunks, response))

    @staticmethod
    def _fetched(
        response: httpx.Response,
        fields: Headers,
        body: bytes,
        request_time: float,
        started: float,
        rest: AsyncIterator[bytes] | None = None,
    ) -> Fetched:
        return Fetched(
            status=response.status_code,
            headers=fields,
            body=body,
            request_time=request_time,
            response_time=time.time(),
            duration_ms=(time.perf_counter() - started) * 1000,
            rest=rest,
        )
