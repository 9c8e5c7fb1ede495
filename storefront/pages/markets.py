"""The market switcher: the shopper's explicit choice, remembered in a cookie the edge reads before geo."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from origin import MARKET_COOKIE, PRIVATE_NO_STORE
from storefront.forms import read_form, text
from storefront.site import Site
from storefront.urls import market_links, safe_next

MARKET_COOKIE_MAX_AGE = 365 * 86_400


class MarketPages:
    def __init__(self, site: Site) -> None:
        self.site = site

    async def switch(self, request: Request) -> Response:
        """Remember the choice and send the shopper to the same page in that market's URL.

        The redirect matters as much as the cookie: a URL prefix or a market's domain wins over the cookie,
        so staying on `/eu/...` after choosing another market would keep the shopper in the old one.
        """
        form = await read_form(request)
        market = self.site.store.markets.get(text(form, "market", limit=32))
        if market is None:
            return await self.site.problem(
                request, 400, "Unknown country or region", "Choose one of the countries or regions in the list."
            )
        path = safe_next(text(form, "next", limit=2048))
        if market.domain or self._on_market_domain(request):
            location = self.site.urls(request).absolute(market, path)
        else:
            location = market_links(market)(path)
        response = RedirectResponse(location, status_code=303, headers={"Cache-Control": PRIVATE_NO_STORE})
        response.set_cookie(
            MARKET_COOKIE,
            market.id,
            max_age=MARKET_COOKIE_MAX_AGE,
            path="/",
            secure=self.site.settings.secure_cookies,
            httponly=True,  # only the edge reads it
            samesite="lax",
        )
        return response

    def _on_market_domain(self, request: Request) -> bool:
        """On a market's own domain every path means that market: leaving it takes an absolute URL."""
        host = (request.url.hostname or "").lower()
        return any(m.domain and m.domain.lower() == host for m in self.site.store.markets.markets)
