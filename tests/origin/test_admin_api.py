"""The admin API: a merchant's edit reaches the catalog, the search index and the edge at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from origin import build_store
from wrangler_py.apps import build_origin_app, build_store_from_config
from wrangler_py.config import LoadedConfig

TOKEN = "admin-token-for-tests"


class RecordingPurger:
    def __init__(self) -> None:
        self.purged: list[list[str]] = []
        self.closed = False

    async def purge(self, tags: list[str]) -> None:
        self.purged.append(tags)

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def admin(make_config: Callable[..., LoadedConfig], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("SHOP_ADMIN_TOKEN", TOKEN)
    loaded = make_config(seed_products=10, origin_extra='admin_token = "env:SHOP_ADMIN_TOKEN"', name="admin")
    base = build_store_from_config(loaded)
    purger = RecordingPurger()
    store = build_store(base.settings, base.markets, base.connectors, base.carts._store, base.secret_key, purger)
    with TestClient(build_origin_app(loaded, store=store)) as client:
        yield {"client": client, "purger": purger}
    assert purger.closed, "the origin's shutdown did not close the purge client"


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_an_edit_updates_catalog_search_and_purges_the_edge(admin: dict[str, Any]) -> None:
    client, purger = admin["client"], admin["purger"]
    product = client.get("/api/products").json()["items"][0]
    variant = product["variants"][0]
    response = client.put(
        f"/api/admin/products/{product['id']}",
        json={"title": "Renamed Summit Shell", "prices": {"usd": {str(variant["id"]): 12345}},
              "stock": {str(variant["id"]): 7}},
        headers=auth(),
    )  # fmt: skip
    assert response.status_code == 200 and response.headers["cache-control"] == "private, no-store"
    updated = client.get(f"/api/products/{product['handle']}").json()
    assert updated["title"] == "Renamed Summit Shell"
    changed = next(v for v in updated["variants"] if v["id"] == variant["id"])
    assert changed["price"] == {"amount": 12345, "currency": "USD"} and changed["available"] == 7
    assert any(h["id"] == product["id"] for h in client.get("/api/search", params={"q": "renamed"}).json()["hits"])
    assert purger.purged[-1][:2] == [f"product:{product['id']}", f"category:{product['category_id']}"]


def test_the_admin_api_needs_its_token(admin: dict[str, Any]) -> None:
    client = admin["client"]
    product_id = client.get("/api/products").json()["items"][0]["id"]
    assert client.put(f"/api/admin/products/{product_id}", json={"title": "x"}).status_code == 401
    assert client.put(f"/api/admin/products/{product_id}", json={"title": "x"}, headers=auth("nope")).status_code == 401
    assert client.put("/api/admin/products/999999", json={"title": "x"}, headers=auth()).status_code == 404


def test_invalid_edits_are_rejected_and_change_nothing(admin: dict[str, Any]) -> None:
    client = admin["client"]
    product = client.get("/api/products").json()["items"][0]
    other = client.get("/api/products").json()["items"][1]
    url = f"/api/admin/products/{product['id']}"
    foreign = other["variants"][0]["id"]
    assert client.put(url, json={"stock": {str(foreign): 1}}, headers=auth()).status_code == 422
    assert client.put(url, json={"prices": {"usd": {"1": -5}}}, headers=auth()).status_code == 422
    assert client.put(url, json={"price": 1}, headers=auth()).status_code == 422  # unknown field
    assert client.get(f"/api/products/{product['handle']}").json()["title"] == product["title"]


def test_without_a_configured_token_there_is_no_admin_api(make_config: Callable[..., LoadedConfig]) -> None:
    with TestClient(build_origin_app(make_config(seed_products=3, name="noadmin"))) as client:
        assert client.put("/api/admin/products/1", json={"title": "x"}, headers=auth()).status_code == 404
