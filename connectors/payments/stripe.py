"""Stripe as the PaymentProvider: PaymentIntents and Refunds on API v1.

Contract: `vendor-contracts/stripe.md` ([V] = confirmed there, [U] = not confirmed; [SDK] = read in the
stripe-python source outside the pack).

- Every call goes through `connectors.http.VendorClient` with `Authorization: Bearer <secret>` and, when
  pinned, `Stripe-Version` [V]. POST bodies are `application/x-www-form-urlencoded` with bracket notation,
  lists indexed, booleans `true`/`false` (`encode_form`, checked against the pack's SDK-encoded bodies) [V].
  Amounts are integer minor units, currencies lowercase [V].
- Every POST carries an `Idempotency-Key` derived from the caller's key and the operation (`key:create`,
  `key:capture`, …), hashed when longer than 255 characters [V limit], so one caller key never meets two
  different Stripe requests.
- create = `POST /v1/payment_intents` with `payment_method=<token>`, `confirm=true`,
  `payment_method_types[0]=card` (the pack's create-and-confirm example, without `return_url`, which
  PaymentRequest does not carry), `capture_method=manual` when `capture` is False, and
  `metadata[order_id]=<reference>` [V params].
- Status: `requires_capture` → authorized, `succeeded` → captured (refunded once the refunds listed for the
  intent cover `amount_received`), `canceled` → cancelled, `requires_payment_method` after an attempt →
  failed. A decline is HTTP 402 `card_error` → PaymentDeclined(decline_code or code, shopper-safe message) [V].
  `requires_action` (3-D Secure) and `processing` have no PaymentStatus of their own: see `_status`.
- find_payment lists `GET /v1/payment_intents` newest first with `created[gte]` [V] and matches
  `metadata.order_id` itself: list cannot filter on metadata, and Search (`/v1/payment_intents/search`,
  not in the pack) is documented by Stripe as unfit for read-after-write, which is exactly when an attempt's
  outcome was lost. The scan is bounded (`find_lookback_seconds`, `find_max_pages`).
- Refund totals come from `GET /v1/refunds?payment_intent=…` [SDK: RefundListParams.payment_intent]; a
  PaymentIntent does not carry them.
- Webhooks: `Stripe-Signature` `t=…,v1=…` HMAC-SHA256 hex over `f"{t}." + raw body` with the endpoint secret
  as is, any `v1` may match, constant-time [V]. Timestamps more than `webhook_tolerance_seconds` away from
  now, in either direction, fail (the SDK rejects only old ones [V]).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from connectors.errors import (
    ConnectorError,
    IdempotencyConflict,
    NotFound,
    PaymentDeclined,
    VendorRejected,
    VendorUnavailable,
    WebhookRejected,
)
from connectors.http import VendorClient
from connectors.money import Money
from connectors.payments.base import (
    Payment,
    PaymentEvent,
    PaymentEventType,
    PaymentRequest,
    PaymentStatus,
    operation_key,
)
from connectors.settings import StripeSettings

VENDOR = "stripe"
IDEMPOTENCY_KEY_MAX = 255  # [V]
PAGE_LIMIT = 100  # [V] the largest `limit` a list accepts
FIND_LOOKBACK_SECONDS = 7 * 24 * 3600
FIND_MAX_PAGES = 10
REQUIRES_ACTION = "requires_action"  # Payment.decline_code of a payment waiting for the shopper
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Query parameters Stripe appends to return_url after a redirect; they are not confirm parameters [U].
_REDIRECT_RETURN_KEYS = frozenset({"payment_intent", "payment_intent_client_secret", "redirect_status"})
_CONFIRMED = frozenset({"requires_capture", "processing", "succeeded"})
_REFUND_COUNTS = frozenset({"pending", "requires_action", "succeeded"})  # not failed, not canceled [V statuses]
_INTENT_EVENTS: dict[str, tuple[PaymentEventType, str]] = {
    "payment_intent.amount_capturable_updated": ("authorized", "amount_capturable"),
    "payment_intent.succeeded": ("captured", "amount_received"),
    "payment_intent.payment_failed": ("failed", "amount"),
    "payment_intent.canceled": ("cancelled", "amount"),
}


def form_pairs(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's v1 encoding: `a[b]=…` for mappings, `a[0]=…` for lists, `true`/`false`, None left out [V]."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        pairs.extend(_encode_value(name, value))
    return pairs


def _encode_value(name: str, value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return form_pairs(value, name)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [pair for index, item in enumerate(value) for pair in _encode_value(f"{name}[{index}]", item)]
    if isinstance(value, bool):
        return [(name, "true" if value else "false")]
    return [(name, str(value))]


def encode_form(params: Mapping[str, Any]) -> bytes:
    return urlencode(form_pairs(params)).encode("ascii")


def derive_idempotency_key(key: str, operation: str) -> str:
    return operation_key(key, operation, max_length=IDEMPOTENCY_KEY_MAX)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _money(value: Any, currency: Any) -> Money:
    if not isinstance(value, int) or isinstance(value, bool) or not isinstance(currency, str):
        raise ValueError("not an integer amount with a currency")
    return Money(amount=value, currency=currency.upper())


def _status(intent: Mapping[str, Any], refunded: int) -> tuple[PaymentStatus, str | None, str]:
    """(status, decline_code, message) of a PaymentIntent.

    PaymentStatus has no "needs the shopper" nor "pending": `requires_action` maps to failed with decline_code
    "requires_action" (nothing is authorized; `confirm` can still finish it) and `processing` to authorized
    (no decline so far; the `payment_intent.succeeded` / `payment_failed` webhook settles it).
    """
    status = intent.get("status")
    received = intent.get("amount_received") or 0
    match status:
        case "requires_capture":
            return "authorized", None, ""
        case "succeeded":
            return ("refunded" if received and refunded >= received else "captured"), None, ""
        case "canceled":
            return "cancelled", None, ""
        case "processing":
            return "authorized", None, "the payment is processing; Stripe has not confirmed the funds yet"
        case "requires_action":
            return "failed", REQUIRES_ACTION, "the payment needs the shopper to complete an extra step"
        case _:  # requires_payment_method, requires_confirmation
            error = intent.get("last_payment_error") or {}
            code = error.get("decline_code") or error.get("code")
            return "failed", code, error.get("message") or ""


def to_payment(intent: Mapping[str, Any], refunded: int = 0) -> Payment:
    """Our Payment for a PaymentIntent object; `refunded` is the sum of its live refunds (minor units)."""
    try:
        amount = _money(intent["amount"], intent["currency"])
        received = intent.get("amount_received") or 0
        status, code, message = _status(intent, refunded)
        return Payment(
            id=str(intent["id"]),
            status=status,
            amount=amount,
            captured=Money(amount=received, currency=amount.currency),
            refunded=Money(amount=refunded, currency=amount.currency),
            reference=str((intent.get("metadata") or {}).get("order_id", "")),
            decline_code=code,
            message=message,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise VendorUnavailable("stripe: the answer is not a PaymentIntent", vendor=VENDOR) from exc


def _error(status: int, body: Mapping[str, Any], call: str) -> ConnectorError:
    """The normalized error of a 4xx (401/403/429/5xx are the shared client's) [V types and statuses]."""
    error = body.get("error")
    if not isinstance(error, dict):
        error = {}
    kind, code = error.get("type"), error.get("code")
    message = str(error.get("message") or f"answered {status}")
    if kind == "card_error":
        return PaymentDeclined(message, code=str(error.get("decline_code") or code or "card_declined"), vendor=VENDOR)
    if status == 409 or code == "rate_limit" or status >= 500 or kind == "api_error":
        # 409: another request with this key is still running; old accounts get rate limits as 400 [V].
        busy = VendorUnavailable(f"stripe: {message} ({call})", vendor=VENDOR)
        busy.retryable = True
        return busy
    if kind == "idempotency_error":
        return IdempotencyConflict(f"stripe: {message}", vendor=VENDOR)
    if status == 404:
        return NotFound(f"stripe: {message}", vendor=VENDOR)
    return VendorRejected(f"stripe: {message} ({call})", vendor=VENDOR)


class StripePayments:
    vendor = VENDOR

    def __init__(
        self,
        client: VendorClient,
        *,
        webhook_secret: str | None = None,
        webhook_tolerance_seconds: int = 300,
        now: Callable[[], float] = time.time,
        find_lookback_seconds: int = FIND_LOOKBACK_SECONDS,
        find_max_pages: int = FIND_MAX_PAGES,
    ) -> None:
        self.client = client
        self._webhook_secret = webhook_secret
        self._tolerance = webhook_tolerance_seconds
        self._now = now
        self._lookback = find_lookback_seconds
        self._max_pages = find_max_pages

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _send(
        self, method: str, path: str, *, call: str, params: Mapping[str, Any] | None = None, key: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        if method == "GET":
            response = await self.client.request("GET", path, call=call, params=form_pairs(params or {}) or None)
        else:
            response = await self.client.request(
                "POST",
                path,
                call=call,
                content=encode_form(params or {}),
                headers=_FORM,
                idempotency_key=None if key is None else derive_idempotency_key(key, call),
            )
        return response.status_code, _body(response)

    async def _call(
        self, method: str, path: str, *, call: str, params: Mapping[str, Any] | None = None, key: str | None = None
    ) -> dict[str, Any]:
        status, body = await self._send(method, path, call=call, params=params, key=key)
        if status >= 400:
            raise _error(status, body, call)
        return body

    @staticmethod
    def _intent_path(payment_id: str, action: str = "") -> str:
        return f"/v1/payment_intents/{quote(payment_id, safe='')}" + (f"/{action}" if action else "")

    async def _refunded(self, intent: Mapping[str, Any], call: str) -> int:
        if intent.get("status") != "succeeded" or not intent.get("amount_received"):
            return 0
        total, after = 0, None
        while True:
            page = await self._call(
                "GET",
                "/v1/refunds",
                call=call,
                params={"payment_intent": intent["id"], "limit": PAGE_LIMIT, "starting_after": after},
            )
            refunds = [r for r in page.get("data") or [] if isinstance(r, dict)]
            total += sum(r.get("amount") or 0 for r in refunds if r.get("status") in _REFUND_COUNTS)
            if not page.get("has_more") or not refunds:
                return total
            after = refunds[-1]["id"]

    async def _load(self, payment_id: str, call: str) -> dict[str, Any]:
        return await self._call("GET", self._intent_path(payment_id), call=call)

    @staticmethod
    def _same_currency(intent: Mapping[str, Any], amount: Money) -> None:
        if str(intent.get("currency", "")).upper() != amount.currency:
            raise VendorRejected("stripe: the amount's currency does not match the payment", vendor=VENDOR)

    async def create_payment(self, request: PaymentRequest) -> Payment:
        params: dict[str, Any] = {
            "amount": request.amount.amount,
            "currency": request.amount.currency.lower(),
            "payment_method": request.token,
            "confirm": True,
            "payment_method_types": ["card"],
            "capture_method": None if request.capture else "manual",
            "description": request.description or None,
            "metadata": {"order_id": request.reference},
        }
        intent = await self._call(
            "POST", "/v1/payment_intents", call="create", params=params, key=request.idempotency_key
        )
        payment = to_payment(intent)
        if payment.status == "failed" and payment.decline_code != REQUIRES_ACTION:
            # A decline normally comes as a 402; this is the same outcome reported as a 200.
            message = payment.message or "Your card was declined."
            raise PaymentDeclined(message, code=payment.decline_code or "declined", vendor=VENDOR)
        return payment

    async def find_payment(self, reference: str) -> Payment | None:
        since = int(self._now()) - self._lookback
        after: str | None = None
        for _ in range(self._max_pages):
            params = {"limit": PAGE_LIMIT, "created": {"gte": since}, "starting_after": after}
            page = await self._call("GET", "/v1/payment_intents", call="find_payment", params=params)
            intents = [i for i in page.get("data") or [] if isinstance(i, dict)]
            for intent in intents:  # newest first [V]
                if (intent.get("metadata") or {}).get("order_id") == reference:
                    return to_payment(intent, await self._refunded(intent, "find_payment"))
            if not page.get("has_more") or not intents:
                return None
            after = intents[-1]["id"]
        unknown = VendorUnavailable(
            f"stripe: order {reference} is not among the newest {self._max_pages * PAGE_LIMIT} payment intents;"
            " older ones were not searched",
            vendor=VENDOR,
        )
        unknown.retryable = False
        raise unknown

    async def capture(self, payment_id: str, amount: Money | None = None, *, idempotency_key: str) -> Payment:
        params: dict[str, Any] = {}
        if amount is not None:
            self._same_currency(await self._load(payment_id, "capture"), amount)
            params["amount_to_capture"] = amount.amount
        intent = await self._call(
            "POST", self._intent_path(payment_id, "capture"), call="capture", params=params, key=idempotency_key
        )
        return to_payment(intent)

    async def cancel(self, payment_id: str, *, idempotency_key: str) -> Payment:
        intent = await self._call("POST", self._intent_path(payment_id, "cancel"), call="cancel", key=idempotency_key)
        return to_payment(intent)

    async def refund(self, payment_id: str, amount: Money | None = None, *, idempotency_key: str) -> Payment:
        intent = await self._load(payment_id, "refund")
        if amount is not None:
            self._same_currency(intent, amount)
        order_id = (intent.get("metadata") or {}).get("order_id")
        params = {
            "payment_intent": intent["id"],
            "amount": None if amount is None else amount.amount,
            "metadata": {"order_id": order_id} if order_id else None,  # refund events then name the order
        }
        await self._call("POST", "/v1/refunds", call="refund", params=params, key=idempotency_key)
        return to_payment(intent, await self._refunded(intent, "refund"))

    async def confirm(self, payment_id: str, details: Mapping[str, str], *, idempotency_key: str) -> Payment:
        params = {name: value for name, value in details.items() if name not in _REDIRECT_RETURN_KEYS}
        status, body = await self._send(
            "POST", self._intent_path(payment_id, "confirm"), call="confirm", params=params, key=idempotency_key
        )
        if status >= 400:
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            embedded = error.get("payment_intent") if isinstance(error, dict) else None
            if status == 400 and isinstance(embedded, dict) and embedded.get("status") in _CONFIRMED:
                # Stripe.js confirmed it in the browser already: report where it stands.
                return to_payment(embedded)
            raise _error(status, body, "confirm")
        return to_payment(body)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[PaymentEvent]:
        self._verify(body, headers)
        try:
            event = json.loads(body)
            kind, data = event["type"], event["data"]["object"]
            event_id, created = str(event["id"]), int(event["created"])
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("stripe: the body is not a Stripe event", vendor=VENDOR) from exc
        occurred = datetime.fromtimestamp(created, UTC)
        try:
            if kind in _INTENT_EVENTS:
                type_, field = _INTENT_EVENTS[kind]
                if type_ == "authorized" and not data.get(field):
                    return []  # the capturable amount went down to zero: nothing was authorized
                payment_id, amount = str(data["id"]), _money(data[field], data["currency"])
            elif kind == "charge.refunded":
                # data.object is a Charge [U fields]: cumulative amount_refunded, and metadata only if set on it.
                type_, payment_id = "refunded", str(data["payment_intent"])
                amount = _money(data["amount_refunded"], data["currency"])
            else:
                return []
            reference = str((data.get("metadata") or {}).get("order_id", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise WebhookRejected(f"stripe: a {kind} event without the expected fields", vendor=VENDOR) from exc
        return [
            PaymentEvent(
                id=event_id, type=type_, payment_id=payment_id, reference=reference, amount=amount, occurred_at=occurred
            )
        ]

    def _verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Stripe-Signature [V]: raises WebhookRejected with the reason."""
        if not self._webhook_secret:
            raise WebhookRejected("stripe: webhook_secret is not set, so no webhook can be trusted", vendor=VENDOR)
        header = _header(headers, "Stripe-Signature")
        if not header:
            raise WebhookRejected("stripe: no Stripe-Signature header", vendor=VENDOR)
        timestamp: int | None = None
        candidates: list[str] = []
        for item in header.split(","):
            name, sep, value = item.strip().partition("=")
            if not sep:
                raise WebhookRejected("stripe: malformed Stripe-Signature header", vendor=VENDOR)
            if name == "t":
                if not value.isdigit():
                    raise WebhookRejected("stripe: malformed Stripe-Signature timestamp", vendor=VENDOR)
                timestamp = int(value)
            elif name == "v1":
                candidates.append(value)
        if timestamp is None:
            raise WebhookRejected("stripe: Stripe-Signature carries no timestamp", vendor=VENDOR)
        if not candidates:
            raise WebhookRejected("stripe: Stripe-Signature carries no v1 signature", vendor=VENDOR)
        signed = f"{timestamp}.".encode() + body
        expected = hmac.new(self._webhook_secret.encode(), signed, hashlib.sha256).hexdigest().encode()
        if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in candidates):
            raise WebhookRejected("stripe: signature does not match the body", vendor=VENDOR)
        if abs(self._now() - timestamp) > self._tolerance:
            raise WebhookRejected("stripe: signature timestamp outside the tolerance (replayed?)", vendor=VENDOR)


def build(settings: StripeSettings) -> StripePayments:
    headers = {"Authorization": f"Bearer {settings.secret_key.get_secret_value()}"}
    if settings.api_version:
        headers["Stripe-Version"] = settings.api_version
    client = VendorClient(VENDOR, str(settings.base_url), settings.http, headers=headers)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return StripePayments(client, webhook_secret=secret, webhook_tolerance_seconds=settings.webhook_tolerance_seconds)


__all__ = ["StripePayments", "build", "derive_idempotency_key", "encode_form", "form_pairs", "to_payment"]
