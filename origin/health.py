"""Liveness and readiness of the origin, for probes (Kubernetes, the edge's health checks)."""

from __future__ import annotations

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

    return [Route("/healthz", healthz, methods=["GET", "HEAD"]), Route("/readyz", readyz, methods=["GET", "HEAD"])]
