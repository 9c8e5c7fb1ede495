"""Markets through the edge in front of the real store: geo, the switcher cookie, and one cached page per market."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conftest import LiveOrigin


@pytest.fixture
def store(live_origin: Callable[..., LiveOrigin]) -> LiveOrigin:
    return live_origin(seed_products=10, extra="[edge.geo]\ndev = true\n")


def currency_of(page: httpx.Response) -> str:
    return next(symbol for symbol in ("€", "£", "$") if symbol in page.text)


def test_geo_then_the_shoppers_choice_decide_the_market_and_each_market_is_cached_once(store: LiveOrigin) -> None:
    edge = store.edge_url
    assert currency_of(httpx.get(edge + "/")) == "$"  # no geo: the default market
    assert currency_of(httpx.get(edge + "/?_geo=DE")) == "€"  # dev override standing in for the CDN's geo
    assert currency_of(httpx.get(edge + "/?_geo=GB")) == "£"
    chosen = httpx.get(edge + "/?_geo=DE", headers={"cookie": "es_market=uk"})
    assert currency_of(chosen) == "£"  # the switcher's choice wins over geo
    forged = httpx.get(edge + "/", headers={"x-market": "uk"})
    assert currency_of(forged) == "$"  # the market is the edge's to say, not the client's
    httpx.get(edge + "/", headers={"cookie": "es_market=uk"})
    again = httpx.get(edge + "/", headers={"cookie": "es_market=uk"})
    assert again.headers["x-cache"] == "HIT" and currency_of(again) == "£"
    assert httpx.get(edge + "/").headers["x-cache"] == "HIT"  # the US page was not replaced by the UK one
    assert again.headers["x-edge-region"] == again.headers["x-origin-region"] == "default"


def test_geo_overrides_are_refused_unless_the_config_says_dev(live_origin: Callable[..., LiveOrigin]) -> None:
    store = live_origin(seed_products=5)
    assert currency_of(httpx.get(store.edge_url + "/?_geo=DE")) == "$"


def test_prefixes_and_the_switcher_through_the_edge(store: LiveOrigin) -> None:
    edge = store.edge_url
    with httpx.Client(base_url=edge) as shopper:
        prefixed = shopper.get("/eu/")
        assert prefixed.status_code == 200 and currency_of(prefixed) == "€"
        assert f'<link rel="canonical" href="{edge}/eu/">' in prefixed.text
        assert 'href="/eu/cart"' in prefixed.text and 'hreflang="en-GB" href="' + edge + '/uk/"' in prefixed.text
        switched = shopper.post("/market", data={"market": "uk", "next": "/"}, headers={"origin": edge})
        assert switched.status_code == 303 and switched.headers["location"] == "/uk/"
        assert shopper.cookies["es_market"] == "uk"
        # The cookie alone now decides where no prefix does, geo included.
        assert currency_of(shopper.get("/?_geo=DE")) == "£"
        assert currency_of(shopper.get("/eu/")) == "€"  # a prefix still wins over the cookie
