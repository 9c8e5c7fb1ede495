"""The edge as it is served (`edge.server_config`: uvicorn with wire hits below ASGI), over real sockets.

Each test talks HTTP/1.1 on a raw socket, so pipelining, HEAD framing, HTTP/1.0 and keep-alive are exactly
what a client sees. Which path answered is visible in Server-Timing (`desc="l1 wire"`).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edge import EdgeApp, EdgeSettings, server_config
from tests.conftest import free_port
from tests.edge.live import Reader, Reply, request, serve

TOKEN = "wire-purge-token"
hits: Counter[str] = Counter()


async def page(request: Request) -> Response:
    hits[request.url.path] += 1
    headers = {"cache-control": "public, s-maxage=60", "etag": '"v1"', "surrogate-key": "product:1"}
    return Response(f"page {hits[request.url.path]}", media_type="text/html", headers=headers)


async def by_language(request: Request) -> Response:
    hits["/vary"] += 1
    language = request.headers.get("accept-language", "none")
    headers = {"cache-control": "public, s-maxage=60", "vary": "Accept-Language"}
    return Response(f"in {language}", media_type="text/plain", headers=headers)


async def short(request: Request) -> Response:
    hits["/short"] += 1
    return Response(f"short {hits['/short']}", headers={"cache-control": "public, s-maxage=2"})


async def slow_to_refresh(request: Request) -> Response:
    hits["/swr"] += 1
    if hits["/swr"] > 1:
        await asyncio.sleep(2.0)  # refreshes take a while: shoppers must not wait for them
    # s-maxage=2: fresh for at least a second after it arrives, whatever the Date's one-second granularity does
    headers = {"cache-control": "public, s-maxage=2, stale-while-revalidate=30"}
    return Response(f"swr {hits['/swr']}", headers=headers)


async def uncached(request: Request) -> Response:
    return JSONResponse({"n": hits["/page"]}, headers={"cache-control": "no-store"})


ORIGIN = Starlette(
    routes=[
        Route("/page", page),
        Route("/vary", by_language),
        Route("/short", short),
        Route("/swr", slow_to_refresh),
        Route("/count", uncached),
    ]
)


@dataclass
class Edge:
    port: int
    app: EdgeApp

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    origin_port, edge_port = free_port(), free_port()
    origin = serve(uvicorn.Config(ORIGIN, host="127.0.0.1", port=origin_port, log_level="warning"))
    app = EdgeApp(EdgeSettings(origin=f"http://127.0.0.1:{origin_port}", purge_token=TOKEN))
    front = serve(server_config(app, host="127.0.0.1", port=edge_port, timeout_keep_alive=1))
    try:
        yield Edge(edge_port, app)
    finally:
        for server, thread in (front, origin):
            server.should_exit = True
            thread.join(timeout=10)


def exchange(edge: Edge, raw: bytes, *, head: bool = False) -> Reply:
    with edge.connect() as sock:
        sock.sendall(raw)
        return Reader(sock).reply(head=head)


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "condition not met in 5 s"
        time.sleep(0.02)


def warm(edge: Edge, path: str, *extra: str) -> None:
    for _ in range(2):  # a MISS stores it, the next (ASGI) HIT arms the wire path
        exchange(edge, request(path, *extra))


def test_a_hit_on_the_wire_path_says_what_the_asgi_path_says(edge: Edge) -> None:
    warm(edge, "/page")
    wired = exchange(edge, request("/page"))
    # A request directive sends it through ASGI: a fresh hit there too (max-stale changes nothing when fresh).
    through_asgi = exchange(edge, request("/page", "Cache-Control: max-stale=0"))
    assert wired.via_wire and not through_asgi.via_wire
    assert wired.status == through_asgi.status == 200 and wired.body == through_asgi.body
    assert wired.field("x-cache") == through_asgi.field("x-cache") == "HIT"

    def comparable(reply: Reply) -> Counter[tuple[str, str]]:
        return Counter((k, v) for k, v in reply.fields if k not in ("server-timing", "age", "x-request-id"))

    assert comparable(wired) == comparable(through_asgi)
    # A request id names a request in the logs: a wire hit writes none (unless its access line is sampled).
    assert wired.field("x-request-id") is None and through_asgi.field("x-request-id") is not None
    assert wired.field("age") is not None and wired.field("content-length") == str(len(wired.body))


def test_head_pipelining_and_order(edge: Edge) -> None:
    warm(edge, "/page")
    with edge.connect() as sock:
        # Pipelined: a wire hit, an uncacheable ASGI request, then two hits that must wait their turn behind it.
        sock.sendall(request("/page") + request("/count") + request("/page") + request("/page", method="HEAD"))
        reader = Reader(sock)
        first, second, third, fourth = reader.reply(), reader.reply(), reader.reply(), reader.reply(head=True)
        assert first.via_wire and first.body == third.body
        assert second.field("x-cache") == "BYPASS" and b'"n"' in second.body
        assert third.field("x-cache") == fourth.field("x-cache") == "HIT"
        assert fourth.status == 200 and fourth.field("content-length") == str(len(first.body))
        sock.sendall(request("/page", method="HEAD"))  # nothing in flight again: the wire answers HEAD too
        fifth = reader.reply(head=True)
        assert fifth.via_wire and fifth.field("content-length") == str(len(first.body))
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # no body after a HEAD answer, nothing left over
        assert reader.buffer == b""


def test_http_1_0_gets_its_answer_and_the_connection_closes(edge: Edge) -> None:
    warm(edge, "/page")
    with edge.connect() as sock:
        sock.sendall(request("/page", version="1.0"))
        reader = Reader(sock)
        reply = reader.reply()
        assert reply.via_wire and reply.field("connection") == "close"
        assert sock.recv(1) == b""


def test_conditional_requests_get_their_304_from_the_asgi_path(edge: Edge) -> None:
    warm(edge, "/page")
    reply = exchange(edge, request("/page", 'If-None-Match: "v1"'))
    assert reply.status == 304 and not reply.via_wire and reply.field("x-cache") == "HIT"
    assert reply.field("content-length") is None  # RFC 9110 §8.6: it would have to be the page's length


def test_purges_end_wire_hits_at_once(edge: Edge) -> None:
    warm(edge, "/page")
    before = hits["/page"]
    assert exchange(edge, request("/page")).via_wire
    purge = httpx.post(
        f"http://127.0.0.1:{edge.port}/_edge/purge",
        json={"tags": ["product:1"], "soft": True},
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    assert purge.status_code == 200
    stale = exchange(edge, request("/page"))
    assert stale.field("x-cache") == "STALE" and not stale.via_wire  # soft: one fast stale answer, refreshing
    wait_until(lambda: hits["/page"] == before + 1)  # the background refresh
    httpx.post(
        f"http://127.0.0.1:{edge.port}/_edge/purge",
        json={"tags": ["product:1"]},
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    gone = exchange(edge, request("/page"))
    assert gone.field("x-cache") == "MISS" and hits["/page"] == before + 2


def test_each_variant_is_answered_with_its_own_body(edge: Edge) -> None:
    for language in ("en", "de"):
        warm(edge, "/vary", f"Accept-Language: {language}")
    for language in ("en", "de", "en"):
        reply = exchange(edge, request("/vary", f"Accept-Language: {language}"))
        assert reply.via_wire and reply.body == f"in {language}".encode()
    other = exchange(edge, request("/vary", "Accept-Language: fr"))
    assert not other.via_wire and other.body == b"in fr"


def test_a_stale_entry_is_never_answered_from_the_wire(edge: Edge) -> None:
    warm(edge, "/short")
    assert exchange(edge, request("/short")).via_wire
    time.sleep(2.1)  # past s-maxage=2
    after = exchange(edge, request("/short"))
    assert not after.via_wire and after.field("x-cache") in ("MISS", "REVALIDATED")


def test_idle_keep_alive_connections_are_closed_and_busy_ones_are_not(edge: Edge) -> None:
    warm(edge, "/page")
    with edge.connect() as sock:
        reader = Reader(sock)
        for _ in range(6):  # 1.5 s of steady use on a 1 s keep-alive timeout: never closed while used
            sock.sendall(request("/page"))
            assert reader.reply().via_wire
            time.sleep(0.25)
        time.sleep(1.6)  # idle past the timeout
        sock.settimeout(2)
        assert sock.recv(1) == b""


def test_head_on_a_closing_connection_has_no_body(edge: Edge) -> None:
    warm(edge, "/page")
    with edge.connect() as sock:
        sock.sendall(request("/page", method="HEAD", version="1.0"))
        reader = Reader(sock)
        reply = reader.reply(head=True)
        assert reply.via_wire and reply.field("connection") == "close"
        sock.settimeout(2)
        assert sock.recv(100) == b""  # closed, and not a byte of body before that (RFC 9110 §9.3.2)
        assert reader.buffer == b""


def test_requests_behind_a_closing_answer_are_not_run(edge: Edge) -> None:
    warm(edge, "/page")
    before = hits["/vary"]
    with edge.connect() as sock:
        sock.sendall(request("/page", version="1.0") + request("/vary", "Accept-Language: xx"))
        reader = Reader(sock)
        assert reader.reply().via_wire
        sock.settimeout(2)
        assert sock.recv(100) == b""
    assert hits["/vary"] == before  # the origin never heard of the second request


def test_a_request_arriving_slowly_is_not_cut_by_the_idle_timer(edge: Edge) -> None:
    warm(edge, "/page")
    with edge.connect() as sock:
        reader = Reader(sock)
        sock.sendall(request("/page"))
        assert reader.reply().via_wire
        sock.sendall(b"GET /page HTTP/1.1\r\nHost: shop.test\r\n")
        time.sleep(1.6)  # longer than the 1 s keep-alive timeout, mid-request
        sock.sendall(b"\r\n")
        assert reader.reply().status == 200


def test_the_edge_refuses_a_mount_point() -> None:
    with pytest.raises(ValueError, match="root_path"):
        server_config(EdgeApp(EdgeSettings()), host="127.0.0.1", port=1, root_path="/shop")


def test_stale_while_revalidate_is_answered_from_the_wire_while_the_refresh_runs(edge: Edge) -> None:
    warm(edge, "/swr")
    time.sleep(3.1)  # stale now (s-maxage=2, and Date's one-second granularity)
    first = exchange(edge, request("/swr"))
    assert first.field("x-cache") == "STALE" and not first.via_wire  # the ASGI path starts the refresh
    during = exchange(edge, request("/swr"))
    assert during.field("x-cache") == "STALE" and during.via_wire and during.body == b"swr 1"
    wait_until(lambda: exchange(edge, request("/swr")).body == b"swr 2")
