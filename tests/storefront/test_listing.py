"""Listing URLs: parsing (lenient), the canonical parameter order, pagination and facet building."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from connectors.search.base import FacetValue
from storefront.facets import active_chips, facet_groups, price_bounds
from storefront.formatting import formatter
from storefront.listing import CATEGORY_SORTS, SEARCH_SORTS, Filters, paginate, parse_filters

US = formatter("en_US")


def parse(query: str) -> Filters:
    return parse_filters(QueryParams(query), sorts=SEARCH_SORTS, default_sort="relevance")


def test_parameters_follow_the_api_conventions() -> None:
    f = parse("q=rain++jacket&brand=Northwall&brand=Bluebird&color=Red&Size=M&price_min=5000&price_max=9999&in_stock=1")
    assert f.text == "rain jacket"
    assert f.brands == ("Northwall", "Bluebird")
    assert f.options == (("Color", ("Red",)), ("Size", ("M",)))
    query = f.search_query(price_list="usd", per_page=24)
    assert query.options == {"Color": ["Red"], "Size": ["M"]}
    assert (query.price_min, query.price_max, query.in_stock_only) == (5000, 9999, True)


def test_bad_values_are_ignored_not_errors() -> None:
    f = parse("page=0&sort=cheapest&price_min=abc&category=-3&page=9999999")
    assert (f.page, f.sort, f.price_min, f.category_id) == (1, "relevance", None, None)


def test_urls_are_canonical_and_changes_reset_the_page() -> None:
    f = parse("Size=M&brand=B&q=tent&page=3&sort=newest")
    assert f.url("/search") == "/search?q=tent&brand=B&Size=M&sort=newest&page=3"
    assert f.url("/search", brands=()) == "/search?q=tent&Size=M&sort=newest"
    assert f.url("/search", page=4).endswith("&page=4")


def test_category_pages_keep_the_category_in_the_path() -> None:
    f = parse_filters(QueryParams("category=99&brand=B"), sorts=CATEGORY_SORTS, default_sort="featured", category_id=7)
    assert f.category_id == 7
    assert f.url("/c/tents") == "/c/tents?brand=B"
    assert f.search_query(price_list="usd", per_page=24).sort == "relevance"


def test_pagination_window_with_gaps() -> None:
    f = parse("page=6")
    p = paginate(f, "/search", total=240, per_page=24)
    assert [link.number for link in p.links] == [1, None, 4, 5, 6, 7, 8, None, 10]
    assert [link.number for link in p.links if link.current] == [6]
    assert p.prev_url == "/search?page=5" and p.next_url == "/search?page=7"
    last = paginate(parse("page=10"), "/search", total=240, per_page=24)
    assert last.next_url is None


def test_price_buckets_map_to_inclusive_bounds() -> None:
    assert price_bounds("5000-10000") == (5000, 9999)
    assert price_bounds("40000-") == (40000, None)
    assert price_bounds("junk") == (None, None)


def test_facet_groups_link_to_the_toggled_listing() -> None:
    f = parse("brand=Northwall")
    facets = {
        "brand": [
            FacetValue(value="Northwall", label="Northwall", count=4),
            FacetValue(value="Bluebird", label="Bluebird", count=2),
        ],
        "option:Size": [FacetValue(value=v, label=v, count=1) for v in ("XL", "S", "M")],
        "price": [FacetValue(value="5000-10000", label="50 – 100", count=3)],
    }
    groups = {g.key: g for g in facet_groups(facets, f, "/search", fmt=US, currency="USD", with_category=False)}
    brand = {c.value: c for c in groups["brand"].choices}
    assert brand["Northwall"].selected and brand["Northwall"].url == "/search"
    assert brand["Bluebird"].url == "/search?brand=Northwall&brand=Bluebird"
    assert [c.value for c in groups["option:Size"].choices] == ["S", "M", "XL"]
    price = groups["price"].choices[0]
    assert price.label == "$50 – $100" and price.url == "/search?brand=Northwall&price_min=5000&price_max=9999"
    chips = active_chips(f, "/search", fmt=US, currency="USD")
    assert [(c.label, c.remove_url) for c in chips] == [("Northwall", "/search")]
