"""`origin.observability`: the origin's request ids, server and render spans, access log and `log_fields`;
and `origin.health`: readiness as its backing stores answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import httpx
import pytest
import respx
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from connectors import VendorUnavailable
from origin import ObservabilitySettings, RequestObservability, log_fields
from origin.observability import ACCESS_LOGGER, _logged_path
from tests.spans import CDN_SPAN_ID, CDN_TRACE_ID, CDN_TRACEPARENT, Recorder, hex_span, hex_trace, parent_of
from wrangler_py.apps import build_origin_app
from wrangler_py.config import LoadedConfig


def middleware_app(settings: ObservabilitySettings, recorder: Recorder | None = None) -> Starlette:
    async def fields(request: Request) -> Response:
        return JSONResponse(log_fields())

    async def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    provider = recorder.provider if recorder is not None else None
    return Starlette(
        routes=[Route("/fields/{anything}", fields), Route("/broken", broken)],
        middleware=[Middleware(RequestObservability, settings=settings, tracer_provider=provider)],
    )


def test_the_edges_request_id_is_continued_and_echoed() -> None:
    with TestClient(middleware_app(ObservabilitySettings()), client=("10.0.0.5", 1)) as client:
        answer = client.get("/fields/x", headers={"x-request-id": "edge-req-1", "x-market": "eu"})
    assert answer.headers["x-request-id"] == "edge-req-1"
    assert answer.json() == {
        "service": "origin",
        "request_id": "edge-req-1",
        "market": "eu",
        "route": "/fields/{anything}",
    }
    assert log_fields() is None


@pytest.mark.parametrize(
    ("peer", "sent"), [("192.0.2.1", "from-elsewhere"), ("10.0.0.5", "two words")], ids=["untrusted", "malformed"]
)
def test_a_request_id_from_anyone_else_is_replaced(peer: str, sent: str) -> None:
    settings = ObservabilitySettings(trusted_peers=["10.0.0.0/8"])  # type: ignore[list-item]
    with TestClient(middleware_app(settings), client=(peer, 1)) as client:
        answer = client.get("/fields/x", headers={"x-request-id": sent})
    assert answer.headers["x-request-id"] != sent and len(answer.headers["x-request-id"]) == 16
    assert answer.json()["request_id"] == answer.headers["x-request-id"]


def test_the_edges_trace_is_continued_from_trusted_peers_only() -> None:
    recorder = Recorder(ParentBasedTraceIdRatio(1.0))
    settings = ObservabilitySettings(trusted_peers=["10.0.0.0/8"])  # type: ignore[list-item]
    app = middleware_app(settings, recorder)
    with TestClient(app, client=("10.0.0.5", 1)) as edge, TestClient(app, client=("192.0.2.1", 1)) as other:
        continued = edge.get("/fields/x", headers={"traceparent": CDN_TRACEPARENT}).json()
        fresh = other.get("/fields/y", headers={"traceparent": CDN_TRACEPARENT}).json()
        with pytest.raises(RuntimeError):
            edge.get("/broken")
    first, second, failed = recorder.spans()
    assert first.name == "GET /fields/{anything}" and first.kind is SpanKind.SERVER
    assert (hex_trace(first), parent_of(first)) == (CDN_TRACE_ID, CDN_SPAN_ID)
    assert continued["trace_id"] == CDN_TRACE_ID and continued["span_id"] == hex_span(first)
    assert first.attributes is not None and first.attributes["http.route"] == "/fields/{anything}"
    assert first.attributes["http.response.status_code"] == 200 and "url.path" not in first.attributes
    assert second.parent is None and hex_trace(second) != CDN_TRACE_ID == continued["trace_id"]
    assert fresh["trace_id"] == hex_trace(second)
    assert failed.status.status_code is StatusCode.ERROR and failed.name == "GET /broken"


@pytest.fixture
def loaded(make_config: Callable[..., LoadedConfig]) -> LoadedConfig:
    return make_config(seed_products=12, origin_extra="[origin.observability]\naccess_log = true\n")


@pytest.fixture
def traced(loaded: LoadedConfig) -> Iterator[tuple[TestClient, Recorder]]:
    recorder = Recorder(ParentBasedTraceIdRatio(1.0))
    with TestClient(build_origin_app(loaded, tracer_provider=recorder.provider), client=("127.0.0.1", 1)) as client:
        recorder.clear()  # start-up's own work
        yield client, recorder


def test_pages_render_in_a_span_of_their_request(traced: tuple[TestClient, Recorder]) -> None:
    client, recorder = traced
    handle = client.get("/api/products", params={"per_page": 1}).json()["items"][0]["handle"]
    recorder.clear()
    page = client.get(f"/p/{handle}", headers={"traceparent": CDN_TRACEPARENT})
    assert page.status_code == 200
    server, render = recorder.named("GET /p/{handle}"), recorder.named("render product.html")
    assert parent_of(render) == hex_span(server) and hex_trace(render) == CDN_TRACE_ID
    assert render.attributes is not None and render.attributes["edgeshop.template"] == "product.html"
    # Probes are not traced.
    recorder.clear()
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
    assert recorder.spans() == []


def test_one_access_line_per_request_without_the_query(
    traced: tuple[TestClient, Recorder], caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = traced
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    client.get("/api/products?per_page=2&token=s3cret", headers={"x-request-id": "r-1", "x-market": "uk"})
    client.get("/no/such/page")
    lines = [record for record in caplog.records if record.name == ACCESS_LOGGER]
    assert len(lines) == 2
    first, missing = lines
    assert (first.path, first.route, first.status, first.market, first.request_id) == (  # type: ignore[attr-defined]
        "/api/products",
        "/api/products",
        200,
        "uk",
        "r-1",
    )
    assert first.trace_id is not None and missing.status == 404 and missing.route is None  # type: ignore[attr-defined]
    assert "s3cret" not in first.getMessage()


def test_cart_ids_reach_neither_the_access_line_nor_the_span(caplog: pytest.LogCaptureFixture) -> None:
    """A cart id is a bearer capability; spans leave for the collector and logs for wherever logs go."""
    recorder = Recorder(ParentBasedTraceIdRatio(1.0))
    app = middleware_app(ObservabilitySettings(access_log=True), recorder)
    app.router.routes.append(Route("/api/carts/{cart_id}/lines", lambda request: Response(status_code=201),
                                   methods=["POST"]))  # fmt: skip
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    with TestClient(app) as client:
        assert client.post("/api/carts/cart_S3cretCap/lines?x=1").status_code == 201
        assert client.get("/api/orders/ES-ORDER12345").status_code == 404  # unrouted: no template to fall back on
    (line, unrouted) = [record for record in caplog.records if record.name == ACCESS_LOGGER]
    assert (line.path, line.route) == ("/api/carts/{id}/lines", "/api/carts/{cart_id}/lines")  # type: ignore[attr-defined]
    assert unrouted.path == "/api/orders/{id}"  # type: ignore[attr-defined]
    span, unrouted_span = recorder.spans()
    assert span.name == "POST /api/carts/{cart_id}/lines" and unrouted_span.name == "GET"
    assert span.attributes is not None and span.attributes["http.route"] == "/api/carts/{cart_id}/lines"
    for secret in ("cart_S3cretCap", "ES-ORDER12345"):
        assert secret not in repr([dict(made.attributes or {}) for made in recorder.spans()])
        assert all(secret not in record.getMessage() for record in caplog.records)


def test_the_access_line_logs_the_path_as_sent_with_no_control_character(caplog: pytest.LogCaptureFixture) -> None:
    """The decoded path would put a terminal escape and a forged line into text logs."""
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    with TestClient(middleware_app(ObservabilitySettings(access_log=True))) as client:
        client.get("/fields/x%1b]0;pwned%07%0aERROR%20forged%C3%A9")
    (line,) = [record for record in caplog.records if record.name == ACCESS_LOGGER]
    assert line.path == "/fields/x%1b]0;pwned%07%0aERROR%20forged%C3%A9"  # type: ignore[attr-defined]
    assert line.getMessage() == f"GET {line.path} 200 {line.duration_ms:.1f}ms"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("scope", "logged"),
    [
        ({"path": "/x\x1b]0;\nERROR é", "raw_path": None}, "/x%1B]0;%0AERROR%20%C3%A9"),  # a server without raw_path
        ({"path": "", "raw_path": b"/p/\x9b\x1b[2J?token=s3cret"}, "/p/%9B%1B[2J"),  # bytes a lax server let through
        ({"path": "/api/carts/cart_a/lines", "raw_path": b"/api/%63arts/cart_a/lines"}, "/api/%63arts/{id}/lines"),
    ],
    ids=["decoded", "raw-bytes", "encoded-parent"],
)
def test_a_logged_path_is_visible_ascii_without_capabilities(scope: dict[str, object], logged: str) -> None:
    assert _logged_path({key: value for key, value in scope.items() if value is not None}) == logged


def test_no_access_line_by_default(make_config: Callable[..., LoadedConfig], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    with TestClient(build_origin_app(make_config(seed_products=0))) as client:
        client.get("/healthz")
    assert [record for record in caplog.records if record.name == ACCESS_LOGGER] == []


# --- readiness --------------------------------------------------------------------------------------------------


async def _down(*args: object, **kwargs: object) -> None:
    raise VendorUnavailable("embedded database failed: disk I/O error")


@pytest.mark.parametrize("store", ["commerce", "carts", "search"])
def test_not_ready_when_a_backing_store_fails(
    store: str, loaded: LoadedConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("origin.health.READY_REUSE_SECONDS", 0)  # each probe below checks again
    with TestClient(build_origin_app(loaded)) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        target = {
            "commerce": "connectors.commerce.builtin.backend.BuiltinCommerce.catalog_batch",
            "carts": "origin.carts.store.SqliteCartStore.get",
            "search": "connectors.search.builtin.adapter.BuiltinSearch.search",
        }[store]
        monkeypatch.setattr(target, _down)
        answer = client.get("/readyz")
        assert client.get("/healthz").status_code == 200  # alive: a restart would not mend a store
    assert answer.status_code == 503 and answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "status": "unavailable",
        "reason": "VendorUnavailable",
        "failed": {store: "VendorUnavailable"},
    }
    assert "disk" not in answer.text  # the class, never the message


def test_a_search_vendor_outage_degrades_but_does_not_unready(
    make_config: Callable[..., LoadedConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ES_TEST_MEILI_KEY", "meili-key")
    extra = """
[connectors.search]
vendor = "meilisearch"
url = "http://meili.test"
api_key = "env:ES_TEST_MEILI_KEY"
fallback = "builtin"
[connectors.search.http]
retries = 0
"""
    loaded = make_config(seed_products=5, extra=extra)
    with respx.mock(assert_all_called=False) as router:
        router.route(host="meili.test").mock(return_value=httpx.Response(503, json={"message": "down"}))
        with TestClient(build_origin_app(loaded)) as client:
            answer = client.get("/readyz")
    # Every origin shares the vendor: unreadying them all would turn a search outage into a shop outage.
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "degraded": {"search": "VendorUnavailable"}}


def test_a_tracing_origin_builds_its_own_provider(make_config: Callable[..., LoadedConfig]) -> None:
    with pytest.raises(ValueError, match="otlp_endpoint"):
        ObservabilitySettings(tracing=True)
    extra = '[origin.observability]\ntracing = true\notlp_endpoint = "http://127.0.0.1:9/v1/traces"\n'
    with TestClient(build_origin_app(make_config(seed_products=0, origin_extra=extra))) as client:
        assert client.get("/healthz").status_code == 200  # started, and stopped below with its provider
