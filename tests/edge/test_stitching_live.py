"""Hole punching through a real edge: one cached page, each shopper's own fragments, never another's."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from edge import EdgeApp, EdgeSettings, server_config
from tests.conftest import LiveOrigin, free_port
from tests.edge.live import Reader, request, serve

BADGE = re.compile(r'data-cart-badge>(?:<span class="cart-count">(\d+)<)?')


def badge(page: httpx.Response) -> int:
    match = BADGE.search(page.text)
    assert match, "no cart badge on the page"
    return int(match.group(1) or 0)


def shopper_with(edge: str, variant_id: int, quantity: int) -> httpx.Client:
    client = httpx.Client(base_url=edge, timeout=10)
    added = client.post(
        "/cart/add", data={"variant_id": str(variant_id), "quantity": str(quantity)}, headers={"origin": edge}
    )
    assert added.status_code == 303, added.text
    assert "es_cart" in client.cookies
    return client


def test_two_shoppers_hammering_one_cached_page_each_see_only_their_own_cart(
    live_origin: Callable[..., LiveOrigin],
) -> None:
    store = live_origin(seed_products=10)
    edge = store.edge_url
    product = httpx.get(edge + "/api/products").json()["items"][0]
    variant = max(product["variants"], key=lambda v: v["available"])
    assert variant["available"] >= 7
    a, b = shopper_with(edge, variant["id"], 2), shopper_with(edge, variant["id"], 5)
    page = f"/p/{product['handle']}"
    first = httpx.get(edge + page)
    assert badge(first) == 0  # no cart cookie: the fallback, without asking the origin
    assert first.headers["cache-control"] == "private, no-store" and "etag" not in first.headers

    def hammer(client: httpx.Client, rounds: int) -> list[tuple[int, str]]:
        seen = []
        for _ in range(rounds):
            response = client.get(page)
            assert response.status_code == 200
            seen.append((badge(response), response.headers["x-cache"]))
        return seen

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(hammer, shopper, 40) for shopper in (a, b, a, b, a, b, a, b)]
        results = [future.result() for future in futures]
    for index, seen in enumerate(results):
        expected = 2 if index % 2 == 0 else 5
        assert {count for count, _ in seen} == {expected}, f"shopper {'ab'[index % 2]} saw {set(seen)}"
    caches = [x_cache for seen in results for _, x_cache in seen]
    assert caches.count("HIT") >= len(caches) - 2  # one shared page served them all
    for client in (a, b):
        client.close()


@pytest.fixture
def fragment_origin() -> Iterator[str]:
    """An origin whose page has a fast, a failing, a slow and a conditional fragment."""

    async def page(request: Request) -> Response:
        body = (
            '<p>ok:<esi:include src="/f/ok"/></p>'
            '<p>broken:<esi:include src="/f/broken">sorry</esi:include></p>'
            '<p>slow:<esi:include src="/f/slow">later</esi:include></p>'
            '<p>elsewhere:<esi:include src="https://evil.example/steal">kept</esi:include></p>'
            '<p>cart:<esi:include src="/f/echo" requires-cookie="es_cart">none</esi:include></p>'
        )
        return Response(
            body,
            media_type="text/html",
            headers={"cache-control": "public, s-maxage=60", "surrogate-control": 'content="ESI/1.0"'},
        )

    async def ok(request: Request) -> Response:
        return PlainTextResponse("fine", headers={"cache-control": "private, no-store"})

    async def broken(request: Request) -> Response:
        return PlainTextResponse("stack trace!", status_code=500)

    async def slow(request: Request) -> Response:
        await asyncio.sleep(3)
        return PlainTextResponse("too late")

    async def conditional(request: Request) -> Response:
        body = '<p>cart:<esi:include src="/f/echo" requires-cookie="es_cart">none</esi:include></p>'
        return Response(body, media_type="text/html", headers={"cache-control": "public, s-maxage=60",
                                                                "surrogate-control": 'content="ESI/1.0"'})  # fmt: skip

    async def unmarked(request: Request) -> Response:
        # Include markup without Surrogate-Control: the origin did not ask the edge to process it.
        return Response('<esi:include src="/f/ok"/>', media_type="text/html", headers={"cache-control": "max-age=60"})

    async def echo(request: Request) -> Response:
        return PlainTextResponse(f"cart={request.cookies.get('es_cart')}", headers={"cache-control": "private"})

    routes = {"/": page, "/f/ok": ok, "/f/broken": broken, "/f/slow": slow, "/f/echo": echo, "/unmarked": unmarked,
              "/conditional": conditional}  # fmt: skip
    app = Starlette(routes=[Route(path, endpoint) for path, endpoint in routes.items()])
    port = free_port()
    server, thread = serve(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


def test_failing_and_slow_fragments_render_their_fallback_within_the_budget(fragment_origin: str) -> None:
    settings = EdgeSettings(origin=fragment_origin, fragments={"timeout_ms": 300})  # type: ignore[arg-type]
    port = free_port()
    server, thread = serve(server_config(EdgeApp(settings), host="127.0.0.1", port=port))
    try:
        edge = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        page = httpx.get(edge + "/", timeout=10)
        took = time.perf_counter() - started
        assert page.status_code == 200
        assert page.text == ("<p>ok:fine</p><p>broken:sorry</p><p>slow:later</p><p>elsewhere:kept</p><p>cart:none</p>")
        assert took < 1.5  # the 3 s fragment was given up at the 0.3 s budget
        with_cart = httpx.get(edge + "/", cookies={"es_cart": "c-42"}, timeout=10)
        assert "<p>cart:cart=c-42</p>" in with_cart.text and with_cart.headers["x-cache"] == "HIT"
        assert "surrogate-control" not in with_cart.headers and "stack trace" not in with_cart.text
    finally:
        server.should_exit = True
        thread.join(5)


def test_include_markup_is_processed_only_when_the_origin_asks(fragment_origin: str) -> None:
    app = EdgeApp(EdgeSettings(origin=fragment_origin))  # type: ignore[arg-type]
    port = free_port()
    server, thread = serve(server_config(app, host="127.0.0.1", port=port))
    try:
        for _ in range(2):
            raw = httpx.get(f"http://127.0.0.1:{port}/unmarked")
            assert raw.text == '<esi:include src="/f/ok"/>'
            assert raw.headers["cache-control"] == "max-age=60"  # still a shared, cacheable page
        assert raw.headers["x-cache"] == "HIT"
    finally:
        server.should_exit = True
        thread.join(5)


def test_shoppers_without_the_cookie_get_the_fallback_page_from_the_fast_path(fragment_origin: str) -> None:
    port = free_port()
    server, thread = serve(server_config(EdgeApp(EdgeSettings(origin=fragment_origin)), host="127.0.0.1", port=port))  # type: ignore[arg-type]
    host = f"Host: 127.0.0.1:{port}".encode()
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            reader = Reader(sock)
            replies = []
            for cookie in ("", "", "x=1", "es_cart=c-7", "", "es_cart=c-8; x=1"):
                extra = (f"Cookie: {cookie}",) if cookie else ()
                sock.sendall(request("/conditional", *extra).replace(b"Host: shop.test", host))
                replies.append(reader.reply())
        assert [r.via_wire for r in replies] == [False, True, True, False, True, False]
        assert [r.body for r in replies] == [b"<p>cart:none</p>"] * 3 + [b"<p>cart:cart=c-7</p>", b"<p>cart:none</p>",
                                              b"<p>cart:cart=c-8</p>"]  # fmt: skip
        assert all(r.field("cache-control") == "private, no-store" for r in replies)
    finally:
        server.should_exit = True
        thread.join(5)
