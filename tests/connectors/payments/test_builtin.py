"""The built-in test payment provider: tokens, idempotency, and the capture/cancel/refund state machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import IdempotencyConflict, PaymentDeclined, VendorRejected
from connectors.money import Money
from connectors.payments.base import PaymentRequest
from connectors.payments.builtin import TEST_CARDS, TEST_TOKENS, BuiltinPayments

pytestmark = pytest.mark.anyio


@pytest.fixture
def payments(tmp_path: Path) -> BuiltinPayments:
    return BuiltinPayments(str(tmp_path / "payments.sqlite3"))


def request(token: str = "pm_card_visa", key: str = "k1", amount: int = 1999, capture: bool = True) -> PaymentRequest:
    return PaymentRequest(
        amount=Money(amount=amount, currency="USD"),
        token=token,
        idempotency_key=key,
        reference="ES-1",
        capture=capture,
    )


async def test_visa_captures(payments: BuiltinPayments) -> None:
    payment = await payments.create_payment(request())
    assert payment.status == "captured" and payment.captured.amount == 1999


@pytest.mark.parametrize(
    ("token", "code"),
    [("pm_card_chargeDeclined", "card_declined"), ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")],
)
async def test_decline_tokens(payments: BuiltinPayments, token: str, code: str) -> None:
    with pytest.raises(PaymentDeclined) as caught:
        await payments.create_payment(request(token))
    assert caught.value.code == code


async def test_same_key_returns_the_same_payment_and_conflicts_on_other_params(payments: BuiltinPayments) -> None:
    first = await payments.create_payment(request())
    assert await payments.create_payment(request()) == first
    with pytest.raises(IdempotencyConflict):
        await payments.create_payment(request(amount=2999))


async def test_authorize_capture_refund_cycle(payments: BuiltinPayments) -> None:
    auth = await payments.create_payment(request(capture=False))
    assert auth.status == "authorized" and auth.captured.amount == 0
    captured = await payments.capture(auth.id, idempotency_key="cap-1")
    assert captured.status == "captured"
    partial = await payments.refund(auth.id, Money(amount=999, currency="USD"), idempotency_key="ref-1")
    assert partial.status == "captured" and partial.refunded.amount == 999
    assert await payments.refund(auth.id, Money(amount=999, currency="USD"), idempotency_key="ref-1") == partial
    full = await payments.refund(auth.id, idempotency_key="ref-2")
    assert full.status == "refunded" and full.refunded.amount == 1999
    with pytest.raises(VendorRejected):
        await payments.refund(auth.id, Money(amount=1, currency="USD"), idempotency_key="ref-3")


async def test_cancel_only_an_authorization(payments: BuiltinPayments) -> None:
    auth = await payments.create_payment(request(capture=False, key="k2"))
    assert (await payments.cancel(auth.id, idempotency_key="c1")).status == "cancelled"
    with pytest.raises(VendorRejected):
        await payments.capture(auth.id, idempotency_key="cap-after-cancel")


async def test_unknown_token_is_rejected(payments: BuiltinPayments) -> None:
    with pytest.raises(VendorRejected):
        await payments.create_payment(request("tok_made_up"))


def test_every_test_card_maps_to_a_known_token() -> None:
    assert set(TEST_CARDS.values()) <= set(TEST_TOKENS)
    assert TEST_CARDS["4242424242424242"] == "pm_card_visa"
    assert TEST_CARDS["4000000000000002"] == "pm_card_chargeDeclined"
    assert TEST_CARDS["4000000000009995"] == "pm_card_chargeDeclinedInsufficientFunds"
