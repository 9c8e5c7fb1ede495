"""Who may read the origin's /metrics and use its admin API, and how no shopper reaches them through an edge.

- Through an edge (in process, in front of the real origin app, the edge's address on the origin's admin
  networks), no spelling of `/metrics`, `/healthz` or `/readyz` reaches the origin: a market prefix, percent
  encoding, dot segments. The edge answers them itself (404 for `/metrics` to a non-admin).
- The origin grants network admin only to a direct connection: a request with forwarding fields or the edge's
  X-Request-Id needs the admin token, which still works through the edge.
- An empty admin token is refused by the settings of both deployables, and treated as unset if one gets in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from ipaddress import IPv4Network

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from starlette.testclient import TestClient

from edge import EdgeApp, EdgeSettings
from origin import OriginSettings
from wrangler_py.apps import build_origin_app, edge_settings
from wrangler_py.config import ConfigError, LoadedConfig

pytestmark = pytest.mark.anyio

ORIGIN_TOKEN = "origin-admin-token-for-tests"
EDGE_TOKEN = "edge-admin-token-for-tests"
EDGE_PEER = ("127.0.0.1", 50000)  # the edge, as the origin sees it: on the default admin networks
SHOPPER = ("203.0.113.9", 40000)
BYPASSES = ["/eu/metrics", "/%6detrics", "/eu/%6detrics", "/uk/./metrics", "/x/../metrics", "/metrics/",
            "//metrics", "/eu/metrics/"]  # fmt: skip


@pytest.fixture
def loaded(make_config: Callable[..., LoadedConfig], monkeypatch: pytest.MonkeyPatch) -> LoadedConfig:
    monkeypatch.setenv("SHOP_ADMIN_TOKEN", ORIGIN_TOKEN)
    monkeypatch.setenv("EDGE_ADMIN_TOKEN", EDGE_TOKEN)
    return make_config(
        seed_products=5, origin_extra='admin_token = "env:SHOP_ADMIN_TOKEN"',
        extra='[edge]\nadmin_token = "env:EDGE_ADMIN_TOKEN"\n', name="admin-access",
    )  # fmt: skip


@asynccontextmanager
async def edge_in_front(
    loaded: LoadedConfig, settings: EdgeSettings | None = None
) -> AsyncIterator[tuple[EdgeApp, httpx.AsyncClient]]:
    app = build_origin_app(loaded)
    async with app.router.lifespan_context(app):
        to_origin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=EDGE_PEER))
        edge = EdgeApp(settings or edge_settings(loaded), http=to_origin)
        try:
            yield edge, to_origin
        finally:
            await edge.stop()


def shopper(edge: EdgeApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=edge, client=SHOPPER), base_url="http://shop.example")


async def test_no_spelling_of_the_origins_own_endpoints_is_passed_on(loaded: LoadedConfig) -> None:
    async with edge_in_front(loaded) as (edge, _), shopper(edge) as client:
        assert (await client.get("/api/products")).status_code == 200  # the origin is there
        for path in BYPASSES:
            answer = await client.get(httpx.URL("http://shop.example" + path))  # as is: no base-URL joining
            assert answer.status_code == 404, path
            assert "edgeshop_" not in answer.text and answer.headers["x-cache"] == "PASS", path
        for path in ("/eu/readyz", "/%72eadyz", "/eu/healthz", "/uk/%68ealthz", "/x/../readyz"):
            answer = await client.get(path)  # the edge's own answer, never the origin's readiness checks
            assert answer.status_code == 200 and answer.json() == {"status": "ok", "region": "default"}, path
        scraped = await client.get("/eu/metrics", headers={"authorization": f"Bearer {EDGE_TOKEN}"})
        assert scraped.status_code == 200 and "edgeshop_edge_requests_total" in scraped.text


async def test_through_a_proxy_only_the_token_admits_at_the_origin(loaded: LoadedConfig) -> None:
    async with edge_in_front(loaded) as (_, to_origin):
        direct = await to_origin.get("http://origin/metrics")  # a scraper on an admin network, connecting directly
        assert direct.status_code == 200 and "edgeshop_origin_" in direct.text
        for fields in ({"x-forwarded-for": "203.0.113.9"}, {"forwarded": "for=203.0.113.9"},
                       {"x-real-ip": "203.0.113.9"}, {"x-request-id": "edge-req-1"}):  # fmt: skip
            forwarded = await to_origin.get("http://origin/metrics", headers=fields)
            assert forwarded.status_code == 404 and "edgeshop_" not in forwarded.text, fields
            with_token = await to_origin.get(
                "http://origin/metrics", headers={**fields, "authorization": f"Bearer {ORIGIN_TOKEN}"}
            )
            assert with_token.status_code == 200 and "edgeshop_origin_" in with_token.text, fields


async def test_an_origin_behind_a_trusted_peer_grants_no_network_admin(loaded: LoadedConfig) -> None:
    observability = loaded.config.origin.observability.model_copy(update={"trusted_peers": [IPv4Network(EDGE_PEER[0])]})
    origin = loaded.config.origin.model_copy(update={"observability": observability})
    proxied = LoadedConfig(loaded.config.model_copy(update={"origin": origin}), loaded.path)
    async with edge_in_front(proxied) as (_, to_origin):
        assert (await to_origin.get("http://origin/metrics")).status_code == 404
        scraped = await to_origin.get("http://origin/metrics", headers={"authorization": f"Bearer {ORIGIN_TOKEN}"})
        assert scraped.status_code == 200


@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_admin_token_is_refused_by_both_settings(token: str) -> None:
    with pytest.raises(ValidationError, match=r"(?s)admin_token.*is empty"):
        OriginSettings(admin_token=SecretStr(token))
    with pytest.raises(ValidationError, match=r"(?s)admin_token.*is empty"):
        EdgeSettings(admin_token=SecretStr(token))
    with pytest.raises(ValidationError, match=r"(?s)purge_token.*is empty"):
        EdgeSettings(purge_token=SecretStr(token))


def test_an_env_reference_to_an_empty_variable_is_a_config_error(
    make_config: Callable[..., LoadedConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_ADMIN_TOKEN", "")
    with pytest.raises(ConfigError, match="admin_token"):
        make_config(seed_products=1, origin_extra='admin_token = "env:SHOP_ADMIN_TOKEN"', name="empty-token")


async def test_an_empty_token_that_got_in_anyway_admits_nobody(loaded: LoadedConfig) -> None:
    # model_copy does not validate: a programmatic caller could still build one.
    origin = loaded.config.origin.model_copy(update={"admin_token": SecretStr(""), "admin_networks": []})
    edge = edge_settings(loaded).model_copy(update={"admin_token": SecretStr(""), "admin_networks": []})
    emptied = LoadedConfig(loaded.config.model_copy(update={"origin": origin}), loaded.path)
    async with edge_in_front(emptied, edge) as (edge_app, to_origin), shopper(edge_app) as client:
        assert (await to_origin.get("http://origin/metrics")).status_code == 404
        assert (await to_origin.get("http://origin/metrics", headers={"authorization": "Bearer "})).status_code == 404
        admin_write = await to_origin.put("http://origin/api/admin/products/1", json={"title": "x"})
        assert admin_write.status_code == 404  # the admin API is off, as with no token at all
        assert (await client.get("/metrics")).status_code == 404


def test_the_admin_api_refuses_an_empty_bearer_when_the_token_is_empty(loaded: LoadedConfig) -> None:
    origin = loaded.config.origin.model_copy(update={"admin_token": SecretStr("")})
    emptied = LoadedConfig(loaded.config.model_copy(update={"origin": origin}), loaded.path)
    with TestClient(build_origin_app(emptied)) as client:
        answer = client.patch("/api/admin/products/1", json={"title": "x"}, headers={"authorization": "Bearer"})
        assert answer.status_code == 404
