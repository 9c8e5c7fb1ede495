"""The shared vendor client: what is retried and what never is, 429s, the breaker, normalized errors."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest
import respx
from opentelemetry.context import attach, detach
from opentelemetry.trace import SpanKind, StatusCode, set_span_in_context
from prometheus_client import REGISTRY

from connectors import with_tracer
from connectors.errors import VendorMisconfigured, VendorTimeout, VendorUnavailable
from connectors.http import (
    VENDOR_ERRORS,
    CircuitBreaker,
    VendorClient,
    VendorHttpSettings,
    retry_after_seconds,
    status_outcome,
)
from tests.spans import Recorder, hex_span, hex_trace, parent_of, traceparent_parts

BASE = "https://api.vendor.test"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(**settings: float) -> tuple[VendorClient, Sleeps]:
    sleeps = Sleeps()
    values = {"retries": 2, "backoff_seconds": 0.1, "breaker_failures": 50, **settings}
    made = VendorClient(
        "acme", BASE, VendorHttpSettings.model_validate(values), headers={"Authorization": "Bearer sk_test"}
    )
    made.sleep = sleeps
    return made, sleeps


@pytest.mark.anyio
@respx.mock
async def test_idempotent_calls_are_retried_on_5xx_and_timeouts() -> None:
    route = respx.get(f"{BASE}/things").mock(
        side_effect=[httpx.Response(503), httpx.ReadTimeout("slow"), httpx.Response(200, json={"ok": True})]
    )
    vendor, sleeps = client()
    answer = await vendor.request("GET", "/things", call="list")
    assert answer.json() == {"ok": True} and route.call_count == 3 and len(sleeps.waits) == 2
    assert route.calls[0].request.headers["authorization"] == "Bearer sk_test"
    assert all(0 <= wait <= 0.4 for wait in sleeps.waits)  # jittered, growing bounds


@pytest.mark.anyio
@respx.mock
async def test_a_payment_without_an_idempotency_key_is_never_retried() -> None:
    route = respx.post(f"{BASE}/charges").mock(side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200)])
    vendor, _ = client()
    with pytest.raises(VendorTimeout) as caught:
        await vendor.request("POST", "/charges", call="charge")
    assert route.call_count == 1 and caught.value.retryable is False and caught.value.vendor == "acme"
    route500 = respx.post(f"{BASE}/charges500").mock(side_effect=[httpx.Response(500), httpx.Response(200)])
    with pytest.raises(VendorUnavailable) as failed:
        await vendor.request("POST", "/charges500", call="charge")
    assert route500.call_count == 1 and failed.value.retryable is False


@pytest.mark.anyio
@respx.mock
async def test_a_payment_with_an_idempotency_key_is_retried_with_the_same_key() -> None:
    route = respx.post(f"{BASE}/charges").mock(side_effect=[httpx.Response(502), httpx.Response(200, json={})])
    vendor, _ = client()
    await vendor.request("POST", "/charges", call="charge", idempotency_key="order-42-pay-1")
    keys = [call.request.headers["idempotency-key"] for call in route.calls]
    assert keys == ["order-42-pay-1", "order-42-pay-1"]


@pytest.mark.anyio
@respx.mock
async def test_a_connection_never_made_is_retried_for_any_call() -> None:
    route = respx.post(f"{BASE}/charges").mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(200)])
    vendor, _ = client()
    assert (await vendor.request("POST", "/charges", call="charge")).status_code == 200
    assert route.call_count == 2


@pytest.mark.anyio
@respx.mock
async def test_429_waits_for_retry_after_within_bounds() -> None:
    route = respx.post(f"{BASE}/search").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json={"hits": []})]
    )
    vendor, sleeps = client(max_retry_after_seconds=5)
    assert (await vendor.request("POST", "/search", call="search")).status_code == 200
    assert sleeps.waits == [2.0] and route.call_count == 2
    respx.get(f"{BASE}/slow").mock(return_value=httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(VendorUnavailable) as caught:
        await vendor.request("GET", "/slow", call="slow")  # too long to hold a shopper's request: fail now
    assert caught.value.retryable and sleeps.waits == [2.0]


@pytest.mark.anyio
@respx.mock
async def test_credentials_refused_is_a_configuration_error_not_retried() -> None:
    route = respx.get(f"{BASE}/things").mock(return_value=httpx.Response(401, json={"message": "bad key"}))
    vendor, _ = client()
    with pytest.raises(VendorMisconfigured, match="credentials refused"):
        await vendor.request("GET", "/things", call="list")
    assert route.call_count == 1


@pytest.mark.anyio
@respx.mock
async def test_other_client_errors_go_back_to_the_adapter() -> None:
    respx.post(f"{BASE}/charges").mock(return_value=httpx.Response(402, json={"error": {"code": "card_declined"}}))
    vendor, _ = client()
    answer = await vendor.request("POST", "/charges", call="charge", idempotency_key="k")
    assert answer.status_code == 402


@pytest.mark.anyio
@respx.mock
async def test_the_breaker_opens_fails_fast_and_lets_one_trial_through() -> None:
    now = [1000.0]
    route = respx.get(f"{BASE}/things").mock(return_value=httpx.Response(503))
    vendor, _ = client(retries=0, breaker_failures=3, breaker_open_seconds=30)
    vendor.breaker.clock = lambda: now[0]
    for _ in range(3):
        with pytest.raises(VendorUnavailable):
            await vendor.request("GET", "/things", call="list")
    assert vendor.breaker.state == "open"
    before = VENDOR_ERRORS.labels("acme", "list", "circuit_open")._value.get()
    with pytest.raises(VendorUnavailable, match="circuit open"):
        await vendor.request("GET", "/things", call="list")
    assert route.call_count == 3  # failed fast, without a call
    assert VENDOR_ERRORS.labels("acme", "list", "circuit_open")._value.get() == before + 1
    now[0] += 31
    route.mock(return_value=httpx.Response(200, json={}))
    assert (await vendor.request("GET", "/things", call="list")).status_code == 200  # the trial
    assert vendor.breaker.state == "closed"


def test_half_open_allows_one_trial_and_a_failed_trial_reopens() -> None:
    now = [0.0]
    breaker = CircuitBreaker("acme", failures_to_open=1, open_seconds=10, clock=lambda: now[0])
    breaker.failed()
    assert breaker.state == "open" and not breaker.begin()
    now[0] = 11
    assert breaker.begin() and not breaker.begin()  # one trial at a time
    breaker.failed()
    assert breaker.state == "open" and not breaker.begin()


def test_the_breaker_state_gauge_is_read_when_scraped_half_open_included() -> None:
    now = [0.0]
    breaker = CircuitBreaker("acme-gauge", failures_to_open=1, open_seconds=10, clock=lambda: now[0])

    def state() -> float | None:
        return REGISTRY.get_sample_value("edgeshop_vendor_breaker_state", {"vendor": "acme-gauge"})

    assert state() == 0
    breaker.failed()
    assert state() == 1
    now[0] = 11  # no call needed to notice: the clock alone makes it half-open
    assert state() == 2
    breaker.succeeded()
    assert state() == 0


def test_the_breaker_state_gauge_shows_the_worst_of_a_vendors_live_clients() -> None:
    """Algolia reads and writes through two clients: a read outage shows however new the write client is."""
    now = [0.0]

    def state() -> float | None:
        return REGISTRY.get_sample_value("edgeshop_vendor_breaker_state", {"vendor": "acme-two"})

    settings = VendorHttpSettings(breaker_failures=1, breaker_open_seconds=10)
    read_client = VendorClient("acme-two", "https://read.vendor.test", settings, http=httpx.AsyncClient())
    write_client = VendorClient("acme-two", "https://write.vendor.test", settings, http=httpx.AsyncClient())
    read, write = read_client.breaker, write_client.breaker
    read.clock = write.clock = lambda: now[0]
    assert state() == 0
    read.failed()
    assert write.state == "closed" and state() == 1  # open beats closed, whichever client came last
    now[0] = 11
    assert state() == 2  # half-open beats closed
    write.failed()
    assert state() == 1  # open beats half-open
    read.succeeded()
    write.succeeded()
    assert state() == 0
    write.failed()
    del write, write_client  # a closed client's breaker drops out of the gauge
    assert state() == 0
    del read, read_client
    assert state() is None


@pytest.mark.anyio
@respx.mock
async def test_the_outcome_label_is_bounded_whatever_status_the_vendor_sends() -> None:
    statuses = [404, 418, 451, 599, 999, 422]
    respx.get(f"{BASE}/things").mock(side_effect=[httpx.Response(status) for status in statuses])
    vendor, _ = client()
    vendor.vendor = "acme-outcomes"
    for _ in statuses:
        await vendor.request("GET", "/things", call="list")
    outcomes = {
        sample.labels["outcome"]
        for metric in REGISTRY.collect()
        if metric.name == "edgeshop_vendor_errors"
        for sample in metric.samples
        if sample.labels.get("vendor") == "acme-outcomes" and sample.name.endswith("_total")
    }
    assert outcomes == {"http_404", "http_4xx", "http_5xx", "http_other", "http_422"}
    assert [status_outcome(status) for status in (400, 409, 429, 500, 504, 418, 501, 600, 302)] == [
        "http_400", "http_409", "http_429", "http_500", "http_504", "http_4xx", "http_5xx", "http_other", "http_other"
    ]  # fmt: skip


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(formatdate(1_000_030, usegmt=True), now=1_000_000) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert retry_after_seconds("²") is None  # a digit to str.isdigit(), not to float()


@pytest.mark.anyio
@respx.mock
async def test_logs_never_carry_keys_tokens_or_bodies(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    respx.post(f"{BASE}/charges").mock(side_effect=[httpx.Response(503), httpx.Response(401)])
    vendor, _ = client(retries=1)
    with pytest.raises(VendorMisconfigured):
        await vendor.request(
            "POST", "/charges", call="charge", params={"token": "tok_secret_query"},
            content=b"card=4242424242424242", idempotency_key="key-1",
        )  # fmt: skip
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "acme" in logged  # it did log the failures
    for secret in ("sk_test", "tok_secret_query", "4242424242424242", "key-1"):
        assert secret not in logged


@pytest.mark.anyio
@respx.mock
async def test_within_a_traced_request_each_attempt_is_a_span_the_vendor_continues() -> None:
    route = respx.get(f"{BASE}/things").mock(side_effect=[httpx.Response(503), httpx.Response(200, json={})])
    recorder = Recorder()
    tracer = recorder.provider.get_tracer("test")
    vendor, _ = client()
    with tracer.start_as_current_span("request") as request_span:
        token = attach(with_tracer(tracer, set_span_in_context(request_span)))
        try:
            await vendor.request("GET", "/things?token=abc", call="list")
        finally:
            detach(token)
    first, second = (span for span in recorder.spans() if span.name == "acme list")
    assert first.kind is SpanKind.CLIENT and {parent_of(first), parent_of(second)} == {
        hex_span(recorder.named("request"))
    }
    assert first.attributes is not None and second.attributes is not None
    assert (first.attributes["edgeshop.vendor.attempt"], first.attributes["edgeshop.vendor.outcome"]) == (1, "http_503")
    assert first.attributes["http.response.status_code"] == 503 and first.status.status_code is StatusCode.ERROR
    assert (second.attributes["edgeshop.vendor.attempt"], second.attributes["edgeshop.vendor.outcome"]) == (2, "ok")
    assert second.attributes["server.address"] == "api.vendor.test" and "url.full" not in second.attributes
    for call, span in zip(route.calls, (first, second), strict=True):
        trace_id, parent_id, _ = traceparent_parts(call.request.headers["traceparent"])
        assert (trace_id, parent_id) == (hex_trace(span), hex_span(span))


@pytest.mark.anyio
@respx.mock
async def test_outside_a_traced_request_nothing_is_added() -> None:
    route = respx.get(f"{BASE}/things").mock(return_value=httpx.Response(200, json={}))
    vendor, _ = client()
    await vendor.request("GET", "/things", call="list")
    assert "traceparent" not in route.calls[0].request.headers
