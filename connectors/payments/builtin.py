"""The built-in test payment provider: Stripe-style test tokens, real idempotency, no network.

Tokens behave like Stripe's test PaymentMethods so a merchant's test plan carries over to Stripe unchanged.
The checkout page's widget turns the well-known test card numbers into these tokens in the browser, the way
hosted payment fields do, so the origin never sees a card number.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from collections.abc import Mapping

from connectors.errors import IdempotencyConflict, NotFound, PaymentDeclined, VendorRejected, WebhookRejected
from connectors.money import Money
from connectors.payments.base import Payment, PaymentEvent, PaymentRequest
from connectors.sqlite import SqliteDatabase

# token -> decline code (None: approved)
TEST_TOKENS: dict[str, str | None] = {
    "pm_card_visa": None,
    "pm_card_mastercard": None,
    "pm_card_amex": None,
    "pm_card_chargeDeclined": "card_declined",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
}

# card number -> token, the mapping the browser widget applies (published here so tests and docs share it)
TEST_CARDS: dict[str, str] = {
    "4242424242424242": "pm_card_visa",
    "5555555555554444": "pm_card_mastercard",
    "378282246310005": "pm_card_amex",
    "4000000000000002": "pm_card_chargeDeclined",
    "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
    "4000000000000069": "pm_card_chargeDeclinedExpiredCard",
}

DECLINE_MESSAGES: dict[str, str] = {
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL,
    captured INTEGER NOT NULL,
    refunded INTEGER NOT NULL,
    reference TEXT NOT NULL,
    decline_code TEXT,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS payment_requests (
    idempotency_key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    payment_id TEXT NOT NULL
);
"""


class BuiltinPayments:
    vendor = "builtin"

    def __init__(self, path: str) -> None:
        self._db = SqliteDatabase(path)
        self._db.conn().executescript(_SCHEMA)

    def _load(self, conn: sqlite3.Connection, payment_id: str) -> Payment:
        row = conn.execute(
            "SELECT id, status, currency, amount, captured, refunded, reference, decline_code FROM payments"
            " WHERE id = ?",
            (payment_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"no payment {payment_id}")
        currency = row[2]
        code = row[7]
        return Payment(
            id=row[0],
            status=row[1],
            amount=Money(amount=row[3], currency=currency),
            captured=Money(amount=row[4], currency=currency),
            refunded=Money(amount=row[5], currency=currency),
            reference=row[6],
            decline_code=code,
            message=DECLINE_MESSAGES.get(code, "") if code else "",
        )

    def _replay(self, conn: sqlite3.Connection, key: str, fingerprint: str) -> Payment | None:
        row = conn.execute(
            "SELECT fingerprint, payment_id FROM payment_requests WHERE idempotency_key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        if row[0] != fingerprint:
            raise IdempotencyConflict("idempotency key reused with different parameters")
        return self._load(conn, row[1])

    @staticmethod
    def _raise_if_declined(payment: Payment) -> Payment:
        if payment.status == "failed":
            raise PaymentDeclined(payment.message or "Your card was declined.", code=payment.decline_code or "declined")
        return payment

    def _create(self, request: PaymentRequest) -> Payment:
        if request.token not in TEST_TOKENS:
            raise VendorRejected("unknown test payment token (use one of TEST_TOKENS)")
        if request.amount.amount <= 0:
            raise VendorRejected("amount must be positive")
        fingerprint = hashlib.sha256(
            f"create|{request.amount.amount}|{request.amount.currency}|{request.token}|{request.reference}".encode()
        ).hexdigest()
        with self._db.write() as conn:
            replayed = self._replay(conn, request.idempotency_key, fingerprint)
            if replayed is None:
                decline = TEST_TOKENS[request.token]
                status = "failed" if decline else ("captured" if request.capture else "authorized")
                payment_id = "pay_" + secrets.token_hex(12)
                conn.execute(
                    "INSERT INTO payments VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
                    (
                        payment_id,
                        status,
                        request.amount.currency,
                        request.amount.amount,
                        request.amount.amount if status == "captured" else 0,
                        request.reference,
                        decline,
                        int(time.time()),
                    ),
                )
                conn.execute(
                    "INSERT INTO payment_requests VALUES (?, ?, ?)", (request.idempotency_key, fingerprint, payment_id)
                )
                replayed = self._load(conn, payment_id)
        return self._raise_if_declined(replayed)

    async def create_payment(self, request: PaymentRequest) -> Payment:
        return await self._db.run(self._create, request)

    def _find(self, reference: str) -> Payment | None:
        conn = self._db.conn()
        row = conn.execute(
            "SELECT id FROM payments WHERE reference = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", (reference,)
        ).fetchone()
        return self._load(conn, row[0]) if row else None

    async def find_payment(self, reference: str) -> Payment | None:
        return await self._db.run(self._find, reference)

    def _transition(self, operation: str, payment_id: str, amount: Money | None, key: str) -> Payment:
        fingerprint = f"{operation}|{payment_id}|{amount.amount if amount else ''}"
        with self._db.write() as conn:
            replayed = self._replay(conn, key, fingerprint)
            if replayed is None:
                current = self._load(conn, payment_id)
                status, captured, refunded = self._apply(operation, current, amount)
                conn.execute(
                    "UPDATE payments SET status = ?, captured = ?, refunded = ? WHERE id = ?",
                    (status, captured, refunded, payment_id),
                )
                conn.execute("INSERT INTO payment_requests VALUES (?, ?, ?)", (key, fingerprint, payment_id))
                replayed = self._load(conn, payment_id)
        return replayed

    @staticmethod
    def _apply(operation: str, current: Payment, amount: Money | None) -> tuple[str, int, int]:
        if amount is not None and amount.currency != current.amount.currency:
            raise VendorRejected("currency does not match the payment")
        if operation == "capture":
            if current.status != "authorized":
                raise VendorRejected(f"cannot capture a payment that is {current.status}")
            value = amount.amount if amount else current.amount.amount
            if value > current.amount.amount:
                raise VendorRejected("cannot capture more than was authorized")
            return "captured", value, 0
        if operation == "cancel":
            if current.status != "authorized":
                raise VendorRejected(f"cannot cancel a payment that is {current.status}")
            return "cancelled", 0, 0
        # refund
        if current.status not in ("captured", "refunded"):
            raise VendorRejected(f"cannot refund a payment that is {current.status}")
        value = amount.amount if amount else current.captured.amount - current.refunded.amount
        refunded = current.refunded.amount + value
        if value <= 0 or refunded > current.captured.amount:
            raise VendorRejected("refund exceeds the captured amount")
        status = "refunded" if refunded == current.captured.amount else "captured"
        return status, current.captured.amount, refunded

    async def capture(self, payment_id: str, amount: Money | None = None, *, idempotency_key: str) -> Payment:
        return await self._db.run(self._transition, "capture", payment_id, amount, idempotency_key)

    async def cancel(self, payment_id: str, *, idempotency_key: str) -> Payment:
        return await self._db.run(self._transition, "cancel", payment_id, None, idempotency_key)

    async def refund(self, payment_id: str, amount: Money | None = None, *, idempotency_key: str) -> Payment:
        return await self._db.run(self._transition, "refund", payment_id, amount, idempotency_key)

    async def confirm(self, payment_id: str, details: Mapping[str, str], *, idempotency_key: str) -> Payment:
        """Test cards never ask the shopper for more: a payment is already final when it is created."""
        return await self._db.run(lambda: self._load(self._db.conn(), payment_id))

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[PaymentEvent]:
        raise WebhookRejected("the built-in payment provider sends no webhooks", vendor="builtin")
