"""The origin's OpenTelemetry SDK: a tracer provider of the origin app's own, built when tracing is on.

Never the process-global provider (`wrangler-py dev` runs an edge beside the origin, each with its own
service name; tests build many apps), and imported only when tracing is on, so an origin without it never
loads the SDK or the exporter. Parent-based: the edge decides whether a trace it sends is recorded.
"""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

from origin.settings import ObservabilitySettings


def tracer_provider(settings: ObservabilitySettings, *, region: str | None = None) -> TracerProvider:
    """Spans batched to the OTLP/HTTP endpoint off the event loop (the batch processor's own thread)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    attributes = {"service.name": settings.service_name}
    if region is not None:
        attributes["cloud.region"] = region
    provider = TracerProvider(
        sampler=ParentBasedTraceIdRatio(settings.sample_ratio), resource=Resource.create(attributes),
        shutdown_on_exit=False,
    )  # fmt: skip
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=str(settings.otlp_endpoint))))
    return provider


__all__ = ["tracer_provider"]
