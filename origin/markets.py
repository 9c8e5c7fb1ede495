"""Which market a request is in. The edge decides (geo, shopper choice) and tells the origin in a header."""

from __future__ import annotations

from origin.settings import Market, check_markets

# Set by the edge after geo and shopper choice; responses that depend on it say `Vary: X-Market`.
MARKET_HEADER = "x-market"
# The market switcher's choice; the edge reads it (it wins over geo, loses to a URL prefix or a domain).
MARKET_COOKIE = "es_market"


class MarketResolver:
    def __init__(self, markets: list[Market], default_market: str) -> None:
        check_markets(markets, default_market)
        self._by_id = {m.id: m for m in markets}
        self.default = self._by_id[default_market]
        self.markets = list(markets)

    def get(self, market_id: str | None) -> Market | None:
        return self._by_id.get(market_id) if market_id else None

    def resolve(self, header_value: str | None) -> Market:
        """An unknown value falls back to the default market rather than failing the page."""
        return self._by_id.get(header_value or "", self.default)
