"""The PaymentProvider port. The origin only ever holds tokens, never card numbers (PCI SAQ-A)."""

from __future__ import annotations

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
