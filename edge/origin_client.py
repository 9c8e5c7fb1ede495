"""Fetching from the origin with the edge's pooled httpx client."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from cdn import Headers


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    headers: Headers
    body: bytes
    request_time: float
    response_time: float
    duration_ms: float


class OriginError(Exception):
    """The origin could not be reached or did not answer in time."""


class OriginTimeout(OriginError):
    """The origin did not answer in time (a 504, where other failures are a 502)."""


class OriginClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def fetch(self, method: str, target: str, headers: Headers, body: bytes = b"") -> Fetched:
        started, request_time = time.perf_counter(), time.time()
        try:
            response = await self._client.request(method, target, headers=list(headers), content=body or None)
        except httpx.TimeoutException as exc:
            raise OriginTimeout(f"{type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise OriginError(f"{type(exc).__name__}: {exc}") from exc
        return Fetched(
            status=response.status_code,
            headers=tuple(
                (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in response.headers.raw
            ),
            body=response.content,
            request_time=request_time,
            response_time=time.time(),
            duration_ms=(time.perf_counter() - started) * 1000,
        )
