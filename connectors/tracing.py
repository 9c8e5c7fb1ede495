"""Vendor calls in the trace of the request that makes them (OpenTelemetry, W3C `traceparent`).

The app that serves a request puts its tracer into the request's OpenTelemetry context (`with_tracer`, done by
the origin's request middleware); `connectors.http.VendorClient` finds it there (`current_tracer`) and makes a
client span per attempt, named `{vendor} {call}`, whose `traceparent` the vendor receives. No tracer in the
context (tracing off, or a call outside any request, such as a reindex from the CLI): no span and no field, at
the cost of one context lookup per call.

The tracer travels in the context rather than in a global because several apps can share one process (the
edge and the origin in `wrangler-py dev`, many apps in tests), each with its own provider and exporter.
"""

from __future__ import annotations

from opentelemetry.context import Context, create_key, get_value, set_value
from opentelemetry.trace import Span, Tracer, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_TRACER = create_key("edgeshop-vendor-tracer")
_PROPAGATOR = TraceContextTextMapPropagator()


def with_tracer(tracer: Tracer, context: Context | None = None) -> Context:
    """`context` (default: the current one) in which vendor calls are traced with `tracer`."""
    return set_value(_TRACER, tracer, context)


def current_tracer() -> Tracer | None:
    tracer = get_value(_TRACER)
    return tracer if isinstance(tracer, Tracer) else None


def trace_fields(span: Span) -> dict[str, str]:
    """The W3C trace context fields of a request made within `span`."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=set_span_in_context(span))
    return carrier


__all__ = ["current_tracer", "trace_fields", "with_tracer"]
