"""The Stripe adapter against the contract pack: the requests it sends, how answers and errors map, webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from connectors.errors import (
    IdempotencyConflict,
    NotFound,
    PaymentDeclined,
    VendorMisconfigured,
    VendorRejected,
    VendorUnavailable,
    WebhookRejected,
)
from connectors.http import VendorClient, VendorHttpSettings
from connectors.money import Money
from connectors.payments.base import PaymentRequest
from connectors.payments.stripe import (
    IDEMPOTENCY_KEY_MAX,
    StripePayments,
    build,
    derive_idempotency_key,
    encode_form,
    form_pairs,
    to_payment,
)
from connectors.settings import StripeSettings
from tests.connectors.payments.fakes import fixture, fixture_bytes

BASE = "https://api.stripe.com"
PI = "pi_3SfrT0Lk2aBcDeFg1HiJkLmN"
VECTOR = fixture("stripe", "webhook_signature_vector.json")
SECRET = VECTOR["secret"]


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def adapter(*, now: float = 1767225615.0, retries: int = 2, **options: Any) -> StripePayments:
    client = VendorClient(
        "stripe",
        BASE,
        VendorHttpSettings(retries=retries, backoff_seconds=0.01, breaker_failures=50),
        headers={"Authorization": "Bearer sk_test_123", "Stripe-Version": "2026-06-24.dahlia"},
    )
    client.sleep = Sleeps()
    return StripePayments(client, webhook_secret=SECRET, now=lambda: now, **options)


@pytest.fixture
async def stripe() -> AsyncIterator[StripePayments]:
    made = adapter()
    yield made
    await made.aclose()


def form(request: httpx.Request) -> dict[str, str]:
    pairs = parse_qsl(request.content.decode("ascii"), keep_blank_values=True)
    assert len(pairs) == len(dict(pairs)), "no key twice"
    return dict(pairs)


def intent(name: str, **changes: Any) -> dict[str, Any]:
    body = fixture("stripe", f"payment_intent.{name}.json")
    body.update(changes)
    return body


def order(*, capture: bool = True, key: str = "order-10042", token: str = "pm_1SfrU2Lk2aBcDeFgPmAbCdEf"):
    return PaymentRequest(
        amount=Money(amount=4999, currency="EUR"),
        token=token,
        idempotency_key=key,
        reference="10042",
        capture=capture,
        email="ada@example.com",
        description="Order #10042",
    )


# ---------------------------------------------------------------- encoding


@pytest.mark.parametrize(
    "example",
    [
        "create_payment_intent",
        "create_and_confirm_payment_intent",
        "confirm_payment_intent",
        "capture_payment_intent",
        "cancel_payment_intent",
        "create_refund",
    ],
)
def test_form_encoding_matches_the_sdk_encoded_bodies_of_the_pack(example: str) -> None:
    case = fixture("stripe", "requests.form_encoded.json")[example]
    assert form_pairs(case["params"]) == [(name, str(value)) for name, value in case["encoded_pairs"]]
    assert encode_form(case["params"]).decode() == case["form_body"]


def test_form_encoding_of_nesting_lists_booleans_and_none() -> None:
    params = {"a": {"b": {"c": 1}}, "l": [{"x": True}, "y", None], "f": False, "n": None}
    assert form_pairs(params) == [("a[b][c]", "1"), ("l[0][x]", "true"), ("l[1]", "y"), ("f", "false")]


def test_idempotency_keys_are_per_operation_and_bounded() -> None:
    assert derive_idempotency_key("order-1", "create") == "order-1:create"
    assert derive_idempotency_key("order-1", "create") != derive_idempotency_key("order-1", "capture")
    long = derive_idempotency_key("k" * 300, "refund")
    assert len(long) <= IDEMPOTENCY_KEY_MAX and long == derive_idempotency_key("k" * 300, "refund")
    assert long != derive_idempotency_key("k" * 300, "capture")


# ---------------------------------------------------------------- create


@pytest.mark.anyio
@respx.mock
async def test_create_sends_a_confirmed_payment_intent(stripe: StripePayments) -> None:
    route = respx.post(f"{BASE}/v1/payment_intents").mock(return_value=httpx.Response(200, json=intent("succeeded")))
    payment = await stripe.create_payment(order())
    request = route.calls.last.request
    assert request.method == "POST" and request.url.path == "/v1/payment_intents"
    assert request.headers["authorization"] == "Bearer sk_test_123"
    assert request.headers["stripe-version"] == "2026-06-24.dahlia"
    assert request.headers["idempotency-key"] == "order-10042:create"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form(request) == {
        "amount": "4999",
        "currency": "eur",
        "payment_method": "pm_1SfrU2Lk2aBcDeFgPmAbCdEf",
        "confirm": "true",
        "payment_method_types[0]": "card",
        "description": "Order #10042",
        "metadata[order_id]": "10042",
    }
    assert payment.id == PI and payment.status == "captured" and payment.reference == "10042"
    assert payment.amount == payment.captured == Money(amount=4999, currency="EUR")


@pytest.mark.anyio
@respx.mock
async def test_capture_false_asks_for_manual_capture_and_maps_requires_capture(stripe: StripePayments) -> None:
    route = respx.post(f"{BASE}/v1/payment_intents").mock(
        return_value=httpx.Response(200, json=intent("requires_capture"))
    )
    payment = await stripe.create_payment(order(capture=False))
    assert form(route.calls.last.request)["capture_method"] == "manual"
    assert payment.status == "authorized" and payment.captured == Money(amount=0, currency="EUR")


@pytest.mark.anyio
@respx.mock
async def test_a_card_decline_raises_with_the_decline_code_and_the_shopper_message(stripe: StripePayments) -> None:
    respx.post(f"{BASE}/v1/payment_intents").mock(
        return_value=httpx.Response(402, json=fixture("stripe", "error.card_declined.json"))
    )
    with pytest.raises(PaymentDeclined) as declined:
        await stripe.create_payment(order())
    assert declined.value.code == "generic_decline" and str(declined.value) == "Your card was declined."
    assert declined.value.vendor == "stripe"


@pytest.mark.anyio
@respx.mock
async def test_an_intent_that_needs_the_shopper_is_a_failed_payment_marked_requires_action(
    stripe: StripePayments,
) -> None:
    respx.post(f"{BASE}/v1/payment_intents").mock(return_value=httpx.Response(200, json=intent("requires_action")))
    payment = await stripe.create_payment(order())
    assert payment.status == "failed" and payment.decline_code == "requires_action" and payment.id == PI


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("error.idempotency_error.json", 400, IdempotencyConflict),
        ("error.invalid_request.missing_param.json", 400, VendorRejected),
        ("error.rate_limit.json", 400, VendorUnavailable),  # old accounts: rate limits as 400 [V]
    ],
)
@pytest.mark.anyio
@respx.mock
async def test_error_bodies_map_to_normalized_errors(
    stripe: StripePayments, body: str, status: int, error: type[Exception]
) -> None:
    route = respx.post(f"{BASE}/v1/payment_intents").mock(
        return_value=httpx.Response(status, json=fixture("stripe", body))
    )
    with pytest.raises(error):
        await stripe.create_payment(order())
    assert route.call_count == 1


@pytest.mark.anyio
@respx.mock
async def test_a_concurrent_use_of_the_key_is_retryable(stripe: StripePayments) -> None:
    body = {"error": {"type": "idempotency_error", "message": "There is currently another in-progress request"}}
    respx.post(f"{BASE}/v1/payment_intents").mock(return_value=httpx.Response(409, json=body))
    with pytest.raises(VendorUnavailable) as busy:
        await stripe.create_payment(order())
    assert busy.value.retryable is True


@pytest.mark.anyio
@respx.mock
async def test_5xx_is_retried_with_the_same_idempotency_key(stripe: StripePayments) -> None:
    route = respx.post(f"{BASE}/v1/payment_intents").mock(
        side_effect=[httpx.Response(500), httpx.Response(503), httpx.Response(200, json=intent("succeeded"))]
    )
    payment = await stripe.create_payment(order())
    assert payment.status == "captured" and route.call_count == 3
    assert {call.request.headers["idempotency-key"] for call in route.calls} == {"order-10042:create"}
    assert len({call.request.content for call in route.calls}) == 1


@pytest.mark.anyio
@respx.mock
async def test_429_waits_for_retry_after() -> None:
    stripe = adapter()
    route = respx.post(f"{BASE}/v1/payment_intents").mock(
        side_effect=[
            httpx.Response(429, json=fixture("stripe", "error.rate_limit.json"), headers={"Retry-After": "2"}),
            httpx.Response(200, json=intent("succeeded")),
        ]
    )
    await stripe.create_payment(order())
    assert route.call_count == 2 and stripe.client.sleep.waits == [2.0]  # type: ignore[attr-defined]
    await stripe.aclose()


@pytest.mark.anyio
@respx.mock
async def test_401_is_a_misconfiguration(stripe: StripePayments) -> None:
    body = {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_***123"}}
    respx.post(f"{BASE}/v1/payment_intents").mock(return_value=httpx.Response(401, json=body))
    with pytest.raises(VendorMisconfigured):
        await stripe.create_payment(order())


# ---------------------------------------------------------------- capture, cancel, refund, confirm


@pytest.mark.anyio
@respx.mock
async def test_capture_all_sends_no_amount(stripe: StripePayments) -> None:
    route = respx.post(f"{BASE}/v1/payment_intents/{PI}/capture").mock(
        return_value=httpx.Response(200, json=intent("succeeded", capture_method="manual"))
    )
    payment = await stripe.capture(PI, idempotency_key="cap-1")
    assert route.calls.last.request.headers["idempotency-key"] == "cap-1:capture"
    assert form(route.calls.last.request) == {}
    assert payment.status == "captured" and payment.captured.amount == 4999


@pytest.mark.anyio
@respx.mock
async def test_partial_capture_checks_the_currency_and_sends_amount_to_capture(stripe: StripePayments) -> None:
    respx.get(f"{BASE}/v1/payment_intents/{PI}").mock(return_value=httpx.Response(200, json=intent("requires_capture")))
    route = respx.post(f"{BASE}/v1/payment_intents/{PI}/capture").mock(
        return_value=httpx.Response(200, json=intent("succeeded", amount_received=3000, capture_method="manual"))
    )
    payment = await stripe.capture(PI, Money(amount=3000, currency="EUR"), idempotency_key="cap-1")
    assert form(route.calls.last.request) == {"amount_to_capture": "3000"}
    assert payment.captured == Money(amount=3000, currency="EUR") and payment.amount.amount == 4999
    with pytest.raises(VendorRejected):
        await stripe.capture(PI, Money(amount=3000, currency="USD"), idempotency_key="cap-2")
    assert route.call_count == 1


@pytest.mark.anyio
@respx.mock
async def test_an_unknown_payment_is_not_found(stripe: StripePayments) -> None:
    body = {"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such payment_intent"}}
    respx.post(f"{BASE}/v1/payment_intents/pi_nope/capture").mock(return_value=httpx.Response(404, json=body))
    with pytest.raises(NotFound):
        await stripe.capture("pi_nope", idempotency_key="cap-1")


@pytest.mark.anyio
@respx.mock
async def test_ids_cannot_leave_the_payment_intents_path(stripe: StripePayments) -> None:
    route = respx.post(url__regex=r".*").mock(return_value=httpx.Response(200, json=intent("canceled")))
    await stripe.cancel("../../v1/refunds", idempotency_key="c1")
    assert route.calls.last.request.url.raw_path == b"/v1/payment_intents/..%2F..%2Fv1%2Frefunds/cancel"


@pytest.mark.anyio
@respx.mock
async def test_cancel_maps_canceled(stripe: StripePayments) -> None:
    route = respx.post(f"{BASE}/v1/payment_intents/{PI}/cancel").mock(
        return_value=httpx.Response(200, json=intent("canceled"))
    )
    payment = await stripe.cancel(PI, idempotency_key="order-10042-cancel")
    assert route.calls.last.request.headers["idempotency-key"] == "order-10042-cancel:cancel"
    assert payment.status == "cancelled" and payment.captured.amount == 0


def refund_list(*amounts_and_statuses: tuple[int, str]) -> dict[str, Any]:
    refunds = []
    for n, (amount, status) in enumerate(amounts_and_statuses):
        refund = fixture("stripe", "refund.json")
        refund.update(id=f"re_{n}", amount=amount, status=status)
        refunds.append(refund)
    return {"object": "list", "url": "/v1/refunds", "has_more": False, "data": refunds}


@pytest.mark.anyio
@respx.mock
async def test_refund_sends_the_intent_amount_and_order_and_sums_the_live_refunds(stripe: StripePayments) -> None:
    respx.get(f"{BASE}/v1/payment_intents/{PI}").mock(return_value=httpx.Response(200, json=intent("succeeded")))
    route = respx.post(f"{BASE}/v1/refunds").mock(
        return_value=httpx.Response(200, json=fixture("stripe", "refund.json"))
    )
    listed = respx.get(f"{BASE}/v1/refunds").mock(
        return_value=httpx.Response(200, json=refund_list((1500, "succeeded"), (700, "failed")))
    )
    payment = await stripe.refund(PI, Money(amount=1500, currency="EUR"), idempotency_key="rma-7")
    request = route.calls.last.request
    assert request.headers["idempotency-key"] == "rma-7:refund"
    assert form(request) == {"payment_intent": PI, "amount": "1500", "metadata[order_id]": "10042"}
    assert dict(listed.calls.last.request.url.params) == {"payment_intent": PI, "limit": "100"}
    assert payment.status == "captured" and payment.refunded == Money(amount=1500, currency="EUR")

    listed.mock(return_value=httpx.Response(200, json=refund_list((1500, "succeeded"), (3499, "pending"))))
    full = await stripe.refund(PI, idempotency_key="rma-8")
    assert form(route.calls.last.request) == {"payment_intent": PI, "metadata[order_id]": "10042"}
    assert full.status == "refunded" and full.refunded.amount == 4999


@pytest.mark.anyio
@respx.mock
async def test_confirm_posts_the_details_without_the_redirect_parameters(stripe: StripePayments) -> None:
    route = respx.post(f"{BASE}/v1/payment_intents/{PI}/confirm").mock(
        return_value=httpx.Response(200, json=intent("requires_capture"))
    )
    details = {
        "payment_method": "pm_1SfrU2Lk2aBcDeFgPmAbCdEf",
        "return_url": "https://shop.example.com/checkout/return",
        "payment_intent_client_secret": "pi_secret",
        "redirect_status": "succeeded",
    }
    payment = await stripe.confirm(PI, details, idempotency_key="order-10042")
    case = fixture("stripe", "requests.form_encoded.json")["confirm_payment_intent"]
    assert route.calls.last.request.content.decode() == case["form_body"]
    assert route.calls.last.request.headers["idempotency-key"] == "order-10042:confirm"
    assert payment.status == "authorized"


@pytest.mark.anyio
@respx.mock
async def test_confirm_of_an_intent_the_browser_confirmed_reports_it(stripe: StripePayments) -> None:
    body = {
        "error": {
            "type": "invalid_request_error",
            "code": "payment_intent_unexpected_state",
            "message": "This PaymentIntent's status is requires_capture",
            "payment_intent": intent("requires_capture"),
        }
    }
    route = respx.post(f"{BASE}/v1/payment_intents/{PI}/confirm").mock(return_value=httpx.Response(400, json=body))
    assert (await stripe.confirm(PI, {}, idempotency_key="k")).status == "authorized"
    body["error"]["payment_intent"] = intent("canceled")
    route.mock(return_value=httpx.Response(400, json=body))
    with pytest.raises(VendorRejected):
        await stripe.confirm(PI, {}, idempotency_key="k2")


@pytest.mark.anyio
@respx.mock
async def test_a_declined_confirm_raises(stripe: StripePayments) -> None:
    respx.post(f"{BASE}/v1/payment_intents/{PI}/confirm").mock(
        return_value=httpx.Response(402, json=fixture("stripe", "error.card_declined.json"))
    )
    with pytest.raises(PaymentDeclined):
        await stripe.confirm(PI, {"payment_method": "pm_card_chargeDeclined"}, idempotency_key="k")


def test_status_mapping_of_every_pack_example() -> None:
    assert to_payment(intent("created")).status == "failed"
    assert to_payment(intent("requires_capture")).status == "authorized"
    assert to_payment(intent("succeeded")).status == "captured"
    assert to_payment(intent("succeeded"), refunded=4999).status == "refunded"
    assert to_payment(intent("succeeded"), refunded=4998).status == "captured"
    assert to_payment(intent("canceled")).status == "cancelled"
    assert to_payment(intent("succeeded", status="processing", amount_received=0)).status == "authorized"
    declined = to_payment(fixture("stripe", "error.card_declined.json")["error"]["payment_intent"])
    assert declined.status == "failed" and declined.decline_code == "generic_decline"
    assert declined.message == "Your card was declined." and declined.reference == "10042"
    with pytest.raises(VendorUnavailable):
        to_payment({"object": "list"})


# ---------------------------------------------------------------- find_payment


def page(*intents: dict[str, Any], has_more: bool = False) -> dict[str, Any]:
    envelope = fixture("stripe", "list.payment_intents.json")
    envelope.update(data=list(intents), has_more=has_more)
    return envelope


@pytest.mark.anyio
@respx.mock
async def test_find_payment_pages_through_recent_intents_and_matches_the_order_metadata() -> None:
    stripe = adapter(now=1767225615.0, find_lookback_seconds=3600)
    other = intent("succeeded", id="pi_other", metadata={"order_id": "10041"})
    route = respx.get(f"{BASE}/v1/payment_intents").mock(
        side_effect=[
            httpx.Response(200, json=page(other, has_more=True)),
            httpx.Response(200, json=page(intent("requires_capture"), has_more=True)),
        ]
    )
    found = await stripe.find_payment("10042")
    assert found is not None and found.id == PI and found.status == "authorized"
    first, second = (dict(call.request.url.params) for call in route.calls)
    assert first == {"limit": "100", "created[gte]": str(1767225615 - 3600)}
    assert second == {**first, "starting_after": "pi_other"}
    await stripe.aclose()


@pytest.mark.anyio
@respx.mock
async def test_find_payment_gives_none_after_the_last_page_and_refuses_to_guess_past_its_budget() -> None:
    stripe = adapter(find_max_pages=2)
    other = intent("succeeded", id="pi_other", metadata={"order_id": "10041"})
    respx.get(f"{BASE}/v1/payment_intents").mock(return_value=httpx.Response(200, json=page(other)))
    assert await stripe.find_payment("10042") is None
    respx.get(f"{BASE}/v1/payment_intents").mock(return_value=httpx.Response(200, json=page(other, has_more=True)))
    with pytest.raises(VendorUnavailable) as unknown:
        await stripe.find_payment("10042")
    assert unknown.value.retryable is False
    await stripe.aclose()


@pytest.mark.anyio
@respx.mock
async def test_find_payment_counts_refunds(stripe: StripePayments) -> None:
    respx.get(f"{BASE}/v1/payment_intents").mock(return_value=httpx.Response(200, json=page(intent("succeeded"))))
    respx.get(f"{BASE}/v1/refunds").mock(return_value=httpx.Response(200, json=refund_list((4999, "succeeded"))))
    found = await stripe.find_payment("10042")
    assert found is not None and found.status == "refunded"


# ---------------------------------------------------------------- webhooks


PAYLOAD = fixture_bytes("stripe", VECTOR["payload_file"])


def test_the_payload_fixture_is_the_signed_bytes() -> None:
    assert hashlib.sha256(PAYLOAD).hexdigest() == VECTOR["payload_sha256"]


@pytest.mark.parametrize("case", VECTOR["cases"], ids=[case["name"] for case in VECTOR["cases"]])
def test_the_packs_signature_vector(case: dict[str, Any]) -> None:
    stripe = StripePayments(
        VendorClient("stripe", BASE), webhook_secret=SECRET, webhook_tolerance_seconds=case["tolerance"],
        now=lambda: case["now"],
    )  # fmt: skip
    headers = {"Stripe-Signature": case["header"]}
    if case["expect"] == "valid":
        [event] = stripe.parse_webhook(PAYLOAD, headers)
        assert event.id == "evt_3SfrT0Lk2aBcDeFg0EvEnT01" and event.type == "captured"
        assert event.payment_id == PI and event.reference == "10042"
        assert event.amount == Money(amount=4999, currency="EUR")
        assert event.occurred_at is not None and int(event.occurred_at.timestamp()) == 1767225605
    else:
        with pytest.raises(WebhookRejected):
            stripe.parse_webhook(PAYLOAD, headers)


def sign(body: bytes, t: int, secret: str = SECRET) -> dict[str, str]:
    signature = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={t},v1={signature}"}


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (PAYLOAD.replace(b"4999", b"1", 1), {"Stripe-Signature": VECTOR["header"]}, "does not match"),
        (PAYLOAD, sign(PAYLOAD, 1767225605, "whsec_wrong"), "does not match"),
        (PAYLOAD, sign(PAYLOAD, 1767225615 + 301), "tolerance"),  # from the future, beyond the tolerance
        (PAYLOAD, {}, "no Stripe-Signature"),
        (PAYLOAD, {"Stripe-Signature": "v1=abc"}, "no timestamp"),
        (PAYLOAD, {"Stripe-Signature": "t=soon,v1=abc"}, "malformed"),
    ],
)
def test_webhooks_that_do_not_verify_are_rejected(body: bytes, headers: dict[str, str], reason: str) -> None:
    with pytest.raises(WebhookRejected, match=reason):
        adapter().parse_webhook(body, headers)


def test_webhooks_are_refused_without_a_secret() -> None:
    stripe = StripePayments(VendorClient("stripe", BASE), webhook_secret=None)
    with pytest.raises(WebhookRejected, match="webhook_secret"):
        stripe.parse_webhook(PAYLOAD, {"Stripe-Signature": VECTOR["header"]})


def event(kind: str, data: dict[str, Any]) -> bytes:
    body = fixture("stripe", "event.payment_intent.succeeded.json")
    body.update(type=kind, id=f"evt_{kind}")
    body["data"] = {"object": data}
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("kind", "data", "expected", "amount"),
    [
        ("payment_intent.amount_capturable_updated", intent("requires_capture"), "authorized", 4999),
        ("payment_intent.succeeded", intent("succeeded", amount_received=3000), "captured", 3000),
        ("payment_intent.payment_failed", fixture("stripe", "error.card_declined.json")["error"]["payment_intent"],
         "failed", 4999),
        ("payment_intent.canceled", intent("canceled"), "cancelled", 4999),
    ],
)  # fmt: skip
def test_payment_intent_events_map_to_payment_events(
    kind: str, data: dict[str, Any], expected: str, amount: int
) -> None:
    body = event(kind, data)
    [mapped] = adapter().parse_webhook(body, sign(body, 1767225610))
    assert mapped.type == expected and mapped.id == f"evt_{kind}" and mapped.payment_id == PI
    assert mapped.reference == "10042" and mapped.amount == Money(amount=amount, currency="EUR")


def test_charge_refunded_maps_to_refunded_with_the_cumulative_amount() -> None:
    charge = {
        "id": "ch_3SfrT0Lk2aBcDeFg0ChArGe1",
        "object": "charge",
        "amount": 4999,
        "amount_captured": 4999,
        "amount_refunded": 1500,
        "currency": "eur",
        "metadata": {},
        "payment_intent": PI,
        "refunded": False,
    }
    body = event("charge.refunded", charge)
    [mapped] = adapter().parse_webhook(body, sign(body, 1767225610))
    assert mapped.type == "refunded" and mapped.payment_id == PI and mapped.reference == ""
    assert mapped.amount == Money(amount=1500, currency="EUR")


def test_other_events_are_verified_and_ignored() -> None:
    body = event("payment_intent.created", intent("created"))
    assert adapter().parse_webhook(body, sign(body, 1767225610)) == []
    body = event("payment_intent.amount_capturable_updated", intent("succeeded"))  # capturable went to 0
    assert adapter().parse_webhook(body, sign(body, 1767225610)) == []
    with pytest.raises(WebhookRejected, match="not a Stripe event"):
        adapter().parse_webhook(b"[]", sign(b"[]", 1767225610))
    broken = event("payment_intent.succeeded", {"id": PI})
    with pytest.raises(WebhookRejected, match="expected fields"):
        adapter().parse_webhook(broken, sign(broken, 1767225610))


# ---------------------------------------------------------------- build


@pytest.mark.anyio
@respx.mock
async def test_build_wires_the_settings() -> None:
    settings = StripeSettings.model_validate(
        dict(
            secret_key="sk_test_abc",
            webhook_secret=SECRET,
            api_version="2026-06-24.dahlia",
            webhook_tolerance_seconds=60,
        )
    )
    stripe = build(settings)
    route = respx.post(f"{BASE}/v1/payment_intents").mock(return_value=httpx.Response(200, json=intent("succeeded")))
    await stripe.create_payment(order())
    headers = route.calls.last.request.headers
    assert headers["authorization"] == "Bearer sk_test_abc" and headers["stripe-version"] == "2026-06-24.dahlia"
    assert stripe.vendor == "stripe" and stripe.client.vendor == "stripe"
    await stripe.aclose()
    unpinned = build(StripeSettings.model_validate(dict(secret_key="sk_test_abc")))
    assert "Stripe-Version" not in unpinned.client.headers
    with pytest.raises(WebhookRejected, match="webhook_secret"):
        unpinned.parse_webhook(PAYLOAD, {"Stripe-Signature": VECTOR["header"]})
    await unpinned.aclose()
