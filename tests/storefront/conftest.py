"""One seeded store for the whole storefront suite, and factories for test clients (one client = one shopper)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from connectors.registry import build_connectors
from connectors.settings import ConnectorsSettings
from origin.carts import SqliteCartStore
from origin.indexing import reindex
from origin.markets import MarketResolver
from origin.settings import OriginSettings, default_markets
from origin.store import Store, build_store
from storefront import StorefrontSettings, storefront_exception_handlers, storefront_routes

PROJECT_DIR = Path(__file__).resolve().parents[2]
SECRET_KEY = b"storefront-tests-secret-key-0123456789"
SAME_ORIGIN = {"Origin": "http://testserver"}
ClientFactory = Callable[..., TestClient]


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    data_dir = tmp_path_factory.mktemp("storefront-data")
    settings = OriginSettings()
    connectors = build_connectors(ConnectorsSettings(), data_dir=data_dir, project_dir=PROJECT_DIR)
    connectors.commerce.seed(products=60, seed=7)  # type: ignore[attr-defined]
    anyio.run(reindex, connectors.commerce, connectors.search)
    carts = SqliteCartStore(str(data_dir / "carts.sqlite3"), ttl_seconds=settings.cart_ttl_days * 86_400)
    return build_store(
        settings=settings,
        markets=MarketResolver(default_markets(), "us"),
        connectors=connectors,
        cart_store=carts,
        secret_key=SECRET_KEY,
    )


@pytest.fixture(scope="session")
def app(store: Store) -> Starlette:
    settings = StorefrontSettings()
    return Starlette(
        routes=storefront_routes(store, settings),
        exception_handlers=storefront_exception_handlers(store, settings),
    )


@pytest.fixture
def client_for() -> Iterator[Callable[..., TestClient]]:
    """`client_for(app, **headers)`: a started TestClient of any app (lifespan run), closed after the test."""
    clients: list[TestClient] = []

    def make(app: Starlette, **headers: str) -> TestClient:
        client = TestClient(app, follow_redirects=False, headers=headers)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def new_client(app: Starlette, client_for: Callable[..., TestClient]) -> ClientFactory:
    """A fresh browser per call: its own cookie jar, so each client is a different shopper."""
    return partial(client_for, app)


@pytest.fixture
def client(new_client: ClientFactory) -> TestClient:
    return new_client()


def hidden(html: str, name: str) -> str:
    """The value of a hidden input in a rendered form."""
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden {name} field"
    return match.group(1)


def run(fn: Callable[..., Any], *args: Any) -> Any:
    """Call an async store method from a sync test."""
    return anyio.run(fn, *args)


@pytest.fixture(scope="session")
def catalog_facts(store: Store) -> dict[str, Any]:
    """Real records to point the tests at: a category with children, products with and without a sale."""
    us = store.markets.resolve("us")
    tree = run(store.catalog.tree)
    parent = next(node for node in tree.roots if node.children)
    page = run(partial(store.catalog.products, us, category_id=None, page=1, per_page=100, sort="featured"))
    multi = next(p for p in page.items if len(p.variants) > 1 and p.available > 0)
    on_sale = next(
        p
        for p in page.items
        if any(v.compare_at_price and v.compare_at_price.amount > v.price.amount for v in p.variants)
    )
    # Tests buy things: they add the variant with the most stock, so the suite never runs it out.
    plenty_product, plenty = max(((p, v) for p in page.items for v in p.variants), key=lambda pair: pair[1].available)
    return {
        "tree": tree,
        "parent": parent,
        "products": page.items,
        "multi": multi,
        "on_sale": on_sale,
        "plenty": plenty,
        "plenty_product": plenty_product,
    }


def add_to_cart(client: TestClient, variant_id: int, quantity: int = 1, handle: str = "") -> Any:
    return client.post(
        "/cart/add",
        data={"handle": handle, "variant_id": str(variant_id), "quantity": str(quantity)},
        headers=SAME_ORIGIN,
    )


def set_cart_cookie(client: TestClient, value: str) -> None:
    """Put a cookie in the jar the way the server's Set-Cookie would (httpx files "testserver" as .local)."""
    client.cookies.clear()
    client.cookies.set("es_cart", value, domain="testserver.local", path="/")
