"""Programmable edge: merchant handlers and declarative rules, in front of a real origin on loopback."""

from __future__ import annotations

import json
import socket
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edge import EdgeApp, EdgeSettings, server_config
from tests.conftest import free_port
from tests.edge.live import Reader, request, serve

HANDLER_MODULE = """
import asyncio

from edge import EdgeContext, EdgeRequest, Redirect, Respond, Rewrite

async def handler(request: EdgeRequest, ctx: EdgeContext):
    if request.path == "/ping":
        return Respond(200, f"pong from {request.geo.country} in {request.market}", {"x-handler": "yes"})
    if request.path == "/go":
        return Redirect("/landing", status=307)
    if request.path == "/count":
        seen = int(await ctx.kv.get("count") or 0) + 1
        await ctx.kv.put("count", str(seen))
        return Respond(200, str(seen))
    if request.path == "/later":
        ctx.wait_until(asyncio.sleep(0))
        ctx.add_response_header("x-later", "scheduled")
        return None
    if request.path == "/boom":
        raise RuntimeError("merchant bug")
    if request.path == "/hang":
        await asyncio.sleep(30)
    if request.header("x-beta") == "1" and request.path == "/":
        return Rewrite("/beta")
    if request.path.startswith("/legacy"):
        # A careless rewrite: "/legacy@evil.example/x" would become "@evil.example/x"
        return Rewrite(request.path.removeprefix("/legacy"), headers={"x-segment": "vip", "x-via": "legacy"})
    return None

async def strict(request: EdgeRequest, ctx: EdgeContext):
    if request.path == "/strict":
        raise RuntimeError("must not pass")
    return None
"""


@pytest.fixture
def origin() -> Iterator[str]:
    async def echo(request: Request) -> Response:
        seen = {"path": request.url.path, "query": request.url.query, "beta": request.headers.get("x-beta"),
                "segment": request.headers.get("x-segment"), "via": request.headers.get("x-via")}  # fmt: skip
        return JSONResponse(seen, headers={"cache-control": "public, max-age=60", "x-powered-by": "starlette"})

    app = Starlette(routes=[Route("/{path:path}", echo)])
    port = free_port()
    server, thread = serve(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def edge(origin: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    (tmp_path / "shop_edge.py").write_text(textwrap.dedent(HANDLER_MODULE))
    started: list[tuple[uvicorn.Server, Any]] = []

    def start(**settings: Any) -> str:
        values = {"origin": origin, "geo": {"dev": True}, "markets": [{"id": "us", "countries": ["US"]},
                  {"id": "eu", "countries": ["DE"]}], "default_market": "us", **settings}  # fmt: skip
        app = EdgeApp(EdgeSettings.model_validate(values), project_dir=tmp_path)
        port = free_port()
        started.append(serve(server_config(app, host="127.0.0.1", port=port)))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in started:
        server.should_exit = True
        thread.join(5)


def test_a_handler_answers_redirects_rewrites_and_keeps_state(edge: Callable[..., str]) -> None:
    url = edge(handlers=[{"module": "shop_edge:handler"}])
    pong = httpx.get(url + "/ping?_geo=DE")
    assert pong.text == "pong from DE in eu" and pong.headers["x-handler"] == "yes"
    assert pong.headers["cache-control"] == "private, no-store"
    go = httpx.get(url + "/go")
    assert go.status_code == 307 and go.headers["location"] == "/landing"
    assert [httpx.get(url + "/count").text for _ in range(3)] == ["1", "2", "3"]
    beta = httpx.get(url + "/", headers={"x-beta": "1"})
    assert json.loads(beta.text)["path"] == "/beta"
    plain = httpx.get(url + "/")
    assert json.loads(plain.text)["path"] == "/"  # the rewrite's target is cached under its own URL
    assert httpx.get(url + "/", headers={"x-beta": "1"}).headers["x-cache"] == "HIT"
    later = httpx.get(url + "/later")
    assert later.headers["x-later"] == "scheduled" and json.loads(later.text)["path"] == "/later"


def test_a_failing_handler_is_skipped_or_fails_closed_as_configured(edge: Callable[..., str]) -> None:
    url = edge(handlers=[{"module": "shop_edge:handler"}, {"module": "shop_edge:strict", "on_error": "fail"}])
    skipped = httpx.get(url + "/boom")
    assert skipped.status_code == 200 and json.loads(skipped.text)["path"] == "/boom"  # the origin answered
    failed = httpx.get(url + "/strict")
    assert failed.status_code == 503 and failed.headers["content-type"] == "application/problem+json"
    assert "must not pass" not in failed.text


def test_declarative_rules(edge: Callable[..., str]) -> None:
    rules = [
        {"type": "redirect", "from": "/old-shop/*", "to": "/c/*", "status": 308},
        {"type": "redirect", "from": "/sale", "to": "https://sale.example/now", "status": 302, "keep_query": False},
        {"type": "block", "countries": ["KP"], "status": 451, "message": "Not in your country <sorry>"},
        {"type": "headers", "paths": ["/static/*"], "set": {"x-frame-options": "DENY"}, "remove": ["x-powered-by"]},
    ]
    url = edge(rules=rules)
    moved = httpx.get(url + "/old-shop/tents/2?page=3")
    assert moved.status_code == 308 and moved.headers["location"] == "/c/tents/2?page=3"
    assert httpx.get(url + "/sale?utm_source=x").headers["location"] == "https://sale.example/now"
    blocked = httpx.get(url + "/p/x?_geo=KP")
    assert blocked.status_code == 451 and "&lt;sorry&gt;" in blocked.text and "<sorry>" not in blocked.text
    assert httpx.get(url + "/p/x?_geo=DE").status_code == 200
    static = httpx.get(url + "/static/app.css")
    assert static.headers["x-frame-options"] == "DENY" and "x-powered-by" not in static.headers
    assert httpx.get(url + "/p/y").headers["x-powered-by"] == "starlette"  # other paths untouched


def test_maintenance_mode_lets_only_the_allowed_addresses_through(edge: Callable[..., str]) -> None:
    closed = edge(rules=[{"type": "maintenance", "enabled": True, "retry_after_seconds": 120}])
    page = httpx.get(closed + "/")
    assert page.status_code == 503 and page.headers["retry-after"] == "120" and "Back soon" in page.text
    allowed = edge(rules=[{"type": "maintenance", "enabled": True, "allow_ips": ["127.0.0.0/8"]}])
    assert httpx.get(allowed + "/").status_code == 200


def test_an_ab_rewrite_follows_the_experiment_arm(edge: Callable[..., str]) -> None:
    experiment = {"id": "home", "paths": ["/"], "variants": [{"name": "a"}, {"name": "b"}]}
    url = edge(
        personalization={"experiments": [experiment]},
        rules=[{"type": "rewrite", "path": "/", "experiment": "home", "arm": "b", "to": "/home-b"}],
    )
    paths = {json.loads(httpx.get(url + "/").text)["path"] for _ in range(30)}
    assert paths == {"/", "/home-b"}


def test_rules_and_handlers_are_checked_at_load() -> None:
    with pytest.raises(ValidationError, match="one '\\*', at the end"):
        EdgeSettings.model_validate({"rules": [{"type": "redirect", "from": "/a/*/b", "to": "/c"}]})
    with pytest.raises(ValidationError, match="not configured"):
        EdgeSettings.model_validate({"rules": [{"type": "rewrite", "path": "/", "experiment": "x", "arm": "b",
                                                "to": "/b"}]})  # fmt: skip
    with pytest.raises(ValidationError, match="line breaks"):
        EdgeSettings.model_validate({"rules": [{"type": "headers", "set": {"x-a": "1\r\nset-cookie: a=b"}}]})
    with pytest.raises(ValueError, match="cannot import edge handler module"):
        EdgeApp(EdgeSettings.model_validate({"handlers": [{"module": "no_such_module_here:handler"}]}))


def test_paths_no_handler_covers_keep_the_fast_path(edge: Callable[..., str]) -> None:
    url = edge(handlers=[{"module": "shop_edge:handler", "paths": ["/later"]}])
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        reader = Reader(sock)
        replies = []
        for path in ("/p/x", "/p/x", "/p/x", "/later", "/later", "/later"):
            sock.sendall(request(path).replace(b"Host: shop.test", f"Host: 127.0.0.1:{port}".encode()))
            replies.append(reader.reply())
    assert [r.via_wire for r in replies] == [False, True, True, False, False, False]
    assert all(r.field("x-later") == "scheduled" for r in replies[3:])  # the handler ran every time


def test_rules_and_handlers_see_the_path_the_origin_routes(edge: Callable[..., str]) -> None:
    rules = [
        {"type": "block", "markets": ["us", "eu"], "paths": ["/checkout*"], "status": 403},
        {"type": "redirect", "from": "/old/*", "to": "/*", "status": 301},
    ]
    url = edge(rules=rules, markets=[{"id": "us", "countries": ["US"]}, {"id": "eu", "url_prefix": "/eu"}])
    for spelling in ("/checkout", "/%63heckout", "/eu/checkout"):
        assert httpx.get(url + spelling).status_code == 403, spelling
    assert httpx.get(url + "/old/tents").headers["location"] == "/tents"
    assert httpx.get(url + "/eu/old/tents").headers["location"] == "/eu/tents"  # stays in the market
    for sneaky in ("/old//evil.example/x", "/old/%5Cevil.example", "/old/\\evil.example"):
        location = httpx.get(url + sneaky).headers["location"]
        assert not location.startswith(("//", "/\\")), (sneaky, location)


def test_a_rewrite_cannot_leave_the_origin_or_set_what_the_edge_decides(edge: Callable[..., str]) -> None:
    url = edge(handlers=[{"module": "shop_edge:handler"}])
    seen = json.loads(httpx.get(url + "/legacy@evil.example/x").text)
    assert seen["path"] == "/legacy@evil.example/x"  # refused: the request went on as it was
    kept = json.loads(httpx.get(url + "/legacy/shop").text)
    assert kept["path"] == "/shop" and kept["via"] == "legacy"
    assert kept["segment"] == "new"  # the handler's "vip" was refused: segments are the edge's to decide


def test_a_redirect_target_cannot_extend_the_host() -> None:
    with pytest.raises(ValidationError, match="after the host"):
        EdgeSettings.model_validate({"rules": [{"type": "redirect", "from": "/x/*", "to": "https://shop.example*"}]})


def test_a_hung_handler_times_out_and_the_request_goes_on(edge: Callable[..., str]) -> None:
    url = edge(handlers=[{"module": "shop_edge:handler", "timeout_ms": 100}])
    started = time.perf_counter()
    answer = httpx.get(url + "/hang", timeout=10)
    assert answer.status_code == 200 and json.loads(answer.text)["path"] == "/hang"
    assert time.perf_counter() - started < 2
