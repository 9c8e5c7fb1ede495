"""Bodies the cache does not keep stream through the edge both ways, as they come, and stop when nobody reads."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from edge import EdgeApp, EdgeCacheSettings, EdgeSettings, server_config
from tests.conftest import free_port
from tests.edge.live import serve

BIG = 20 * 2**20
MAX_OBJECT = 64 * 1024
MAX_UPLOAD = 8 * 2**20


@dataclass
class OriginState:
    hits: Counter[str]
    finished: threading.Event  # the slow stream ran to its end
    stopped: threading.Event  # the endless stream noticed nobody reads it any more


state = OriginState(Counter(), threading.Event(), threading.Event())


async def big(request: Request) -> Response:
    state.hits["/big"] += 1
    return Response(b"b" * BIG, media_type="application/octet-stream", headers={"cache-control": "public, max-age=60"})


async def slow(request: Request) -> StreamingResponse:
    async def parts() -> AsyncIterator[bytes]:
        yield b"first part\n"
        await asyncio.sleep(1.0)
        yield b"second part\n"
        state.finished.set()

    return StreamingResponse(parts(), media_type="text/plain", headers={"cache-control": "no-store"})


async def endless(request: Request) -> StreamingResponse:
    async def parts() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"data: tick\n\n"
                await asyncio.sleep(0.05)
        finally:
            state.stopped.set()

    return StreamingResponse(parts(), media_type="text/event-stream", headers={"cache-control": "no-store"})


async def chunked(request: Request) -> StreamingResponse:
    size = int(request.query_params["size"])
    state.hits[f"/chunked?size={size}"] += 1

    async def parts() -> AsyncIterator[bytes]:
        for _ in range(size // 1024):
            yield b"c" * 1024

    return StreamingResponse(parts(), media_type="text/plain", headers={"cache-control": "public, max-age=60"})


async def compressed(request: Request) -> Response:
    body = gzip.compress(b"<html>" + b"compressible " * 500 + b"</html>")
    headers = {"content-encoding": "gzip", "vary": "Accept-Encoding", "cache-control": "public, max-age=60"}
    return Response(body, media_type="text/html", headers=headers)


async def upload(request: Request) -> JSONResponse:
    state.hits["/upload"] += 1
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return JSONResponse({"received": size, "length": request.headers.get("content-length")})


ORIGIN = Starlette(
    routes=[
        Route("/big", big), Route("/slow", slow), Route("/endless", endless), Route("/chunked", chunked),
        Route("/compressed", compressed), Route("/upload", upload, methods=["POST", "PUT"]),
    ]
)  # fmt: skip


@pytest.fixture(scope="module")
def edge_url() -> Iterator[str]:
    origin_port, edge_port = free_port(), free_port()
    origin = serve(uvicorn.Config(ORIGIN, host="127.0.0.1", port=origin_port, log_level="warning"))
    settings = EdgeSettings(
        origin=f"http://127.0.0.1:{origin_port}",
        max_request_body_bytes=MAX_UPLOAD,
        cache=EdgeCacheSettings(max_object_bytes=MAX_OBJECT),
    )
    front = serve(server_config(EdgeApp(settings), host="127.0.0.1", port=edge_port))
    try:
        yield f"http://127.0.0.1:{edge_port}"
    finally:
        for server, thread in (front, origin):
            server.should_exit = True
            thread.join(timeout=10)


def test_a_body_larger_than_the_cache_keeps_is_relayed_whole_and_not_stored(edge_url: str) -> None:
    before = state.hits["/big"]
    with httpx.stream("GET", edge_url + "/big") as response:
        assert response.headers["content-length"] == str(BIG) and response.headers["x-cache"] == "BYPASS"
        assert sum(len(chunk) for chunk in response.iter_raw()) == BIG
    assert httpx.head(edge_url + "/big").headers["content-length"] == str(BIG)
    assert state.hits["/big"] == before + 2  # nothing stored: each request went to the origin


def test_a_slow_uncached_response_reaches_the_shopper_as_it_is_produced(edge_url: str) -> None:
    state.finished.clear()
    started = time.monotonic()
    with httpx.stream("GET", edge_url + "/slow") as response:
        parts = response.iter_raw()
        first = next(parts)
        assert first == b"first part\n" and time.monotonic() - started < 0.8
        assert not state.finished.is_set()  # the origin is still producing the rest
        assert b"".join(parts) == b"second part\n"


def test_the_edge_stops_reading_the_origin_when_the_shopper_goes_away(edge_url: str) -> None:
    state.stopped.clear()
    with httpx.stream("GET", edge_url + "/endless") as response:
        assert next(response.iter_raw()).startswith(b"data: tick")
    assert state.stopped.wait(5), "the origin kept streaming to nobody"


def test_a_chunked_cacheable_body_is_stored_when_it_fits_and_streamed_when_it_does_not(edge_url: str) -> None:
    small, large = "/chunked?size=8192", f"/chunked?size={4 * MAX_OBJECT}"
    assert httpx.get(edge_url + small).headers["x-cache"] == "MISS"
    again = httpx.get(edge_url + small)
    assert again.headers["x-cache"] == "HIT" and len(again.content) == 8192
    for _ in range(2):
        answer = httpx.get(edge_url + large)
        assert answer.headers["x-cache"] == "BYPASS" and len(answer.content) == 4 * MAX_OBJECT
    assert state.hits[large] == 2


def test_encoded_bodies_pass_through_untouched(edge_url: str) -> None:
    expected = gzip.compress(b"<html>" + b"compressible " * 500 + b"</html>")
    for _ in range(2):  # the miss and the hit
        with httpx.stream("GET", edge_url + "/compressed", headers={"accept-encoding": "gzip"}) as response:
            assert response.headers["content-encoding"] == "gzip"
            raw = b"".join(response.iter_raw())
        assert gzip.decompress(raw) == gzip.decompress(expected)
        assert int(response.headers["content-length"]) == len(raw)


def test_uploads_stream_to_the_origin_with_their_length(edge_url: str) -> None:
    payload = b"u" * (5 * 2**20)
    answer = httpx.post(edge_url + "/upload", content=payload)
    assert answer.status_code == 200 and answer.json() == {"received": len(payload), "length": str(len(payload))}

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    streamed = httpx.post(edge_url + "/upload", content=chunks())  # chunked, no length
    assert streamed.json()["received"] == 40 * 65536


def test_uploads_over_the_limit_are_refused_with_a_problem(edge_url: str) -> None:
    before = state.hits["/upload"]
    declared = httpx.post(edge_url + "/upload", content=b"x" * (MAX_UPLOAD + 1))
    assert declared.status_code == 413 and declared.headers["content-type"] == "application/problem+json"
    assert state.hits["/upload"] == before  # refused from its Content-Length, the origin never asked

    def too_much() -> Iterator[bytes]:
        for _ in range(MAX_UPLOAD // 65536 + 2):
            yield b"x" * 65536

    chunked_answer = httpx.post(edge_url + "/upload", content=too_much())
    assert chunked_answer.status_code == 413
