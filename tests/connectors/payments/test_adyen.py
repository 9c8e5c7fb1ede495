"""The Adyen adapter against the contract pack: requests, resultCodes, ServiceErrors, modifications, webhooks."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from connectors.errors import (
    NotFound,
    PaymentDeclined,
    VendorMisconfigured,
    VendorRejected,
    VendorUnavailable,
    WebhookRejected,
)
from connectors.http import VendorClient, VendorHttpSettings
from connectors.money import Money
from connectors.payments.adyen import (
    IDEMPOTENCY_KEY_MAX,
    AdyenPayments,
    base_url,
    build,
    derive_idempotency_key,
    hmac_signature,
    payment_method_from_token,
    signing_string,
)
from connectors.payments.base import PaymentRequest
from connectors.settings import AdyenSettings
from tests.connectors.payments.fakes import fixture

BASE = "https://checkout-test.adyen.com/v71"
MERCHANT = "AcmeStorefrontECOM"
PSP = "RZ7H8V3JQG5X9L82"
RETURN_URL = "https://shop.example.com/checkout/adyen/return?orderId=10042"
VECTOR = fixture("adyen", "hmac_signature_vector.json")
HMAC_KEY = VECTOR["hmac_key_hex"]
CARD = fixture("adyen", "payments.request.card.json")


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def adapter(*, hmac_key: str | None = HMAC_KEY, live: bool = False, return_url: str | None = RETURN_URL):
    client = VendorClient(
        "adyen", BASE, VendorHttpSettings(backoff_seconds=0.01, breaker_failures=50), headers={"X-API-Key": "AQE_k"}
    )
    client.sleep = Sleeps()
    return AdyenPayments(client, merchant_account=MERCHANT, hmac_key=hmac_key, return_url=return_url, live=live)


@pytest.fixture
async def adyen() -> AsyncIterator[AdyenPayments]:
    made = adapter()
    yield made
    await made.aclose()


def state_data() -> str:
    return json.dumps(
        {"paymentMethod": CARD["paymentMethod"], "browserInfo": {"userAgent": "x"}, "clientStateDataIndicator": True}
    )


def order(*, capture: bool = True, key: str = "order-10042", token: str | None = None) -> PaymentRequest:
    return PaymentRequest(
        amount=Money(amount=4999, currency="EUR"),
        token=token or state_data(),
        idempotency_key=key,
        reference="order-10042",
        capture=capture,
        email="ada@example.com",
        description="Order #10042",
    )


def answer(name: str, status: int = 200, **changes: Any) -> httpx.Response:
    body = fixture("adyen", name)
    body.update(changes)
    return httpx.Response(status, json=body)


# ---------------------------------------------------------------- settings, tokens, keys


def test_base_urls_follow_the_environment() -> None:
    test = AdyenSettings.model_validate(dict(api_key="k", merchant_account=MERCHANT))
    assert base_url(test) == "https://checkout-test.adyen.com/v71"
    live = AdyenSettings.model_validate(
        dict(api_key="k", merchant_account=MERCHANT, environment="live", live_url_prefix="1797a841fbb37ca7-AdyenDemo")
    )
    assert base_url(live) == "https://1797a841fbb37ca7-AdyenDemo-checkout-live.adyenpayments.com/checkout/v71"
    with pytest.raises(VendorMisconfigured, match="live_url_prefix"):
        base_url(AdyenSettings.model_validate(dict(api_key="k", merchant_account=MERCHANT, environment="live")))
    proxy = AdyenSettings.model_validate(
        dict(api_key="k", merchant_account=MERCHANT, base_url="https://adyen.proxy.test/v71/")
    )
    assert base_url(proxy) == "https://adyen.proxy.test/v71"


def test_the_token_is_web_components_state_data() -> None:
    assert payment_method_from_token(state_data()) == {
        "paymentMethod": CARD["paymentMethod"],
        "browserInfo": {"userAgent": "x"},
    }
    assert payment_method_from_token(json.dumps(CARD["paymentMethod"])) == {"paymentMethod": CARD["paymentMethod"]}
    for bad in ("pm_card_visa", "[]", '{"encryptedCardNumber": "x"}', '{"paymentMethod": "scheme"}'):
        with pytest.raises(VendorRejected):
            payment_method_from_token(bad)


def test_idempotency_keys_are_per_operation_and_at_most_64_characters() -> None:
    assert derive_idempotency_key("order-10042", "create") == "order-10042:create"
    long = derive_idempotency_key("order-" + "9" * 60, "create")
    assert len(long) == IDEMPOTENCY_KEY_MAX and long != derive_idempotency_key("order-" + "9" * 60, "refund")


def test_a_hmac_key_that_is_not_hex_is_a_misconfiguration() -> None:
    with pytest.raises(VendorMisconfigured, match="hmac_key"):
        adapter(hmac_key="not-hex")


# ---------------------------------------------------------------- /payments


@pytest.mark.anyio
@respx.mock
async def test_create_posts_the_payment_request(adyen: AdyenPayments) -> None:
    route = respx.post(f"{BASE}/payments").mock(return_value=answer("payments.response.authorised.json"))
    payment = await adyen.create_payment(order())
    request = route.calls.last.request
    assert request.method == "POST" and request.url.path == "/v71/payments"
    assert request.headers["x-api-key"] == "AQE_k" and request.headers["idempotency-key"] == "order-10042:create"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "amount": {"currency": "EUR", "value": 4999},
        "reference": "order-10042",
        "paymentMethod": CARD["paymentMethod"],
        "browserInfo": {"userAgent": "x"},
        "returnUrl": RETURN_URL,
        "merchantAccount": MERCHANT,
        "shopperEmail": "ada@example.com",
    }
    assert payment.id == PSP and payment.reference == "order-10042"
    assert payment.status == "captured" and payment.captured == payment.amount == Money(amount=4999, currency="EUR")


@pytest.mark.anyio
@respx.mock
async def test_capture_false_asks_for_manual_capture(adyen: AdyenPayments) -> None:
    route = respx.post(f"{BASE}/payments").mock(return_value=answer("payments.response.authorised.json"))
    payment = await adyen.create_payment(order(capture=False))
    assert json.loads(route.calls.last.request.content)["additionalData"] == {"manualCapture": "true"}
    assert payment.status == "authorized" and payment.captured == Money(amount=0, currency="EUR")


@pytest.mark.anyio
@respx.mock
async def test_a_refusal_raises_with_the_refusal_reason_code(adyen: AdyenPayments) -> None:
    respx.post(f"{BASE}/payments").mock(return_value=answer("payments.response.refused.json"))
    with pytest.raises(PaymentDeclined) as declined:
        await adyen.create_payment(order())
    assert declined.value.code == "2" and str(declined.value) == "Your payment was declined."
    respx.post(f"{BASE}/payments").mock(
        return_value=answer(
            "payments.response.refused.json", refusalReasonCode="12", refusalReason="Not enough balance"
        )
    )
    with pytest.raises(PaymentDeclined, match="insufficient funds"):
        await adyen.create_payment(order())
    respx.post(f"{BASE}/payments").mock(return_value=httpx.Response(200, json={"resultCode": "Error"}))
    with pytest.raises(PaymentDeclined) as failed:
        await adyen.create_payment(order())
    assert failed.value.code == "error"


@pytest.mark.anyio
@respx.mock
async def test_a_redirect_is_a_failed_payment_that_confirm_completes(adyen: AdyenPayments) -> None:
    respx.post(f"{BASE}/payments").mock(return_value=answer("payments.response.redirect_shopper.json"))
    pending = await adyen.create_payment(order(capture=False))
    assert pending.status == "failed" and pending.decline_code == "requires_action" and pending.id == PSP
    details = fixture("adyen", "payments_details.request.json")
    route = respx.post(f"{BASE}/payments/details").mock(return_value=answer("payments_details.response.json"))
    confirmed = await adyen.confirm(PSP, details["details"], idempotency_key="order-10042")
    assert json.loads(route.calls.last.request.content) == details
    assert route.calls.last.request.headers["idempotency-key"] == "order-10042:confirm"
    assert confirmed.status == "authorized" and confirmed.amount == Money(amount=4999, currency="EUR")
    assert confirmed.reference == "order-10042" and confirmed.decline_code is None


@pytest.mark.anyio
@respx.mock
async def test_confirm_of_a_payment_this_process_never_saw_reports_authorized_only(adyen: AdyenPayments) -> None:
    respx.post(f"{BASE}/payments/details").mock(return_value=answer("payments_details.response.json"))
    confirmed = await adyen.confirm(PSP, {"redirectResult": "X6Xt"}, idempotency_key="k")
    assert confirmed.status == "authorized" and confirmed.amount.currency == "XXX"


@pytest.mark.anyio
@respx.mock
async def test_pending_result_codes_are_authorized_with_a_note(adyen: AdyenPayments) -> None:
    respx.post(f"{BASE}/payments").mock(
        return_value=httpx.Response(200, json={"resultCode": "Received", "pspReference": PSP})
    )
    payment = await adyen.create_payment(order())
    assert payment.status == "authorized" and "pending" in payment.message
    respx.post(f"{BASE}/payments").mock(return_value=httpx.Response(200, json={"resultCode": "Surprise"}))
    with pytest.raises(VendorRejected, match="Surprise"):
        await adyen.create_payment(order(key="other"))


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (422, "error.422.validation.json", VendorRejected),
        (401, "error.401.json", VendorMisconfigured),
        (403, "error.403.invalid_merchant.json", VendorMisconfigured),
    ],
)
@pytest.mark.anyio
@respx.mock
async def test_service_errors_map_to_normalized_errors(
    adyen: AdyenPayments, status: int, body: str, error: type[Exception]
) -> None:
    route = respx.post(f"{BASE}/payments").mock(return_value=answer(body, status))
    with pytest.raises(error) as caught:
        await adyen.create_payment(order())
    assert route.call_count == 1 and caught.value.vendor == "adyen"  # type: ignore[attr-defined]
    if status == 422:
        assert "14_030" in str(caught.value) and "Return URL is missing." in str(caught.value)


@pytest.mark.anyio
@respx.mock
async def test_a_transient_error_is_retryable_with_the_same_key(adyen: AdyenPayments) -> None:
    body = {"status": 422, "errorCode": "000", "message": "NO_CONNECTION_AVAILABLE", "errorType": "internal"}
    respx.post(f"{BASE}/payments").mock(
        return_value=httpx.Response(422, json=body, headers={"Transient-Error": "true"})
    )
    with pytest.raises(VendorUnavailable) as busy:
        await adyen.create_payment(order())
    assert busy.value.retryable is True


@pytest.mark.anyio
@respx.mock
async def test_5xx_is_retried_with_the_same_idempotency_key(adyen: AdyenPayments) -> None:
    route = respx.post(f"{BASE}/payments").mock(
        side_effect=[httpx.Response(500, json={"status": 500}), answer("payments.response.authorised.json")]
    )
    await adyen.create_payment(order())
    assert [c.request.headers["idempotency-key"] for c in route.calls] == ["order-10042:create"] * 2


@pytest.mark.anyio
@respx.mock
async def test_429_waits_for_retry_after(adyen: AdyenPayments) -> None:
    route = respx.post(f"{BASE}/payments").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "1"}), answer("payments.response.authorised.json")]
    )
    await adyen.create_payment(order())
    assert route.call_count == 2 and adyen.client.sleep.waits == [1.0]  # type: ignore[attr-defined]


@pytest.mark.anyio
@respx.mock
async def test_nothing_is_sent_without_a_usable_token_or_a_return_url() -> None:
    route = respx.post(f"{BASE}/payments").mock(return_value=answer("payments.response.authorised.json"))
    with pytest.raises(VendorRejected):
        await adapter().create_payment(order(token="pm_card_visa"))
    with pytest.raises(VendorMisconfigured, match="returnUrl"):
        await adapter(return_url=None).create_payment(order())
    assert route.call_count == 0


@pytest.mark.anyio
async def test_find_payment_says_it_cannot(adyen: AdyenPayments) -> None:
    with pytest.raises(VendorUnavailable, match="cannot look a payment up") as unknown:
        await adyen.find_payment("order-10042")
    assert unknown.value.retryable is False


# ---------------------------------------------------------------- modifications


@pytest.mark.anyio
@respx.mock
async def test_capture_posts_the_amount_and_the_order_reference(adyen: AdyenPayments) -> None:
    respx.post(f"{BASE}/payments").mock(return_value=answer("payments.response.authorised.json"))
    await adyen.create_payment(order(capture=False))
    route = respx.post(f"{BASE}/payments/{PSP}/captures").mock(return_value=answer("captures.response.json", 201))
    payment = await adyen.capture(PSP, idempotency_key="order-10042-capture-1")
    request = route.calls.last.request
    assert request.headers["idempotency-key"] == "order-10042-capture-1:capture"
    assert json.loads(request.content) == {
        **fixture("adyen", "captures.request.json"),
        "reference": "order-10042",  # the order id, so the CAPTURE webhook names it
    }
    assert payment.status == "captured" and payment.captured == Money(amount=4999, currency="EUR")


@pytest.mark.anyio
@respx.mock
async def test_cancel_posts_the_merchant_account(adyen: AdyenPayments) -> None:
    respx.post(f"{BASE}/payments").mock(return_value=answer("payments.response.authorised.json"))
    await adyen.create_payment(order(capture=False))
    route = respx.post(f"{BASE}/payments/{PSP}/cancels").mock(return_value=answer("cancels.response.json", 201))
    payment = await adyen.cancel(PSP, idempotency_key="order-10042-cancel-1")
    assert json.loads(route.calls.last.request.content) == {"merchantAccount": MERCHANT, "reference": "order-10042"}
    assert payment.status == "cancelled" and payment.amount.amount == 4999 and payment.captured.amount == 0


@pytest.mark.anyio
@respx.mock
async def test_refunds_track_the_total(adyen: AdyenPayments) -> None:
    respx.post(f"{BASE}/payments").mock(return_value=answer("payments.response.authorised.json"))
    await adyen.create_payment(order())
    route = respx.post(f"{BASE}/payments/{PSP}/refunds").mock(return_value=answer("refunds.response.json", 201))
    partial = await adyen.refund(PSP, Money(amount=1500, currency="EUR"), idempotency_key="order-10042-refund-1")
    expected = {k: v for k, v in fixture("adyen", "refunds.request.json").items() if k != "merchantRefundReason"}
    assert json.loads(route.calls.last.request.content) == {**expected, "reference": "order-10042"}
    assert partial.status == "captured" and partial.refunded.amount == 1500
    full = await adyen.refund(PSP, idempotency_key="order-10042-refund-2")
    assert json.loads(route.calls.last.request.content)["amount"] == {"currency": "EUR", "value": 3499}
    assert full.status == "refunded" and full.refunded.amount == 4999
    with pytest.raises(VendorRejected, match="nothing left"):
        await adyen.refund(PSP, idempotency_key="order-10042-refund-3")
    with pytest.raises(VendorRejected, match="currency"):
        await adyen.refund(PSP, Money(amount=1, currency="USD"), idempotency_key="order-10042-refund-4")
    assert route.call_count == 2


@pytest.mark.anyio
@respx.mock
async def test_payments_another_process_made_need_explicit_amounts(adyen: AdyenPayments) -> None:
    captures = respx.post(f"{BASE}/payments/{PSP}/captures").mock(return_value=answer("captures.response.json", 201))
    with pytest.raises(VendorRejected, match="pass the amount"):
        await adyen.capture(PSP, idempotency_key="c1")
    with pytest.raises(VendorRejected, match="pass the amount"):
        await adyen.refund(PSP, idempotency_key="r1")
    assert captures.call_count == 0
    payment = await adyen.capture(PSP, Money(amount=4999, currency="EUR"), idempotency_key="c2")
    assert json.loads(captures.calls.last.request.content) == {
        "merchantAccount": MERCHANT,
        "amount": {"currency": "EUR", "value": 4999},
    }
    assert payment.status == "captured" and payment.reference == ""
    respx.post(f"{BASE}/payments/OTHER/cancels").mock(return_value=answer("cancels.response.json", 201))
    cancelled = await adyen.cancel("OTHER", idempotency_key="x1")
    assert cancelled.status == "cancelled" and cancelled.amount == Money(amount=0, currency="XXX")


@pytest.mark.anyio
@respx.mock
async def test_modification_errors(adyen: AdyenPayments) -> None:
    respx.post(f"{BASE}/payments/{PSP}/cancels").mock(return_value=httpx.Response(404, json={"status": 404}))
    with pytest.raises(NotFound):
        await adyen.cancel(PSP, idempotency_key="x")
    route = respx.post(url__regex=r".*").mock(return_value=answer("cancels.response.json", 201))
    await adyen.cancel("../../payments", idempotency_key="y")
    assert route.calls.last.request.url.raw_path == b"/v71/payments/..%2F..%2Fpayments/cancels"


# ---------------------------------------------------------------- webhooks


def raw(name: str) -> bytes:
    return json.dumps(fixture("adyen", name)).encode()


def signed(item: dict[str, Any], key: str = HMAC_KEY) -> dict[str, Any]:
    """Signs like verify_vectors.py does: an independent implementation of the pack's algorithm."""
    values = {**item, "value": item["amount"]["value"], "currency": item["amount"]["currency"]}
    fields = VECTOR["field_order"]
    message = ":".join(str(values.get(name, "")) for name in fields).encode()
    signature = base64.b64encode(hmac.new(bytes.fromhex(key), message, hashlib.sha256).digest()).decode()
    return {**item, "additionalData": {**item.get("additionalData", {}), "hmacSignature": signature}}


def batch(*items: dict[str, Any], live: str = "false") -> bytes:
    return json.dumps({"live": live, "notificationItems": [{"NotificationRequestItem": i} for i in items]}).encode()


def item_of(name: str) -> dict[str, Any]:
    return fixture("adyen", name)["notificationItems"][0]["NotificationRequestItem"]


@pytest.mark.parametrize("case", VECTOR["cases"], ids=[c["name"] for c in VECTOR["cases"]])
def test_the_packs_hmac_vectors(case: dict[str, Any]) -> None:
    item = item_of(case["item_file"]) if "item_file" in case else case["item"]
    key = bytes.fromhex(case.get("hmac_key_hex", HMAC_KEY))
    assert signing_string(item) == case["signing_string"]
    assert hmac_signature(item, key) == case["expected_hmacSignature"]


def test_the_packs_signed_notifications_verify_and_map() -> None:
    [authorised] = adapter().parse_webhook(raw("notification.authorisation.json"), {})
    assert authorised.id == f"{PSP}:AUTHORISATION:true" and authorised.type == "authorized"
    assert authorised.payment_id == PSP and authorised.reference == "order-10042"
    assert authorised.amount == Money(amount=4999, currency="EUR")
    assert authorised.occurred_at is not None and authorised.occurred_at.isoformat() == "2026-01-01T01:00:05+01:00"
    [refund] = adapter().parse_webhook(raw("notification.refund.json"), {})
    assert refund.type == "refunded" and refund.payment_id == PSP and refund.id == "TW4B8N1C6V9M3X85:REFUND:true"
    assert refund.reference == "order-10042-refund-1" and refund.amount == Money(amount=1500, currency="EUR")


@pytest.mark.parametrize("wrong", [case["wrong_signature"] for case in VECTOR["negative_cases"]])
def test_the_packs_wrong_signatures_are_rejected(wrong: str) -> None:
    item = item_of("notification.authorisation.json")
    item["additionalData"]["hmacSignature"] = wrong
    with pytest.raises(WebhookRejected, match="does not verify"):
        adapter().parse_webhook(batch(item), {})


def test_tampered_unsigned_and_wrongly_keyed_items_are_rejected() -> None:
    item = item_of("notification.authorisation.json")
    tampered = copy.deepcopy(item)
    tampered["amount"]["value"] = 1
    unsigned = copy.deepcopy(item)
    del unsigned["additionalData"]["hmacSignature"]
    other_key = signed(item, "00" * 32)
    for bad in (tampered, unsigned, other_key):
        with pytest.raises(WebhookRejected):
            adapter().parse_webhook(batch(bad), {})
    with pytest.raises(WebhookRejected, match="does not verify"):  # one bad item rejects the batch
        adapter().parse_webhook(batch(item, tampered), {})


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"notificationItems": []}', b'{"notificationItems": [{"Other": {}}]}']
)
def test_bodies_that_are_not_notification_batches_are_rejected(body: bytes) -> None:
    with pytest.raises(WebhookRejected):
        adapter().parse_webhook(body, {})


def test_webhooks_are_refused_without_a_hmac_key() -> None:
    with pytest.raises(WebhookRejected, match="hmac_key"):
        adapter(hmac_key=None).parse_webhook(raw("notification.authorisation.json"), {})


def test_a_live_notification_is_rejected_by_a_test_adapter_and_the_other_way_round() -> None:
    item = item_of("notification.authorisation.json")
    with pytest.raises(WebhookRejected, match="environment"):
        adapter().parse_webhook(batch(item, live="true"), {})
    with pytest.raises(WebhookRejected, match="environment"):
        adapter(live=True).parse_webhook(batch(item), {})
    assert len(adapter(live=True).parse_webhook(batch(item, live="true"), {})) == 1


def test_items_for_another_merchant_account_are_verified_and_skipped() -> None:
    other = signed({**item_of("notification.authorisation.json"), "merchantAccountCode": "AcmeOtherECOM"})
    assert adapter().parse_webhook(batch(other), {}) == []


def modification(code: str, success: str, **extra: Any) -> dict[str, Any]:
    item = {
        "amount": {"currency": "EUR", "value": 4999},
        "eventCode": code,
        "eventDate": "2026-01-01T02:00:00+01:00",
        "merchantAccountCode": MERCHANT,
        "merchantReference": "order-10042",
        "originalReference": PSP,
        "pspReference": "JD9S5K2L7F3H1Q84",
        "reason": "",
        "success": success,
        **extra,
    }
    return signed(item)


@pytest.mark.parametrize(
    ("code", "success", "expected", "payment_id"),
    [
        ("CAPTURE", "true", "captured", PSP),
        ("CAPTURE", "false", "failed", PSP),
        ("CAPTURE_FAILED", "true", "failed", PSP),
        ("CANCELLATION", "true", "cancelled", PSP),
        ("REFUND", "true", "refunded", PSP),
        ("OFFER_CLOSED", "true", "failed", "JD9S5K2L7F3H1Q84"),
    ],
)
def test_event_codes_map_to_payment_events(code: str, success: str, expected: str, payment_id: str) -> None:
    [event] = adapter().parse_webhook(batch(modification(code, success)), {})
    assert event.type == expected and event.payment_id == payment_id and event.reference == "order-10042"
    assert event.id == f"JD9S5K2L7F3H1Q84:{code}:{success}"


def test_a_refused_authorisation_is_failed_and_unmapped_codes_are_dropped() -> None:
    refused = item_of("notification.authorisation.json")
    refused = signed({**refused, "success": "false", "reason": "Refused"})
    [event] = adapter().parse_webhook(batch(refused), {})
    assert event.type == "failed" and event.payment_id == PSP and event.id == f"{PSP}:AUTHORISATION:false"
    dropped = [
        modification("REFUND", "false"),
        modification("CHARGEBACK", "true"),
        modification("REPORT_AVAILABLE", "true"),
    ]
    assert adapter().parse_webhook(batch(*dropped), {}) == []


# ---------------------------------------------------------------- build


@pytest.mark.anyio
@respx.mock
async def test_build_wires_the_settings() -> None:
    settings = AdyenSettings.model_validate(dict(api_key="AQE_secret", merchant_account=MERCHANT, hmac_key=HMAC_KEY))
    adyen = build(settings)
    assert adyen.vendor == "adyen" and adyen.client.base_url == BASE
    assert adyen.client.headers == {"X-API-Key": "AQE_secret"}
    assert len(adyen.parse_webhook(raw("notification.authorisation.json"), {})) == 1
    with pytest.raises(VendorMisconfigured, match="returnUrl"):  # AdyenSettings has no return URL yet
        await adyen.create_payment(order())
    await adyen.aclose()
    with pytest.raises(VendorMisconfigured):
        build(AdyenSettings.model_validate(dict(api_key="k", merchant_account=MERCHANT, environment="live")))
