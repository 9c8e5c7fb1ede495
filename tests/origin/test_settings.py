"""`origin.settings`: defaults that matter in operation."""

from __future__ import annotations

from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from origin.settings import ObservabilitySettings, OriginSettings
from origin.telemetry import tracer_provider


def test_few_root_traces_by_default_and_the_edges_decision_is_followed() -> None:
    settings = ObservabilitySettings(tracing=True, otlp_endpoint="http://collector:4318/v1/traces")
    assert settings.sample_ratio == 0.01 and OriginSettings().observability.sample_ratio == 0.01
    provider = tracer_provider(settings, region="test")
    sampler = provider.sampler
    try:
        for flags, expected in ((TraceFlags.SAMPLED, Decision.RECORD_AND_SAMPLE), (TraceFlags.DEFAULT, Decision.DROP)):
            parent = SpanContext(trace_id=2**100 + 1, span_id=7, is_remote=True, trace_flags=TraceFlags(flags))
            context = set_span_in_context(NonRecordingSpan(parent))
            assert sampler.should_sample(context, 2**100 + 1, "GET").decision is expected
        roots = sum(sampler.should_sample(None, trace_id, "GET").decision.is_sampled()
                    for trace_id in range(1, 2**64, 2**64 // 10_000))  # fmt: skip
        assert roots < 300  # ≈ 100 of 10,000
    finally:
        provider.shutdown()
