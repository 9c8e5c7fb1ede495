"""`edge.access_log`: off by default, one line per request at 1.0 (hits below ASGI included), a share between."""

from __future__ import annotations

import logging
import random
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from edge import EdgeApp, EdgeSettings, server_config
from edge.access_log import ACCESS_LOGGER
from tests.conftest import free_port
from tests.edge.conftest import FakeOrigin
from tests.edge.live import Reader, Reply, request, serve


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    return caplog


def access(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    names = ("method", "path", "status", "duration_ms", "cache", "route", "market", "region", "request_id",
             "trace_id")  # fmt: skip
    return [{name: getattr(r, name) for name in names} for r in caplog.records if r.name == ACCESS_LOGGER]


@pytest.fixture
def live_origin() -> Iterator[str]:
    port = free_port()
    server, thread = serve(uvicorn.Config(FakeOrigin().app(), host="127.0.0.1", port=port, log_level="warning"))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


def run_edge(origin: str, sample: float, requests: list[bytes]) -> list[Reply]:
    settings = EdgeSettings.model_validate(
        {"origin": origin, "trusted_proxies": ["127.0.0.0/8"], "observability": {"access_log_sample": sample}}
    )
    port = free_port()
    server, thread = serve(server_config(EdgeApp(settings), host="127.0.0.1", port=port))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            reader, replies = Reader(sock), []
            for raw in requests:
                sock.sendall(raw)
                replies.append(reader.reply(head=raw.startswith(b"HEAD ")))
            return replies
    finally:
        server.should_exit = True
        thread.join(5)


def test_off_by_default_for_every_path(live_origin: str, lines: pytest.LogCaptureFixture) -> None:
    assert EdgeSettings().observability.access_log_sample == 0.0
    replies = run_edge(live_origin, 0.0, [request("/page")] * 4 + [request("/echo")])
    assert [reply.via_wire for reply in replies[:4]] == [False, True, True, True]  # a fresh MISS arms it
    assert access(lines) == []


def test_every_request_at_one_wire_hits_included(live_origin: str, lines: pytest.LogCaptureFixture) -> None:
    sent = [request("/page?token=s3cret-token&utm_source=x")] * 4 + [
        request("/page?token=s3cret-token&utm_source=x", "X-Request-Id: cdn-req-42"),
        request("/echo", method="HEAD"),
    ]
    replies = run_edge(live_origin, 1.0, sent)
    logged = access(lines)
    assert len(logged) == len(sent)
    wired = [reply.via_wire for reply in replies]
    assert wired == [False, True, True, True, True, False]
    for reply, line in zip(replies, logged, strict=True):
        assert reply.field("x-request-id") == line["request_id"]  # a logged wire hit says its id too
        assert line["region"] == "default" and line["duration_ms"] >= 0
    assert [line["cache"] for line in logged] == ["miss", "l1_hit", "l1_hit", "l1_hit", "l1_hit", "bypass"]
    assert logged[4]["request_id"] == "cdn-req-42"  # a trusted proxy's id, on the wire path too
    assert {line["path"] for line in logged[:5]} == {"/page"}  # never the query
    assert logged[5]["method"] == "HEAD" and logged[5]["path"] == "/echo" and logged[5]["status"] == 200
    assert all("s3cret" not in record.getMessage() for record in lines.records)


@pytest.mark.anyio
async def test_a_share_of_requests_at_a_fraction(lines: pytest.LogCaptureFixture) -> None:
    origin = FakeOrigin()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=origin.app()), base_url="http://origin")
    settings = EdgeSettings.model_validate({"observability": {"access_log_sample": 0.1}})
    app = EdgeApp(settings, http=http, rng=random.Random(20261126))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example") as shop:
        for _ in range(2000):
            await shop.get("/page")
    assert 160 <= len(access(lines)) <= 240  # ≈ 200 expected; a seeded draw, so the same count every run


@pytest.mark.anyio
async def test_nothing_is_drawn_or_written_when_the_logger_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=ACCESS_LOGGER)
    origin = FakeOrigin()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=origin.app()), base_url="http://origin")
    app = EdgeApp(EdgeSettings.model_validate({"observability": {"access_log_sample": 1.0}}), http=http)
    assert not app.access.sampled()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example") as shop:
        await shop.get("/page")
    assert access(caplog) == []


@pytest.mark.anyio
async def test_cart_and_order_ids_are_redacted_from_the_lines(lines: pytest.LogCaptureFixture) -> None:
    origin = FakeOrigin()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=origin.app()), base_url="http://origin")
    app = EdgeApp(EdgeSettings.model_validate({"observability": {"access_log_sample": 1.0}}), http=http)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example") as shop:
        await shop.get("/api/carts/cart_SECRETcapability123/lines")
        await shop.get("/api/orders/ES-ABCDEFGHJK")
        await shop.get("/x/%63art_SECRETcapability123")
    assert [line["path"] for line in access(lines)] == ["/api/carts/{id}/lines", "/api/orders/{id}", "/x/{id}"]
    assert all("SECRET" not in record.getMessage() and "ES-ABC" not in record.getMessage() for record in lines.records)
