"""The origin's Prometheus metrics (served at `/metrics` to admin networks or the admin token only).

- `edgeshop_origin_requests_total` (counter; route, method, status): answered requests.
- `edgeshop_origin_request_duration_seconds` (histogram; route, method): from a request's arrival to the end of
  its response.
- `edgeshop_origin_checkouts_total` (counter; outcome): checkout attempts by how they ended (`CHECKOUT_OUTCOMES`).
- `edgeshop_origin_inventory_conflicts_total` (counter; stage): stock reservations that lost: `reserve` (placing
  the order found the stock taken) or `payment` (paid after the reservation lapsed, and the stock was sold).

The vendor calls behind the origin are counted by `connectors.http` (`edgeshop_vendor_*`).

`route` is Starlette's matched route template (`/api/products/{handle}`, a mount as `/static/{path}`), `other` when
no route matched (a 404 for an unknown path), so its values are the app's routes and nothing a client can invent;
`method` is one of the usual seven or `other`, `status` the class (`2xx`…`5xx`). `RouteMetrics` also names the
template to the edge in the `X-Edgeshop-Route` response field, which the edge labels its own metrics with (it
cannot see routes) and removes before the response leaves it.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The response field naming the route template; the edge reads it under the same name (`edge.metrics`).
ROUTE_HEADER = "x-edgeshop-route"
OTHER = "other"
_ROUTE_FIELD = ROUTE_HEADER.encode()
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
# Pages render in milliseconds, a checkout waits for a payment vendor for seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("edgeshop_origin_requests", "Requests answered by the origin", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "edgeshop_origin_request_duration_seconds",
    "From a request's arrival to the end of its response",
    ["route", "method"],
    buckets=BUCKETS,
)
# placed: paid and ordered; replayed: the same Idempotency-Key again, answered with its order; declined: the
# payment was refused (nothing charged, no order); out_of_stock: a reservation lost; already_ordered: the cart
# became an order under another key; conflict: another attempt holds the cart, or the cart changed; invalid:
# a field, the key or the cart is wrong; not_found: no such cart; unavailable: a dependency did not answer (safe
# to retry); error: anything else.
CHECKOUT_OUTCOMES = ("placed", "replayed", "declined", "out_of_stock", "already_ordered", "conflict", "invalid",
                     "not_found", "unavailable", "error")  # fmt: skip
CHECKOUTS = Counter("edgeshop_origin_checkouts", "Checkout attempts by how they ended", ["outcome"])
INVENTORY_CONFLICTS = Counter(
    "edgeshop_origin_inventory_conflicts",
    "Stock reservations that lost (reserve: placing the order; payment: paid after the reservation lapsed and "
    "the stock was sold)",
    ["stage"],
)
_CHECKOUTS = {outcome: CHECKOUTS.labels(outcome) for outcome in CHECKOUT_OUTCOMES}
_CONFLICTS = {stage: INVENTORY_CONFLICTS.labels(stage) for stage in ("reserve", "payment")}


def checkout_ended(outcome: str) -> None:
    _CHECKOUTS[outcome].inc()


def inventory_conflict(stage: str) -> None:
    _CONFLICTS[stage].inc()


def status_class(status: int) -> str:
    index = status // 100 - 1
    return _STATUS_CLASSES[index] if 0 <= index < len(_STATUS_CLASSES) else OTHER


def route_template(route: object) -> str:
    """A matched Starlette route's template: a Route's path, a Mount's path with what it serves below."""
    if isinstance(route, Route):
        return route.path
    if isinstance(route, Mount):
        return route.path.rstrip("/") + "/{path}"
    return OTHER  # a Host, or a route type this does not know: nothing a client's request could name


class RouteMetrics:
    """Pure ASGI middleware around the origin's router: counts and times every request by its route template and
    names the template to the edge. Starlette's router writes the matched route into the scope it is given (the
    same dict this middleware holds), so the template is known by the time the response starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # id(route) -> (route, template, its field value); a route object lives as long as the app
        self._templates: dict[int, tuple[object, str, bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the shopper gets when the app raises before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                route = scope.get("route")
                if route is not None:
                    template = self._template(route)[1]
                    message["headers"] = [*message.get("headers", ()), (_ROUTE_FIELD, template)]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            label = self._template(route)[0] if route is not None else OTHER
            method = scope["method"] if scope["method"] in _METHODS else OTHER
            REQUESTS.labels(label, method, status_class(status)).inc()
            REQUEST_SECONDS.labels(label, method).observe(time.perf_counter() - started)

    def _template(self, route: object) -> tuple[str, bytes]:
        known = self._templates.get(id(route))
        if known is None or known[0] is not route:
            template = route_template(route)
            known = self._templates[id(route)] = (route, template, template.encode("latin-1", "replace"))
        return known[1], known[2]


__all__ = [
    "CHECKOUT_OUTCOMES",
    "ROUTE_HEADER",
    "RouteMetrics",
    "checkout_ended",
    "inventory_conflict",
    "route_template",
    "status_class",
]
