"""The development stand-in for a CDN's anycast: each shopper goes to the edge of the region that serves them.

Country from `?_geo=` (or a CDN country header) → market → the market's home region → that region's edge; when
it does not answer, the next region's edge, as anycast would route around a dead point of presence. The query
is passed on unchanged, so the edge (with `[edge.geo] dev = true`) sees the same country.

Every shopper reaches the edges from the door's loopback address, which the edges' admin networks hold: the door
says who it forwards (`X-Forwarded-For`, which makes an edge grant network admin to nobody), and never forwards
`/metrics` in any spelling (scrapers connect to an edge directly).
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edge import MarketResolver
from wrangler_py.config import load_config
from wrangler_py.regions import Plan

_METRICS = "/metrics"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length"}


class FrontDoor:
    def __init__(self, plan: Plan, config_path: Path) -> None:
        self.plan = plan
        self.markets = MarketResolver(load_config(config_path).config.edge_settings().markets, None)
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=1.0), follow_redirects=False)

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            await self.http.aclose()

        self.app = Starlette(routes=[Route("/{path:path}", self.forward, methods=_METHODS)], lifespan=lifespan)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def edges_for(self, request: Request) -> list[str]:
        country = (parse_qs(request.url.query).get("_geo") or [request.headers.get("cf-ipcountry", "")])[0].upper()
        cookie = request.headers.get("cookie")
        choice = self.markets.resolve(request.url.hostname or "", request.url.path, cookie, lambda: country or None)
        home = self.plan.homes.get(choice.market, self.plan.regions[0].name)
        first = self.plan.region(home)
        return [first.edge_url, *(r.edge_url for r in self.plan.regions if r.name != home)]

    def _admin_only(self, request: Request) -> bool:
        """Whether the path is `/metrics` however spelled (a market prefix, dot segments, percent encoding)."""
        path = "/" + posixpath.normpath(unquote(request.url.path)).lstrip("/")
        unprefixed = self.markets.resolve(request.url.hostname or "", path, None, lambda: None).path
        return _METRICS in (path, "/" + posixpath.normpath(unprefixed).lstrip("/"))

    async def forward(self, request: Request) -> Response:
        if self._admin_only(request):
            return JSONResponse({"type": "about:blank", "title": "Not found", "status": 404}, status_code=404,
                                media_type="application/problem+json")  # fmt: skip
        body = await request.body()
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        # As a CDN does: the edge sees the door's address, and must know that it is not the shopper's.
        shopper = request.client.host if request.client else "unknown"
        prior = [v for k, v in headers if k.lower() == "x-forwarded-for"]
        headers = [(k, v) for k, v in headers if k.lower() != "x-forwarded-for"]
        headers.append(("x-forwarded-for", ", ".join([*prior, shopper])))
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        for edge in self.edges_for(request):
            try:
                answer = await self.http.request(request.method, edge + target, headers=headers, content=body)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                continue  # that point of presence is gone (nothing was sent): the next one answers
            except httpx.TransportError:
                if request.method in ("GET", "HEAD", "OPTIONS"):
                    continue
                break  # a write may have arrived: sending it to another region could place it twice
            response = Response(answer.content, status_code=answer.status_code)
            # Raw pairs, so that repeated fields (Set-Cookie) arrive as they left the edge.
            response.raw_headers = [
                *((k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.multi_items()
                  if k.lower() not in _HOP_BY_HOP),
                (b"content-length", str(len(answer.content)).encode()),
            ]  # fmt: skip
            return response
        return JSONResponse(
            {"type": "about:blank", "title": "No region is answering", "status": 503, "detail": "try again shortly"},
            status_code=503,
            media_type="application/problem+json",
        )


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
