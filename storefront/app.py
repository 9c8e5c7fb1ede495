"""URL map of the storefront: which page handler answers which path, and how HTML pages report errors.

Mount order: put these routes after the origin's own (`/api`, `/healthz`); unknown paths reach the 404
handler from `storefront_exception_handlers`, which answers HTML for pages and a problem for `/api/…`.
Give both the same `Theme` (`load_theme(settings, project_dir)`, built once per app): without one they use the
package's templates and static files alone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from origin import ConnectorError, DomainError, ResourceNotFound, Store, problem
from storefront.csrf import origin_checked
from storefront.formatting import sentence
from storefront.forms import MAX_FORM_BYTES
from storefront.pages.cart import CartPages
from storefront.pages.catalog import CatalogPages
from storefront.pages.checkout import CheckoutPages
from storefront.pages.content import ContentPages
from storefront.pages.markets import MarketPages
from storefront.pages.product import ProductPages
from storefront.settings import StorefrontSettings
from storefront.site import Site
from storefront.templating import Theme, load_theme

logger = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


_TAGGABLE = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")


def _missing_keys(missing: str, request: Request) -> list[str]:
    """Tag a shared 404 with what was asked for, so publishing that product or page later can purge it."""
    return [
        f"missing:{missing}:{value}"
        for value in request.path_params.values()
        if isinstance(value, str) and _TAGGABLE.fullmatch(value)
    ]


def html_errors(site: Site, endpoint: Endpoint, *, missing: str = "page") -> Endpoint:
    """Domain and vendor errors become HTML pages here; the JSON problem handlers are for /api only."""

    async def handle(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ResourceNotFound:
            return await site.not_found(request, what=missing, keys=_missing_keys(missing, request))
        except DomainError as exc:
            return await site.problem(request, exc.status, exc.title, sentence(exc.detail))
        except ConnectorError:
            logger.warning("a connector failed while rendering %s", request.url.path, exc_info=True)
            return await site.problem(
                request,
                503,
                "We could not load this page",
                "Part of the shop is not answering right now. Please try again in a moment.",
            )

    handle.__name__ = getattr(endpoint, "__name__", "page")
    return handle


def storefront_routes(store: Store, settings: StorefrontSettings, *, theme: Theme | None = None) -> list[BaseRoute]:
    theme = theme or load_theme(settings)
    site = Site.build(store, settings, theme)
    catalog, product, content = CatalogPages(site), ProductPages(site), ContentPages(site)
    cart = CartPages(site, product)
    checkout = CheckoutPages(site, cart)
    markets = MarketPages(site)

    def page(path: str, endpoint: Endpoint, *, missing: str = "page") -> Route:
        return Route(path, html_errors(site, endpoint, missing=missing), methods=["GET"])

    def form(path: str, endpoint: Endpoint) -> Route:
        guarded = origin_checked(html_errors(site, endpoint), site.forbidden)
        return Route(path, guarded, methods=["POST"], max_body_size=MAX_FORM_BYTES)

    return [
        page("/", catalog.home),
        page("/c/{slug}", catalog.category, missing="category"),
        page("/p/{handle}", product.show, missing="product"),
        page("/search", catalog.search),
        page("/pages/{slug}", content.page),
        page("/cart", cart.show),
        form("/cart/add", cart.add),
        form("/cart/lines/{line_id}", cart.update),
        form("/cart/lines/{line_id}/remove", cart.remove),
        page("/checkout", checkout.show),
        form("/checkout", checkout.submit),
        page("/orders/{order_id}", checkout.order, missing="order"),
        page("/_fragments/cart-badge", cart.badge),
        form("/market", markets.switch),
        Mount("/static", theme.assets.app, name="static"),
    ]


def storefront_exception_handlers(
    store: Store, settings: StorefrontSettings, *, theme: Theme | None = None
) -> dict[Any, Any]:
    """The 404 for paths no route knows: the shop's helpful page, or a problem document under /api."""
    site = Site.build(store, settings, theme or load_theme(settings))

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return problem(404, "not-found", "Not found", "no such API endpoint", instance=request.url.path)
        return await site.not_found(request)

    return {404: not_found}
