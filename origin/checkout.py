"""Checkout: turn a cart into exactly one paid order, or into nothing at all.

The sequence survives retries and crashes at every step:
1. claim the cart for this Idempotency-Key (a second, different attempt gets 409);
2. price the cart on the server and let the backend reserve stock and store a pending order, atomically and
   idempotently on the key (a retry finds the same order; a shortage stores nothing);
3. charge with an idempotency key derived from the order id, so any number of retries charges once;
4. record the payment (reservation becomes sold stock) or, on a decline, void the order and release the stock.
A crash between 2 and 4 leaves a pending order whose reservation lapses; the shopper's retry resumes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from connectors.commerce.base import Address, CommerceBackend, Order, OrderDraft, OrderLine
from connectors.errors import (
    IdempotencyConflict,
    NotFound,
    OutOfStock,
    PaymentDeclined,
    VendorRejected,
    VendorTimeout,
    VendorUnavailable,
)
from connectors.payments.base import PaymentProvider, PaymentRequest
from origin.carts import Cart, CartService
from origin.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    OutOfStockConflict,
    PaymentFailed,
    ResourceNotFound,
    TryAgain,
)

# A claim on a cart that old is from a crashed attempt and may be taken over.
CHECKOUT_LEASE_SECONDS = 120
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{8,255}$")
_CARD_NUMBER = re.compile(r"^[\d \-]{12,23}$")


class ShippingAddressBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=120)
    line1: str = Field(min_length=1, max_length=200)
    line2: str = Field(default="", max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    region: str = Field(default="", max_length=100)
    country: str = Field(pattern=r"^[A-Za-z]{2}$")

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class PaymentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=255)

    @field_validator("token")
    @classmethod
    def _not_a_card_number(cls, value: str) -> str:
        # PCI scope: the origin accepts payment tokens only. The error never echoes the value.
        if _CARD_NUMBER.match(value):
            raise ValueError("send a payment token from the payment widget, never a card number")
        return value


class CheckoutBody(BaseModel):
    """Prices and totals are not accepted: the server computes them from the cart."""

    model_config = ConfigDict(extra="ignore")

    cart_id: str = Field(min_length=1, max_length=100)
    email: EmailStr
    shipping_address: ShippingAddressBody
    shipping_method: str = Field(min_length=1, max_length=50)
    payment: PaymentBody


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    order: Order
    order_token: str


def _fingerprint(body: CheckoutBody) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CheckoutService:
    def __init__(
        self, carts: CartService, backend: CommerceBackend, payments: PaymentProvider, secret_key: bytes
    ) -> None:
        self._carts = carts
        self._backend = backend
        self._payments = payments
        self._secret = secret_key

    def _order_token(self, cart_id: str, key: str) -> str:
        # Derived, not stored: a retried request gets the same token back without keeping it in plain text.
        return hmac.new(self._secret, f"order-token|{cart_id}|{key}".encode(), hashlib.sha256).hexdigest()

    async def checkout(self, body: CheckoutBody, idempotency_key: str | None) -> CheckoutResult:
        if idempotency_key is None or not _IDEMPOTENCY_KEY.match(idempotency_key):
            raise InvalidRequest(
                "an Idempotency-Key header is required: 8 to 255 printable ASCII characters, new for each attempt",
                fields={"Idempotency-Key": "missing or malformed"},
            )
        cart = await self._carts.get(body.cart_id)
        order_token = self._order_token(cart.id, idempotency_key)
        if cart.status == "completed":
            if cart.checkout_key == idempotency_key and cart.order_id:
                return CheckoutResult(order=await self._backend.get_order(cart.order_id), order_token=order_token)
            raise Conflict("this cart has already been checked out", order_id=cart.order_id)
        if not cart.lines:
            raise InvalidRequest("the cart is empty", fields={"cart_id": "add something to the cart first"})
        cart = await self._carts.begin_checkout(cart, idempotency_key, lease_seconds=CHECKOUT_LEASE_SECONDS)
        try:
            order = await self._place(cart, body, idempotency_key, order_token)
            order = await self._pay(order, body)
        except (PaymentFailed, Conflict, InvalidRequest):
            await self._carts.finish_checkout(cart.id, idempotency_key, None)
            raise
        await self._carts.finish_checkout(cart.id, idempotency_key, order.id)
        return CheckoutResult(order=order, order_token=order_token)

    async def _place(self, cart: Cart, body: CheckoutBody, key: str, order_token: str) -> Order:
        priced = await self._carts.price(cart, body.shipping_method)
        if len(priced.lines) != len(cart.lines):
            raise Conflict("some items in the cart are no longer sold; review the cart")
        currency = priced.market.currency
        if priced.shipping_method is None or priced.shipping_method.id != body.shipping_method:
            raise InvalidRequest("this shipping method is not offered", fields={"shipping_method": "not offered"})
        draft = OrderDraft(
            # Scoped to the cart: two shoppers who happen to pick the same key never meet.
            idempotency_key=f"{cart.id}|{key}",
            fingerprint=_fingerprint(body),
            token_hash=token_hash(order_token),
            email=str(body.email),
            market=priced.market.id,
            lines=[
                OrderLine(
                    variant_id=pl.quote.variant_id,
                    product_handle=pl.quote.product_handle,
                    title=pl.quote.product_title,
                    variant_title=pl.quote.variant_title,
                    sku=pl.quote.sku,
                    quantity=pl.line.quantity,
                    unit_price=pl.quote.price,
                    total=pl.total,
                )
                for pl in priced.lines
            ],
            shipping_address=Address(**body.shipping_address.model_dump()),
            shipping_method=body.shipping_method,
            subtotal=priced.totals.subtotal,
            shipping=priced.totals.shipping,
            tax=priced.totals.tax,
            total=priced.totals.total,
        )
        assert draft.total.currency == currency
        try:
            return await self._backend.place_order(draft)
        except OutOfStock as exc:
            raise OutOfStockConflict(
                "some items sold out while you were checking out",
                shortages=[{"variant_id": v, "available": n} for v, n in sorted(exc.shortages.items())],
            ) from exc
        except IdempotencyConflict as exc:
            raise InvalidRequest(
                "this Idempotency-Key was used for a different checkout request; use a new key",
                fields={"Idempotency-Key": "reused with a different body"},
            ) from exc

    async def _pay(self, order: Order, body: CheckoutBody) -> Order:
        if order.status != "pending_payment":
            return order  # a retry of an attempt that already finished
        request = PaymentRequest(
            amount=order.total,
            token=body.payment.token,
            idempotency_key=f"order-{order.id}",
            reference=order.id,
            email=order.email,
            description=f"Order {order.id}",
        )
        try:
            payment = await self._payments.create_payment(request)
        except PaymentDeclined as exc:
            await self._backend.void_order(order.id)
            raise PaymentFailed(str(exc), code=exc.code) from exc
        except VendorRejected as exc:
            await self._backend.void_order(order.id)
            raise InvalidRequest("the payment method was not accepted", fields={"payment.token": str(exc)}) from exc
        except (VendorUnavailable, VendorTimeout) as exc:
            # The outcome is unknown: keep the pending order so a retry with the same key resumes it.
            raise TryAgain("the payment service did not answer; nothing new was charged, please try again") from exc
        try:
            return await self._backend.record_payment(order.id, status=payment.status, payment_reference=payment.id)
        except OutOfStock as exc:
            await self._payments.refund(payment.id, idempotency_key=f"order-{order.id}-oos-refund")
            raise OutOfStockConflict("the items sold out before the payment completed; you were refunded") from exc

    async def get_order(self, order_id: str, token: str | None) -> Order:
        if not token:
            raise Forbidden("this order needs its order token (?token= or the X-Order-Token header)")
        try:
            order = await self._backend.get_order(order_id)
        except NotFound as exc:
            raise ResourceNotFound("no such order") from exc
        if not hmac.compare_digest(order.token_hash, token_hash(token)):
            # Same answer as a missing order: a wrong token reveals nothing about which ids exist.
            raise ResourceNotFound("no such order")
        return order
