"""Liveness and readiness of the origin, for probes (Kubernetes, the edge's health checks), and its metrics."""

from __future__ import annotations

import hmac
from ipaddress import ip_address

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from origin.store import Store


def health_routes(store: Store) -> list[Route]:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    async def readyz(request: Request) -> Response:
        # Ready means the backing stores answer: one cheap read against the catalog.
        try:
            await store.connectors.commerce.catalog_batch(limit=1)
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "reason": type(exc).__name__},
                status_code=503,
                headers={"Cache-Control": "no-store"},
            )
        return JSONResponse({"status": "ready"}, headers={"Cache-Control": "no-store"})

    async def metrics(request: Request) -> Response:
        # For admin networks or the admin token only; to anyone else the page does not exist.
        if not _admin(store, request):
            return JSONResponse({"title": "Not found"}, status_code=404, headers={"Cache-Control": "no-store"})
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def _admin(store: Store, request: Request) -> bool:
    settings = store.settings
    try:
        peer = ip_address(request.client.host if request.client else "")
        if any(peer in network for network in settings.admin_networks):
            return True
    except ValueError:
        pass
    supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip().encode()
    token = settings.admin_token
    return token is not None and hmac.compare_digest(supplied, token.get_secret_value().encode())
