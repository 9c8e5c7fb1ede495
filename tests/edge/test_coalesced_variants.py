"""Misses coalesced on a cold URL must not hand one variant's page to a shopper of another variant."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edge import EdgeApp, EdgeSettings, server_config
from edge.segments import segment_serializer
from tests.conftest import free_port
from tests.edge.live import serve


def test_a_waiter_of_another_segment_gets_its_own_page_and_the_cache_keeps_both() -> None:
    origin_calls: list[str] = []

    async def page(request: Request) -> Response:
        origin_calls.append(request.headers.get("x-segment", ""))
        await asyncio.sleep(0.4)  # long enough for the second shopper to wait on the first fetch
        return Response(
            f"segment={request.headers.get('x-segment')}",
            headers={"cache-control": "public, s-maxage=60", "vary": "X-Segment"},
        )

    origin_port, edge_port = free_port(), free_port()
    origin, origin_thread = serve(
        uvicorn.Config(Starlette(routes=[Route("/", page)]), host="127.0.0.1", port=origin_port, log_level="warning")
    )
    settings = EdgeSettings(origin=f"http://127.0.0.1:{origin_port}", personalization={"secret": "s3cret"})  # type: ignore[arg-type]
    edge, edge_thread = serve(server_config(EdgeApp(settings), host="127.0.0.1", port=edge_port))
    url = f"http://127.0.0.1:{edge_port}/"
    vip = {"es_seg": segment_serializer(b"s3cret").dumps({"s": "vip"})}
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(httpx.get, url, cookies=vip, timeout=10)
            time.sleep(0.1)
            second = pool.submit(httpx.get, url, timeout=10)
            assert first.result().text == "segment=vip"
            assert second.result().text == "segment=new"  # not the VIP page it waited for
        assert sorted(origin_calls) == ["new", "vip"]
        assert httpx.get(url).text == "segment=new" and httpx.get(url, cookies=vip).text == "segment=vip"
        assert httpx.get(url).headers["x-cache"] == "HIT"
    finally:
        for server, thread in ((edge, edge_thread), (origin, origin_thread)):
            server.should_exit = True
            thread.join(5)
