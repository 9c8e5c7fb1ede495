"""Market resolution at the edge: an explicit choice (domain, URL prefix, switcher cookie) wins over geo."""

from __future__ import annotations

import pytest

from edge.markets import MarketResolver, MarketRoute

MARKETS = [
    MarketRoute(id="us", countries=["US"], home_region="us-east"),
    MarketRoute(id="eu", countries=["DE", "FR", "AT"], url_prefix="/eu", home_region="eu-west"),
    MarketRoute(id="de-ch", countries=["CH"], url_prefix="/eu-ch"),
    MarketRoute(id="uk", countries=["GB"], domain="shop.example.co.uk", home_region="eu-west"),
]
resolver = MarketResolver(MARKETS, "us")


@pytest.mark.parametrize(
    ("host", "path", "cookie", "country", "expected"),
    [
        ("shop.example.co.uk", "/p/boot", "es_market=eu", "US", ("uk", "/p/boot", "", "domain")),
        ("shop.example", "/eu/p/boot", "es_market=us", "US", ("eu", "/p/boot", "/eu", "prefix")),
        ("shop.example", "/eu", None, None, ("eu", "/", "/eu", "prefix")),
        ("shop.example", "/eu-ch/c/tents", None, "DE", ("de-ch", "/c/tents", "/eu-ch", "prefix")),  # longest first
        ("shop.example", "/europe/x", None, "DE", ("eu", "/europe/x", "", "geo")),  # a prefix is a whole segment
        ("shop.example", "/p/boot", "theme=dark; es_market=uk", "DE", ("uk", "/p/boot", "", "cookie")),
        ("shop.example", "/p/boot", "es_market=mars", "FR", ("eu", "/p/boot", "", "geo")),  # unknown: ignored
        ("shop.example", "/p/boot", 'es_market="x', "GB", ("uk", "/p/boot", "", "geo")),  # malformed: ignored
        ("shop.example", "/p/boot", None, "JP", ("us", "/p/boot", "", "default")),
        ("shop.example", "/p/boot", None, None, ("us", "/p/boot", "", "default")),
    ],
)
def test_resolution_order(
    host: str, path: str, cookie: str | None, country: str | None, expected: tuple[str, str, str, str]
) -> None:
    choice = resolver.resolve(host, path, cookie, lambda: country)
    assert (choice.market, choice.path, choice.prefix, choice.source) == expected


def test_home_regions_and_the_bounded_set() -> None:
    assert resolver.home_region == {"us": "us-east", "eu": "eu-west", "uk": "eu-west"}
    assert resolver.ids == {"us", "eu", "de-ch", "uk"}
    assert not MarketResolver([], None)
