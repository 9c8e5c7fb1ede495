"""The edge's OpenTelemetry SDK: a tracer provider of the edge app's own, built at start-up when tracing is on.

Never the process-global provider: `wrangler-py dev` runs an edge and an origin in one process, each with its
own service name and sampler, and tests build many apps with in-memory exporters. Imported only when tracing
is on, so an edge without it never loads the SDK or the exporter (protobuf).
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context, get_value
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from edge.settings import ObservabilitySettings
from edge.tracing import DECIDED


class _RootSampler(Sampler):
    """A trace that starts at the edge: the decision the edge took for the request (`edge.tracing.EdgeTracing.
    decide`, which may be the wire path's), else, for a span started without one, the trace-id ratio."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        decided = get_value(DECIDED, parent_context)
        if decided is None:
            return self._ratio.should_sample(parent_context, trace_id, name, kind, attributes, links)
        return SamplingResult(Decision.RECORD_AND_SAMPLE if decided else Decision.DROP, attributes if decided else None)

    def get_description(self) -> str:
        return f"EdgeRoot{{{self._ratio.get_description()}}}"


def edge_sampler(ratio: float) -> Sampler:
    """Parent-based: a trusted proxy's sampled flag decides for its trace; new traces by `ratio`."""
    return ParentBased(root=_RootSampler(ratio))


def tracer_provider(settings: ObservabilitySettings, *, region: str, node_id: str) -> TracerProvider:
    """Spans batched to the OTLP/HTTP endpoint off the event loop (the batch processor's own thread)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    resource = Resource.create(
        {"service.name": settings.service_name, "service.instance.id": node_id, "cloud.region": region}
    )
    provider = TracerProvider(sampler=edge_sampler(settings.sample_ratio), resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=str(settings.otlp_endpoint))))
    return provider


__all__ = ["edge_sampler", "tracer_provider"]
