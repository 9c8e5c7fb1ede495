"""`edge.tracing`: which traces the edge continues, the spans it makes, and what the origin is told.

Spans go to an in-memory exporter (`tests.spans.Recorder`) through the sampler a tracing edge runs with
(`edge.telemetry.edge_sampler`). Peers in 10.0.0.0/8 are the trusted proxies; 203.0.113.9 is a shopper.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from edge import EdgeApp, EdgeSettings, server_config
from edge.settings import ObservabilitySettings
from edge.telemetry import edge_sampler
from edge.tracing import SAMPLED_EXTENSION, EdgeTracing, sampled_flag
from tests.conftest import free_port
from tests.edge.conftest import FakeOrigin
from tests.edge.live import Reader, request, serve
from tests.spans import (
    CDN_SPAN_ID,
    CDN_TRACE_ID,
    CDN_TRACEPARENT,
    CLIENT_TRACE_ID,
    CLIENT_TRACEPARENT,
    Recorder,
    hex_span,
    hex_trace,
    parent_of,
    traceparent_parts,
)

PROXY = ("10.0.0.5", 40000)
SHOPPER = ("203.0.113.9", 40000)
TRACE_ALL = ObservabilitySettings(sample_ratio=1.0)


def traced_edge(origin: FakeOrigin, recorder: Recorder | None, *, ratio: float = 1.0, **settings: Any) -> EdgeApp:
    """An edge tracing into `recorder` (None: tracing off) that records `ratio` of the traces it starts."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=origin.app()), base_url="http://origin")
    settings.setdefault("trusted_proxies", ["10.0.0.0/8"])
    settings.setdefault("observability", {"sample_ratio": ratio})
    provider = recorder.provider if recorder is not None else None
    return EdgeApp(EdgeSettings(**settings), http=http, tracer_provider=provider, rng=random.Random(3))


def client(app: EdgeApp, peer: tuple[str, int]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=peer), base_url="http://shop.example")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(edge_sampler(1.0))


@pytest.mark.anyio
async def test_a_trusted_proxys_trace_is_continued_and_handed_to_the_origin(
    origin: FakeOrigin, recorder: Recorder
) -> None:
    app = traced_edge(origin, recorder)
    async with client(app, PROXY) as proxy:
        response = await proxy.get(
            "/page?utm_source=x", headers={"traceparent": CDN_TRACEPARENT, "tracestate": "cdn=1"}
        )
    assert response.status_code == 200 and response.headers["x-cache"] == "MISS"

    server, lookup, fetch = recorder.named("GET"), recorder.named("cache lookup"), recorder.named("origin fetch")
    assert server.kind is SpanKind.SERVER and fetch.kind is SpanKind.CLIENT
    assert {hex_trace(span) for span in (server, lookup, fetch)} == {CDN_TRACE_ID}
    assert parent_of(server) == CDN_SPAN_ID and server.parent is not None and server.parent.is_remote
    assert parent_of(lookup) == parent_of(fetch) == hex_span(server)
    assert server.attributes is not None and lookup.attributes is not None and fetch.attributes is not None
    assert server.attributes["url.path"] == "/page"  # never the query
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["edgeshop.cache"] == "miss"
    assert lookup.attributes["edgeshop.cache.result"] == "miss"
    assert fetch.attributes["http.response.status_code"] == 200 and fetch.attributes["url.path"] == "/page"

    # The origin continues this trace below the fetch's span, with the proxy's trace state.
    seen = origin.seen_headers[-1]
    trace_id, parent_id, flags = traceparent_parts(seen["traceparent"])
    assert (trace_id, parent_id, int(flags, 16) & 1) == (CDN_TRACE_ID, hex_span(fetch), 1)
    assert seen["tracestate"] == "cdn=1"


@pytest.mark.anyio
async def test_a_shoppers_own_trace_is_neither_continued_nor_passed_on(origin: FakeOrigin, recorder: Recorder) -> None:
    app = traced_edge(origin, recorder)
    async with client(app, SHOPPER) as shopper:
        await shopper.get("/page", headers={"traceparent": CLIENT_TRACEPARENT, "tracestate": "mine=1"})
    server = recorder.named("GET")
    assert server.parent is None and hex_trace(server) != CLIENT_TRACE_ID
    seen = origin.seen_headers[-1]
    assert traceparent_parts(seen["traceparent"])[0] == hex_trace(server)
    assert "tracestate" not in seen


@pytest.mark.anyio
async def test_with_tracing_off_a_proxys_trace_passes_through_and_a_shoppers_does_not(origin: FakeOrigin) -> None:
    app = traced_edge(origin, None)
    assert app.tracing is None
    async with client(app, PROXY) as proxy, client(app, SHOPPER) as shopper:
        echoed = (await proxy.get("/echo", headers={"traceparent": CDN_TRACEPARENT})).json()["headers"]
        assert echoed["traceparent"] == CDN_TRACEPARENT  # the origin may continue the CDN's trace
        echoed = (await shopper.get("/echo", headers={"traceparent": CLIENT_TRACEPARENT, "tracestate": "x=1"})).json()
        assert "traceparent" not in echoed["headers"] and "tracestate" not in echoed["headers"]


@pytest.mark.anyio
async def test_a_hit_is_one_lookup_and_no_fetch(origin: FakeOrigin, recorder: Recorder) -> None:
    app = traced_edge(origin, recorder)
    async with client(app, SHOPPER) as shopper:
        await shopper.get("/page")
        recorder.clear()
        hit = await shopper.get("/page")
    assert hit.headers["x-cache"] == "HIT"
    assert [span.name for span in recorder.spans()] == ["cache lookup", "GET"]
    lookup = recorder.named("cache lookup")
    assert lookup.attributes is not None
    assert (lookup.attributes["edgeshop.cache.result"], lookup.attributes["edgeshop.cache.tier"]) == ("fresh", "l1")


@pytest.mark.anyio
async def test_a_failed_origin_fetch_is_an_error_span(origin: FakeOrigin, recorder: Recorder) -> None:
    origin.failing = True
    app = traced_edge(origin, recorder, retry_budget=0)
    async with client(app, SHOPPER) as shopper:
        response = await shopper.get("/page")
    assert response.status_code == 503
    fetch, server = recorder.named("origin fetch"), recorder.named("GET")
    assert fetch.status.status_code is StatusCode.ERROR and fetch.attributes is not None
    assert fetch.attributes["http.response.status_code"] == 503
    assert server.status.status_code is StatusCode.ERROR


@pytest.mark.anyio
async def test_the_route_template_names_the_server_span(recorder: Recorder) -> None:
    async def product(request: Request) -> Response:
        return PlainTextResponse("p", headers={"cache-control": "no-store", "x-edgeshop-route": "/p/{handle}"})

    origin_app = Starlette(routes=[Route("/p/{handle}", product)])
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=origin_app), base_url="http://origin")
    app = EdgeApp(EdgeSettings(observability=TRACE_ALL), http=http, tracer_provider=recorder.provider)
    async with client(app, SHOPPER) as shopper:
        response = await shopper.get("/p/tent")
    assert "x-edgeshop-route" not in response.headers
    server = recorder.named("GET /p/{handle}")
    assert server.attributes is not None and server.attributes["http.route"] == "/p/{handle}"


@pytest.mark.anyio
async def test_sampling_a_new_trace_out_still_tells_the_origin_not_to_record_it(origin: FakeOrigin) -> None:
    recorder = Recorder(edge_sampler(0.0))
    app = traced_edge(origin, recorder, ratio=0.0)
    async with client(app, SHOPPER) as shopper, client(app, PROXY) as proxy:
        await shopper.get("/page")
        assert recorder.spans() == []
        flags = traceparent_parts(origin.seen_headers[-1]["traceparent"])[2]
        assert int(flags, 16) & 1 == 0  # not sampled (bit 1 may say the trace id is random: W3C level 2)
        # A proxy's sampled trace is recorded whatever the ratio: it decided for its trace (parent-based).
        await proxy.get("/page", headers={"traceparent": CDN_TRACEPARENT, "cache-control": "no-cache"})
    assert {hex_trace(span) for span in recorder.spans()} == {CDN_TRACE_ID}


def test_the_wire_paths_decision_is_taken_once() -> None:
    recorder = Recorder(edge_sampler(0.5))
    draws = iter([0.1, 0.9])
    tracing = EdgeTracing(recorder.provider, sample_ratio=0.5, trusted=lambda peer: peer == "10.0.0.5",
                          draw=lambda: next(draws))  # fmt: skip
    assert tracing.sampled_on_wire([], "203.0.113.9") is True  # 0.1 < 0.5
    assert tracing.sampled_on_wire([(b"traceparent", CDN_TRACEPARENT.encode())], "203.0.113.9") is False  # drawn: 0.9
    # A trusted proxy's flag decides without a draw.
    assert tracing.sampled_on_wire([(b"traceparent", CDN_TRACEPARENT.encode())], "10.0.0.5") is True
    assert tracing.sampled_on_wire([(b"traceparent", CDN_TRACEPARENT[:-2].encode() + b"00")], "10.0.0.5") is False
    assert not sampled_flag(b"garbage") and not sampled_flag(b"00-" + b"z" * 52)
    # ASGI honours the decision carried in the scope, whichever way it went, and draws no second time.
    for decided in (True, False):
        scope = {"method": "GET", "headers": [], "extensions": {SAMPLED_EXTENSION: decided}}
        assert tracing.decide(scope, "203.0.113.9")[0] is decided
    # A trusted proxy's flag wins over the scope's.
    scope = {"method": "GET", "headers": [(b"traceparent", CDN_TRACEPARENT.encode())],
             "extensions": {SAMPLED_EXTENSION: False}}  # fmt: skip
    recorded, parent = tracing.decide(scope, "10.0.0.5")
    span, _ = tracing.start("GET", parent, {})
    assert recorded and span.is_recording() and format(span.get_span_context().trace_id, "032x") == CDN_TRACE_ID
    span.end()


@pytest.fixture
def fragment_origin() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A real origin whose page includes a cart fragment (aiohttp fetches it: no in-process transport)."""
    seen: list[dict[str, str]] = []

    async def page(request: Request) -> Response:
        body = '<p>cart:<esi:include src="/f/cart">none</esi:include></p>'
        return Response(body, media_type="text/html", headers={"cache-control": "public, s-maxage=60",
                                                               "surrogate-control": 'content="ESI/1.0"'})  # fmt: skip

    async def cart(request: Request) -> Response:
        seen.append(dict(request.headers))
        return PlainTextResponse("3", headers={"cache-control": "private"})

    async def plain(request: Request) -> Response:
        return PlainTextResponse("plain", headers={"cache-control": "public, s-maxage=60"})

    app = Starlette(routes=[Route("/", page), Route("/f/cart", cart), Route("/plain", plain)])
    port = free_port()
    server, thread = serve(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    yield f"http://127.0.0.1:{port}", seen
    server.should_exit = True
    thread.join(5)


def test_each_fragment_fetch_is_a_client_span_the_fragment_continues(
    fragment_origin: tuple[str, list[dict[str, str]]], recorder: Recorder
) -> None:
    url, seen = fragment_origin
    settings = EdgeSettings(origin=url, trusted_proxies=["127.0.0.0/8"], observability=TRACE_ALL)  # type: ignore[arg-type]
    port = free_port()
    server, thread = serve(server_config(EdgeApp(settings, tracer_provider=recorder.provider), host="127.0.0.1",
                                         port=port))  # fmt: skip
    try:
        page = httpx.get(f"http://127.0.0.1:{port}/", headers={"traceparent": CDN_TRACEPARENT})
    finally:
        server.should_exit = True
        thread.join(5)
    assert page.text == "<p>cart:3</p>"
    fragment, root = recorder.named("fragment fetch"), recorder.named("GET")
    assert fragment.kind is SpanKind.CLIENT and parent_of(fragment) == hex_span(root)
    assert hex_trace(fragment) == CDN_TRACE_ID and fragment.attributes is not None
    assert fragment.attributes["url.path"] == "/f/cart" and fragment.attributes["http.response.status_code"] == 200
    assert traceparent_parts(seen[-1]["traceparent"])[:2] == (CDN_TRACE_ID, hex_span(fragment))


def test_a_traced_request_leaves_the_wire_path_and_an_untraced_one_keeps_it(
    fragment_origin: tuple[str, list[dict[str, str]]],
) -> None:
    url, _ = fragment_origin
    settings = EdgeSettings(origin=url, trusted_proxies=["127.0.0.0/8"], observability={"sample_ratio": 0.0})  # type: ignore[arg-type]
    recorder = Recorder(edge_sampler(0.0))
    app = EdgeApp(settings, tracer_provider=recorder.provider, rng=random.Random(1))
    port = free_port()
    server, thread = serve(server_config(app, host="127.0.0.1", port=port))
    unsampled = CDN_TRACEPARENT[:-2] + "00"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            reader = Reader(sock)
            for _ in range(3):  # a miss, an ASGI hit that arms the wire path, then a wire hit
                sock.sendall(request("/plain", f"traceparent: {unsampled}"))
                last = reader.reply()
            assert last.via_wire
            sock.sendall(request("/plain", f"traceparent: {CDN_TRACEPARENT}"))
            traced = reader.reply()
            assert not traced.via_wire and traced.field("x-cache") == "HIT"
    finally:
        server.should_exit = True
        thread.join(5)
    hit = [span for span in recorder.spans() if span.name == "GET"]
    assert len(hit) == 1 and hex_trace(hit[0]) == CDN_TRACE_ID


def test_tracing_needs_an_endpoint_to_export_to() -> None:
    with pytest.raises(ValueError, match="otlp_endpoint"):
        EdgeSettings.model_validate({"observability": {"tracing": True}})


@pytest.mark.anyio
async def test_a_tracing_edge_builds_its_own_provider_and_flushes_it_on_stop() -> None:
    exported = {"tracing": True, "otlp_endpoint": "http://127.0.0.1:9/v1/traces", "service_name": "edge-eu"}
    app = EdgeApp(EdgeSettings.model_validate({"observability": exported}))
    assert app.tracing is not None and isinstance(app.tracing.provider, TracerProvider)
    assert app.tracing.provider.resource.attributes["service.name"] == "edge-eu"
    await app.stop()  # nothing recorded: the flush has nothing to send, and never blocks the loop
    assert EdgeApp(EdgeSettings()).tracing is None


@pytest.mark.anyio
async def test_cart_ids_are_not_in_the_spans(origin: FakeOrigin, recorder: Recorder) -> None:
    app = traced_edge(origin, recorder)
    async with client(app, SHOPPER) as shopper:
        await shopper.get("/api/carts/cart_SECRETcapability123")
    paths = [span.attributes.get("url.path") for span in recorder.spans() if span.attributes is not None]
    assert "/api/carts/{id}" in paths and not any("SECRET" in str(path) for path in paths)
    assert len([path for path in paths if path is not None]) == 2  # the server span and the origin fetch


def test_the_default_sample_ratio_is_the_benchmarked_one() -> None:
    # docs/benchmarks.md: a busy edge keeps sample_ratio at 0.01 or less (a recorded hit leaves the wire path).
    assert ObservabilitySettings().sample_ratio == 0.01
