"""Vendor webhooks: `POST /webhooks/{capability}/{vendor}` on the origin.

Every delivery is verified by the vendor's adapter over the raw body (a bad or stale signature is a 400 and
changes nothing), and every event is applied at most once: its id is recorded after it is applied, and the
order moves are compare-and-set, so a replay (or two deliveries racing) changes nothing either.

Payment events move an order only along the allowed transitions below. An event that would move it any other
way (a late "authorized" after "captured", say) is acknowledged and ignored: the vendor must not retry it.
CMS publish events purge the edited entry's pages at the edge.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors import (
    Connectors,
    ContentEvent,
    NotFound,
    OrderStatus,
    OutOfStock,
    PaymentEvent,
    SqliteDatabase,
    WebhookRejected,
)
from origin.events import CatalogEvents
from origin.metrics import inventory_conflict
from origin.problems import problem

log = logging.getLogger("edgeshop.origin.webhooks")

MAX_WEBHOOK_BYTES = 1024 * 1024
# payment event -> (the order status it leads to, the statuses it may come from)
PAYMENT_TRANSITIONS: dict[str, tuple[OrderStatus, frozenset[OrderStatus]]] = {
    "authorized": ("authorized", frozenset({"pending_payment", "cancelled"})),
    "captured": ("captured", frozenset({"pending_payment", "authorized", "cancelled"})),
    # From a paid state only for the very payment the order records: a payment reported pending and then
    # failed (Stripe's processing, Adyen's Pending or a failed capture) gives its stock back.
    "failed": ("failed", frozenset({"pending_payment", "authorized", "captured"})),
    "cancelled": ("cancelled", frozenset({"pending_payment", "authorized"})),
    "refunded": ("refunded", frozenset({"captured"})),
}
# Reaching these from a pending (or lapsed) order means the money arrived: stock is sold, not just re-labelled.
_PAID = frozenset({"authorized", "captured"})


class WebhookInbox:
    """Which vendor events were applied already (SQLite, one row per vendor and event id)."""

    def __init__(self, path: str) -> None:
        self._db = SqliteDatabase(path)
        with self._db.write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS webhook_events (vendor TEXT NOT NULL, event_id TEXT NOT NULL,"
                " outcome TEXT NOT NULL, received_at INTEGER NOT NULL, PRIMARY KEY (vendor, event_id))"
            )

    async def seen(self, vendor: str, event_id: str) -> bool:
        def check() -> bool:
            row = (
                self._db.conn()
                .execute("SELECT 1 FROM webhook_events WHERE vendor = ? AND event_id = ?", (vendor, event_id))
                .fetchone()
            )
            return row is not None

        return await self._db.run(check)

    async def record(self, vendor: str, event_id: str, outcome: str) -> None:
        def insert() -> None:
            with self._db.write() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO webhook_events (vendor, event_id, outcome, received_at) VALUES (?, ?, ?, ?)",
                    (vendor, event_id, outcome, int(time.time())),
                )

        await self._db.run(insert)


@dataclass(frozen=True, slots=True)
class Outcome:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0


class Webhooks:
    def __init__(self, connectors: Connectors, events: CatalogEvents, inbox: WebhookInbox) -> None:
        self._connectors = connectors
        self._events = events
        self._inbox = inbox

    @property
    def routes(self) -> list[Route]:
        return [Route("/webhooks/{capability}/{vendor}", self.receive, methods=["POST"])]

    async def receive(self, request: Request) -> Response:
        capability, vendor = request.path_params["capability"], request.path_params["vendor"]
        served = {"payments": self._connectors.payments.vendor, "cms": self._connectors.cms.vendor}.get(capability)
        if served is None or served != vendor or vendor == "builtin":
            return problem(404, "not-found", "No such webhook", f"{capability} is not served by {vendor} here")
        too_large = problem(413, "too-large", "Webhook too large", f"at most {MAX_WEBHOOK_BYTES} bytes")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
            return too_large
        received = bytearray()
        async for chunk in request.stream():  # counted as it arrives: a chunked body has no declared length
            received += chunk
            if len(received) > MAX_WEBHOOK_BYTES:
                return too_large
        body = bytes(received)
        headers: Mapping[str, str] = request.headers
        try:
            if capability == "payments":
                outcome = await self._payments(vendor, self._connectors.payments.parse_webhook(body, headers))
            else:
                outcome = await self._content(vendor, self._connectors.cms.parse_webhook(body, headers))
        except WebhookRejected as exc:
            log.warning("webhook from %s refused: %s", vendor, exc)
            return problem(400, "webhook-rejected", "Webhook not accepted", str(exc))
        payload = {"received": outcome.received, "applied": outcome.applied,
                   "duplicates": outcome.duplicates, "ignored": outcome.ignored}  # fmt: skip
        return Response(json.dumps(payload), media_type="application/json", headers={"Cache-Control": "no-store"})

    async def _payments(self, vendor: str, events: list[PaymentEvent]) -> Outcome:
        applied = duplicates = ignored = 0
        for event in events:
            if await self._inbox.seen(vendor, event.id):
                duplicates += 1
                continue
            result = await self._apply_payment(event)
            await self._inbox.record(vendor, event.id, result)
            if result == "applied":
                applied += 1
            else:
                ignored += 1
                # Money without an order, or after its stock sold, needs a person: loud, not informational.
                level = logging.ERROR if "refund it" in result or "no such order" in result else logging.INFO
                log.log(level, "payment event %s (%s) for %s: %s", event.id, event.type, event.reference, result)
        return Outcome(len(events), applied, duplicates, ignored)

    async def _apply_payment(self, event: PaymentEvent) -> str:
        commerce = self._connectors.commerce
        status, allowed = PAYMENT_TRANSITIONS[event.type]
        try:
            order = await commerce.get_order(event.reference)
        except NotFound:
            return "ignored: no such order"
        if order.status not in allowed:
            return f"ignored: {order.status} -> {status} is not an allowed move"
        paid_with = order.payment_reference
        if order.status in ("authorized", "captured") and paid_with is not None and paid_with != event.payment_id:
            return "ignored: about another payment than the one this order records"
        if order.status == "cancelled" and paid_with is not None:
            # Cancelled with a payment on record: the vendor voided it. Only an order whose reservation lapsed
            # before any payment was recorded may still be paid by a late event.
            return "ignored: the order's payment was cancelled"
        if status == "refunded" and event.amount is not None and event.amount.amount < order.total.amount:
            return "ignored: a partial refund leaves the order captured"
        if status in _PAID and order.status in ("pending_payment", "cancelled"):
            try:
                await commerce.record_payment(order.id, status=status, payment_reference=event.payment_id)
            except OutOfStock:
                # Paid after its reservation lapsed and the stock sold: the order stays cancelled for a refund.
                inventory_conflict("payment")
                return "ignored: paid after the stock was sold elsewhere; refund it"
            return "applied"
        moved = await commerce.update_order_status(
            order.id, status, expected=allowed, payment_reference=event.payment_id
        )
        return "applied" if moved is not None else "ignored: already moved"

    async def _content(self, vendor: str, events: list[ContentEvent]) -> Outcome:
        fresh: list[ContentEvent] = []
        duplicates = 0
        for event in events:
            if await self._inbox.seen(vendor, event.id):
                duplicates += 1
            else:
                fresh.append(event)
        if fresh:
            await self._events.content_changed({(event.content_type, event.slug) for event in fresh})
            for event in fresh:
                await self._inbox.record(vendor, event.id, f"purged {event.content_type}:{event.slug}")
        return Outcome(len(events), len(fresh), duplicates, 0)


__all__ = ["MAX_WEBHOOK_BYTES", "PAYMENT_TRANSITIONS", "Outcome", "WebhookInbox", "Webhooks"]
