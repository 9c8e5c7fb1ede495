"""Fetching a page's fragments: one GET per include per page view, so its cost per request matters.

Fragments go through httpcore, the connection pool under httpx, without httpx's request and response
models: on this project's reference machine that is ≈ 1.0 ms against ≈ 1.8 ms per loopback GET (measured,
see docs/benchmarks.md). A fragment is best-effort by design (its fallback shows), so there are no retries:
the page's one deadline bounds the fetch, and the origin is picked as for any read (the home region for a
home path), skipping regions whose breaker is open.
"""

from __future__ import annotations

import time

import httpcore

from cdn import Headers
from edge.routing import Origin, OriginRouter


class FragmentClient:
    def __init__(self, router: OriginRouter, *, max_bytes: int, max_connections: int = 100) -> None:
        self._router = router
        self._max_bytes = max_bytes
        self._pool = httpcore.AsyncConnectionPool(max_connections=max_connections, keepalive_expiry=30.0)

    async def aclose(self) -> None:
        await self._pool.aclose()

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
        fields = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        deadline = dict.fromkeys(("connect", "read", "write", "pool"), budget_seconds)
        async with self._pool.stream(
            "GET", origin.url + src, headers=fields, extensions={"timeout": deadline}
        ) as response:
            if response.status != 200:
                return None
            for name, value in response.headers:
                if name.lower() == b"content-encoding" and value.strip().lower() != b"identity":
                    return None  # compressed markup cannot be spliced into the page
            body = bytearray()
            async for chunk in response.aiter_stream():
                body += chunk
                if len(body) > self._max_bytes:
                    return None
            return bytes(body)


__all__ = ["FragmentClient"]
