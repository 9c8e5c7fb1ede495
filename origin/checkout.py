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

import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from connectors import (
    Address,
    CommerceBackend,
    ConnectorError,
    IdempotencyConflict,
    NotFound,
    Order,
    OrderDraft,
    OrderLine,
    OutOfStock,
    Payment,
    PaymentDeclined,
    PaymentProvider,
    PaymentRequest,
    VendorRejected,
    VendorTimeout,
    VendorUnavailable,
)
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
from origin.events import CatalogEvents
from origin.metrics import checkout_ended, inventory_conflict

log = logging.getLogger("edgeshop.origin")
MAX_PAYMENT_TOKEN = 8192

# A claim on a cart that old is from a crashed attempt: the next attempt settles it and takes over.
CHECKOUT_LEASE_SECONDS = 120
_CLAIM_ATTEMPTS = 8
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{8,255}$")
_DIGIT_RUN = re.compile(r"\d[\d .\-_/]{11,40}\d")


def luhn_valid(digits: str) -> bool:
    """The payment-card check digit (ISO/IEC 7812) holds: a run of digits that may be a card number."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def looks_like_card_number(value: str) -> bool:
    """A run of 13-19 digits passing the Luhn check, however it is separated (spaces, dots, dashes)."""
    for run in _DIGIT_RUN.findall(value):
        digits = re.sub(r"\D", "", run)
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


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

    # A vendor's token can be a whole widget state (Adyen's state.data is ~2 kB of JSON), never a card number.
    token: str = Field(min_length=1, max_length=MAX_PAYMENT_TOKEN)

    @field_validator("token")
    @classmethod
    def _not_a_card_number(cls, value: str) -> str:
        # PCI scope: the origin accepts payment tokens only, and the error never echoes the value.
        if looks_like_card_number(value):
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


class AlreadyOrdered(Conflict):
    """The cart became an order under another attempt; carries that order's id and token."""

    type_slug = "already-ordered"
    title = "This cart has already been ordered"


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
        self,
        carts: CartService,
        backend: CommerceBackend,
        payments: PaymentProvider,
        secret_key: bytes,
        events: CatalogEvents | None = None,
    ) -> None:
        self._events = events
        self._carts = carts
        self._backend = backend
        self._payments = payments
        self._secret = secret_key

    def _order_token(self, cart_id: str, key: str) -> str:
        # Derived, not stored: a retried request gets the same token back without keeping it in plain text.
        return hmac.new(self._secret, f"order-token|{cart_id}|{key}".encode(), hashlib.sha256).hexdigest()

    async def checkout(self, body: CheckoutBody, idempotency_key: str | None) -> CheckoutResult:
        """The order for this cart and key, placed and paid now or earlier (a retry); counted by how it ended."""
        try:
            result, outcome = await self._checkout(body, idempotency_key)
        except Exception as exc:
            checkout_ended(_outcome(exc))
            raise
        checkout_ended(outcome)
        return result

    async def _checkout(self, body: CheckoutBody, idempotency_key: str | None) -> tuple[CheckoutResult, str]:
        if idempotency_key is None or not _IDEMPOTENCY_KEY.match(idempotency_key):
            raise InvalidRequest(
                "an Idempotency-Key header is required: 8 to 255 printable ASCII characters, new for each attempt",
                fields={"Idempotency-Key": "missing or malformed"},
            )
        key = idempotency_key
        cart = await self._claim(body.cart_id, key)
        if cart.status == "completed":
            assert cart.order_id is not None and cart.checkout_key is not None
            if cart.checkout_key == key:
                order = await self._backend.get_order(cart.order_id)
                return CheckoutResult(order=order, order_token=self._order_token(cart.id, key)), "replayed"
            raise AlreadyOrdered(
                "this cart has already been ordered",
                order_id=cart.order_id,
                order_token=self._order_token(cart.id, cart.checkout_key),
            )
        try:
            order = await self._place(cart, body, key, self._order_token(cart.id, key))
        except (InvalidRequest, Conflict):
            # Nothing was placed by this request; unless a twin request of the same key attached an order
            # meanwhile, the cart is the shopper's again.
            await self._release(cart.id, key, unless_ordered=True)
            raise
        await self._attach(cart.id, key, order.id)
        # A twin request with the same key (sent at the same time) may have paid for this very order already.
        replayed = order.status in ("authorized", "captured")
        try:
            order = await self._pay(order, body)
        except (PaymentFailed, InvalidRequest, OutOfStockConflict):
            await self._release(cart.id, key)  # _pay voided the order: nothing is held, nothing was charged
            raise
        await self._complete(cart.id, key, order.id)
        await self._stock_changed(order)
        return CheckoutResult(order=order, order_token=self._order_token(cart.id, key)), (
            "replayed" if replayed else "placed"
        )

    async def _stock_changed(self, order: Order) -> None:
        """Product pages show stock: after a sale the edge must forget them. Never fails the checkout."""
        if self._events is None:
            return
        try:
            price_list = self._carts.market_by_id(order.market).price_list
            quotes = await self._backend.quote_variants([ln.variant_id for ln in order.lines], price_list=price_list)
            await self._events.products_changed([q.product_id for q in quotes.values()])
        except Exception:
            log.warning("could not announce the stock change of order %s", order.id, exc_info=True)

    # -- the cart's checkout state ------------------------------------------------------------------------------
    # A cart is claimed by one Idempotency-Key at a time. The order placed for it is attached to the cart
    # before any charge, so whoever finds a claim abandoned can settle its payment: complete the cart when the
    # money arrived, void the order otherwise. An order never attached was never charged and simply lapses.

    async def _claim(self, cart_id: str, key: str) -> Cart:
        for _ in range(_CLAIM_ATTEMPTS):
            cart = await self._carts.get(cart_id)
            if cart.status == "completed" or (cart.status == "checking_out" and cart.checkout_key == key):
                return cart
            if cart.status == "checking_out":
                if time.time() - cart.checkout_started_at < CHECKOUT_LEASE_SECONDS:
                    raise Conflict("a checkout for this cart is already in progress; try again in a minute")
                await self._settle_abandoned(cart)
                continue
            if not cart.lines:
                raise InvalidRequest("the cart is empty", fields={"cart_id": "add something to the cart first"})
            claimed = replace(
                cart, status="checking_out", checkout_key=key, checkout_started_at=int(time.time()), order_id=None
            )
            stored = await self._carts.save(claimed)
            if stored is not None:
                return stored
            # Another request wrote first (often the same double-submitted request): look again.
        raise TryAgain("the cart is busy; please try again")

    async def _settle_abandoned(self, cart: Cart) -> None:
        """Finish what a crashed or timed-out attempt left: its order is paid for, or it is gone."""
        assert cart.checkout_key is not None
        if cart.order_id is None:
            await self._release(cart.id, cart.checkout_key)
            return
        try:
            order = await self._backend.get_order(cart.order_id)
        except NotFound:
            await self._release(cart.id, cart.checkout_key)
            return
        if order.status in ("pending_payment", "cancelled"):
            try:
                payment = await self._payments.find_payment(order.id)
            except ConnectorError as exc:
                if exc.retryable:
                    raise
                # The vendor cannot look payments up by our reference (Adyen): only its webhook can tell. Until
                # the reservation lapses, wait for it; after that, free the cart (a payment that still arrives
                # for the voided order is logged as money without an order, to be refunded).
                if order.status == "pending_payment":
                    detail = "the last payment attempt is still being confirmed; try again in a few minutes"
                    raise Conflict(detail) from exc
                payment = None
            if payment is None or payment.status not in ("authorized", "captured"):
                await self._backend.void_order(order.id)
                await self._release(cart.id, cart.checkout_key)
                return
            try:
                order = await self._record(order, payment)
            except OutOfStockConflict:
                await self._release(cart.id, cart.checkout_key)
                return
        if order.status not in ("authorized", "captured"):
            # It failed (a vendor webhook said so) or was voided: the cart is the shopper's again.
            await self._release(cart.id, cart.checkout_key)
            return
        await self._complete(cart.id, cart.checkout_key, order.id)

    async def _transition(self, cart_id: str, key: str, change: Callable[[Cart], Cart | None]) -> None:
        """Apply `change` to the cart while `key` holds it, retrying lost races; a no-op once it does not."""
        for _ in range(_CLAIM_ATTEMPTS):
            cart = await self._carts.get(cart_id)
            if cart.checkout_key != key or cart.status != "checking_out":
                return
            updated = change(cart)
            if updated is None or await self._carts.save(updated) is not None:
                return
        raise TryAgain("the cart is busy; please try again")

    async def _attach(self, cart_id: str, key: str, order_id: str) -> None:
        await self._transition(
            cart_id, key, lambda cart: None if cart.order_id == order_id else replace(cart, order_id=order_id)
        )

    async def _release(self, cart_id: str, key: str, *, unless_ordered: bool = False) -> None:
        def release(cart: Cart) -> Cart | None:
            if unless_ordered and cart.order_id is not None:
                return None
            return replace(cart, status="open", checkout_key=None, checkout_started_at=0, order_id=None)

        await self._transition(cart_id, key, release)

    async def _complete(self, cart_id: str, key: str, order_id: str) -> None:
        await self._transition(cart_id, key, lambda cart: replace(cart, status="completed", order_id=order_id))

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
            inventory_conflict("reserve")
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
        if order.status in ("authorized", "captured"):
            return order  # a retry of an attempt that already finished
        if order.status not in ("pending_payment", "cancelled"):
            # The vendor told us by webhook that this attempt failed (or was refunded): never an order to show.
            raise PaymentFailed("the payment did not go through; please try again", code=order.status)
        # A cancelled order is one whose reservation lapsed while its payment was in doubt: the same payment
        # key replays that payment, so resuming it can never charge a second time.
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
            # The vendor's message may quote what it was sent; the shopper gets a fixed sentence.
            raise InvalidRequest(
                "the payment method was not accepted", fields={"payment.token": "not a usable payment token"}
            ) from exc
        except IdempotencyConflict as exc:
            # Not an InvalidRequest on purpose: the order may have been paid, so the claim must stay.
            raise Conflict(
                "this order is already being paid with another payment method; retry the same request"
            ) from exc
        except (VendorUnavailable, VendorTimeout) as exc:
            # The outcome is unknown: keep the pending order so a retry with the same key resumes it.
            raise TryAgain("the payment service did not answer; nothing new was charged, please try again") from exc
        if payment.status not in ("authorized", "captured"):
            # Not paid: a step the shop cannot take with the shopper yet (3-D Secure, a redirect), or a refusal
            # the vendor reported as a state. Release the attempt at the vendor and the stock here.
            with contextlib.suppress(ConnectorError):
                await self._payments.cancel(payment.id, idempotency_key=f"order-{order.id}-unfinished-cancel")
            await self._backend.void_order(order.id)
            detail = payment.message or "the payment could not be completed; please try another card"
            raise PaymentFailed(detail, code=payment.decline_code or payment.status)
        return await self._record(order, payment)

    async def _record(self, order: Order, payment: Payment) -> Order:
        try:
            return await self._backend.record_payment(order.id, status=payment.status, payment_reference=payment.id)
        except OutOfStock as exc:
            inventory_conflict("payment")
            if payment.status == "captured":
                await self._payments.refund(
                    payment.id, payment.captured, idempotency_key=f"order-{order.id}-oos-refund"
                )
            else:
                await self._payments.cancel(payment.id, idempotency_key=f"order-{order.id}-oos-cancel")
            await self._backend.void_order(order.id)
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


def _outcome(exc: Exception) -> str:
    """The `edgeshop_origin_checkouts_total` outcome of a checkout that raised (most specific class first)."""
    match exc:
        case PaymentFailed():
            return "declined"
        case OutOfStockConflict():
            return "out_of_stock"
        case AlreadyOrdered():
            return "already_ordered"
        case Conflict():
            return "conflict"
        case InvalidRequest():
            return "invalid"
        case ResourceNotFound():
            return "not_found"
        case TryAgain() | VendorUnavailable() | VendorTimeout():
            return "unavailable"
        case _:
            return "error"
