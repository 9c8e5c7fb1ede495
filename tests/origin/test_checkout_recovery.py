"""Checkout attempts whose payment outcome was lost: resumed, settled or voided, never charged twice."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient

from connectors.errors import VendorTimeout, VendorUnavailable
from connectors.money import Money
from connectors.payments.base import Payment, PaymentProvider, PaymentRequest
from connectors.registry import Connectors
from origin.checkout import CHECKOUT_LEASE_SECONDS
from origin.store import Store, build_store
from wrangler_py.apps import build_origin_app, build_store_from_config
from wrangler_py.config import LoadedConfig

ADDRESS = {"name": "Ada", "line1": "1 Way", "city": "London", "postal_code": "N1", "country": "GB"}


class LosesResponses:
    """Charges for real, then (while `lose` is set) fails as if the answer never came back."""

    def __init__(self, inner: PaymentProvider) -> None:
        self.inner = inner
        self.vendor = inner.vendor
        self.lose = False
        self.needs_shopper = False
        self.cancelled: list[str] = []

    async def create_payment(self, request: PaymentRequest) -> Payment:
        payment = await self.inner.create_payment(request)
        if self.lose:
            raise VendorTimeout("read timeout", vendor=self.vendor)
        if self.needs_shopper:  # as Stripe's requires_action or Adyen's RedirectShopper come back
            return payment.model_copy(update={"status": "failed", "decline_code": "requires_action", "message": ""})
        return payment

    async def find_payment(self, reference: str) -> Payment | None:
        return await self.inner.find_payment(reference)

    async def capture(self, payment_id: str, amount: Money | None = None, *, idempotency_key: str) -> Payment:
        return await self.inner.capture(payment_id, amount, idempotency_key=idempotency_key)

    async def cancel(self, payment_id: str, *, idempotency_key: str) -> Payment:
        self.cancelled.append(payment_id)
        return await self.inner.cancel(payment_id, idempotency_key=idempotency_key)

    async def refund(self, payment_id: str, amount: Money | None = None, *, idempotency_key: str) -> Payment:
        return await self.inner.refund(payment_id, amount, idempotency_key=idempotency_key)


@pytest.fixture
def setup(make_config: Callable[..., LoadedConfig]) -> Iterator[dict[str, Any]]:
    loaded = make_config(seed_products=20)
    base = build_store_from_config(loaded)
    payments = LosesResponses(base.connectors.payments)
    connectors = Connectors(
        commerce=base.connectors.commerce, search=base.connectors.search, cms=base.connectors.cms, payments=payments
    )
    store = build_store(base.settings, base.markets, connectors, base.carts._store, base.secret_key)
    with TestClient(build_origin_app(loaded, store=store)) as client:
        yield {"client": client, "payments": payments, "store": store, "data": loaded.data_dir}


def sql(data: Path, query: str, *params: Any, db: str = "commerce.sqlite3") -> list[tuple[Any, ...]]:
    with sqlite3.connect(data / db) as conn:
        return conn.execute(query, params).fetchall()


def stocked_cart(client: TestClient, data: Path, units: int) -> tuple[str, int]:
    product = client.get("/api/products").json()["items"][0]
    variant_id = product["variants"][0]["id"]
    sql(data, "UPDATE inventory SET on_hand = ?, reserved = 0 WHERE variant_id = ?", units, variant_id)
    cart_id = client.post("/api/carts").json()["id"]
    client.post(f"/api/carts/{cart_id}/lines", json={"variant_id": variant_id, "quantity": 1})
    return cart_id, variant_id


def checkout(client: TestClient, cart_id: str, key: str, name: str = "Ada") -> Any:
    body = {
        "cart_id": cart_id,
        "email": "ada@example.com",
        "shipping_address": {**ADDRESS, "name": name},
        "shipping_method": "standard",
        "payment": {"token": "pm_card_visa"},
    }
    return client.post("/api/checkout", json=body, headers={"Idempotency-Key": key})


def payments(data: Path) -> list[tuple[Any, ...]]:
    return sql(data, "SELECT status, captured, refunded FROM payments", db="payments.sqlite3")


def lapse_reservations(data: Path) -> None:
    sql(data, "UPDATE orders SET reserved_until = 0 WHERE status = 'pending_payment'")


def age_claim(store: Store, cart_id: str) -> None:
    async def age() -> None:
        cart = await store.carts.get(cart_id)
        stored = await store.carts.save(
            replace(cart, checkout_started_at=cart.checkout_started_at - CHECKOUT_LEASE_SECONDS)
        )
        assert stored is not None

    anyio.run(age)


def test_a_retry_after_a_lost_answer_resumes_the_same_payment(setup: dict[str, Any]) -> None:
    client, data = setup["client"], setup["data"]
    cart_id, variant_id = stocked_cart(client, data, 3)
    setup["payments"].lose = True
    assert checkout(client, cart_id, "lost-answer-1").status_code == 503
    setup["payments"].lose = False
    lapse_reservations(data)  # the hold ran out meanwhile; the stock is still free
    retried = checkout(client, cart_id, "lost-answer-1")
    assert retried.status_code == 201 and retried.json()["status"] == "captured"
    [(status, captured, refunded)] = payments(data)  # one payment: the retry replayed it
    assert status == "captured" and captured > 0 and refunded == 0
    assert sql(data, "SELECT on_hand, reserved FROM inventory WHERE variant_id = ?", variant_id) == [(2, 0)]


def test_a_lapsed_attempt_whose_stock_was_sold_is_refunded_not_returned_as_success(setup: dict[str, Any]) -> None:
    client, data = setup["client"], setup["data"]
    cart_id, variant_id = stocked_cart(client, data, 1)
    other_cart = client.post("/api/carts").json()["id"]
    client.post(f"/api/carts/{other_cart}/lines", json={"variant_id": variant_id, "quantity": 1})
    setup["payments"].lose = True
    assert checkout(client, cart_id, "lost-answer-2").status_code == 503
    setup["payments"].lose = False
    lapse_reservations(data)
    assert checkout(client, other_cart, "other-shopper-1").status_code == 201  # takes the last unit

    retried = checkout(client, cart_id, "lost-answer-2")
    assert retried.status_code == 409 and retried.json()["type"].endswith("/out-of-stock")
    statuses = sorted(payments(data))
    assert statuses[0][0] == "captured" and statuses[1][0] == "refunded"  # ours was given back
    assert client.get(f"/api/carts/{cart_id}").json()["status"] == "open"
    assert sql(data, "SELECT COUNT(*) FROM orders WHERE status = 'captured'") == [(1,)]


def test_a_new_attempt_after_a_lost_answer_finds_the_paid_order(setup: dict[str, Any]) -> None:
    client, data, store = setup["client"], setup["data"], setup["store"]
    cart_id, _ = stocked_cart(client, data, 3)
    setup["payments"].lose = True
    assert checkout(client, cart_id, "first-form-key").status_code == 503
    setup["payments"].lose = False
    busy = checkout(client, cart_id, "second-form-key")
    assert busy.status_code == 409  # the first attempt still holds the cart
    age_claim(store, cart_id)
    settled = checkout(client, cart_id, "second-form-key")
    assert settled.status_code == 409 and settled.json()["type"].endswith("/already-ordered")
    order = client.get(f"/api/orders/{settled.json()['order_id']}", params={"token": settled.json()["order_token"]})
    assert order.status_code == 200 and order.json()["status"] == "captured"
    assert len(payments(data)) == 1
    assert client.get(f"/api/carts/{cart_id}").json()["status"] == "completed"


def test_an_abandoned_unpaid_attempt_is_voided_and_the_new_one_goes_through(setup: dict[str, Any]) -> None:
    client, data, store = setup["client"], setup["data"], setup["store"]
    cart_id, variant_id = stocked_cart(client, data, 3)

    async def place_without_paying() -> None:
        # An attempt that placed and attached its order, then crashed before charging.
        service = store.checkout
        body = service_body(cart_id)
        cart = await service._claim(cart_id, "crashed-key-1")
        order = await service._place(cart, body, "crashed-key-1", "token")
        await service._attach(cart_id, "crashed-key-1", order.id)

    anyio.run(place_without_paying)
    assert sql(data, "SELECT reserved FROM inventory WHERE variant_id = ?", variant_id) == [(1,)]
    age_claim(store, cart_id)
    response = checkout(client, cart_id, "fresh-key-001")
    assert response.status_code == 201
    assert sql(data, "SELECT COUNT(*) FROM orders") == [(1,)] and len(payments(data)) == 1
    assert sql(data, "SELECT on_hand, reserved FROM inventory WHERE variant_id = ?", variant_id) == [(2, 0)]


def service_body(cart_id: str) -> Any:
    from origin.checkout import CheckoutBody

    return CheckoutBody.model_validate(
        {
            "cart_id": cart_id,
            "email": "ada@example.com",
            "shipping_address": ADDRESS,
            "shipping_method": "standard",
            "payment": {"token": "pm_card_visa"},
        }
    )


def test_the_same_key_with_an_edited_body_keeps_the_claim(setup: dict[str, Any]) -> None:
    client, data = setup["client"], setup["data"]
    cart_id, _ = stocked_cart(client, data, 3)
    setup["payments"].lose = True
    assert checkout(client, cart_id, "edited-key-1").status_code == 503
    setup["payments"].lose = False
    edited = checkout(client, cart_id, "edited-key-1", name="Ada L.")
    assert edited.status_code == 422
    assert client.get(f"/api/carts/{cart_id}").json()["status"] == "checking_out"
    assert checkout(client, cart_id, "another-key-1").status_code == 409  # no second order, no second charge
    assert checkout(client, cart_id, "edited-key-1").status_code == 201
    assert len(payments(data)) == 1


def test_a_payment_that_needs_the_shopper_is_not_taken_for_paid(setup: dict[str, Any]) -> None:
    client, data = setup["client"], setup["data"]
    cart_id, variant_id = stocked_cart(client, data, 3)
    setup["payments"].needs_shopper = True
    answer = checkout(client, cart_id, "needs-shopper-1")
    assert answer.status_code == 402 and answer.json()["code"] == "requires_action"
    assert sql(data, "SELECT on_hand, reserved FROM inventory WHERE variant_id = ?", variant_id) == [(3, 0)]
    assert sql(data, "SELECT COUNT(*) FROM orders") == [(0,)]  # nothing sold, nothing kept
    assert len(setup["payments"].cancelled) == 1  # the attempt was released at the vendor too


def test_a_payment_that_failed_by_webhook_frees_the_cart_instead_of_ordering_it(setup: dict[str, Any]) -> None:
    client, data, store = setup["client"], setup["data"], setup["store"]
    cart_id, _ = stocked_cart(client, data, 3)
    setup["payments"].lose = True
    assert checkout(client, cart_id, "failed-by-webhook-1").status_code == 503  # the answer was lost
    setup["payments"].lose = False
    [(order_id,)] = sql(data, "SELECT id FROM orders")
    # Meanwhile the vendor's webhook says the payment failed (as origin/webhooks.py would apply it).
    anyio.run(lambda: store.connectors.commerce.update_order_status(
        order_id, "failed", expected={"pending_payment"}, payment_reference="pi_x"))  # fmt: skip
    retried = checkout(client, cart_id, "failed-by-webhook-1")
    assert retried.status_code == 402  # not a 201 with a failed order
    assert client.get(f"/api/carts/{cart_id}").json()["status"] == "open"  # the shopper can pay again
    paid = checkout(client, cart_id, "failed-by-webhook-2")
    assert paid.status_code == 201 and paid.json()["status"] == "captured"


def test_a_vendor_that_cannot_look_payments_up_waits_for_the_reservation_then_frees_the_cart(
    setup: dict[str, Any],
) -> None:
    client, data, store = setup["client"], setup["data"], setup["store"]
    cart_id, _ = stocked_cart(client, data, 3)

    async def cannot_find(reference: str) -> None:
        error = VendorUnavailable("adyen: no lookup by merchant reference", vendor="adyen")
        error.retryable = False
        raise error

    setup["payments"].find_payment = cannot_find  # as Adyen's Checkout API: only its webhook can tell
    setup["payments"].lose = True
    assert checkout(client, cart_id, "lookup-less-1").status_code == 503
    setup["payments"].lose = False
    age_claim(store, cart_id)
    waiting = checkout(client, cart_id, "lookup-less-2")
    assert waiting.status_code == 409 and "still being confirmed" in waiting.json()["detail"]
    sql(data, "UPDATE orders SET status = 'cancelled', reserved_until = NULL")  # the reservation lapsed
    freed = checkout(client, cart_id, "lookup-less-2")
    assert freed.status_code == 201 and freed.json()["status"] == "captured"
