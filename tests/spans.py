"""Spans recorded in memory, for the tests of the edge's, the origin's and the connectors' traces."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Sampler

# A W3C traceparent as a CDN in front of the edge would send it (sampled), and its parts.
CDN_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CDN_SPAN_ID = "00f067aa0ba902b7"
CDN_TRACEPARENT = f"00-{CDN_TRACE_ID}-{CDN_SPAN_ID}-01"
# The same from a shopper, who may not choose the trace.
CLIENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE_ID}-b7ad6b7169203331-01"


class Recorder:
    """A tracer provider of its own whose finished spans are kept in memory, in the order they ended."""

    def __init__(self, sampler: Sampler = ALWAYS_ON) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> ReadableSpan:
        found = [span for span in self.spans() if span.name == name]
        assert len(found) == 1, f"{len(found)} spans named {name!r} in {[span.name for span in self.spans()]}"
        return found[0]

    def clear(self) -> None:
        self.exporter.clear()


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def hex_span(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


def parent_of(span: ReadableSpan) -> str | None:
    return format(span.parent.span_id, "016x") if span.parent is not None else None


def traceparent_parts(value: str) -> tuple[str, str, str]:
    """(trace id, parent span id, flags) of a traceparent field."""
    version, trace_id, parent_id, flags = value.split("-")
    assert version == "00"
    return trace_id, parent_id, flags
