"""The JSON API through the real ASGI app (in process), with the embedded connectors."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from wrangler_py.apps import build_origin_app
from wrangler_py.config import LoadedConfig

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Analytical Way",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}


@pytest.fixture
def loaded(make_config: Callable[..., LoadedConfig]) -> LoadedConfig:
    return make_config(seed_products=40)


@pytest.fixture
def client(loaded: LoadedConfig) -> Iterator[TestClient]:
    with TestClient(build_origin_app(loaded)) as test_client:
        yield test_client


def db(loaded: LoadedConfig, name: str = "commerce.sqlite3") -> sqlite3.Connection:
    return sqlite3.connect(loaded.data_dir / name)


def in_stock_variant(client: TestClient, minimum: int = 5) -> dict[str, Any]:
    for product in client.get("/api/products", params={"per_page": 40}).json()["items"]:
        for variant in product["variants"]:
            if variant["available"] >= minimum:
                return {"product": product, "variant": variant}
    raise AssertionError("seeded catalog has no variant in stock")


def new_cart(client: TestClient, variant_id: int, quantity: int = 1, **body: Any) -> dict[str, Any]:
    cart_id = client.post("/api/carts", json=body or None).json()["id"]
    response = client.post(f"/api/carts/{cart_id}/lines", json={"variant_id": variant_id, "quantity": quantity})
    assert response.status_code == 201, response.text
    return response.json()


def checkout(client: TestClient, cart_id: str, key: str, token: str = "pm_card_visa", **extra: Any) -> Any:
    body = {
        "cart_id": cart_id,
        "email": "ada@example.com",
        "shipping_address": ADDRESS,
        "shipping_method": "standard",
        "payment": {"token": token},
        **extra,
    }
    return client.post("/api/checkout", json=body, headers={"Idempotency-Key": key})


def assert_all_money_is_integers(node: Any) -> None:
    if isinstance(node, dict):
        if set(node) == {"amount", "currency"}:
            assert isinstance(node["amount"], int) and len(node["currency"]) == 3
        for value in node.values():
            assert_all_money_is_integers(value)
    elif isinstance(node, list):
        for value in node:
            assert_all_money_is_integers(value)
    else:
        assert not isinstance(node, float), node


# -- catalog ---------------------------------------------------------------------------------------------------


def test_product_listing_is_cacheable_and_tagged(client: TestClient) -> None:
    response = client.get("/api/products", params={"per_page": 5, "sort": "price_asc"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 40 and len(body["items"]) == 5
    prices = [min(v["price"]["amount"] for v in p["variants"]) for p in body["items"]]
    assert prices == sorted(prices)
    cache_control = response.headers["cache-control"]
    assert "public" in cache_control and "s-maxage=" in cache_control and "stale-while-revalidate=" in cache_control
    keys = response.headers["surrogate-key"].split()
    assert "products" in keys and all(f"product:{p['id']}" in keys for p in body["items"])
    assert_all_money_is_integers(body)
    revalidated = client.get(
        "/api/products",
        params={"per_page": 5, "sort": "price_asc"},
        headers={"If-None-Match": response.headers["etag"]},
    )
    assert revalidated.status_code == 304 and revalidated.content == b""


def test_category_filter_includes_subcategories(client: TestClient) -> None:
    categories = client.get("/api/categories").json()["categories"]
    parent = next(c for c in categories if c["parent_id"] is None)
    children = {c["id"] for c in categories if c["parent_id"] == parent["id"]}
    listing = client.get("/api/products", params={"category": parent["slug"], "per_page": 100}).json()
    assert listing["total"] >= 1
    assert {p["category_id"] for p in listing["items"]} <= children | {parent["id"]}
    assert client.get("/api/products", params={"category": "no-such-category"}).status_code == 404


def test_product_has_variants_with_availability_and_market_prices(client: TestClient) -> None:
    handle = client.get("/api/products").json()["items"][0]["handle"]
    usd = client.get(f"/api/products/{handle}")
    eur = client.get(f"/api/products/{handle}", headers={"X-Market": "eu"})
    assert usd.status_code == eur.status_code == 200
    assert all("available" in v and isinstance(v["available"], int) for v in usd.json()["variants"])
    assert {v["price"]["currency"] for v in usd.json()["variants"]} == {"USD"}
    assert {v["price"]["currency"] for v in eur.json()["variants"]} == {"EUR"}
    assert usd.headers["vary"] == "X-Market"
    assert f"product:{usd.json()['id']}" in usd.headers["surrogate-key"]


def test_unknown_product_is_a_problem_document(client: TestClient) -> None:
    response = client.get("/api/products/does-not-exist")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 404 and problem["type"].endswith("/not-found") and problem["title"]


def test_bad_query_parameters_are_422(client: TestClient) -> None:
    for params in ({"page": "zero"}, {"per_page": "1000"}, {"sort": "cheapest"}, {"market": "mars"}):
        response = client.get("/api/products", params=params)
        assert response.status_code == 422, params
        assert response.json()["errors"]


def test_search_finds_by_prefix_and_returns_facets(client: TestClient) -> None:
    product = client.get("/api/products").json()["items"][0]
    word = product["title"].split()[-1]
    response = client.get("/api/search", params={"q": word[:4].lower()})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] >= 1 and any(h["handle"] == product["handle"] for h in _all_hits(client, word[:4].lower()))
    assert {"category", "brand", "price"} <= set(body["facets"])
    brand = body["hits"][0]["brand"]
    filtered = client.get("/api/search", params={"q": word[:4].lower(), "brand": brand}).json()
    assert filtered["total"] >= 1 and all(h["brand"] == brand for h in filtered["hits"])


def _all_hits(client: TestClient, q: str) -> list[dict[str, Any]]:
    return client.get("/api/search", params={"q": q, "per_page": 100}).json()["hits"]


def test_openapi_document_lists_every_endpoint(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    validate(document)  # raises on any deviation from the OpenAPI 3.1 schema
    assert document["openapi"].startswith("3.1")
    for path in (
        "/api/products",
        "/api/products/{handle}",
        "/api/categories",
        "/api/search",
        "/api/carts",
        "/api/carts/{cart_id}",
        "/api/carts/{cart_id}/lines",
        "/api/carts/{cart_id}/lines/{line_id}",
        "/api/checkout",
        "/api/orders/{order_id}",
    ):
        assert path in document["paths"], path
    schemas = document["components"]["schemas"]
    for name in ("Product", "CartOut", "CheckoutBody", "Problem"):
        assert name in schemas


# -- carts -----------------------------------------------------------------------------------------------------


def test_cart_lifecycle_with_server_totals(client: TestClient) -> None:
    pick = in_stock_variant(client)
    variant = pick["variant"]
    created = client.post("/api/carts")
    assert created.status_code == 201 and created.headers["cache-control"] == "private, no-store"
    cart_id = created.json()["id"]
    assert len(cart_id) >= 32 and cart_id != client.post("/api/carts").json()["id"]

    added = client.post(
        f"/api/carts/{cart_id}/lines",
        json={"variant_id": variant["id"], "quantity": 2, "price": {"amount": 1, "currency": "USD"}},
    )
    assert added.status_code == 201
    cart = added.json()
    assert cart["lines"][0]["unit_price"] == variant["price"]  # the client's price was ignored
    assert cart["subtotal"]["amount"] == 2 * variant["price"]["amount"]
    assert cart["total"]["amount"] == cart["subtotal"]["amount"] + cart["shipping"]["amount"] + cart["tax"]["amount"]
    assert_all_money_is_integers(cart)

    again = client.post(f"/api/carts/{cart_id}/lines", json={"variant_id": variant["id"], "quantity": 1}).json()
    assert len(again["lines"]) == 1 and again["lines"][0]["quantity"] == 3
    line_id = again["lines"][0]["id"]
    patched = client.patch(f"/api/carts/{cart_id}/lines/{line_id}", json={"quantity": 1})
    assert patched.status_code == 200 and patched.json()["item_count"] == 1
    removed = client.delete(f"/api/carts/{cart_id}/lines/{line_id}")
    assert removed.status_code == 200 and removed.json()["lines"] == []
    assert client.get(f"/api/carts/{cart_id}").headers["cache-control"] == "private, no-store"


@pytest.mark.parametrize("quantity", [0, -1, 100, 1000])
def test_quantity_outside_1_to_99_is_rejected(client: TestClient, quantity: int) -> None:
    cart_id = client.post("/api/carts").json()["id"]
    variant_id = in_stock_variant(client)["variant"]["id"]
    response = client.post(f"/api/carts/{cart_id}/lines", json={"variant_id": variant_id, "quantity": quantity})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "quantity"


def test_unknown_variant_and_unknown_cart(client: TestClient) -> None:
    cart_id = client.post("/api/carts").json()["id"]
    unknown_variant = client.post(f"/api/carts/{cart_id}/lines", json={"variant_id": 999_999, "quantity": 1})
    assert unknown_variant.status_code == 404 and unknown_variant.json()["type"].endswith("/not-found")
    assert client.get("/api/carts/cart_guessed").status_code == 404
    not_json = client.post(
        f"/api/carts/{cart_id}/lines", content=b"variant_id=1", headers={"content-type": "text/plain"}
    )
    assert not_json.status_code == 415
    broken = client.post(f"/api/carts/{cart_id}/lines", content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 422


def test_cannot_add_more_than_available(client: TestClient, loaded: LoadedConfig) -> None:
    variant_id = in_stock_variant(client)["variant"]["id"]
    with db(loaded) as conn:
        conn.execute("UPDATE inventory SET on_hand = 2 WHERE variant_id = ?", (variant_id,))
    cart_id = client.post("/api/carts").json()["id"]
    response = client.post(f"/api/carts/{cart_id}/lines", json={"variant_id": variant_id, "quantity": 3})
    assert response.status_code == 409 and response.json()["available"] == 2


# -- checkout --------------------------------------------------------------------------------------------------


def payments_count(loaded: LoadedConfig) -> int:
    with db(loaded, "payments.sqlite3") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM payments WHERE status != 'failed'").fetchone()[0])


def test_checkout_creates_a_paid_order_readable_with_its_token(client: TestClient, loaded: LoadedConfig) -> None:
    pick = in_stock_variant(client)
    cart = new_cart(client, pick["variant"]["id"], 2)
    response = checkout(client, cart["id"], "key-checkout-0001", total={"amount": 1, "currency": "USD"})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "private, no-store"
    result = response.json()
    assert result["status"] == "captured" and result["order_token"]

    order_url = f"/api/orders/{result['order_id']}"
    assert client.get(order_url).status_code == 403
    assert client.get(order_url, params={"token": "wrong"}).status_code == 404
    order = client.get(order_url, headers={"X-Order-Token": result["order_token"]}).json()
    assert order["total"] == cart["total"]  # the client-sent total was ignored
    assert order["lines"][0]["quantity"] == 2 and order["email"] == "ada@example.com"
    assert "token_hash" not in order

    with db(loaded) as conn:
        on_hand, reserved = conn.execute(
            "SELECT on_hand, reserved FROM inventory WHERE variant_id = ?", (pick["variant"]["id"],)
        ).fetchone()
    assert on_hand == pick["variant"]["available"] - 2 and reserved == 0
    assert client.get(f"/api/carts/{cart['id']}").json()["status"] == "completed"


def test_retrying_a_checkout_returns_the_same_order_and_charges_once(client: TestClient, loaded: LoadedConfig) -> None:
    cart = new_cart(client, in_stock_variant(client)["variant"]["id"])
    first = checkout(client, cart["id"], "retry-key-0001")
    second = checkout(client, cart["id"], "retry-key-0001")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert payments_count(loaded) == 1
    other_key = checkout(client, cart["id"], "retry-key-0002")
    assert other_key.status_code == 409
    assert payments_count(loaded) == 1


def test_idempotency_key_is_required_and_bound_to_its_request(client: TestClient) -> None:
    cart = new_cart(client, in_stock_variant(client)["variant"]["id"])
    body = {
        "cart_id": cart["id"],
        "email": "a@example.com",
        "shipping_address": ADDRESS,
        "shipping_method": "standard",
        "payment": {"token": "pm_card_visa"},
    }
    missing = client.post("/api/checkout", json=body)
    assert missing.status_code == 422 and "Idempotency-Key" in missing.json()["detail"]


def test_declined_card_leaves_no_order_and_no_reservation(client: TestClient, loaded: LoadedConfig) -> None:
    variant_id = in_stock_variant(client)["variant"]["id"]
    cart = new_cart(client, variant_id, 2)
    for token, code in (
        ("pm_card_chargeDeclined", "card_declined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ):
        response = checkout(client, cart["id"], f"declined-{code}", token=token)
        assert response.status_code == 402
        assert response.json()["code"] == code and response.json()["type"].endswith("/payment-declined")
    with db(loaded) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0
        assert conn.execute("SELECT COALESCE(SUM(reserved), 0) FROM inventory").fetchone()[0] == 0
    # the cart is the shopper's again and a good card now works
    assert client.get(f"/api/carts/{cart['id']}").json()["status"] == "open"
    assert checkout(client, cart["id"], "declined-then-ok").status_code == 201


@pytest.mark.parametrize(
    "pan",
    ["4242 4242 4242 4242", "4242.4242.4242.4242", "4242-4242-4242-4242", "tok_4000000000000002", "378282246310005"],
)
def test_a_card_number_is_never_accepted(client: TestClient, loaded: LoadedConfig, pan: str) -> None:
    cart = new_cart(client, in_stock_variant(client)["variant"]["id"])
    response = checkout(client, cart["id"], "pan-key-00001", token=pan)
    assert response.status_code == 422
    assert pan not in response.text and "4242" not in response.text
    with db(loaded) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0


def test_an_unknown_token_is_rejected_without_echoing_it(client: TestClient) -> None:
    cart = new_cart(client, in_stock_variant(client)["variant"]["id"])
    response = checkout(client, cart["id"], "bad-token-0001", token="tok_secret_looking_value")
    assert response.status_code == 422 and "tok_secret_looking_value" not in response.text
    assert client.get(f"/api/carts/{cart['id']}").json()["status"] == "open"


def test_checkout_validates_fields(client: TestClient) -> None:
    cart = new_cart(client, in_stock_variant(client)["variant"]["id"])
    body = {
        "cart_id": cart["id"],
        "email": "not-an-email",
        "shipping_address": {**ADDRESS, "country": "Britain"},
        "shipping_method": "teleport",
        "payment": {"token": "pm_card_visa"},
    }
    response = client.post("/api/checkout", json=body, headers={"Idempotency-Key": "fields-key-01"})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"email", "shipping_address.country"} <= fields
    teleport = checkout(client, cart["id"], "fields-key-02", shipping_method="teleport")
    assert teleport.status_code == 422 and teleport.json()["errors"][0]["field"] == "shipping_method"


def test_checkout_of_an_empty_cart_is_rejected(client: TestClient) -> None:
    cart_id = client.post("/api/carts").json()["id"]
    assert checkout(client, cart_id, "empty-cart-01").status_code == 422


def test_unknown_api_path_is_a_problem(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


def test_a_market_with_an_unknown_price_list_is_a_clear_server_problem(
    make_config: Callable[..., LoadedConfig],
) -> None:
    loaded = make_config(
        seed_products=5,
        name="misconfigured",
        extra='[[markets]]\nid = "jp"\nname = "Japan"\ncurrency = "JPY"\nprice_list = "jpy"\n'
        '[[markets]]\nid = "us"\nname = "US"\ncurrency = "USD"\nprice_list = "usd"\n',
    )
    with TestClient(build_origin_app(loaded)) as client:
        response = client.get("/api/products", params={"market": "jp"})
        assert response.status_code == 500
        assert response.json()["type"].endswith("/misconfigured") and "jpy" not in response.text
        assert client.get("/api/products", params={"market": "us"}).status_code == 200


def test_bodies_and_methods_outside_the_contract_are_problems(client: TestClient) -> None:
    cart_id = client.post("/api/carts").json()["id"]
    huge = b'{"variant_id": 1, "quantity": 1, "pad": "' + b"x" * 100_000 + b'"}'
    too_big = client.post(f"/api/carts/{cart_id}/lines", content=huge, headers={"content-type": "application/json"})
    assert too_big.status_code == 413 and too_big.headers["content-type"] == "application/problem+json"
    wrong_method = client.put(f"/api/carts/{cart_id}")
    assert wrong_method.status_code == 405 and wrong_method.headers["content-type"] == "application/problem+json"
    assert "GET" in wrong_method.headers["allow"]
    overflow = client.post(f"/api/carts/{cart_id}/lines", json={"variant_id": 10**30, "quantity": 1})
    assert overflow.status_code == 422
    for params in ({"price_min": "9" * 40}, {"category": "9" * 40}, {f"Opt{i}": "x" for i in range(40)}):
        assert client.get("/api/search", params=params).status_code == 422, params
