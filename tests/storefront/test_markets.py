"""Markets on rendered pages: links keep the market's URL prefix, canonical and hreflang URLs, the switcher."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.testclient import TestClient

from origin import Market, Store
from origin.settings import check_markets, default_markets
from storefront import StorefrontSettings, storefront_exception_handlers, storefront_routes
from storefront.urls import SiteUrls, links, safe_next
from tests.storefront.conftest import SAME_ORIGIN, ClientFactory, add_to_cart, run
from wrangler_py.config import WranglerConfig

EU = {"x-market": "eu", "x-market-prefix": "/eu"}  # what the edge sends for /eu/...


def hrefs(page: str) -> list[str]:
    return re.findall(r'(?:href|action)="([^"#][^"]*)"', page)


def head_links(page: str) -> dict[str, str]:
    """rel=canonical and the hreflang alternates of a page, as {lang or "canonical": url}."""
    found = {lang: html.unescape(url) for lang, url in re.findall(r'hreflang="([^"]+)" href="([^"]+)"', page)}
    canonical = re.findall(r'<link rel="canonical" href="([^"]+)">', page)
    if canonical:
        assert len(canonical) == 1
        found["canonical"] = html.unescape(canonical[0])
    return found


def site_paths(page: str) -> list[str]:
    return [h for h in hrefs(page) if h.startswith("/") and not h.startswith(("/static/", "//"))]


def test_every_link_of_a_prefixed_market_keeps_its_prefix(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    parent = catalog_facts["parent"].category
    pages = {
        "home": client.get("/", headers=EU),
        "category": client.get(f"/c/{parent.slug}?sort=newest", headers=EU),
        "search": client.get("/search?q=jacket", headers=EU),
        "product": client.get(f"/p/{catalog_facts['multi'].handle}", headers=EU),
        "cart": client.get("/cart", headers=EU),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        paths = site_paths(response.text)
        assert paths, name
        # The market switcher posts to the unprefixed /market; every other link stays in /eu.
        stray = [p for p in paths if p != "/market" and not (p == "/eu" or p.startswith("/eu/"))]
        assert not stray, f"{name}: {stray}"
    category = pages["category"].text
    assert f'action="/eu/c/{parent.slug}"' in category  # the facet and sort forms
    assert f"/eu/c/{parent.slug}?" in category  # facet and chip links built from the listing's path
    assert '<html lang="de">' in pages["product"].text


def test_the_default_market_has_plain_links(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    page = client.get(f"/p/{catalog_facts['multi'].handle}").text
    assert not [p for p in site_paths(page) if p.startswith(("/eu", "/uk"))]


def test_prices_and_numbers_follow_the_markets_currency_and_locale(
    client: TestClient, catalog_facts: dict[str, Any], store: Store
) -> None:
    product = catalog_facts["multi"]
    eu = store.markets.resolve("eu")
    eur = next(p for p in run(_products, store, eu) if p.handle == product.handle)
    page = html.unescape(client.get(f"/p/{product.handle}", headers=EU).text)
    amount = eur.min_price.amount
    euros, cents = divmod(amount, 100)
    # de_DE: comma decimals, thousands with a dot, the sign after a no-break space.
    assert f"{euros:,}".replace(",", ".") + f",{cents:02d}\xa0€" in page
    uk = html.unescape(client.get(f"/p/{product.handle}", headers={"x-market": "uk"}).text)
    assert "£" in uk and "€" not in uk


async def _products(store: Store, market: Market) -> list[Any]:
    page = await store.catalog.products(market, category_id=None, page=1, per_page=100, sort="featured")
    return list(page.items)


def test_canonical_and_hreflang_alternates(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    handle = catalog_facts["multi"].handle
    base = "http://testserver"
    expected = {
        "en-US": f"{base}/p/{handle}",
        "de-DE": f"{base}/eu/p/{handle}",
        "en-GB": f"{base}/uk/p/{handle}",
        "x-default": f"{base}/p/{handle}",
    }
    us = head_links(client.get(f"/p/{handle}?variant=1&utm_source=x").text)
    assert us == {**expected, "canonical": f"{base}/p/{handle}"}  # the query is not part of the product's URL
    eu = head_links(client.get(f"/p/{handle}", headers=EU).text)
    assert eu == {**expected, "canonical": f"{base}/eu/p/{handle}"}
    slug = catalog_facts["parent"].category.slug
    sorted_listing = head_links(client.get(f"/c/{slug}?sort=newest", headers=EU).text)
    assert sorted_listing["canonical"] == f"{base}/eu/c/{slug}"  # a sort order is the same listing
    second = head_links(client.get("/search?sort=newest&page=2&q=", headers=EU).text)
    assert second["canonical"] == f"{base}/eu/search?sort=newest&page=2"  # one parameter order
    assert second["en-GB"] == f"{base}/uk/search?sort=newest&page=2"


def test_error_pages_are_not_indexed_and_private_pages_say_noindex(client: TestClient) -> None:
    missing = client.get("/p/no-such-product", headers=EU)
    assert missing.status_code == 404
    assert '<meta name="robots" content="noindex">' in missing.text and "canonical" not in head_links(missing.text)
    cart = client.get("/cart", headers=EU).text
    assert '<meta name="robots" content="noindex">' in cart
    assert head_links(cart)["canonical"] == "http://testserver/eu/cart"
    home = client.get("/").text
    assert "noindex" not in home


def test_public_url_is_the_base_of_absolute_urls(store: Store) -> None:
    settings = StorefrontSettings(public_url="https://shop.example")
    app = Starlette(
        routes=storefront_routes(store, settings), exception_handlers=storefront_exception_handlers(store, settings)
    )
    with TestClient(app) as client:
        page = client.get("/pages/shipping", headers={"host": "evil.example", **EU}).text
    found = head_links(page)
    assert found["canonical"] == "https://shop.example/eu/pages/shipping"
    assert found["x-default"] == "https://shop.example/pages/shipping"
    assert "evil.example" not in page


def test_the_switcher_remembers_the_choice_and_moves_to_that_markets_url(client: TestClient) -> None:
    page = client.get("/p/some-handle?variant=3", headers=EU)
    assert '<input type="hidden" name="next" value="/p/some-handle?variant=3">' in page.text
    assert '<option value="eu" selected>' in page.text
    to_uk = client.post("/market", data={"market": "uk", "next": "/p/tent?variant=3"}, headers={**SAME_ORIGIN, **EU})
    assert to_uk.status_code == 303
    assert to_uk.headers["location"] == "/uk/p/tent?variant=3"
    assert to_uk.headers["cache-control"].startswith("private")
    cookie = to_uk.headers["set-cookie"]
    assert cookie.startswith("es_market=uk;")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Max-Age=31536000" in cookie
    # Leaving a prefixed market for the default one drops the prefix: the cookie then decides.
    to_us = client.post("/market", data={"market": "us", "next": "/c/tents"}, headers={**SAME_ORIGIN, **EU})
    assert to_us.headers["location"] == "/c/tents" and "es_market=us" in to_us.headers["set-cookie"]


@pytest.mark.parametrize(
    ("next_value", "location"),
    [
        ("//evil.example/x", "/eu/"),
        ("https://evil.example/", "/eu/"),
        ("/\\evil.example", "/eu/"),
        ("/p/a\r\nSet-Cookie: x=1", "/eu/"),
        ("", "/eu/"),
    ],
)
def test_the_switcher_never_redirects_off_the_site(client: TestClient, next_value: str, location: str) -> None:
    answer = client.post("/market", data={"market": "eu", "next": next_value}, headers=SAME_ORIGIN)
    assert answer.status_code == 303 and answer.headers["location"] == location


def test_the_switcher_refuses_unknown_markets_and_cross_site_posts(client: TestClient) -> None:
    unknown = client.post("/market", data={"market": "mars", "next": "/"}, headers=SAME_ORIGIN)
    assert unknown.status_code == 400 and "set-cookie" not in unknown.headers
    cross = client.post("/market", data={"market": "eu", "next": "/"}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and "set-cookie" not in cross.headers


def test_form_redirects_keep_the_prefix(new_client: ClientFactory, catalog_facts: dict[str, Any]) -> None:
    shopper = new_client(**EU)
    added = add_to_cart(shopper, catalog_facts["plenty"].id)
    assert added.status_code == 303 and added.headers["location"] == "/eu/cart"


def test_domains_and_shared_urls_in_alternates() -> None:
    us, eu, uk = default_markets()
    ch = Market(id="ch", name="Schweiz", countries=["CH"], currency="CHF", locale="de_CH", price_list="chf",
                domain="shop.ch")  # fmt: skip
    ca = Market(id="ca", name="Canada", countries=["CA"], currency="CAD", locale="en_CA", price_list="cad")
    de2 = Market(id="at", name="Österreich", countries=["AT"], currency="EUR", locale="de_DE", price_list="eur",
                 url_prefix="/at")  # fmt: skip
    urls = SiteUrls("https://shop.example", (us, eu, uk, ch, ca, de2), us)
    found = {a.lang: a.url for a in urls.alternates("/p/tent")}
    assert found == {
        "en-US": "https://shop.example/p/tent",
        "de-DE": "https://shop.example/eu/p/tent",
        "en-GB": "https://shop.example/uk/p/tent",
        "de-CH": "https://shop.ch/p/tent",
        "x-default": "https://shop.example/p/tent",
    }  # ca shares the default market's URL and "at" repeats de-DE: each URL and code is listed once
    assert urls.absolute(ch, "/") == "https://shop.ch/"
    assert links("/eu")("https://elsewhere.example/x") == "https://elsewhere.example/x"
    assert safe_next("/search?q=a b") == "/search?q=a b"


def test_config_rejects_ambiguous_market_urls() -> None:
    us, eu, uk = default_markets()
    both = eu.model_copy(update={"domain": "shop.eu"})
    with pytest.raises(ValueError, match="both url_prefix and domain"):
        check_markets([us, both, uk], "us")
    same = uk.model_copy(update={"url_prefix": "/eu"})
    with pytest.raises(ValueError, match="same url_prefix"):
        check_markets([us, eu, same], "us")
    domain_market = {"id": "ch", "name": "CH", "currency": "CHF", "price_list": "chf", "domain": "shop.ch"}
    with pytest.raises(ValidationError, match=r"storefront\.public_url"):
        WranglerConfig.model_validate({"markets": [us.model_dump(), domain_market], "default_market": "us"})
    WranglerConfig.model_validate(
        {
            "markets": [us.model_dump(), domain_market],
            "default_market": "us",
            "storefront": {"public_url": "https://shop.example"},
        }
    )


def test_links_from_content_cannot_carry_script() -> None:
    for prefix in ("", "/eu"):
        url = links(prefix)
        assert url("javascript:alert(1)") == "#" and url(" JavaScript:alert(1)") == "#"
        assert url("data:text/html,x") == "#" and url("//evil.example/x") == "#"
        assert url("https://brand.example/") == "https://brand.example/" and url("#reviews") == "#reviews"
        assert url("mailto:help@shop.example") == "mailto:help@shop.example"
