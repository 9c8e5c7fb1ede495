"""A tiny origin for process-level edge tests: a slow cacheable page and a counter of its requests.

python -m tests.edge.counting_origin PORT
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

hits = {"slow": 0}


async def slow(request: Request) -> Response:
    hits["slow"] += 1
    await asyncio.sleep(0.3)  # long enough for every concurrent shopper to arrive while it is in flight
    return Response("<html>cold page</html>", media_type="text/html", headers={"cache-control": "public, s-maxage=60"})


async def count(request: Request) -> Response:
    return JSONResponse(hits, headers={"cache-control": "no-store"})


async def healthz(request: Request) -> Response:
    return Response("ok", headers={"cache-control": "no-store"})


app = Starlette(routes=[Route("/slow", slow), Route("/count", count), Route("/healthz", healthz)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
