"""The PaymentProvider port. The origin only ever holds tokens, never card numbers (PCI SAQ-A)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from connectors.money import Money

PaymentStatus = Literal["authorized", "captured", "cancelled", "refunded", "failed"]


class PaymentRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: Money
    token: str
    idempotency_key: str
    reference: str
    capture: bool = True
    email: str = ""
    description: str = ""


class Payment(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    status: PaymentStatus
    amount: Money
    captured: Money
    refunded: Money
    reference: str
    decline_code: str | None = None
    message: str = ""


def operation_key(key: str, operation: str, *, max_length: int) -> str:
    """One idempotency key per operation of a caller's attempt (create, capture, refund…), within the vendor's
    length limit: a longer one is hashed, which keeps it stable and unique."""
    derived = f"{key}:{operation}"
    return derived if len(derived) <= max_length else hashlib.sha256(derived.encode()).hexdigest()


PaymentEventType = Literal["authorized", "captured", "failed", "refunded", "cancelled"]


class PaymentEvent(BaseModel):
    """A vendor's webhook notification, normalized: what happened to which payment of which order."""

    model_config = ConfigDict(frozen=True)

    id: str  # the vendor's event id: a replay of the same id changes nothing
    type: PaymentEventType
    payment_id: str
    reference: str  # our order id, as sent when the payment was created
    amount: Money | None = None
    occurred_at: datetime | None = None


class PaymentProvider(Protocol):
    vendor: str

    async def create_payment(self, request: PaymentRequest) -> Payment:
        """Authorize (and capture when asked). Raises PaymentDeclined; the same idempotency key never charges twice."""
        ...

    async def find_payment(self, reference: str) -> Payment | None:
        """The latest payment made for our `reference` (an order id), to settle an attempt whose outcome was lost."""
        ...

    async def capture(self, payment_id: str, amount: Money | None = None, *, idempotency_key: str) -> Payment: ...

    async def cancel(self, payment_id: str, *, idempotency_key: str) -> Payment: ...

    async def refund(self, payment_id: str, amount: Money | None = None, *, idempotency_key: str) -> Payment: ...

    async def confirm(self, payment_id: str, details: Mapping[str, str], *, idempotency_key: str) -> Payment:
        """Finish a payment that needed the shopper (3-D Secure, a redirect) with what the vendor sent back."""
        ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[PaymentEvent]:
        """Verify the signature (and its age) over the raw body, then normalize. Raises WebhookRejected."""
        ...
