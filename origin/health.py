"""Liveness and readiness of the origin, for probes (Kubernetes, the edge's health checks), and its metrics.

- `/healthz`: the process answers. Nothing else is asked: a probe that failed on a dependency would restart a
  healthy process.
- `/readyz`: this origin can serve. Its backing stores answer one cheap read each, all at once, within
  `CHECK_SECONDS`: the commerce backend (catalog, prices, orders), the cart store, and the embedded search
  index. A search vendor is asked too, but its failure only shows as `degraded` (200): the vendor is shared by
  every origin, so taking them all out of rotation would turn a search outage into a shop outage, and search
  falls back (`connectors.fallbacks`) where the merchant configured it. The origin uses no Redis of its own.

Both answer `Cache-Control: no-store`, and the edge answers its own `/healthz` and `/readyz` (these are reached
by probes of the origin's own address only). The failure body names the failing checks and their error class,
never an error message (which could carry a URL with credentials).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from ipaddress import ip_address

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors import BuiltinSearch, SearchQuery
from origin.store import Store

# Kubernetes gives a probe 2 s (wrangler_py.manifests): a hung store fails the probe instead of timing it out.
CHECK_SECONDS = 1.5
HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_NO_STORE = {"Cache-Control": "no-store"}

Check = Callable[[], Awaitable[object]]


def readiness_checks(store: Store) -> tuple[dict[str, Check], dict[str, Check]]:
    """(checks that make the origin unready when they fail, checks that only degrade it)."""
    connectors = store.connectors
    search = connectors.search
    probe = SearchQuery(price_list=store.markets.default.price_list, per_page=1, facets=[])
    required: dict[str, Check] = {
        "commerce": lambda: connectors.commerce.catalog_batch(limit=1),
        "carts": store.carts.reachable,
    }
    optional: dict[str, Check] = {}
    if isinstance(search, BuiltinSearch):
        required["search"] = lambda: search.search(probe)
    else:
        vendor = getattr(search, "primary", search)  # the vendor itself, not the fallback that hides its outage
        optional["search"] = lambda: vendor.search(probe)
    return required, optional


async def _failure(check: Check) -> str | None:
    try:
        await asyncio.wait_for(check(), CHECK_SECONDS)
    except TimeoutError:
        return "Timeout"
    except Exception as exc:
        return type(exc).__name__
    return None


def health_routes(store: Store) -> list[Route]:
    required, optional = readiness_checks(store)
    names = [*required, *optional]

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=_NO_STORE)

    async def readyz(request: Request) -> Response:
        outcomes = await asyncio.gather(*(_failure(check) for check in (*required.values(), *optional.values())))
        failures = {name: reason for name, reason in zip(names, outcomes, strict=True) if reason is not None}
        failed = {name: reason for name, reason in failures.items() if name in required}
        if failed:
            body = {"status": "unavailable", "reason": next(iter(failed.values())), "failed": failed}
            return JSONResponse(body, status_code=503, headers=_NO_STORE)
        if failures:
            return JSONResponse({"status": "ready", "degraded": failures}, headers=_NO_STORE)
        return JSONResponse({"status": "ready"}, headers=_NO_STORE)

    async def metrics(request: Request) -> Response:
        # For admin networks or the admin token only; to anyone else the page does not exist.
        if not _admin(store, request):
            return JSONResponse({"title": "Not found"}, status_code=404, headers=_NO_STORE)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST, headers=_NO_STORE)

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
