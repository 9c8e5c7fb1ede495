"""The edge's cache behaviour end to end (in process): hits, staleness, revalidation, coalescing, safety."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from edge.app import EdgeApp
from tests.edge.conftest import Clock, FakeOrigin

pytestmark = pytest.mark.anyio


async def drain(edge: httpx.AsyncClient) -> None:
    await edge.edge_app.cache.drain()  # type: ignore[attr-defined]


async def test_miss_then_hit_with_age_and_x_cache(edge: httpx.AsyncClient, origin: FakeOrigin, clock: Clock) -> None:
    first = await edge.get("/page")
    assert first.status_code == 200 and first.headers["x-cache"] == "MISS" and first.text == "page v1"
    clock.advance(10)
    second = await edge.get("/page")
    assert second.headers["x-cache"] == "HIT" and second.headers["age"] == "10"
    assert "edge;dur=" in second.headers["server-timing"]
    assert origin.hits["/page"] == 1


async def test_stale_while_revalidate_serves_at_once_and_refreshes_once(
    edge: httpx.AsyncClient, origin: FakeOrigin, clock: Clock
) -> None:
    await edge.get("/page")
    origin.version = 2
    clock.advance(70)  # past s-maxage=60, inside stale-while-revalidate=30
    answers = await asyncio.gather(*(edge.get("/page") for _ in range(20)))
    assert {a.headers["x-cache"] for a in answers} == {"STALE"} and {a.text for a in answers} == {"page v1"}
    await drain(edge)
    assert origin.hits["/page"] == 2  # one background revalidation for twenty shoppers
    assert (await edge.get("/page")).text == "page v2"


async def test_past_the_window_it_revalidates_conditionally(
    edge: httpx.AsyncClient, origin: FakeOrigin, clock: Clock
) -> None:
    await edge.get("/page")
    clock.advance(100)
    answer = await edge.get("/page")
    assert answer.headers["x-cache"] == "REVALIDATED" and answer.text == "page v1"
    assert origin.seen_headers[-1]["if-none-match"] == '"v1"'


async def test_origin_failure_serves_stale_within_stale_if_error(
    edge: httpx.AsyncClient, origin: FakeOrigin, clock: Clock
) -> None:
    await edge.get("/page")
    origin.failing = True
    clock.advance(200)
    stale = await edge.get("/page")
    assert stale.status_code == 200 and stale.headers["x-cache"] == "STALE" and stale.text == "page v1"
    clock.advance(300)  # beyond stale-if-error=300
    assert (await edge.get("/page")).status_code == 503


async def test_cold_key_stampede_is_one_origin_request(edge: httpx.AsyncClient, origin: FakeOrigin) -> None:
    origin.delay = 0.05
    answers = await asyncio.gather(*(edge.get("/page") for _ in range(500)))
    assert {a.status_code for a in answers} == {200}
    assert origin.hits["/page"] == 1


async def test_conditional_client_gets_304(edge: httpx.AsyncClient) -> None:
    await edge.get("/page")
    answer = await edge.get("/page", headers={"if-none-match": '"v1"'})
    assert answer.status_code == 304 and answer.content == b""


async def test_set_cookie_and_private_pages_are_never_shared(edge: httpx.AsyncClient, origin: FakeOrigin) -> None:
    first = await edge.get("/cookie")
    second = await edge.get("/cookie")
    assert first.headers["x-cache"] == second.headers["x-cache"] == "BYPASS"
    assert first.cookies["sid"] != second.cookies["sid"]
    alice = await edge.get("/private", headers={"cookie": "cart=alice"})
    bob = await edge.get("/private", headers={"cookie": "cart=bob"})
    assert (alice.text, bob.text) == ("cart of alice", "cart of bob")


async def test_coalesced_waiters_never_receive_a_private_answer(edge: httpx.AsyncClient, origin: FakeOrigin) -> None:
    shoppers = [f"shopper{i}" for i in range(30)]
    answers = await asyncio.gather(*(edge.get("/private", headers={"cookie": f"cart={s}"}) for s in shoppers))
    assert [a.text for a in answers] == [f"cart of {s}" for s in shoppers]


async def test_vary_keeps_one_entry_per_value(make_edge: Callable[..., EdgeApp], origin: FakeOrigin) -> None:
    app = make_edge(markets=[{"id": "us"}, {"id": "eu"}], default_market="us")  # the edge decides X-Market
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example") as edge:
        eu = await edge.get("/vary", headers={"cookie": "es_market=eu"})
        us = await edge.get("/vary")
        again = await edge.get("/vary", headers={"cookie": "es_market=eu"})
    assert (eu.text, us.text, again.text) == ("prices in eu", "prices in us", "prices in eu")
    assert again.headers["x-cache"] == "HIT"


async def test_without_markets_a_clients_own_market_fields_never_reach_the_origin(
    edge: httpx.AsyncClient, origin: FakeOrigin
) -> None:
    forged = {"x-market": "evil", "x-market-prefix": "/evil"}
    seen = (await edge.get("/echo", headers=forged)).json()["headers"]
    assert "x-market" not in seen and "x-market-prefix" not in seen
    # Pages varying on X-Market stay one entry, whatever clients make up.
    answers = [await edge.get("/vary", headers={"x-market": f"m{n}"}) for n in range(3)]
    assert [a.text for a in answers] == ["prices in us"] * 3 and origin.hits["/vary"] == 1
    assert [a.headers["x-cache"] for a in answers] == ["MISS", "HIT", "HIT"]
    # The wire path (fresh L1 hits below ASGI) agrees: the client's value is not the edge's decision.
    raw = [(b"host", b"shop.example"), (b"x-market", b"m9")]
    assert edge.edge_app.wire.answer(b"/vary", raw, head=False, keep_alive=True) is not None  # type: ignore[attr-defined]


async def test_tracking_parameters_and_order_share_one_entry(edge: httpx.AsyncClient, origin: FakeOrigin) -> None:
    await edge.get("/page?b=2&a=1&utm_source=mail")
    answer = await edge.get("/page?a=1&b=2&gclid=x")
    assert answer.headers["x-cache"] == "HIT" and origin.hits["/page"] == 1
    echoed = (await edge.get("/echo?utm_campaign=x&z=1&a=2")).json()
    assert echoed["query"] == "a=2&z=1"  # the origin never sees tracking parameters


async def test_forwarding_headers_from_shoppers_are_not_trusted(edge: httpx.AsyncClient) -> None:
    seen = (await edge.get("/echo", headers={"x-forwarded-host": "evil.example", "x-original-url": "/admin"})).json()
    assert seen["headers"]["x-forwarded-host"] == "shop.example"
    assert "x-original-url" not in seen["headers"]


async def test_unsafe_method_invalidates_the_url(edge: httpx.AsyncClient, origin: FakeOrigin) -> None:
    await edge.get("/page")
    assert (await edge.post("/page")).headers["x-cache"] == "PASS"
    answer = await edge.get("/page")
    assert answer.headers["x-cache"] == "MISS" and answer.text == "page v2"


async def test_purge_by_tag_hard_and_soft(edge: httpx.AsyncClient, origin: FakeOrigin) -> None:
    auth = {"authorization": "Bearer s3cret"}
    await edge.get("/page")
    assert (await edge.post("/_edge/purge", json={"tags": ["product:1"]})).status_code == 401
    origin.version = 2
    soft = await edge.post("/_edge/purge", json={"tags": ["product:1"], "soft": True}, headers=auth)
    assert soft.json() == {"purged": 1, "soft": True}
    assert (await edge.get("/page")).headers["x-cache"] == "STALE"  # one fast stale answer
    await drain(edge)
    assert (await edge.get("/page")).text == "page v2"
    origin.version = 3
    await edge.post("/_edge/purge", json={"tags": ["category:2"]}, headers=auth)
    fresh = await edge.get("/page")
    assert fresh.headers["x-cache"] == "MISS" and fresh.text == "page v3"


async def test_purge_by_url(edge: httpx.AsyncClient, origin: FakeOrigin) -> None:
    await edge.get("/page?b=1&a=2")
    await edge.post("/_edge/purge", json={"urls": ["/page?a=2&b=1"]}, headers={"authorization": "Bearer s3cret"})
    assert (await edge.get("/page?a=2&b=1")).headers["x-cache"] == "MISS"


async def test_the_edge_never_carries_one_shoppers_cookie_to_the_next(edge: httpx.AsyncClient) -> None:
    await edge.get("/cookie")  # the origin sets sid for this shopper
    edge.cookies.clear()  # the next request is another shopper, without cookies
    seen = (await edge.get("/echo")).json()["headers"]
    assert "cookie" not in seen


async def test_head_is_answered_from_the_get_entry_with_its_length(edge: httpx.AsyncClient, origin: FakeOrigin) -> None:
    await edge.get("/page")
    head = await edge.head("/page")
    assert head.status_code == 200 and head.content == b"" and head.headers["x-cache"] == "HIT"
    assert head.headers["content-length"] == str(len("page v1"))
    assert origin.hits["/page"] == 1


async def test_a_write_under_a_market_prefix_invalidates_the_prefixed_url(
    make_edge: Callable[..., EdgeApp], origin: FakeOrigin
) -> None:
    app = make_edge(markets=[{"id": "us"}, {"id": "eu", "url_prefix": "/eu"}], default_market="us")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example") as client:
        await client.get("/eu/page")
        assert (await client.get("/eu/page")).headers["x-cache"] == "HIT"
        assert (await client.post("/eu/page")).status_code < 400  # the origin saw /page; the shopper's URL is /eu/page
        assert (await client.get("/eu/page")).headers["x-cache"] == "MISS"  # RFC 9111 §4.4


async def test_home_paths_are_whole_decoded_segments(make_edge: Callable[..., EdgeApp]) -> None:
    app = make_edge()
    assert app._is_home_path("/cart") and app._is_home_path("/%63art/add") and app._is_home_path("/api/orders/7")
    assert not app._is_home_path("/cartoons") and not app._is_home_path("/p/cart")
