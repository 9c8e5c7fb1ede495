"""POST /webhooks/{capability}/{vendor}: verified, applied once, and only along the allowed order moves."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from connectors import (
    Address,
    BuiltinCommerce,
    BuiltinSearch,
    ContentEvent,
    Money,
    OrderDraft,
    OrderLine,
    PaymentEvent,
    WebhookRejected,
)
from connectors.cms.builtin import BuiltinContent
from connectors.payments.builtin import BuiltinPayments
from connectors.registry import Connectors
from origin import WebhookInbox, Webhooks
from origin.events import CatalogEvents

SECRET = b"whsec_test"


def sign(body: bytes) -> str:
    return hmac.new(SECRET, body, hashlib.sha256).hexdigest()


@dataclass
class SignedVendor:
    """A vendor whose webhooks are an HMAC of the body, standing in for Stripe/Adyen/Contentful adapters."""

    vendor: str = "fakepay"

    def _verified(self, body: bytes, headers: Mapping[str, str]) -> list[dict[str, Any]]:
        if not hmac.compare_digest(headers.get("x-signature", ""), sign(body)):
            raise WebhookRejected("signature does not match", vendor=self.vendor)
        return list(json.loads(body))

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[Any]:
        return [PaymentEvent.model_validate(item) for item in self._verified(body, headers)]


@dataclass
class SignedContent(SignedVendor):
    vendor: str = "fakecms"

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[Any]:
        return [ContentEvent.model_validate(item) for item in self._verified(body, headers)]


@dataclass
class Purges:
    tags: list[list[str]] = field(default_factory=list)

    async def purge(self, tags: list[str]) -> None:
        self.tags.append(tags)

    async def aclose(self) -> None:
        return None


@dataclass
class Shop:
    client: TestClient
    commerce: BuiltinCommerce
    purges: Purges
    variant_id: int

    def order(self, key: str, quantity: int = 2) -> str:
        usd = lambda amount: Money(amount=amount, currency="USD")  # noqa: E731
        line = OrderLine(variant_id=self.variant_id, product_handle="p", title="T", variant_title="V", sku="S",
                         quantity=quantity, unit_price=usd(1000), total=usd(1000 * quantity))  # fmt: skip
        address = Address(name="Ada", line1="1 Row", city="London", postal_code="N1", country="GB")
        draft = OrderDraft(idempotency_key=key, fingerprint=key, email="ada@example.com", market="us", lines=[line],
                           shipping_address=address, shipping_method="standard", subtotal=usd(2000), shipping=usd(0),
                           tax=usd(0), total=usd(2000), token_hash="x")  # fmt: skip
        return anyio.run(self.commerce.place_order, draft).id

    def status(self, order_id: str) -> str:
        return anyio.run(self.commerce.get_order, order_id).status

    def stock(self) -> tuple[int, int]:
        row = (
            self.commerce._db.conn()
            .execute(  # type: ignore[attr-defined]
                "SELECT on_hand, reserved FROM inventory WHERE variant_id = ?", (self.variant_id,)
            )
            .fetchone()
        )
        return int(row[0]), int(row[1])

    def send(self, path: str, events: list[dict[str, Any]], *, signature: str | None = None) -> Any:
        body = json.dumps(events).encode()
        return self.client.post(path, content=body, headers={"x-signature": signature or sign(body)})


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    commerce = BuiltinCommerce(str(tmp_path / "commerce.sqlite3"))
    commerce.seed(products=3, seed=1)
    search = BuiltinSearch(str(tmp_path / "search.sqlite3"))
    base = Connectors(commerce, search, BuiltinContent(tmp_path), BuiltinPayments(str(tmp_path / "pay.sqlite3")))
    connectors = replace(base, payments=SignedVendor(), cms=SignedContent())  # type: ignore[arg-type]
    purges = Purges()
    webhooks = Webhooks(connectors, CatalogEvents(commerce, search, purges), WebhookInbox(str(tmp_path / "wh.db")))
    variant_id = int(
        commerce._db.conn().execute("SELECT variant_id FROM inventory ORDER BY on_hand DESC LIMIT 1").fetchone()[0]  # type: ignore[attr-defined]
    )
    with TestClient(Starlette(routes=webhooks.routes)) as client:
        yield Shop(client, commerce, purges, variant_id)


def event(
    event_id: str, kind: str, order_id: str, *, payment: str = "pi_1", amount: int | None = None
) -> dict[str, Any]:
    sent: dict[str, Any] = {"id": event_id, "type": kind, "payment_id": payment, "reference": order_id}
    if amount is not None:
        sent["amount"] = {"amount": amount, "currency": "USD"}
    return sent


def test_payment_events_move_an_order_once_and_only_forward(shop: Shop) -> None:
    order = shop.order("k1")
    on_hand, reserved = shop.stock()
    assert reserved == 2
    answer = shop.send("/webhooks/payments/fakepay", [event("evt_1", "authorized", order)])
    assert answer.status_code == 200 and answer.json() == {"received": 1, "applied": 1, "duplicates": 0, "ignored": 0}
    assert shop.status(order) == "authorized" and shop.stock() == (on_hand - 2, 0)  # sold
    replayed = shop.send("/webhooks/payments/fakepay", [event("evt_1", "authorized", order)])
    assert replayed.json()["duplicates"] == 1 and shop.stock() == (on_hand - 2, 0)
    shop.send("/webhooks/payments/fakepay", [event("evt_2", "captured", order)])
    late = shop.send("/webhooks/payments/fakepay", [event("evt_0", "authorized", order)])  # out of order
    assert late.status_code == 200 and late.json()["ignored"] == 1 and shop.status(order) == "captured"
    shop.send("/webhooks/payments/fakepay", [event("evt_3", "refunded", order)])
    assert shop.status(order) == "refunded"
    assert shop.send("/webhooks/payments/fakepay", [event("evt_4", "captured", order)]).json()["ignored"] == 1


def test_a_failed_payment_releases_the_reservation_and_a_void_restocks(shop: Shop) -> None:
    failing, voided = shop.order("k2", quantity=1), shop.order("k3", quantity=1)
    on_hand, reserved = shop.stock()
    assert reserved == 2
    shop.send("/webhooks/payments/fakepay", [event("evt_f", "failed", failing)])
    assert shop.status(failing) == "failed" and shop.stock() == (on_hand, 1)
    shop.send("/webhooks/payments/fakepay", [event("evt_a", "authorized", voided)])
    assert shop.stock() == (on_hand - 1, 0)
    shop.send("/webhooks/payments/fakepay", [event("evt_c", "cancelled", voided)])
    assert shop.status(voided) == "cancelled" and shop.stock() == (on_hand, 0)  # the units are back


def test_a_bad_signature_or_the_wrong_vendor_changes_nothing(shop: Shop) -> None:
    order = shop.order("k4")
    forged = shop.send("/webhooks/payments/fakepay", [event("evt_x", "captured", order)], signature="00" * 32)
    assert forged.status_code == 400 and forged.json()["title"] == "Webhook not accepted"
    assert shop.status(order) == "pending_payment"
    assert shop.send("/webhooks/payments/stripe", [event("evt_y", "captured", order)]).status_code == 404
    assert shop.send("/webhooks/search/fakepay", []).status_code == 404
    unknown = shop.send("/webhooks/payments/fakepay", [event("evt_z", "captured", "ord_missing")])
    assert unknown.status_code == 200 and unknown.json()["ignored"] == 1  # acknowledged: no retry storm
    big = shop.client.post("/webhooks/payments/fakepay", content=b"x" * (1024 * 1024 + 1))
    assert big.status_code == 413


def test_a_cms_publish_purges_its_pages_once(shop: Shop) -> None:
    published = {"id": "dlv_1", "action": "published", "content_type": "page", "slug": "shipping"}
    assert shop.send("/webhooks/cms/fakecms", [published]).json()["applied"] == 1
    assert shop.purges.tags == [["cms:page:shipping"]]
    assert shop.send("/webhooks/cms/fakecms", [published]).json()["duplicates"] == 1
    assert shop.purges.tags == [["cms:page:shipping"]]


def test_stripes_worked_vector_through_the_endpoint(tmp_path: Path) -> None:
    """The contract pack's signed Stripe event: accepted once, a replay is a duplicate, tampering is refused."""
    from connectors.http import VendorClient
    from connectors.payments.stripe import StripePayments

    vendors = Path(__file__).parents[1] / "fixtures" / "vendors" / "stripe"
    vector = json.loads((vendors / "webhook_signature_vector.json").read_text())
    payload = (vendors / vector["payload_file"]).read_bytes()
    clock = [float(vector["cases"][0]["now"])]
    stripe = StripePayments(
        VendorClient("stripe", "https://api.stripe.com"), webhook_secret=vector["secret"], now=lambda: clock[0]
    )
    commerce = BuiltinCommerce(str(tmp_path / "commerce.sqlite3"))
    search = BuiltinSearch(str(tmp_path / "search.sqlite3"))
    connectors = Connectors(commerce, search, BuiltinContent(tmp_path), stripe)
    webhooks = Webhooks(connectors, CatalogEvents(commerce, search, Purges()), WebhookInbox(str(tmp_path / "w.db")))
    with TestClient(Starlette(routes=webhooks.routes)) as client:

        def post(body: bytes, signature: str = vector["header"]) -> Any:
            return client.post("/webhooks/payments/stripe", content=body, headers={"Stripe-Signature": signature})

        first = post(payload)
        # Verified and recorded; the order it names ("10042") is not one of this shop's, so nothing moves.
        assert first.status_code == 200 and first.json() == {"received": 1, "applied": 0, "duplicates": 0, "ignored": 1}
        assert post(payload).json()["duplicates"] == 1
        assert post(payload.replace(b"10042", b"10043")).status_code == 400  # tampered body
        assert post(payload, signature=vector["header"].replace("v1=f", "v1=0")).status_code == 400
        clock[0] += 3600
        assert post(payload).status_code == 400  # too old to trust, even though the signature matches


def test_a_partial_refund_leaves_the_order_captured(shop: Shop) -> None:
    order = shop.order("k5")  # total 2000
    shop.send("/webhooks/payments/fakepay", [event("evt_p1", "captured", order)])
    partial = shop.send("/webhooks/payments/fakepay", [event("evt_p2", "refunded", order, amount=100)])
    assert partial.json()["ignored"] == 1 and shop.status(order) == "captured"
    shop.send("/webhooks/payments/fakepay", [event("evt_p3", "refunded", order, amount=2000)])
    assert shop.status(order) == "refunded"


def test_a_pending_payment_that_fails_gives_its_stock_back_and_only_for_its_own_payment(shop: Shop) -> None:
    order = shop.order("k6", quantity=1)
    on_hand, _ = shop.stock()
    shop.send("/webhooks/payments/fakepay", [event("evt_q1", "authorized", order)])  # e.g. Stripe "processing"
    assert shop.stock()[0] == on_hand - 1
    other = shop.send("/webhooks/payments/fakepay", [event("evt_q2", "failed", order, payment="pi_other")])
    assert other.json()["ignored"] == 1 and shop.status(order) == "authorized"
    shop.send("/webhooks/payments/fakepay", [event("evt_q3", "failed", order)])
    assert shop.status(order) == "failed" and shop.stock()[0] == on_hand


def test_a_late_authorization_never_revives_a_cancelled_payment(shop: Shop) -> None:
    order = shop.order("k7", quantity=1)
    on_hand, _ = shop.stock()
    shop.send("/webhooks/payments/fakepay", [event("evt_r1", "cancelled", order)])  # delivered first
    late = shop.send("/webhooks/payments/fakepay", [event("evt_r0", "authorized", order)])
    assert late.json()["ignored"] == 1 and shop.status(order) == "cancelled" and shop.stock() == (on_hand, 0)


def test_a_racing_authorization_never_moves_a_captured_order_back(shop: Shop) -> None:
    order = shop.order("k8", quantity=1)
    anyio.run(lambda: shop.commerce.record_payment(order, status="captured", payment_reference="pi_1"))
    anyio.run(lambda: shop.commerce.record_payment(order, status="authorized", payment_reference="pi_1"))
    assert shop.status(order) == "captured"


def test_the_origin_serves_metrics_to_admins_only(make_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from wrangler_py.apps import build_origin_app

    monkeypatch.setenv("ES_TEST_ADMIN", "scrape-me")
    app = build_origin_app(make_config(seed_products=5, origin_extra='admin_token = "env:ES_TEST_ADMIN"'))
    with TestClient(app, client=("203.0.113.7", 4000)) as outsider:
        assert outsider.get("/metrics").status_code == 404
        token = outsider.get("/metrics", headers={"authorization": "Bearer scrape-me"})
        assert token.status_code == 200
    with TestClient(app, client=("127.0.0.1", 4000)) as local:
        answer = local.get("/metrics")
        assert answer.status_code == 200 and "edgeshop_vendor_request_duration_seconds" in answer.text


def test_a_payment_after_the_lapsed_reservation_was_sold_is_refused_and_counted(shop: Shop) -> None:
    from prometheus_client import REGISTRY

    def conflicts() -> float:
        return REGISTRY.get_sample_value("edgeshop_origin_inventory_conflicts_total", {"stage": "payment"}) or 0.0

    on_hand, _ = shop.stock()
    lapsed = shop.order("k-lapsed", quantity=on_hand)
    # The reservation lapses before any payment is recorded (checkout's lease ran out), and the stock sells.
    anyio.run(lambda: shop.commerce.update_order_status(lapsed, "cancelled", expected=("pending_payment",)))
    shop.send("/webhooks/payments/fakepay", [event("evt_sold", "captured", shop.order("k-other", quantity=on_hand),
                                                   payment="pi_other")])  # fmt: skip
    before = conflicts()
    late = shop.send("/webhooks/payments/fakepay", [event("evt_late", "captured", lapsed)])
    assert late.status_code == 200 and late.json()["ignored"] == 1
    assert shop.status(lapsed) == "cancelled" and shop.stock() == (0, 0)  # never sold twice
    assert conflicts() == before + 1
