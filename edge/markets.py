"""Which market a request is for, decided at the edge: the shopper's explicit choice first, then geo.

Order (DESIGN.md, request path step 3): a market's own domain, then its URL prefix (`/de-de/...`), then the
market switcher's cookie, then the country, then the default market. The answer is one of a small, fixed set,
so it can be part of the cache key (the origin varies on `X-Market`) without splitting the cache per shopper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from edge.cookies import cookie_value

MARKET_HEADER = "x-market"
MARKET_COOKIE = "es_market"


class MarketRoute(BaseModel):
    """What the edge needs of a `[[markets]]` entry (prices, locale and taxes are the origin's business)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    countries: list[str] = Field(default_factory=list)
    url_prefix: str | None = None
    domain: str | None = None
    home_region: str | None = None


@dataclass(frozen=True, slots=True)
class MarketChoice:
    market: str
    path: str  # the path the origin sees: without the market's URL prefix
    prefix: str  # the prefix it came with ("" when none), so the origin can build links that keep it
    source: str  # "domain" | "prefix" | "cookie" | "geo" | "default"


class MarketResolver:
    def __init__(self, markets: list[MarketRoute], default: str | None) -> None:
        self.ids = frozenset(market.id for market in markets)
        self.default = default or (markets[0].id if markets else "")
        self._by_domain = {market.domain.lower(): market.id for market in markets if market.domain}
        # Longest prefix first, so /de-ch is not taken for /de.
        self._prefixes = sorted(
            ((market.url_prefix.rstrip("/"), market.id) for market in markets if market.url_prefix),
            key=lambda item: -len(item[0]),
        )
        self._by_country = {country.upper(): market.id for market in markets for country in market.countries}
        self.home_region = {market.id: market.home_region for market in markets if market.home_region}

    def __bool__(self) -> bool:
        return bool(self.ids)

    def resolve(self, host: str, path: str, cookie: str | None, country: Callable[[], str | None]) -> MarketChoice:
        """`country` is asked only when no explicit choice decides: geo costs more than the rest together."""
        by_domain = self._by_domain.get(host.split(":", 1)[0])
        if by_domain is not None:
            return MarketChoice(by_domain, path, "", "domain")
        for prefix, market in self._prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return MarketChoice(market, path[len(prefix) :] or "/", prefix, "prefix")
        chosen = cookie_value(cookie, MARKET_COOKIE)
        if chosen in self.ids:
            return MarketChoice(chosen, path, "", "cookie")
        where = country()
        if where is not None and (by_country := self._by_country.get(where)) is not None:
            return MarketChoice(by_country, path, "", "geo")
        return MarketChoice(self.default, path, "", "default")


__all__ = ["MARKET_COOKIE", "MARKET_HEADER", "MarketChoice", "MarketResolver", "MarketRoute"]
