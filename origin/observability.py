"""Each origin request's id, trace and access line: `RequestObservability`, the outermost ASGI middleware.

- Request id: the edge's `X-Request-Id` (one id from the CDN's logs through the edge's to these), else a new
  one; echoed on the response, and in every log line written while the request runs (`log_fields`).
- Trace: a server span per request named `{METHOD} {route template}` (`GET /p/{handle}`; `http.route`,
  `http.request.method`, `http.response.status_code`, `edgeshop.market`; never the path itself, which holds cart
  ids and order ids: spans leave for the OTLP collector), continuing the edge's
  `traceparent`. The request's context carries the tracer (`connectors.with_tracer`) to the vendor calls
  (`connectors.http`) and the template renders (`traced`). Probes and /metrics are not traced.
- Access log: with `origin.observability.access_log`, one `edgeshop.access` line per request (method, path,
  status, duration_ms, route, market, request_id, trace_id). The path is the one the client sent (`raw_path`, as
  the edge logs it), never the percent-decoded one, whose escape sequences and line breaks would reach a
  terminal and forge lines; without the query (tokens travel there), any byte that is not visible ASCII
  percent-encoded, and capability segments (cart and order ids) replaced by `{id}` (`cdn.redact_capabilities`).

Whose trace and request id are continued: `origin.observability.trusted_peers`; unset, every peer's, as the
origin is reached only through its edges, which drop a client's own (`edge.forwarding`). Tracing off: no span,
no OpenTelemetry object, no header read beyond the request id and market.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address
from urllib.parse import quote_from_bytes

from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdn import redact_capabilities
from connectors import current_tracer, with_tracer
from origin.health import HEALTH_PATHS
from origin.markets import MARKET_HEADER
from origin.metrics import route_template
from origin.settings import ObservabilitySettings

SERVICE = "origin"
ACCESS_LOGGER = "edgeshop.access"
_REQUEST_ID = b"x-request-id"
_MARKET = MARKET_HEADER.lower().encode()
_TRACE_FIELDS = (b"traceparent", b"tracestate")
# What a request id from the edge (or a proxy before it) may look like; anything else is replaced.
_VALID_ID = re.compile(rb"[A-Za-z0-9+/=._:-]{1,128}")
_PROPAGATOR = TraceContextTextMapPropagator()
# A logged path keeps visible ASCII as sent ("%" included: the client's own escapes stay as they were).
_VISIBLE = bytes(range(0x21, 0x7F))
access_log = logging.getLogger(ACCESS_LOGGER)


@dataclass(slots=True)
class RequestContext:
    request_id: str
    scope: Scope  # the router writes the matched route into it: read when a line or a span asks
    market: str | None = None
    trace_id: str | None = None
    span_id: str | None = None

    @property
    def route(self) -> str | None:
        route = self.scope.get("route")
        return route_template(route) if route is not None else None


CURRENT: ContextVar[RequestContext | None] = ContextVar("edgeshop_origin_request", default=None)


def log_fields() -> dict[str, str] | None:
    """The running origin request's fields for a log line (`wrangler_py.logs` providers); None outside one."""
    current = CURRENT.get()
    if current is None:
        return None
    fields = {"service": SERVICE, "request_id": current.request_id}
    for name, value in (("trace_id", current.trace_id), ("span_id", current.span_id), ("market", current.market),
                        ("route", current.route)):  # fmt: skip
        if value:
            fields[name] = value
    return fields


def build_tracer_provider(settings: ObservabilitySettings, *, region: str | None = None) -> TracerProvider:
    """The origin app's own provider, exporting to `settings.otlp_endpoint` (loads the SDK: tracing origins only)."""
    from origin.telemetry import tracer_provider

    return tracer_provider(settings, region=region)


@contextmanager
def traced(name: str, attributes: Mapping[str, str] | None = None) -> Iterator[None]:
    """A span of the running request's trace around a piece of its work (a template render); nothing when the
    request is not traced."""
    tracer = current_tracer()
    if tracer is None:
        yield
        return
    with tracer.start_as_current_span(name, attributes=attributes):
        yield


def _logged_path(scope: Scope) -> str:
    """The request's path as a log line may carry it: as sent, without the query, control bytes and non-ASCII
    percent-encoded, capability segments redacted."""
    raw = scope.get("raw_path")
    if raw is None:  # a server that does not keep the bytes it got: the decoded path, encoded again
        raw = scope["path"].encode("utf-8", "surrogateescape")
    return redact_capabilities(quote_from_bytes(raw.split(b"?", 1)[0], safe=_VISIBLE))


class RequestObservability:
    """Pure ASGI middleware around the whole origin app (outside `RouteMetrics`)."""

    def __init__(
        self, app: ASGIApp, *, settings: ObservabilitySettings, tracer_provider: TracerProvider | None = None
    ) -> None:
        self.app = app
        self._tracer = tracer_provider.get_tracer("edgeshop.origin") if tracer_provider is not None else None
        self._trusted_peers: tuple[IPv4Network | IPv6Network, ...] | None = (
            None if settings.trusted_peers is None else tuple(settings.trusted_peers)
        )
        self._access_log = settings.access_log

    def _trusted(self, scope: Scope) -> bool:
        if self._trusted_peers is None:
            return True
        try:
            peer = ip_address((scope.get("client") or ("", 0))[0])
        except ValueError:
            return False
        return any(peer in network for network in self._trusted_peers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        trusted = self._trusted(scope)
        request_id = market = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID and trusted and _VALID_ID.fullmatch(value):
                request_id = value.decode("ascii")
            elif name == _MARKET:
                market = value.decode("latin-1")[:32]
        observed = RequestContext(request_id or f"{random.getrandbits(64):016x}", scope, market)
        context_token = CURRENT.set(observed)
        span, span_token = None, None
        if self._tracer is not None and scope["path"] not in HEALTH_PATHS:
            span = self._start(scope, trusted, market)
            span_context = span.get_span_context()
            if span.is_recording():  # log lines name recorded traces only
                observed.trace_id = format(span_context.trace_id, "032x")
                observed.span_id = format(span_context.span_id, "016x")
        status = 500  # what the client gets when the app raises before answering
        echoed = (_REQUEST_ID, observed.request_id.encode("ascii"))

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        try:
            if span is not None and self._tracer is not None:
                span_token = attach(with_tracer(self._tracer, set_span_in_context(span)))
            await self.app(scope, receive, sending)
        except BaseException as exc:
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            if span_token is not None:
                detach(span_token)
            if span is not None:
                self._end(span, scope["method"], observed.route, status)
            if self._access_log and access_log.isEnabledFor(logging.INFO):
                self._log(scope, status, time.perf_counter() - started, observed)
            CURRENT.reset(context_token)

    def _start(self, scope: Scope, trusted: bool, market: str | None) -> Span:
        assert self._tracer is not None
        parent = Context()
        if trusted:
            carrier = {name.decode("latin-1"): value.decode("latin-1")
                       for name, value in scope["headers"] if name in _TRACE_FIELDS}  # fmt: skip
            if carrier:
                parent = _PROPAGATOR.extract(carrier, context=parent)
        attributes = {"http.request.method": scope["method"], "url.scheme": scope.get("scheme", "http"),
                      "edgeshop.market": market or ""}  # fmt: skip
        return self._tracer.start_span(scope["method"], context=parent, kind=SpanKind.SERVER, attributes=attributes)

    @staticmethod
    def _end(span: Span, method: str, route: str | None, status: int) -> None:
        if route is not None:
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
        span.end()

    @staticmethod
    def _log(scope: Scope, status: int, seconds: float, observed: RequestContext) -> None:
        method, path = scope["method"], _logged_path(scope)
        duration_ms = round(seconds * 1000, 3)
        fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms,
                  "route": observed.route, "market": observed.market, "request_id": observed.request_id,
                  "trace_id": observed.trace_id}  # fmt: skip
        access_log.info("%s %s %d %.1fms", method, path, status, duration_ms, extra=fields)


__all__ = ["ACCESS_LOGGER", "CURRENT", "RequestObservability", "build_tracer_provider", "log_fields", "traced"]
