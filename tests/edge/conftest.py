"""A fake origin that counts its requests, an edge in front of it, and a controllable clock."""

from __future__ import annotations

import asyncio
import time as real_time
import types
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edge.app import EdgeApp
from edge.settings import EdgeSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return real_time.perf_counter()

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeOrigin:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.failing = False
        self.version = 1
        self.delay = 0.0
        self.seen_headers: list[dict[str, str]] = []

    def app(self) -> Starlette:
        async def page(request: Request) -> Response:
            self.hits[request.url.path] += 1
            self.seen_headers.append(dict(request.headers))
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.failing:
                return Response("down", status_code=503)
            etag = f'"v{self.version}"'
            headers = {
                "cache-control": "public, max-age=0, s-maxage=60, stale-while-revalidate=30, stale-if-error=300",
                "etag": etag,
                "surrogate-key": "product:1 category:2",
            }
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers=headers)
            return Response(f"page v{self.version}", headers=headers, media_type="text/html")

        async def cookie(request: Request) -> Response:
            self.hits[request.url.path] += 1
            response = Response(f"hello {self.hits[request.url.path]}", headers={"cache-control": "public, max-age=60"})
            response.set_cookie("sid", f"s{self.hits[request.url.path]}")
            return response

        async def private(request: Request) -> Response:
            self.hits[request.url.path] += 1
            cart = request.cookies.get("cart", "none")
            return Response(f"cart of {cart}", headers={"cache-control": "private, no-store"})

        async def vary(request: Request) -> Response:
            self.hits[request.url.path] += 1
            market = request.headers.get("x-market", "us")
            return Response(f"prices in {market}", headers={"cache-control": "s-maxage=60", "vary": "X-Market"})

        async def echo(request: Request) -> Response:
            self.hits[request.url.path] += 1
            return JSONResponse(
                {"headers": dict(request.headers), "query": str(request.url.query)},
                headers={"cache-control": "no-store"},
            )

        async def write(request: Request) -> Response:
            self.hits["POST " + request.url.path] += 1
            self.version += 1
            return Response("ok")

        return Starlette(
            routes=[
                Route("/page", page, methods=["GET", "HEAD"]),
                Route("/page", write, methods=["POST"]),
                Route("/cookie", cookie),
                Route("/private", private),
                Route("/vary", vary),
                Route("/echo", echo),
            ]
        )


async def drop_keys(redis_url: str, prefix: str) -> None:
    """Remove what a test's edges wrote to the shared Redis under their own prefix."""
    redis = Redis.from_url(redis_url)
    async for key in redis.scan_iter(match=prefix + "*"):
        await redis.unlink(key)
    await redis.aclose()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    namespace = types.SimpleNamespace(time=fake.time, perf_counter=fake.perf_counter, monotonic=real_time.monotonic)
    monkeypatch.setattr("edge.cache.time", namespace)
    monkeypatch.setattr("edge.origin_client.time", namespace)
    return fake


@pytest.fixture
def origin() -> FakeOrigin:
    return FakeOrigin()


@pytest.fixture
def make_edge(origin: FakeOrigin) -> Callable[..., EdgeApp]:
    def make(**settings: Any) -> EdgeApp:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=origin.app()), base_url="http://origin")
        return EdgeApp(EdgeSettings(**settings), http=http)

    return make


@pytest.fixture
async def edge(make_edge: Callable[..., EdgeApp]) -> AsyncIterator[httpx.AsyncClient]:
    app = make_edge(purge_token="s3cret", trusted_proxies=["10.0.0.0/8"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example") as client:
        client.edge_app = app  # type: ignore[attr-defined]
        yield client
