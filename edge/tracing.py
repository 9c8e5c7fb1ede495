"""Traces at the edge: OpenTelemetry spans, with W3C Trace Context (`traceparent`, `tracestate`) in and out.

A request's trace continues the `traceparent` of a trusted proxy (`edge.trusted_proxies`: the CDN in front),
else it starts here; a client's own trace fields are never believed, and never forwarded. The origin and
fragment requests carry this edge's span in their `traceparent`, so the origin continues the same trace.

Spans (`EdgeTracing.tracer`, one per edge app, from the provider `edge.telemetry` builds at start-up):
- `{METHOD} {route}` (server): the request, named by the origin's route template once known (`GET` before);
  `http.request.method`, `url.path`, `url.scheme`, `http.route`, `http.response.status_code`, `edgeshop.cache`
  (the metrics' label: `l1_hit`, `miss`, `pass`…), `edgeshop.market`, `edgeshop.region`. An error status for a
  5xx. Never the query, a header or the client's address; `url.path` (here and on `origin fetch`) with its
  capability segments, cart and order ids, redacted by `cdn.redact_capabilities` (`/api/carts/{id}`).
- `cache lookup` (internal): the L1/L2 read and its verdict: `edgeshop.cache.result` (`fresh`, `stale`,
  `revalidate`, `miss`), `edgeshop.cache.tier` (`l1`, `l2`) on a find.
- `origin fetch` (client): one per attempt, `edgeshop.region`, `server.address`, `http.request.method`,
  `url.path`, `http.response.status_code`; an error status when the origin failed or answered 5xx.
- `fragment fetch` (client): one per include fetched, `url.path`, `http.response.status_code`.

Sampling (`EdgeTracing.decide`): a trusted proxy's sampled flag decides for its trace (parent-based); a trace
that starts here is recorded with probability `sample_ratio`. Hits answered below ASGI (`edge.wire`) make no
spans, so the decision for a request that could be one is taken before the wire path answers it
(`sampled_on_wire`): a request to be recorded goes through ASGI, carrying the decision in its scope, and is not
drawn a second time there.

A request that is not recorded makes no span and no OpenTelemetry object (a hit pays for the decision alone):
what it sends the origin or a fragment says "not sampled" (flags 00, `unsampled`) under the proxy's trace or a
new trace id, so that the origin does not start recording it either.

Tracing off costs nothing per request: `EdgeApp` holds no `EdgeTracing` and no code here runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

from opentelemetry.context import Context, create_key, set_value
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    TracerProvider,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACE_FIELDS = frozenset({"traceparent", "tracestate"})
_TRACE_FIELDS = frozenset(name.encode() for name in TRACE_FIELDS)
# The ASGI scope's extension the server protocol (`edge.server`) puts the wire path's sampling decision in.
SAMPLED_EXTENSION = "edgeshop.trace_sampled"
# A sampling decision already taken for a trace that starts here, for the root sampler (`edge.telemetry`).
DECIDED = create_key("edgeshop-root-sampled")
_PROPAGATOR = TraceContextTextMapPropagator()


def sampled_flag(traceparent: bytes) -> bool:
    """The sampled bit of a W3C traceparent (`00-<trace id>-<parent id>-<flags>`), without a full parse."""
    try:
        return len(traceparent) >= 55 and int(traceparent[53:55], 16) & 1 == 1
    except ValueError:
        return False


def trace_ids(span: Span) -> tuple[str, str] | None:
    """The span's trace and span ids as hex, for logs; None for an invalid (no-op) span."""
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def with_trace(headers: Iterable[tuple[str, str]], span: Span) -> list[tuple[str, str]]:
    """Request fields for a request made within `span`: any trace fields replaced by the span's own."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=set_span_in_context(span))
    return [item for item in headers if item[0] not in TRACE_FIELDS] + list(carrier.items())


def failed(span: Span, reason: str) -> None:
    span.set_status(Status(StatusCode.ERROR, reason))


class EdgeTracing:
    """What one edge app traces with: its tracer, who may continue a trace, and how new traces are sampled."""

    def __init__(
        self,
        provider: TracerProvider,
        *,
        sample_ratio: float,
        trusted: Callable[[str], bool],
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("edgeshop.edge")
        self._ratio = sample_ratio
        self._trusted = trusted
        self._draw = draw

    def _root_sampled(self) -> bool:
        return self._ratio >= 1.0 or (self._ratio > 0.0 and self._draw() < self._ratio)

    def sampled_on_wire(self, headers: list[tuple[bytes, bytes]], peer: str) -> bool:
        """Whether this GET or HEAD is to be recorded, before the wire path may answer it (it makes no spans)."""
        if self._trusted(peer):
            for name, value in headers:
                if name == b"traceparent":
                    return sampled_flag(value)
        return self._root_sampled()

    def decide(self, scope: MutableMapping[str, Any], peer: str) -> tuple[bool, Context]:
        """Whether the request is recorded, and the context its trace continues: a trusted proxy's, else empty.

        A proxy's flag decides for its trace; else the wire path's decision carried in the scope; else a draw."""
        parent = Context()
        if self._trusted(peer):
            carrier = {name.decode("latin-1"): value.decode("latin-1")
                       for name, value in scope["headers"] if name in _TRACE_FIELDS}  # fmt: skip
            if carrier:
                parent = _PROPAGATOR.extract(carrier, context=parent)
                continued = get_current_span(parent).get_span_context()
                if continued.is_valid:
                    return continued.trace_flags.sampled, parent
        decided = (scope.get("extensions") or {}).get(SAMPLED_EXTENSION)
        return (self._root_sampled() if decided is None else decided), parent

    def start(self, method: str, parent: Context, attributes: Mapping[str, Any]) -> tuple[Span, Context]:
        """A recorded request's server span, and the context to serve it in, with the span current in it."""
        span = self.tracer.start_span(
            method, context=set_value(DECIDED, True, parent), kind=SpanKind.SERVER, attributes=attributes
        )
        return span, set_span_in_context(span, parent)


def end_server_span(span: Span, method: str, route: str | None, status: int, cache: str, market: str | None) -> None:
    """The request's outcome on its server span: the route template names it, with the status and cache verdict."""
    outcome: dict[str, str | int] = {"edgeshop.cache": cache, "edgeshop.market": market or ""}
    if route is not None:
        span.update_name(f"{method} {route}")
        outcome["http.route"] = route
    if status:
        outcome["http.response.status_code"] = status
        if status >= 500:
            failed(span, f"HTTP {status}")
    span.set_attributes(outcome)
    span.end()


def unsampled(headers: Iterable[tuple[str, str]], parent: Context | None) -> list[tuple[str, str]]:
    """Request fields for a request made for an unrecorded one: "not sampled" (flags 00) under the proxy's trace,
    or a new trace id, so that the origin does not start recording it either. Made only when a request leaves
    the edge, so an unrecorded hit makes no OpenTelemetry object at all."""
    continued = get_current_span(parent).get_span_context()
    context = SpanContext(
        # The ids only carry the decision: a fast non-cryptographic source will do (never zero).
        trace_id=continued.trace_id if continued.is_valid else random.getrandbits(128) or 1,
        span_id=random.getrandbits(64) or 1,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.DEFAULT),
        trace_state=continued.trace_state,
    )
    return with_trace(headers, NonRecordingSpan(context))


__all__ = [
    "DECIDED",
    "SAMPLED_EXTENSION",
    "TRACE_FIELDS",
    "EdgeTracing",
    "end_server_span",
    "failed",
    "sampled_flag",
    "trace_ids",
    "unsampled",
    "with_trace",
]
