"""One contract for every PaymentProvider: the built-in provider, and Stripe and Adyen through respx fakes.

The fakes (`fakes.py`) keep state and honour Idempotency-Key the way the pack says each vendor does, so the
same assertions hold for all three. Adyen modifications are asynchronous at Adyen; its fake applies them at
once, and the adapter reports them as requested.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import respx

from connectors.errors import PaymentDeclined, VendorUnavailable
from connectors.http import VendorClient, VendorHttpSettings
from connectors.money import Money
from connectors.payments.adyen import AdyenPayments
from connectors.payments.base import PaymentProvider, PaymentRequest
from connectors.payments.builtin import BuiltinPayments
from connectors.payments.stripe import StripePayments
from connectors.payments.stripe import build as build_stripe
from connectors.settings import StripeSettings
from tests.connectors.payments.fakes import ADYEN_BASE, ADYEN_MERCHANT, FakeAdyen, FakeStripe, adyen_token

pytestmark = pytest.mark.anyio


async def no_sleep(seconds: float) -> None:
    return None


@dataclass
class Harness:
    payments: PaymentProvider
    approve: str  # a token that authorizes
    decline: str  # a token the issuer refuses
    payment_count: Callable[[], int]  # payments in the provider's books
    captured_total: Callable[[], int]  # money captured across them, minor units
    refunded_total: Callable[[], int]  # money refunded across them, minor units
    sent_amounts: Callable[[], list[tuple[int, str]]]  # (amount, currency) of each create, as the provider got it
    finds: bool = True


def builtin_harness(path: Path) -> Harness:
    def rows(sql: str) -> list[tuple[int, str]]:
        with sqlite3.connect(path) as conn:
            return conn.execute(sql).fetchall()

    return Harness(
        BuiltinPayments(str(path)),
        approve="pm_card_visa",
        decline="pm_card_chargeDeclined",
        payment_count=lambda: len(rows("SELECT id, 0 FROM payments")),
        captured_total=lambda: sum(row[0] for row in rows("SELECT captured, '' FROM payments")),
        refunded_total=lambda: sum(row[0] for row in rows("SELECT refunded, '' FROM payments")),
        sent_amounts=lambda: rows("SELECT amount, currency FROM payments ORDER BY rowid"),
    )


@pytest.fixture(params=["builtin", "stripe", "adyen"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "builtin":
        yield builtin_harness(tmp_path / "payments.sqlite3")
        return
    payments: StripePayments | AdyenPayments
    with respx.mock(assert_all_called=False) as router:
        if request.param == "stripe":
            stripe = FakeStripe()
            stripe.install(router)
            payments = build_stripe(StripeSettings.model_validate(dict(secret_key="sk_test_contract")))
            made = Harness(
                payments,
                approve="pm_card_visa",
                decline="pm_card_chargeDeclined",
                payment_count=lambda: len(stripe.intents),
                captured_total=stripe.captured_total,
                refunded_total=lambda: sum(refund["amount"] for refund in stripe.refunds),
                sent_amounts=stripe.created_amounts,
            )
        else:
            adyen = FakeAdyen()
            adyen.install(router)
            client = VendorClient("adyen", ADYEN_BASE, VendorHttpSettings(), headers={"X-API-Key": "test-key"})
            payments = AdyenPayments(
                client, merchant_account=ADYEN_MERCHANT, return_url="https://shop.example.com/checkout/return"
            )
            made = Harness(
                payments,
                approve=adyen_token(),
                decline=adyen_token("REFUSED"),
                payment_count=lambda: len(adyen.payments),
                captured_total=adyen.captured_total,
                refunded_total=lambda: sum(payment["refunded"] for payment in adyen.payments.values()),
                sent_amounts=adyen.created_amounts,
                finds=False,
            )
        payments.client.sleep = no_sleep
        yield made
        await payments.aclose()


def pay(token: str, *, key: str = "order-10042", amount: int = 4999, currency: str = "EUR", capture: bool = True):
    return PaymentRequest(
        amount=Money(amount=amount, currency=currency),
        token=token,
        idempotency_key=key,
        reference="order-10042",
        capture=capture,
        email="ada@example.com",
        description="Order #10042",
    )


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


async def test_authorize_and_capture_in_one_call(harness: Harness) -> None:
    payment = await harness.payments.create_payment(pay(harness.approve))
    assert payment.status == "captured"
    assert payment.amount == payment.captured == eur(4999)
    assert payment.refunded == eur(0)
    assert payment.reference == "order-10042" and payment.id
    assert harness.captured_total() == 4999


async def test_authorize_then_capture(harness: Harness) -> None:
    authorized = await harness.payments.create_payment(pay(harness.approve, capture=False))
    assert authorized.status == "authorized" and authorized.captured == eur(0)
    assert harness.captured_total() == 0
    captured = await harness.payments.capture(authorized.id, idempotency_key="order-10042-capture")
    assert captured.status == "captured" and captured.captured == eur(4999) and captured.id == authorized.id
    assert harness.captured_total() == 4999


async def test_cancel_an_authorization(harness: Harness) -> None:
    authorized = await harness.payments.create_payment(pay(harness.approve, capture=False))
    cancelled = await harness.payments.cancel(authorized.id, idempotency_key="order-10042-cancel")
    assert cancelled.status == "cancelled" and cancelled.captured == eur(0) and cancelled.amount == eur(4999)
    assert harness.captured_total() == 0


async def test_partial_then_full_refund(harness: Harness) -> None:
    payment = await harness.payments.create_payment(pay(harness.approve))
    partial = await harness.payments.refund(payment.id, eur(1500), idempotency_key="order-10042-refund-1")
    assert partial.status == "captured" and partial.refunded == eur(1500) and partial.captured == eur(4999)
    assert harness.refunded_total() == 1500
    full = await harness.payments.refund(payment.id, idempotency_key="order-10042-refund-2")
    assert full.status == "refunded" and full.refunded == eur(4999)
    assert harness.refunded_total() == 4999 and harness.captured_total() == 4999


async def test_a_repeated_refund_key_refunds_once(harness: Harness) -> None:
    payment = await harness.payments.create_payment(pay(harness.approve))
    first = await harness.payments.refund(payment.id, eur(1500), idempotency_key="order-10042-refund-1")
    again = await harness.payments.refund(payment.id, eur(1500), idempotency_key="order-10042-refund-1")
    assert first.refunded == again.refunded == eur(1500) and again.status == "captured"
    assert harness.refunded_total() == 1500
    rest = await harness.payments.refund(payment.id, idempotency_key="order-10042-refund-2")
    assert rest.status == "refunded" and rest.refunded == eur(4999)
    retried = await harness.payments.refund(payment.id, idempotency_key="order-10042-refund-2")
    assert retried.status == "refunded" and retried.refunded == eur(4999)
    assert harness.refunded_total() == 4999


async def test_a_repeated_capture_key_captures_once(harness: Harness) -> None:
    authorized = await harness.payments.create_payment(pay(harness.approve, capture=False))
    first = await harness.payments.capture(authorized.id, eur(3000), idempotency_key="order-10042-capture")
    again = await harness.payments.capture(authorized.id, eur(3000), idempotency_key="order-10042-capture")
    assert first.status == again.status == "captured" and first.captured == again.captured == eur(3000)
    assert harness.captured_total() == 3000


async def test_a_decline_raises_and_captures_nothing(harness: Harness) -> None:
    with pytest.raises(PaymentDeclined) as declined:
        await harness.payments.create_payment(pay(harness.decline))
    assert declined.value.code and str(declined.value)
    assert declined.value.vendor == harness.payments.vendor
    assert harness.captured_total() == 0
    with pytest.raises(PaymentDeclined):  # the same key replays the decline
        await harness.payments.create_payment(pay(harness.decline))
    assert harness.captured_total() == 0


async def test_the_same_idempotency_key_makes_one_payment(harness: Harness) -> None:
    first = await harness.payments.create_payment(pay(harness.approve))
    second = await harness.payments.create_payment(pay(harness.approve))
    assert second.id == first.id and second.status == first.status
    assert harness.payment_count() == 1 and harness.captured_total() == 4999
    other = await harness.payments.create_payment(pay(harness.approve, key="order-10043"))
    assert other.id != first.id and harness.payment_count() == 2


@pytest.mark.parametrize(("amount", "currency"), [(4999, "EUR"), (5000, "JPY"), (1, "USD")])
async def test_amounts_are_integer_minor_units(harness: Harness, amount: int, currency: str) -> None:
    payment = await harness.payments.create_payment(pay(harness.approve, amount=amount, currency=currency))
    assert payment.amount == payment.captured == Money(amount=amount, currency=currency)
    assert type(payment.amount.amount) is int and type(payment.captured.amount) is int
    [(sent, sent_currency)] = harness.sent_amounts()
    assert type(sent) is int and sent == amount and sent_currency.upper() == currency


async def test_find_payment_gives_the_latest_payment_of_an_order_or_says_it_cannot(harness: Harness) -> None:
    if not harness.finds:
        # Adyen's Checkout API cannot look payments up by reference: the adapter says so rather than
        # answering "no payment", which would let checkout void an order that may have been paid.
        with pytest.raises(VendorUnavailable) as caught:
            await harness.payments.find_payment("order-10042")
        assert caught.value.retryable is False
        return
    assert await harness.payments.find_payment("order-10042") is None
    with pytest.raises(PaymentDeclined):
        await harness.payments.create_payment(pay(harness.decline, key="attempt-1"))
    failed = await harness.payments.find_payment("order-10042")
    assert failed is not None and failed.status == "failed"
    paid = await harness.payments.create_payment(pay(harness.approve, key="attempt-2"))
    found = await harness.payments.find_payment("order-10042")
    assert found == paid
