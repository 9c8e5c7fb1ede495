"""Small stateful fakes of Stripe and Adyen for respx, built from the contract pack (`tests/fixtures/vendors`).

Objects start from the pack's example JSON and take the request's values, so every field a vendor returns is
there. Each fake keeps what a vendor keeps: the objects, and the first answer per Idempotency-Key, replayed
(Stripe: only with the same parameters, else `idempotency_error` [V]; Adyen: replayed whatever the body).
Where the pack is silent the fake picks one plausible answer, marked `[fake]`.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import respx

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendors"


def fixture(vendor: str, name: str) -> Any:
    return json.loads((FIXTURES / vendor / name).read_text(encoding="utf-8"))


def fixture_bytes(vendor: str, name: str) -> bytes:
    return (FIXTURES / vendor / name).read_bytes()


Handler = Callable[..., tuple[int, dict[str, Any]]]

# ---------------------------------------------------------------- Stripe

STRIPE_BASE = "https://api.stripe.com"
# Stripe's test PaymentMethods (the built-in provider's tokens) -> (code, decline_code, message)
STRIPE_DECLINES: dict[str, tuple[str, str | None, str]] = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", None, "Your card has expired."),
}


def stripe_invalid(message: str, param: str | None = None, *, code: str = "parameter_invalid") -> dict[str, Any]:
    error = fixture("stripe", "error.invalid_request.missing_param.json")["error"]
    error.update(message=message, param=param, code=code)
    return {"error": error}


class FakeStripe:
    def __init__(self) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.stored: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self.requests: list[httpx.Request] = []
        self.clock = int(time.time())  # `created` of the objects: the adapters list by recent creation
        self._ids = itertools.count(1)

    def install(self, router: respx.Router) -> None:
        base = re.escape(STRIPE_BASE)
        router.post(f"{STRIPE_BASE}/v1/payment_intents").mock(side_effect=self._idempotent(self._create))
        router.get(f"{STRIPE_BASE}/v1/payment_intents").mock(side_effect=self._list_intents)
        router.get(url__regex=rf"^{base}/v1/payment_intents/(?P<pi>[^/?]+)$").mock(side_effect=self._retrieve)
        router.post(url__regex=rf"^{base}/v1/payment_intents/(?P<pi>[^/?]+)/(?P<action>capture|cancel|confirm)$").mock(
            side_effect=self._idempotent(self._act)
        )
        router.post(f"{STRIPE_BASE}/v1/refunds").mock(side_effect=self._idempotent(self._refund))
        router.get(f"{STRIPE_BASE}/v1/refunds").mock(side_effect=self._list_refunds)

    # -- plumbing
    def _idempotent(self, handler: Handler) -> Callable[..., httpx.Response]:
        def respond(request: httpx.Request, **groups: str) -> httpx.Response:
            self.requests.append(request)
            params = dict(parse_qsl(request.content.decode("ascii"), keep_blank_values=True))
            key = request.headers.get("idempotency-key")
            fingerprint = request.url.path + "|" + json.dumps(sorted(params.items()))
            if key is not None and key in self.stored:
                first, status, body = self.stored[key]
                if first != fingerprint:
                    return httpx.Response(400, json=fixture("stripe", "error.idempotency_error.json"))
                return httpx.Response(status, json=body, headers={"Idempotent-Replayed": "true"})
            status, body = handler(params, **groups)
            if key is not None and status != 400:  # validation failures are not stored [V]
                self.stored[key] = (fingerprint, status, body)
            return httpx.Response(status, json=body)

        return respond

    @staticmethod
    def _missing(pi: str) -> tuple[int, dict[str, Any]]:
        return 404, stripe_invalid(f"No such payment_intent: '{pi}'", "intent", code="resource_missing")

    @staticmethod
    def _unexpected(intent: dict[str, Any], action: str) -> tuple[int, dict[str, Any]]:
        body = stripe_invalid(
            f"You cannot {action} this PaymentIntent because it has a status of {intent['status']}.",
            code="payment_intent_unexpected_state",  # [fake] code name
        )
        body["error"]["payment_intent"] = copy.deepcopy(intent)
        return 400, body

    def captured_total(self) -> int:
        return sum(intent["amount_received"] for intent in self.intents.values())

    def created_amounts(self) -> list[tuple[int, str]]:
        sent = [dict(parse_qsl(r.content.decode())) for r in self.requests if r.url.path == "/v1/payment_intents"]
        return [(int(p["amount"]), p["currency"]) for p in sent if p["amount"].isdigit()]

    # -- PaymentIntents
    def _create(self, p: dict[str, str]) -> tuple[int, dict[str, Any]]:
        for name in ("amount", "currency"):
            if name not in p:
                return 400, stripe_invalid(f"Missing required param: {name}.", name, code="parameter_missing")
        if not p["amount"].isdigit() or p["currency"] != p["currency"].lower():
            return 400, stripe_invalid("amount must be an integer and currency a lowercase ISO code", "amount")
        n = next(self._ids)
        intent = fixture("stripe", "payment_intent.created.json")
        intent.update(
            id=f"pi_fake{n:08d}",
            amount=int(p["amount"]),
            currency=p["currency"],
            created=self.clock + n,
            capture_method=p.get("capture_method", "automatic_async"),
            description=p.get("description"),
            payment_method=p.get("payment_method"),
            client_secret=f"pi_fake{n:08d}_secret_x",
            metadata={k[len("metadata[") : -1]: v for k, v in p.items() if k.startswith("metadata[")},
        )
        self.intents[intent["id"]] = intent
        if p.get("confirm") == "true":
            return self._confirm(intent)
        return 200, copy.deepcopy(intent)

    def _confirm(self, intent: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        method = intent["payment_method"]
        if method in STRIPE_DECLINES:
            code, decline_code, message = STRIPE_DECLINES[method]
            error = fixture("stripe", "error.card_declined.json")["error"]
            error.update(code=code, decline_code=decline_code, message=message, charge=f"ch_{intent['id']}")
            intent.update(status="requires_payment_method", payment_method=None, latest_charge=error["charge"])
            intent["last_payment_error"] = {k: error[k] for k in ("charge", "code", "decline_code", "message", "type")}
            error["payment_intent"] = copy.deepcopy(intent)
            return 402, {"error": {k: v for k, v in error.items() if v is not None}}
        intent.update(last_payment_error=None, latest_charge=f"ch_{intent['id']}")
        if intent["capture_method"] == "manual":
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
        else:
            intent.update(status="succeeded", amount_received=intent["amount"])
        return 200, copy.deepcopy(intent)

    def _retrieve(self, request: httpx.Request, pi: str) -> httpx.Response:
        self.requests.append(request)
        status, body = (200, copy.deepcopy(self.intents[pi])) if pi in self.intents else self._missing(pi)
        return httpx.Response(status, json=body)

    def _act(self, p: dict[str, str], pi: str, action: str) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(pi)
        if intent is None:
            return self._missing(pi)
        if action == "confirm":
            if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
                return self._unexpected(intent, "confirm")
            intent["payment_method"] = p.get("payment_method", intent["payment_method"])
            return self._confirm(intent)
        if action == "capture":
            if intent["status"] != "requires_capture":
                return self._unexpected(intent, "capture")
            amount = int(p.get("amount_to_capture", intent["amount_capturable"]))
            if amount > intent["amount_capturable"]:
                return 400, stripe_invalid("amount_to_capture exceeds amount_capturable", "amount_to_capture")
            intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        else:
            if intent["status"] in ("succeeded", "canceled", "processing"):
                return self._unexpected(intent, "cancel")
            intent.update(status="canceled", amount_capturable=0, canceled_at=self.clock + 600)
            intent["cancellation_reason"] = p.get("cancellation_reason")
        return 200, copy.deepcopy(intent)

    def _list_intents(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        query = request.url.params
        since = int(query.get("created[gte]", "0"))
        newest_first = sorted(self.intents.values(), key=lambda i: i["created"], reverse=True)
        return httpx.Response(200, json=self._page(request, [i for i in newest_first if i["created"] >= since]))

    @staticmethod
    def _page(request: httpx.Request, items: list[dict[str, Any]]) -> dict[str, Any]:
        query = request.url.params
        after = query.get("starting_after")
        if after:
            ids = [item["id"] for item in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        limit = int(query.get("limit", "10"))
        envelope = fixture("stripe", "list.payment_intents.json")
        envelope.update(url=request.url.path, data=copy.deepcopy(items[:limit]), has_more=len(items) > limit)
        return envelope

    # -- Refunds
    def _refund(self, p: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(p.get("payment_intent", ""))
        if intent is None:
            return 400, stripe_invalid("No such payment_intent", "payment_intent", code="resource_missing")
        if intent["status"] != "succeeded":
            return 400, stripe_invalid("This PaymentIntent has no captured charge to refund.", "payment_intent")
        done = sum(r["amount"] for r in self.refunds if r["payment_intent"] == intent["id"])
        amount = int(p.get("amount", intent["amount_received"] - done))
        if amount <= 0 or done + amount > intent["amount_received"]:
            return 400, stripe_invalid("Refund amount is greater than the unrefunded amount.", "amount")
        refund = fixture("stripe", "refund.json")
        refund.update(
            id=f"re_fake{len(self.refunds) + 1:08d}",
            amount=amount,
            currency=intent["currency"],
            payment_intent=intent["id"],
            charge=intent["latest_charge"],
            created=self.clock + 3600 + len(self.refunds),
            reason=p.get("reason"),
            metadata={k[len("metadata[") : -1]: v for k, v in p.items() if k.startswith("metadata[")},
        )
        self.refunds.append(refund)
        return 200, copy.deepcopy(refund)

    def _list_refunds(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        pi = request.url.params.get("payment_intent")
        mine = [r for r in reversed(self.refunds) if pi is None or r["payment_intent"] == pi]
        page = self._page(request, mine)
        page["url"] = "/v1/refunds"
        return httpx.Response(200, json=page)


# ---------------------------------------------------------------- Adyen

ADYEN_BASE = "https://checkout-test.adyen.com/v71"
ADYEN_MERCHANT = "AcmeStorefrontECOM"
ADYEN_REQUIRED = ("amount", "merchantAccount", "paymentMethod", "reference", "returnUrl")  # [V]


def adyen_token(holder: str = "Ada Lovelace") -> str:
    """The Web Components `state.data` our storefront would post: the pack's encrypted test card."""
    method = fixture("adyen", "payments.request.card.json")["paymentMethod"]
    method["holderName"] = holder
    return json.dumps({"paymentMethod": method})


def adyen_error(status: int, code: str, message: str, kind: str = "validation") -> dict[str, Any]:
    return {"status": status, "errorCode": code, "message": message, "errorType": kind}


class FakeAdyen:
    """Checkout v71. Holder name "REFUSED" is refused and "3DS" asks for a redirect [fake triggers]."""

    def __init__(self) -> None:
        self.payments: dict[str, dict[str, Any]] = {}
        self.stored: dict[str, tuple[int, dict[str, Any]]] = {}
        self.requests: list[httpx.Request] = []
        self.notifications: list[tuple[str, str, bool]] = []  # (eventCode, payment psp, success) queued
        self._ids = itertools.count(1)

    def install(self, router: respx.Router) -> None:
        router.post(f"{ADYEN_BASE}/payments").mock(side_effect=self._idempotent(self._pay))
        router.post(f"{ADYEN_BASE}/payments/details").mock(side_effect=self._idempotent(self._details))
        router.post(
            url__regex=rf"^{re.escape(ADYEN_BASE)}/payments/(?P<psp>[^/]+)/(?P<kind>captures|cancels|refunds)$"
        ).mock(side_effect=self._idempotent(self._modify))

    def _psp(self) -> str:
        return f"FAKE{next(self._ids):012d}"

    def _idempotent(self, handler: Handler) -> Callable[..., httpx.Response]:
        def respond(request: httpx.Request, **groups: str) -> httpx.Response:
            self.requests.append(request)
            key = request.headers.get("idempotency-key")
            if key is not None and key in self.stored:
                status, body = self.stored[key]
            else:
                status, body = handler(json.loads(request.content), **groups)
                if key is not None:
                    self.stored[key] = (status, body)
            headers = {"Idempotency-Key": key} if key else {}  # echoed back [V]
            return httpx.Response(status, json=body, headers=headers)

        return respond

    def captured_total(self) -> int:
        return sum(p["captured"] for p in self.payments.values())

    def created_amounts(self) -> list[tuple[int, str]]:
        sent = [json.loads(r.content) for r in self.requests if r.url.path.endswith("/v71/payments")]
        return [(b["amount"]["value"], b["amount"]["currency"]) for b in sent if type(b["amount"]["value"]) is int]

    def _pay(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if "returnUrl" not in body:
            return 422, fixture("adyen", "error.422.validation.json")
        missing = [name for name in ADYEN_REQUIRED if name not in body]
        if missing:
            return 422, adyen_error(422, "702", f"Required field missing: {missing[0]}")  # [fake] code
        if body["merchantAccount"] != ADYEN_MERCHANT:
            return 403, fixture("adyen", "error.403.invalid_merchant.json")
        amount = body["amount"]
        if type(amount.get("value")) is not int or not re.fullmatch(r"[A-Z]{3}", str(amount.get("currency"))):
            return 422, adyen_error(422, "137", "Invalid amount specified")  # [fake] code
        psp, holder = self._psp(), body["paymentMethod"].get("holderName")
        if holder == "REFUSED":
            answer = fixture("adyen", "payments.response.refused.json")
            answer.update(pspReference=psp, merchantReference=body["reference"])
            return 200, answer
        manual = (body.get("additionalData") or {}).get("manualCapture") == "true"
        self.payments[psp] = {
            "amount": amount["value"],
            "currency": amount["currency"],
            "reference": body["reference"],
            "status": "redirect" if holder == "3DS" else "authorised",
            "manual": manual,
            "captured": 0 if manual or holder == "3DS" else amount["value"],
            "refunded": 0,
        }
        if holder == "3DS":
            answer = fixture("adyen", "payments.response.redirect_shopper.json")
        else:
            answer = fixture("adyen", "payments.response.authorised.json")
            answer["amount"] = dict(amount)
        answer.update(pspReference=psp, merchantReference=body["reference"])
        return 200, answer

    def _details(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        waiting = [psp for psp, p in self.payments.items() if p["status"] == "redirect"]
        if not body.get("details") or not waiting:
            return 422, adyen_error(422, "14_018", "Invalid payload provided")  # [fake] code
        psp = waiting[-1]
        payment = self.payments[psp]
        payment["status"] = "authorised"
        payment["captured"] = 0 if payment["manual"] else payment["amount"]
        answer = fixture("adyen", "payments_details.response.json")
        answer.update(pspReference=psp, merchantReference=payment["reference"])
        return 200, answer

    def _modify(self, body: dict[str, Any], psp: str, kind: str) -> tuple[int, dict[str, Any]]:
        payment = self.payments.get(psp)
        if payment is None:
            return 422, adyen_error(422, "167", "Original pspReference required for this operation")  # [fake]
        if body.get("merchantAccount") != ADYEN_MERCHANT:
            return 403, fixture("adyen", "error.403.invalid_merchant.json")
        value = (body.get("amount") or {}).get("value")
        if kind != "cancels" and type(value) is not int:
            return 422, adyen_error(422, "100", "Required field 'amount' is not provided.")  # [fake] code
        # Adyen queues a modification (201) and reports its outcome by webhook [V]; the fake decides at once.
        if kind == "captures":
            ok = payment["status"] == "authorised" and payment["manual"] and not payment["captured"]
            ok = ok and value <= payment["amount"]
            if ok:
                payment["captured"] = value
            event = "CAPTURE"
        elif kind == "cancels":
            ok = payment["status"] == "authorised" and not payment["captured"]
            if ok:
                payment["status"] = "cancelled"
            event = "CANCELLATION"
        else:
            ok = value <= payment["captured"] - payment["refunded"]
            if ok:
                payment["refunded"] += value
            event = "REFUND"
        self.notifications.append((event, psp, ok))
        answer = fixture("adyen", f"{kind}.response.json")
        answer.update(paymentPspReference=psp, pspReference=self._psp(), merchantAccount=body["merchantAccount"])
        answer["reference"] = body.get("reference")
        answer["merchantRefundReason"] = body.get("merchantRefundReason")
        if "amount" in body:
            answer["amount"] = body["amount"]
        return 201, {k: v for k, v in answer.items() if v is not None}
