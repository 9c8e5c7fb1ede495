"""Checkout through the HTML form: validation, the test-card widget, idempotent submits, declines, the order page."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from connectors.payments.builtin import TEST_CARDS
from edge.segments import segment_serializer
from origin.store import Store
from storefront import segment_key
from tests.storefront.conftest import SAME_ORIGIN, SECRET_KEY, add_to_cart, hidden, run, set_cart_cookie

ADDRESS = {
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "line2": "",
    "city": "Springfield",
    "postal_code": "12345",
    "region": "IL",
    "country": "US",
    "shipping_method": "standard",
}


@pytest.fixture
def shopper(client: TestClient, catalog_facts: dict[str, Any]) -> TestClient:
    assert add_to_cart(client, catalog_facts["plenty"].id, 1).status_code == 303
    return client


def checkout_form(client: TestClient, **changes: str) -> dict[str, str]:
    page = client.get("/checkout")
    assert page.status_code == 200
    return {
        **ADDRESS,
        "csrf_token": hidden(page.text, "csrf_token"),
        "idempotency_key": hidden(page.text, "idempotency_key"),
        "payment_token": "pm_card_visa",
        **changes,
    }


def cart_id_of(client: TestClient) -> str:
    from itsdangerous import URLSafeTimedSerializer

    return str(URLSafeTimedSerializer(SECRET_KEY, salt="cart").loads(client.cookies["es_cart"]))


def test_checkout_page_has_the_form_and_the_test_card_widget(
    shopper: TestClient, catalog_facts: dict[str, Any]
) -> None:
    response = shopper.get("/checkout")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    body = html.unescape(response.text)
    for name in ("email", "name", "line1", "line2", "city", "postal_code", "region"):
        assert f'<label for="f-{name}">' in body
        assert f'name="{name}"' in body
    assert (
        '<select id="f-country" name="country"' in body and '<option value="US" selected>United States</option>' in body
    )
    assert body.count('type="radio" name="shipping_method"') == 2
    # the card inputs are never submitted: no name attribute
    card_input = re.search(r'<input id="card-number"[^>]*>', body).group(0)  # type: ignore[union-attr]
    assert "name=" not in card_input
    for field in ("card-expiry", "card-cvc"):
        assert "name=" not in re.search(rf'<input id="{field}"[^>]*>', body).group(0)  # type: ignore[union-attr]
    assert '<input type="hidden" name="payment_token" value="" data-payment-token>' in body
    table = re.search(r'data-test-cards="([^"]*)"', response.text).group(1)  # type: ignore[union-attr]
    assert json.loads(html.unescape(table)) == TEST_CARDS
    noscript = re.search(r"<noscript>(.*?)</noscript>", body, re.S).group(1)  # type: ignore[union-attr]
    assert 'name="payment_token"' in noscript
    for label in ("Visa (succeeds)", "Declined card", "Insufficient funds"):
        assert label in noscript
    for number in ("4242 4242 4242 4242", "4000 0000 0000 0002", "4000 0000 0000 9995"):
        assert number in body
    assert catalog_facts["plenty_product"].title in body


def test_checkout_without_a_cart_goes_to_the_cart(client: TestClient) -> None:
    response = client.get("/checkout")
    assert response.status_code == 303 and response.headers["location"] == "/cart"


def test_successful_checkout_and_the_order_page(shopper: TestClient, store: Store) -> None:
    cookie = shopper.cookies["es_cart"]
    form = checkout_form(shopper)
    response = shopper.post("/checkout", data=form, headers=SAME_ORIGIN)
    assert response.status_code == 303
    assert response.headers["cache-control"] == "private, no-store"
    location = urlsplit(response.headers["location"])
    assert location.path.startswith("/orders/")
    order_id = location.path.removeprefix("/orders/")
    token = parse_qs(location.query)["token"][0]
    assert 'es_cart=""' in response.headers["set-cookie"] and "Max-Age=0" in response.headers["set-cookie"]
    assert "es_cart" not in shopper.cookies

    page = shopper.get(response.headers["location"])
    assert page.status_code == 200
    assert page.headers["cache-control"] == "private, no-store"
    body = html.unescape(page.text)
    assert "Thank you, Ada!" in body and order_id in body
    assert "12 Analytical Row" in body and "United States" in body and "ada@example.com" in body
    assert run(store.checkout.get_order, order_id, token).status == "captured"

    # the same form again (a double click, a retry): the same order, not a second one
    set_cart_cookie(shopper, cookie)
    again = shopper.post("/checkout", data=form, headers=SAME_ORIGIN)
    assert again.status_code == 303
    assert again.headers["location"] == response.headers["location"]

    # After an order the shopper is "returning" to the edge: a segment cookie it can verify, counted once.
    verifier = segment_serializer(segment_key(SECRET_KEY).encode())
    assert verifier.loads(shopper.cookies["es_seg"]) == {"s": "returning", "n": 1, "o": order_id}
    assert "HttpOnly" in response.headers["set-cookie"]


def test_the_order_page_needs_its_token(shopper: TestClient) -> None:
    location = shopper.post("/checkout", data=checkout_form(shopper), headers=SAME_ORIGIN).headers["location"]
    path = urlsplit(location).path
    missing = shopper.get(path)
    assert missing.status_code == 403
    assert missing.headers["cache-control"] == "private, no-store"
    wrong = shopper.get(path, params={"token": "0" * 64})
    assert wrong.status_code == 404
    assert wrong.headers["cache-control"] == "private, no-store"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("pm_card_chargeDeclined", "Your card was declined."),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient funds"),
    ],
)
def test_a_declined_card_shows_why_and_creates_no_order(
    shopper: TestClient, store: Store, token: str, message: str
) -> None:
    form = checkout_form(shopper, payment_token=token)
    response = shopper.post("/checkout", data=form, headers=SAME_ORIGIN)
    assert response.status_code == 402
    assert response.headers["cache-control"] == "private, no-store"
    body = html.unescape(response.text)
    assert re.search(rf'<p class="field-error" id="payment-error" role="alert">.*{message}', body)
    assert 'aria-describedby="card-error payment-error"' in body
    assert 'value="Springfield"' in body  # what the shopper typed is kept
    new_key = hidden(response.text, "idempotency_key")
    assert new_key != form["idempotency_key"]
    cart = run(store.carts.get, cart_id_of(shopper))
    assert (cart.status, cart.order_id) == ("open", None)
    # and with a working card and the new key, the same cart checks out
    retry = {**form, "idempotency_key": new_key, "payment_token": "pm_card_visa"}
    assert shopper.post("/checkout", data=retry, headers=SAME_ORIGIN).status_code == 303


def test_invalid_fields_are_shown_next_to_each_field(shopper: TestClient) -> None:
    form = checkout_form(shopper, email="not-an-email", name="", city="  ")
    response = shopper.post("/checkout", data=form, headers=SAME_ORIGIN)
    assert response.status_code == 422
    body = html.unescape(response.text)
    expected = {
        "email": "Enter a valid email address, like name@example.com.",
        "name": "Enter the recipient's full name.",
        "city": "Enter the town or city.",
    }
    for name, message in expected.items():
        assert f'aria-invalid="true" aria-describedby="f-{name}-error' in body
        assert f'<p class="field-error" id="f-{name}-error"><span aria-hidden="true">!</span> {message}</p>' in body
        assert f'<a href="#f-{name}">{message}</a>' in body  # the summary at the top links to the field
    assert 'value="not-an-email"' in body and 'value="12 Analytical Row"' in body


def test_a_card_number_is_never_accepted(shopper: TestClient) -> None:
    response = shopper.post(
        "/checkout", data=checkout_form(shopper, payment_token="4242 4242 4242 4242"), headers=SAME_ORIGIN
    )
    assert response.status_code == 422
    assert "card numbers are never sent to our servers" in html.unescape(response.text)
    assert "4242 4242 4242 4242</code>" in response.text  # only in the test-mode note, never echoed back


def test_checkout_needs_the_synchronizer_token_and_same_origin(shopper: TestClient) -> None:
    form = checkout_form(shopper)
    assert shopper.post("/checkout", data={**form, "csrf_token": ""}, headers=SAME_ORIGIN).status_code == 403
    assert shopper.post("/checkout", data={**form, "csrf_token": "f" * 64}, headers=SAME_ORIGIN).status_code == 403
    assert shopper.post("/checkout", data=form, headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    assert shopper.post("/checkout", data=form).status_code == 403


def test_euro_checkout_shows_euros_and_vat(new_client: Any, catalog_facts: dict[str, Any]) -> None:
    client = new_client(**{"X-Market": "eu"})
    add_to_cart(client, catalog_facts["plenty"].id)
    body = html.unescape(client.get("/checkout").text)
    assert "€" in body and "Includes VAT" in body
    assert '<option value="DE" selected>Deutschland</option>' in body
