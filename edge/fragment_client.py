"""Fetching a page's fragments: one GET per include per page view, so its cost per request matters.

Fragments go through aiohttp's client: its C-accelerated HTTP/1.1 parser and connection pool take
≈ 0.46 ms per loopback GET against ≈ 0.89 ms for httpcore and ≈ 1.8 ms for httpx on this project's reference
machine (docs/benchmarks.md), and a stitched page waits for exactly this. The session keeps no cookies: each
fragment request carries its own shopper's, and a jar would hand them to the next shopper.

A fragment is best-effort by design (its fallback shows), so there are no retries: the page's one deadline
bounds the fetch, and the origin is picked as for any read (the home region for a home path), skipping
regions whose breaker is open.
"""

from __future__ import annotations

import time

import aiohttp
from opentelemetry.trace import SpanKind, Tracer, get_current_span

from cdn import Headers, redact_capabilities
from edge.request_context import CURRENT
from edge.routing import Origin, OriginRouter
from edge.tracing import failed, unsampled, with_trace


class FragmentClient:
    def __init__(
        self, router: OriginRouter, *, max_bytes: int, max_connections: int = 100, tracer: Tracer | None = None
    ) -> None:
        self._router = router
        self._tracer = tracer  # None: tracing is off
        self._max_bytes = max_bytes
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None  # made in the event loop it will run in

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=30.0),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _origin(self, home: str | None) -> Origin | None:
        now = time.monotonic()
        if home is not None:
            return self._router.home(home, now)
        candidates = self._router.for_read(now)
        return candidates[0] if candidates else None

    async def fetch(self, src: str, headers: Headers, *, home: str | None, budget_seconds: float) -> bytes | None:
        """The fragment's body when the origin answers 200, uncompressed and small enough; else None."""
        origin = self._origin(home)
        if origin is None:
            return None
        if self._tracer is None:
            return await self._fetch(origin, src, list(headers), budget_seconds)
        observed = CURRENT.get()
        if observed is not None and not observed.recording:
            return await self._fetch(origin, src, unsampled(headers, observed.parent), budget_seconds)
        attributes = {"url.path": redact_capabilities(src.split("?", 1)[0]), "edgeshop.region": origin.region}
        with self._tracer.start_as_current_span(
            "fragment fetch", kind=SpanKind.CLIENT, attributes=attributes, record_exception=False
        ) as span:
            body = await self._fetch(origin, src, with_trace(headers, span), budget_seconds)
            if body is None:
                failed(span, "fallback shown")  # the status, when there was one, is in http.response.status_code
            return body

    async def _fetch(
        self, origin: Origin, src: str, headers: list[tuple[str, str]], budget_seconds: float
    ) -> bytes | None:
        timeout = aiohttp.ClientTimeout(total=budget_seconds)
        async with self._client().get(
            origin.url + src, headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            if self._tracer is not None and (span := get_current_span()).is_recording():
                span.set_attribute("http.response.status_code", response.status)
            if response.status != 200:
                return None
            if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
                return None  # compressed markup cannot be spliced into the page
            if (response.content_length or 0) > self._max_bytes:
                return None
            body = bytearray()
            async for chunk in response.content.iter_chunked(65536):
                body += chunk
                if len(body) > self._max_bytes:
                    return None
            return bytes(body)


__all__ = ["FragmentClient"]
