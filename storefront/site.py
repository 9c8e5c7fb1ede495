"""What every page handler shares: the store, settings, cookies, CSRF tokens and the two ways to answer.

`shared()` is for pages every shopper of a market may get from a cache: its context is built from the URL
and the market only, so there is no way to hand it a cart, a cookie or a token. `private()` is for pages
of one shopper and is never stored by a shared cache.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from origin import MARKET_HEADER, PRIVATE_NO_STORE, CategoryNode, Market, Store, traced
from storefront.cookies import CartCookie, SegmentCookie
from storefront.csrf import CsrfTokens
from storefront.formatting import formatter
from storefront.settings import StorefrontSettings
from storefront.templating import Theme
from storefront.urls import SiteUrls, market_links

HTML = "text/html; charset=utf-8"
NOT_FOUND_KEYS = ("not-found",)
_MAX_BASES = 16


@dataclass(frozen=True, slots=True)
class Site:
    store: Store
    settings: StorefrontSettings
    cart_cookie: CartCookie
    segment_cookie: SegmentCookie
    csrf: CsrfTokens
    theme: Theme
    _urls: dict[str, SiteUrls] = field(default_factory=dict)

    @classmethod
    def build(cls, store: Store, settings: StorefrontSettings, theme: Theme) -> Site:
        return cls(
            store=store,
            settings=settings,
            theme=theme,
            cart_cookie=CartCookie(store.secret_key, secure=settings.secure_cookies),
            segment_cookie=SegmentCookie(
                store.secret_key, secure=settings.secure_cookies, vip_after_orders=settings.vip_after_orders
            ),
            csrf=CsrfTokens(store.secret_key),
        )

    def market(self, request: Request) -> Market:
        return self.store.markets.resolve(request.headers.get(MARKET_HEADER))

    def urls(self, request: Request) -> SiteUrls:
        """Absolute URLs on the configured public URL, else on the one this request came to (fine in dev)."""
        base = self.settings.public_url or f"{request.url.scheme}://{request.url.netloc}"
        urls = self._urls.get(base)
        if urls is None:
            if len(self._urls) >= _MAX_BASES:  # hosts come from requests: keep the memo bounded
                self._urls.clear()
            markets = self.store.markets
            urls = self._urls[base] = SiteUrls(base.rstrip("/"), tuple(markets.markets), markets.default)
        return urls

    @staticmethod
    def content_locale(market: Market) -> str:
        """The market's locale as is: the content provider falls back from de_DE to de to its default."""
        return market.locale

    async def navigation(self) -> list[CategoryNode]:
        roots = (await self.store.catalog.tree()).roots
        return sorted(roots, key=lambda n: (n.category.position, n.category.id))

    async def context(
        self, request: Request, market: Market, status_code: int, canonical: str | None, values: dict[str, Any]
    ) -> dict[str, Any]:
        """`canonical` is the page's own path and query as the origin sees them (no market prefix);
        None means the request's path without its query. Error pages get no canonical and are not indexed."""
        path = request.url.path
        page = path + ("?" + request.url.query if request.url.query else "")
        found = status_code < 400
        urls = self.urls(request)
        canonical_path = canonical if canonical is not None else path
        return {
            "shop": self.settings,
            "market": market,
            "markets": urls.markets,
            "fmt": formatter(market.locale),
            "url": market_links(market),
            "nav": await self.navigation(),
            "q": "",
            "title": self.settings.name,
            "page_path": page,
            "canonical": urls.absolute(market, canonical_path) if found else None,
            "alternates": urls.alternates(canonical_path) if found else [],
            "noindex": not found,
            **values,
        }

    def render(self, template: str, context: dict[str, Any]) -> bytes:
        """The template rendered, as a span of the request's trace when it is traced (`render <template>`)."""
        with traced(f"render {template}", {"edgeshop.template": template}):
            return self.theme.render(template, context)

    async def shared(
        self,
        request: Request,
        template: str,
        *,
        market: Market,
        keys: Iterable[str],
        status_code: int = 200,
        canonical: str | None = None,
        vary: tuple[str, ...] = (),
        **values: Any,
    ) -> Response:
        """`vary`: the edge-decided request fields (segment, experiment arms) this page reads besides the market."""
        body = self.render(template, await self.context(request, market, status_code, canonical, values))
        return self.store.responses.shared(
            request, body, media_type=HTML, keys=keys, status_code=status_code, esi=True, vary=vary
        )

    async def private(
        self,
        request: Request,
        template: str,
        *,
        market: Market,
        status_code: int = 200,
        canonical: str | None = None,
        **values: Any,
    ) -> Response:
        """One shopper's page: never stored by a shared cache, and never indexed (`noindex`)."""
        values["noindex"] = True
        body = self.render(template, await self.context(request, market, status_code, canonical, values))
        return self.store.responses.private(body, media_type=HTML, status_code=status_code, esi=True)

    async def not_found(
        self, request: Request, *, what: str = "page", shared: bool = True, keys: Iterable[str] = ()
    ) -> Response:
        """The helpful 404. Shared for plain GETs of public URLs (it is the same for everyone), else private."""
        market = self.market(request)
        if shared and request.method in ("GET", "HEAD"):
            return await self.shared(
                request,
                "not_found.html",
                market=market,
                keys=[*NOT_FOUND_KEYS, *keys],
                status_code=404,
                title="Not found",
                what=what,
            )
        return await self.private(
            request, "not_found.html", market=market, status_code=404, title="Not found", what=what
        )

    async def problem(self, request: Request, status_code: int, heading: str, message: str) -> Response:
        return await self.private(
            request,
            "problem.html",
            market=self.market(request),
            status_code=status_code,
            title=heading,
            heading=heading,
            message=message,
        )

    async def forbidden(self, request: Request, reason: str) -> Response:
        """403 for a form we cannot trust (csrf.py says why); tells the shopper how to carry on."""
        return await self.private(
            request,
            "forbidden.html",
            market=self.market(request),
            status_code=403,
            title="Request blocked",
            reason=reason,
        )

    def redirect(self, request: Request, url: str) -> Response:
        """303 See Other after a form POST, so reloading the next page never re-submits the form.

        `url` is a site path as the origin routes it; the shopper stays in the URL prefix of their market."""
        location = market_links(self.market(request))(url)
        return RedirectResponse(location, status_code=303, headers={"Cache-Control": PRIVATE_NO_STORE})
