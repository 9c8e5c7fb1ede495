"""Cart: the signed cookie, adding and editing lines through forms, CSRF on every form, the badge fragment."""

from __future__ import annotations

import html
import re
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from starlette.testclient import TestClient

from origin.store import Store
from tests.storefront.conftest import (
    SAME_ORIGIN,
    SECRET_KEY,
    ClientFactory,
    add_to_cart,
    hidden,
    run,
    set_cart_cookie,
)

CART_IDS = URLSafeTimedSerializer(SECRET_KEY, salt="cart")


def cart_of(client: TestClient, store: Store) -> Any:
    return run(store.carts.get, CART_IDS.loads(client.cookies["es_cart"]))


def line_ids(body: str) -> list[str]:
    return re.findall(r'action="/cart/lines/([^"/]+)"', body)


def test_adding_needs_a_same_origin_request(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    variant = catalog_facts["plenty"].id
    form = {"variant_id": str(variant), "quantity": "1"}
    for headers in ({}, {"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        response = client.post("/cart/add", data=form, headers=headers)
        assert response.status_code == 403, headers
        assert "We blocked this request to protect your cart" in html.unescape(response.text)
        assert "set-cookie" not in response.headers
    for headers in (SAME_ORIGIN, {"Sec-Fetch-Site": "same-origin"}, {"Referer": "http://testserver/p/x"}):
        assert client.post("/cart/add", data=form, headers=headers).status_code == 303, headers


def test_add_sets_a_signed_cart_cookie_and_redirects_to_the_cart(
    client: TestClient, store: Store, catalog_facts: dict[str, Any]
) -> None:
    variant = catalog_facts["plenty"]
    response = add_to_cart(client, variant.id, 2)
    assert response.status_code == 303
    assert response.headers["location"] == "/cart"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("es_cart=")
    for attribute in ("HttpOnly", "Max-Age=2592000", "Path=/", "SameSite=lax"):
        assert attribute in cookie
    assert "Secure" not in cookie  # StorefrontSettings.secure_cookies is off for the http demo
    cart = cart_of(client, store)
    assert [(ln.variant_id, ln.quantity) for ln in cart.lines] == [(variant.id, 2)]
    # adding the same variant again adds to its line
    add_to_cart(client, variant.id, 1)
    assert [ln.quantity for ln in cart_of(client, store).lines] == [3]


def test_a_tampered_cookie_is_ignored(new_client: ClientFactory, store: Store, catalog_facts: dict[str, Any]) -> None:
    victim = new_client()
    add_to_cart(victim, catalog_facts["plenty"].id)
    real_id = CART_IDS.loads(victim.cookies["es_cart"])
    attacker = new_client()
    set_cart_cookie(attacker, real_id)  # the bare id, unsigned
    assert "Your cart is empty" in attacker.get("/cart").text
    # signed with another key: a well-formed cookie whose signature is wrong
    forged = URLSafeTimedSerializer(b"not-the-shop-key", salt="cart").dumps(real_id)
    set_cart_cookie(attacker, forged)
    assert "Your cart is empty" in attacker.get("/cart").text
    response = add_to_cart(attacker, catalog_facts["plenty"].id)
    assert response.status_code == 303
    assert CART_IDS.loads(attacker.cookies["es_cart"]) != real_id
    assert len(run(store.carts.get, real_id).lines) == 1


def test_cart_page_shows_lines_and_totals(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    product, variant = catalog_facts["plenty_product"], catalog_facts["plenty"]
    add_to_cart(client, variant.id, 2)
    response = client.get("/cart")
    assert response.status_code == 200
    body = html.unescape(response.text)
    assert f'<a href="/p/{product.handle}">{product.title}</a>' in body
    assert variant.title in body
    assert "Subtotal (2 items)" in body and "Total" in body and "Shipping" in body
    assert 'name="csrf_token"' in body
    (line,) = line_ids(body)
    assert f'action="/cart/lines/{line}/remove"' in body


def test_update_and_remove_a_line(client: TestClient, store: Store, catalog_facts: dict[str, Any]) -> None:
    add_to_cart(client, catalog_facts["plenty"].id)
    body = client.get("/cart").text
    line = line_ids(body)[0]
    token = hidden(body, "csrf_token")
    updated = client.post(f"/cart/lines/{line}", data={"quantity": "3", "csrf_token": token}, headers=SAME_ORIGIN)
    assert updated.status_code == 303 and updated.headers["location"] == "/cart"
    assert [ln.quantity for ln in cart_of(client, store).lines] == [3]
    removed = client.post(f"/cart/lines/{line}/remove", data={"csrf_token": token}, headers=SAME_ORIGIN)
    assert removed.status_code == 303
    assert cart_of(client, store).lines == ()
    assert "Your cart is empty" in client.get("/cart").text


def test_cart_forms_need_the_synchronizer_token(
    client: TestClient, new_client: ClientFactory, store: Store, catalog_facts: dict[str, Any]
) -> None:
    add_to_cart(client, catalog_facts["plenty"].id)
    body = client.get("/cart").text
    line = line_ids(body)[0]
    other = new_client()
    add_to_cart(other, catalog_facts["plenty"].id)
    foreign_token = hidden(other.get("/cart").text, "csrf_token")
    for data in (
        {"quantity": "5"},
        {"quantity": "5", "csrf_token": "nope"},
        {"quantity": "5", "csrf_token": foreign_token},
    ):
        response = client.post(f"/cart/lines/{line}", data=data, headers=SAME_ORIGIN)
        assert response.status_code == 403, data
        assert client.post(f"/cart/lines/{line}/remove", data=data, headers=SAME_ORIGIN).status_code == 403
    assert [ln.quantity for ln in cart_of(client, store).lines] == [1]
    # a valid token still needs a same-origin request
    token = hidden(body, "csrf_token")
    assert client.post(f"/cart/lines/{line}", data={"quantity": "2", "csrf_token": token}).status_code == 403


def test_out_of_range_quantity_update_is_explained_next_to_the_field(
    client: TestClient, catalog_facts: dict[str, Any]
) -> None:
    add_to_cart(client, catalog_facts["plenty"].id)
    body = client.get("/cart").text
    line, token = line_ids(body)[0], hidden(body, "csrf_token")
    for quantity in ("0", "100", "two"):
        response = client.post(
            f"/cart/lines/{line}", data={"quantity": quantity, "csrf_token": token}, headers=SAME_ORIGIN
        )
        assert response.status_code == 422
        assert response.headers["cache-control"] == "private, no-store"
        page = html.unescape(response.text)
        assert f'aria-invalid="true" aria-describedby="qty-{line}-error"' in page
        assert re.search(rf'<p class="field-error" id="qty-{line}-error">.*Enter a quantity from 1 to 99\.</p>', page)
        assert f'value="{quantity}"' in page


def test_out_of_range_quantity_on_the_product_page(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    product = catalog_facts["multi"]
    for quantity in (0, 100):
        response = add_to_cart(client, product.variants[0].id, quantity, handle=product.handle)
        assert response.status_code == 422
        assert response.headers["cache-control"] == "private, no-store"
        page = html.unescape(response.text)
        assert product.title in page
        assert 'aria-invalid="true" aria-describedby="quantity-error"' in page
        message = "Enter a quantity from 1 to 99."
        assert f'<p class="field-error" id="quantity-error"><span aria-hidden="true">!</span> {message}</p>' in page
    assert "es_cart" not in client.cookies


def test_more_than_in_stock_is_a_409_with_the_stock_next_to_the_field(
    client: TestClient, catalog_facts: dict[str, Any]
) -> None:
    product, variant = next((p, v) for p in catalog_facts["products"] for v in p.variants if 0 < v.available < 99)
    response = add_to_cart(client, variant.id, variant.available + 1, handle=product.handle)
    assert response.status_code == 409
    assert response.headers["cache-control"] == "private, no-store"
    page = html.unescape(response.text)
    assert 'aria-invalid="true" aria-describedby="quantity-error"' in page
    assert f"Only {variant.available} left in stock." in page
    assert f'value="{variant.available + 1}"' in page  # what the shopper typed stays in the field


def test_cart_badge_fragment(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    empty = client.get("/_fragments/cart-badge")
    assert empty.status_code == 200 and empty.text.strip() == ""
    assert empty.headers["cache-control"] == "private, no-store"
    add_to_cart(client, catalog_facts["plenty"].id, 3)
    badge = client.get("/_fragments/cart-badge")
    assert '<span class="cart-count">3<span class="visually-hidden"> items in your cart</span></span>' in badge.text
    assert badge.headers["cache-control"] == "private, no-store"
