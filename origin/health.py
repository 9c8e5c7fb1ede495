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
never an error message (which could carry a URL with credentials). One readiness check runs at a time: a probe
that arrives meanwhile, or within `READY_REUSE_SECONDS` of the last answer, gets that answer (a check that gave
up keeps its worker thread busy until the store answers; probes must not pile more of them up).

`/metrics` is for admins: the `origin.admin_token` bearer, or a connecting address on `origin.admin_networks`
when the request did not come through a proxy. A request that carries forwarding fields (`X-Forwarded-For`,
`Forwarded`, `X-Real-IP`) or an `X-Request-Id`, as every request through an edge does, or whose peer is one of
`origin.observability.trusted_peers`, was sent on behalf of someone else: only the token admits it. Scrapers
connect directly.
"""

from __future__ import annotations

import asyncio
import hmac
import time
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
READY_REUSE_SECONDS = 1.0
# Fields a proxy adds for the client it forwards (the edge adds X-Forwarded-For and X-Request-Id to every request).
_FORWARDED = ("x-forwarded-for", "forwarded", "x-real-ip", "x-request-id")
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

    lock = asyncio.Lock()
    last: list[tuple[float, int, dict[str, object]]] = []  # (when, status, body) of the last check

    async def check() -> tuple[int, dict[str, object]]:
        outcomes = await asyncio.gather(*(_failure(check) for check in (*required.values(), *optional.values())))
        failures = {name: reason for name, reason in zip(names, outcomes, strict=True) if reason is not None}
        failed = {name: reason for name, reason in failures.items() if name in required}
        if failed:
            return 503, {"status": "unavailable", "reason": next(iter(failed.values())), "failed": failed}
        if failures:
            return 200, {"status": "ready", "degraded": failures}
        return 200, {"status": "ready"}

    async def readyz(request: Request) -> Response:
        if last and (lock.locked() or time.monotonic() - last[0][0] < READY_REUSE_SECONDS):
            _, status, body = last[0]
        else:
            async with lock:
                if last and time.monotonic() - last[0][0] < READY_REUSE_SECONDS:
                    _, status, body = last[0]  # checked while this one waited for the lock
                else:
                    status, body = await check()
                    last[:] = [(time.monotonic(), status, body)]
        return JSONResponse(body, status_code=status, headers=_NO_STORE)

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
    if not any(name in request.headers for name in _FORWARDED):
        try:
            peer = ip_address(request.client.host if request.client else "")
        except ValueError:
            peer = None
        proxies = settings.observability.trusted_peers or ()
        if (
            peer is not None
            and not any(peer in network for network in proxies)
            and any(peer in network for network in settings.admin_networks)
        ):
            return True
    supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip().encode()
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    return bool(token) and hmac.compare_digest(supplied, token.encode())
