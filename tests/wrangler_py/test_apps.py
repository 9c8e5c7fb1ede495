"""Assembly of the origin app: first start seeds the demo store and rebuilds a missing search index."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from wrangler_py.apps import build_origin_app, build_store_from_config
from wrangler_py.config import LoadedConfig


def test_first_start_seeds_catalog_and_index(make_config: Callable[..., LoadedConfig]) -> None:
    loaded = make_config(seed_products=25)
    with TestClient(build_origin_app(loaded)) as client:
        assert client.get("/api/products").json()["total"] == 25
        assert client.get("/api/search").json()["total"] == 25
        assert client.get("/readyz").json() == {"status": "ready"}


def test_a_catalog_without_an_index_is_indexed_on_start(make_config: Callable[..., LoadedConfig]) -> None:
    loaded = make_config(seed_products=0)
    store = build_store_from_config(loaded)
    store.connectors.commerce.seed(products=12, seed=5)  # type: ignore[attr-defined]
    with TestClient(build_origin_app(loaded, store=store)) as client:
        assert client.get("/api/search").json()["total"] == 12


def test_an_empty_store_stays_empty_when_seeding_is_off(make_config: Callable[..., LoadedConfig]) -> None:
    with TestClient(build_origin_app(make_config(seed_products=0))) as client:
        assert client.get("/api/products").json()["total"] == 0
        assert client.get("/").status_code == 200
