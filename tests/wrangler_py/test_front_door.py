"""`wrangler_py.front_door`: the dev stand-in for a CDN forwards shoppers from loopback, which the edges' admin
networks hold, so it must say whom it forwards and never pass `/metrics` on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from edge import EdgeApp, EdgeSettings
from tests.edge.conftest import FakeOrigin
from wrangler_py.apps import edge_settings
from wrangler_py.config import LoadedConfig
from wrangler_py.front_door import FrontDoor
from wrangler_py.regions import Plan, RegionPlan

pytestmark = pytest.mark.anyio

SHOPPER = ("203.0.113.9", 40000)
DOOR = ("127.0.0.1", 50000)  # the door, as the edge sees it: on the edge's default admin networks


@pytest.fixture
async def door(make_config: Callable[..., LoadedConfig]) -> AsyncIterator[httpx.AsyncClient]:
    loaded = make_config(seed_products=1, name="door")
    origin = httpx.AsyncClient(transport=httpx.ASGITransport(app=FakeOrigin().app()), base_url="http://origin")
    edge = EdgeApp(edge_settings(loaded), http=origin)
    plan = Plan(str(loaded.path), [RegionPlan("us-east", 39.0, -77.5, 1, 2)], {"us": "us-east"})
    front = FrontDoor(plan, loaded.path)
    await front.http.aclose()
    front.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=edge, client=DOOR))
    transport = httpx.ASGITransport(app=front, client=SHOPPER)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.example") as client:
        yield client
    await front.http.aclose()
    await edge.stop()


@pytest.mark.parametrize("path", ["/metrics", "/eu/metrics", "/%6detrics", "/x/../metrics", "/metrics/"])
async def test_metrics_are_never_forwarded(door: httpx.AsyncClient, path: str) -> None:
    answer = await door.get(httpx.URL("http://shop.example" + path))
    assert answer.status_code == 404 and "edgeshop_" not in answer.text


async def test_the_door_says_whom_it_forwards(make_config: Callable[..., LoadedConfig]) -> None:
    loaded = make_config(seed_products=1, name="door-headers")
    seen: list[httpx.Request] = []

    def edge(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    plan = Plan(str(loaded.path), [RegionPlan("us-east", 39.0, -77.5, 1, 2)], {"us": "us-east"})
    front = FrontDoor(plan, loaded.path)
    await front.http.aclose()
    front.http = httpx.AsyncClient(transport=httpx.MockTransport(edge))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=front, client=SHOPPER), base_url="http://s") as c:
        assert (await c.get("/page")).status_code == 200
        assert (await c.get("/page", headers={"x-forwarded-for": "198.51.100.1"})).status_code == 200
    assert [r.headers.get_list("x-forwarded-for") for r in seen] == [["203.0.113.9"], ["198.51.100.1, 203.0.113.9"]]
    await front.http.aclose()


async def test_an_edge_grants_no_network_admin_to_a_forwarded_request() -> None:
    edge = EdgeApp(EdgeSettings(), http=httpx.AsyncClient())
    transport = httpx.ASGITransport(app=edge, client=DOOR)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.example") as direct:
        assert (await direct.get("/metrics")).status_code == 200  # a scraper connecting directly
        for fields in ({"x-forwarded-for": "203.0.113.9"}, {"forwarded": "for=203.0.113.9"}, {"x-real-ip": "x"}):
            assert (await direct.get("/metrics", headers=fields)).status_code == 404, fields
    proxied = EdgeApp(EdgeSettings.model_validate({"trusted_proxies": ["127.0.0.0/8"]}), http=httpx.AsyncClient())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=proxied, client=DOOR), base_url="http://s") as via:
        assert (await via.get("/metrics")).status_code == 404  # a trusted proxy's address is nobody's admin
    await edge.stop()
    await proxied.stop()
