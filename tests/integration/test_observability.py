"""Issue 8, traces and logs across the deployables: a real edge app in front of a real origin app, in process,
with the vendors (Meilisearch, Stripe) faked by respx from the contract pack.

- A trace id crosses edge → origin → vendor: a trusted proxy's `traceparent` reaches the vendor's request, and
  the spans of both apps (in-memory exporters) link up: edge request → cache lookup and origin fetch → origin
  request → vendor call and template render. A shopper's own `traceparent` is not adopted anywhere.
- Logs carry no secret: a whole shopping session with every vendor secret configured (and the access logs on)
  is logged as the deployables log (`wrangler_py.logs`, JSON, both apps' request context), and none of the
  secrets, tokens, card data or the shopper's whole e-mail address appears, while request and trace ids do.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import respx
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

import edge
import origin
from edge import EdgeApp
from edge.telemetry import edge_sampler
from tests.conftest import REPO
from tests.connectors.payments.fakes import FakeStripe
from tests.connectors.search.fakes import FakeMeilisearch
from tests.spans import (
    CDN_SPAN_ID,
    CDN_TRACE_ID,
    CDN_TRACEPARENT,
    CLIENT_TRACE_ID,
    CLIENT_TRACEPARENT,
    Recorder,
    hex_span,
    hex_trace,
    parent_of,
    traceparent_parts,
)
from wrangler_py.apps import build_origin_app, edge_settings
from wrangler_py.config import LoadedConfig, load_config
from wrangler_py.logs import configure_logging

pytestmark = pytest.mark.anyio

# Recognizable values: none may reach a log line.
SECRETS = {
    "STRIPE_SECRET_KEY": "sk_test_CANARYstripeSecret4a4a4a",
    "STRIPE_WEBHOOK_SECRET": "whsec_CANARYwebhookSecret7b7b7b",
    "ADMIN_TOKEN": "CANARYadminToken51ab7e9f",
    "MEILI_API_KEY": "CANARYmeiliKey0c0c0c0c",
    "PURGE_TOKEN": "CANARYpurgeToken3d3d3d",
}
CARD_TOKEN = "pm_CANARYcardToken9f8e7d"
CARD_NUMBER = "4242 4242 4242 4242"
EMAIL = "jane.canary.doe@example.com"
PROXY = ("10.0.0.5", 40000)
SHOPPER = ("203.0.113.9", 40000)
EDGE_PEER = ("10.0.1.1", 50000)  # the edge, as the origin sees it
STRIPE_VECTOR = REPO / "tests" / "fixtures" / "vendors" / "stripe"


def write_store(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "wrangler.toml"
    path.write_text(
        f"""
name = "traced-store"

[edge]
origin = "http://origin.internal"
trusted_proxies = ["10.0.0.0/8"]
purge_token = "env:PURGE_TOKEN"

[edge.observability]
tracing = true
otlp_endpoint = "http://collector.internal:4318/v1/traces"
sample_ratio = 1.0
access_log_sample = 1.0

[origin]
data_dir = "data"
seed_products = 12
admin_token = "env:ADMIN_TOKEN"

[origin.observability]
tracing = true
otlp_endpoint = "http://collector.internal:4318/v1/traces"
access_log = true

[connectors.cms]
vendor = "builtin"
path = "{(REPO / "content").as_posix()}"

[connectors.search]
vendor = "meilisearch"
url = "http://meili.test"
api_key = "env:MEILI_API_KEY"
[connectors.search.http]
retries = 0

[connectors.payments]
vendor = "stripe"
secret_key = "env:STRIPE_SECRET_KEY"
webhook_secret = "env:STRIPE_WEBHOOK_SECRET"
[connectors.payments.http]
retries = 0
""",
        encoding="utf-8",
    )
    return path


@dataclass
class Stack:
    edge_app: EdgeApp
    edge_spans: Recorder
    origin_spans: Recorder
    meili: FakeMeilisearch
    stripe: FakeStripe
    router: respx.MockRouter

    def client(self, peer: tuple[str, int]) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.edge_app, client=peer)
        return httpx.AsyncClient(transport=transport, base_url="http://shop.example")

    def vendor_requests(self, host: str) -> list[httpx.Request]:
        return [call.request for call in self.router.calls if call.request.url.host == host]


@asynccontextmanager
async def running(loaded: LoadedConfig) -> AsyncIterator[Stack]:
    """The origin (started through its lifespan, which seeds and indexes into the fake Meilisearch) and an edge
    in front of it whose origin requests go to it in process."""
    edge_spans, origin_spans = Recorder(edge_sampler(1.0)), Recorder(ParentBasedTraceIdRatio(1.0))
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        meili = FakeMeilisearch(url="http://meili.test", key=SECRETS["MEILI_API_KEY"])
        meili.install(router)
        stripe = FakeStripe()
        stripe.install(router)
        # The origin's purges after an admin edit, to the edge's purge endpoint (its token: a secret too).
        router.post(f"http://{loaded.config.edge.host}:{loaded.config.edge.port}/_edge/purge").mock(
            return_value=httpx.Response(200, json={"purged": 1, "soft": False})
        )
        app = build_origin_app(loaded, tracer_provider=origin_spans.provider)
        async with app.router.lifespan_context(app):
            to_origin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=EDGE_PEER))
            settings = edge_settings(loaded)
            front = EdgeApp(settings, http=to_origin, tracer_provider=edge_spans.provider)
            edge_spans.clear()
            origin_spans.clear()
            try:
                yield Stack(front, edge_spans, origin_spans, meili, stripe, router)
            finally:
                await front.stop()


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedConfig:
    return load_config(write_store(tmp_path / "store"), environ=SECRETS)


async def a_search_word(stack: Stack) -> str:
    async with stack.client(SHOPPER) as shopper:
        title = (await shopper.get("/api/products", params={"per_page": 1})).json()["items"][0]["title"]
    return max(re.findall(r"[A-Za-z]{3,}", title), key=len)


# --- (a) one trace across the deployables --------------------------------------------------------------------


async def test_a_trace_crosses_edge_origin_and_vendor(loaded: LoadedConfig) -> None:
    async with running(loaded) as stack:
        word = await a_search_word(stack)
        stack.edge_spans.clear()
        stack.origin_spans.clear()
        before = len(stack.vendor_requests("meili.test"))
        async with stack.client(PROXY) as proxy:
            page = await proxy.get("/search", params={"q": word}, headers={"traceparent": CDN_TRACEPARENT})
        assert page.status_code == 200 and page.headers["x-cache"] == "MISS", page.text
        searches = stack.vendor_requests("meili.test")[before:]

    # The vendor's request carries the proxy's trace id, under the origin's vendor span.
    assert searches, "the search page asked Meilisearch"
    vendor_call = stack.origin_spans.named("meilisearch search")
    for sent in searches:
        assert traceparent_parts(sent.headers["traceparent"])[0] == CDN_TRACE_ID
    assert traceparent_parts(searches[0].headers["traceparent"])[1] in {
        hex_span(span) for span in stack.origin_spans.spans() if span.name == "meilisearch search"
    }

    # Edge: its request continues the proxy's span; the lookup and the origin fetch are its children.
    edge_request = stack.edge_spans.named("GET /search")
    lookup, fetch = stack.edge_spans.named("cache lookup"), stack.edge_spans.named("origin fetch")
    assert parent_of(edge_request) == CDN_SPAN_ID
    assert parent_of(lookup) == parent_of(fetch) == hex_span(edge_request)

    # Origin: its request continues the edge's fetch; the vendor call and the render are its children.
    origin_request = stack.origin_spans.named("GET /search")
    render = stack.origin_spans.named("render search.html")
    assert parent_of(origin_request) == hex_span(fetch) and origin_request.parent is not None
    assert origin_request.parent.is_remote  # it came over HTTP, in the traceparent field
    assert parent_of(vendor_call) == parent_of(render) == hex_span(origin_request)
    every = stack.edge_spans.spans() + stack.origin_spans.spans()
    assert {hex_trace(span) for span in every} == {CDN_TRACE_ID}


async def test_a_shoppers_own_trace_is_not_adopted_anywhere(loaded: LoadedConfig) -> None:
    async with running(loaded) as stack:
        word = await a_search_word(stack)
        stack.edge_spans.clear()
        stack.origin_spans.clear()
        before = len(stack.vendor_requests("meili.test"))
        async with stack.client(SHOPPER) as shopper:
            page = await shopper.get("/search", params={"q": word}, headers={"traceparent": CLIENT_TRACEPARENT})
        assert page.status_code == 200
        searches = stack.vendor_requests("meili.test")[before:]
    edge_request = stack.edge_spans.named("GET /search")
    assert edge_request.parent is None and hex_trace(edge_request) != CLIENT_TRACE_ID
    assert {hex_trace(span) for span in stack.origin_spans.spans()} == {hex_trace(edge_request)}
    assert searches and all(
        traceparent_parts(sent.headers["traceparent"])[0] == hex_trace(edge_request) for sent in searches
    )


# --- (b) no secret in any log line -----------------------------------------------------------------------------


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """All log output of this process, as the deployables write it (JSON, both apps' request context)."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("httpx").level)
    stream = io.StringIO()
    configure_logging("dev", region="default", level="debug", fmt="json", stream=stream,
                      providers=[edge.log_fields, origin.log_fields])  # fmt: skip
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logging.getLogger("httpx").setLevel(saved[2])


def stripe_webhook(secret: str) -> tuple[bytes, dict[str, str]]:
    vector = json.loads((STRIPE_VECTOR / "webhook_signature_vector.json").read_text())
    payload = (STRIPE_VECTOR / vector["payload_file"]).read_bytes()
    stamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, {"stripe-signature": f"t={stamp},v1={signature}", "content-type": "application/json"}


async def test_logs_carry_request_and_trace_ids_and_no_secret(loaded: LoadedConfig, captured: io.StringIO) -> None:
    request_ids: list[str] = []
    async with running(loaded) as stack:
        word = await a_search_word(stack)
        async with stack.client(PROXY) as proxy, stack.client(SHOPPER) as shopper:

            async def remember(response: httpx.Response) -> httpx.Response:
                request_ids.append(response.headers["x-request-id"])
                return response

            await remember(await proxy.get("/search", params={"q": word}, headers={"traceparent": CDN_TRACEPARENT}))
            product = (await shopper.get("/api/products", params={"per_page": 1})).json()["items"][0]
            detail = (await shopper.get(f"/api/products/{product['handle']}")).json()
            variant = max(detail["variants"], key=lambda v: v["available"])
            await remember(await shopper.get(f"/p/{product['handle']}"))
            cart = (await remember(await shopper.post("/api/carts"))).json()["id"]
            added = await shopper.post(f"/api/carts/{cart}/lines", json={"variant_id": variant["id"], "quantity": 1})
            assert added.status_code in (200, 201), added.text
            body = {
                "cart_id": cart,
                "email": EMAIL,
                "shipping_address": {"name": "Jane Doe", "line1": "1 Way", "city": "London", "postal_code": "N1",
                                     "country": "GB"},
                "shipping_method": "standard",
                "payment": {"token": CARD_TOKEN},
            }  # fmt: skip
            refused = await shopper.post("/api/checkout", json={**body, "payment": {"token": CARD_NUMBER}},
                                         headers={"Idempotency-Key": "key-card-number"})  # fmt: skip
            assert refused.status_code == 422 and CARD_NUMBER not in refused.text
            key = {"Idempotency-Key": "checkout-key-1"}
            placed = await remember(await shopper.post("/api/checkout", json=body, headers=key))
            assert placed.status_code in (200, 201), placed.text
            order = placed.json()
            order_token = order["order_token"]
            seen = await shopper.get(f"/api/orders/{order['order_id']}", params={"token": order_token})
            assert seen.status_code == 200
            admin = {"authorization": f"Bearer {SECRETS['ADMIN_TOKEN']}"}
            edited = await proxy.put(f"/api/admin/products/{product['id']}", json={"title": "Renamed"}, headers=admin)
            assert edited.status_code == 200, edited.text
            wrong = await proxy.put(f"/api/admin/products/{product['id']}", json={"title": "x"},
                                    headers={"authorization": "Bearer sk_live_CANARYguessedKey99"})  # fmt: skip
            assert wrong.status_code in (401, 403)
            payload, signed = stripe_webhook(SECRETS["STRIPE_WEBHOOK_SECRET"])
            assert (await remember(await proxy.post("/webhooks/payments/stripe", content=payload,
                                                    headers=signed))).status_code == 200  # fmt: skip
            forged = {**signed, "stripe-signature": signed["stripe-signature"][:-4] + "0000"}
            assert (await proxy.post("/webhooks/payments/stripe", content=payload, headers=forged)).status_code == 400
        assert stack.stripe.intents, "the checkout reached Stripe"
        spans = stack.edge_spans.spans() + stack.origin_spans.spans()
        trace_ids = {hex_trace(span) for span in spans}

    output = captured.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines, "nothing was logged"
    # A cart id is a bearer capability and an order id names a shopper's order: neither is logged nor exported.
    capabilities = [cart, order["order_id"], order_token]
    canaries = [*SECRETS.values(), CARD_TOKEN, CARD_NUMBER, CARD_NUMBER.replace(" ", ""), EMAIL, *capabilities,
                "jane.canary.doe", "sk_live_CANARYguessedKey99"]  # fmt: skip
    for canary in canaries:
        assert canary not in output, f"{canary!r} reached the logs"
    exported = repr([(span.name, dict(span.attributes or {})) for span in spans])
    for canary in capabilities:
        assert canary not in exported, f"{canary!r} reached the spans"
    access = [line for line in lines if line["logger"] == "edgeshop.access"]
    assert any(line.get("path") == "/api/carts/{id}/lines" and line["service"] == "origin" for line in access)
    for request_id in request_ids:
        # One line at the edge and one at the origin, with the same id (a wire hit would be the edge's alone).
        assert len([line for line in access if line.get("request_id") == request_id]) == 2, request_id
    assert CDN_TRACE_ID in trace_ids
    assert {line["trace_id"] for line in access if line.get("trace_id")} <= trace_ids
    assert any(line.get("trace_id") == CDN_TRACE_ID and line["service"] == "origin" for line in access)
    assert {line["service"] for line in access} == {"edge", "origin"}
