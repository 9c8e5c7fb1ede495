"""`edge.request_context`: the request id a response, the origin and every log line share, and `log_fields`."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edge import EdgeApp, EdgeSettings, log_fields
from tests.spans import CDN_TRACE_ID, CDN_TRACEPARENT, Recorder

pytestmark = pytest.mark.anyio

PROXY = ("10.0.0.5", 40000)
SHOPPER = ("203.0.113.9", 40000)


def origin_app(seen: list[dict[str, str]], fields: list[dict[str, str] | None]) -> Starlette:
    async def echo(request: Request) -> Response:
        seen.append(dict(request.headers))
        # In process, the origin runs in the edge's request context: what a log line written now would carry.
        fields.append(log_fields())
        return JSONResponse({}, headers={"cache-control": "no-store", "x-request-id": "from-the-origin"})

    return Starlette(routes=[Route("/echo", echo)])


def edge_app(seen: list[dict[str, str]], fields: list[dict[str, str] | None], **settings: object) -> EdgeApp:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=origin_app(seen, fields)), base_url="http://origin")
    return EdgeApp(EdgeSettings.model_validate({"trusted_proxies": ["10.0.0.0/8"], **settings}), http=http)


def client(app: EdgeApp, peer: tuple[str, int]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=peer), base_url="http://shop.example")


async def test_a_proxys_request_id_is_kept_forwarded_and_echoed() -> None:
    seen: list[dict[str, str]] = []
    app = edge_app(seen, [])
    async with client(app, PROXY) as proxy:
        response = await proxy.get("/echo", headers={"x-request-id": "cf-ray-8a1b2c3d4e5f-LHR"})
    assert response.headers["x-request-id"] == "cf-ray-8a1b2c3d4e5f-LHR"  # not the origin's own
    assert seen[-1]["x-request-id"] == "cf-ray-8a1b2c3d4e5f-LHR"


@pytest.mark.parametrize(
    ("peer", "sent"),
    [
        (SHOPPER, [("x-request-id", "chosen-by-the-shopper")]),
        (PROXY, [("x-request-id", "has spaces and\ttabs")]),
        (PROXY, [("x-request-id", "x" * 129)]),
        (PROXY, [("x-request-id", "one"), ("x-request-id", "two")]),
    ],
    ids=["shopper", "malformed", "too-long", "two-values"],
)
async def test_any_other_request_id_is_replaced_by_a_new_one(
    peer: tuple[str, int], sent: list[tuple[str, str]]
) -> None:
    seen: list[dict[str, str]] = []
    app = edge_app(seen, [])
    async with client(app, peer) as someone:
        first = await someone.get("/echo", headers=sent)
        second = await someone.get("/echo", headers=sent)
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2 and all(len(value) == 16 and int(value, 16) >= 0 for value in ids)
    assert [headers["x-request-id"] for headers in seen] == [first.headers["x-request-id"],
                                                            second.headers["x-request-id"]]  # fmt: skip


async def test_log_lines_written_while_serving_carry_the_request() -> None:
    fields: list[dict[str, str] | None] = []
    recorder = Recorder()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=origin_app([], fields)), base_url="http://origin")
    settings = EdgeSettings.model_validate(
        {"trusted_proxies": ["10.0.0.0/8"], "region": "eu-west", "default_market": "uk",
         "markets": [{"id": "uk", "countries": ["GB"], "url_prefix": "/uk"}],
         "regions": [{"name": "eu-west", "origins": ["http://origin"]}]}
    )  # fmt: skip
    app = EdgeApp(settings, http=http, tracer_provider=recorder.provider)
    async with client(app, PROXY) as proxy:
        response = await proxy.get("/uk/echo", headers={"traceparent": CDN_TRACEPARENT, "x-request-id": "req-1"})
    assert response.status_code == 200
    during = fields[-1]
    assert during is not None
    assert during["service"] == "edge" and during["region"] == "eu-west" and during["market"] == "uk"
    assert during["request_id"] == "req-1" and during["trace_id"] == CDN_TRACE_ID and len(during["span_id"]) == 16
    assert log_fields() is None  # outside a request: nothing
