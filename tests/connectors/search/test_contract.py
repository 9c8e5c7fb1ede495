"""One contract for every SearchProvider: the built-in on SQLite, and each vendor adapter through its respx fake.

The same assertions run on all four; relevance order is each engine's own, so text searches compare sets and
only explicit sorts compare order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import respx

from connectors.http import VendorHttpSettings
from connectors.search.algolia import AlgoliaSearch
from connectors.search.base import IndexSettings, SearchDocument, SearchProvider, SearchQuery, SearchResult
from connectors.search.builtin import BuiltinSearch
from connectors.search.meilisearch import MeilisearchSearch
from connectors.search.typesense import TypesenseSearch
from connectors.settings import AlgoliaSettings, MeilisearchSettings, TypesenseSettings
from tests.connectors.search.fakes import FakeAlgolia, FakeMeilisearch, FakeTypesense

pytestmark = pytest.mark.anyio

APPAREL, JACKETS, FOOTWEAR, BOOTS, GEAR, PACKS = 1, 2, 3, 4, 5, 6
FAST = VendorHttpSettings(retries=0, backoff_seconds=0)


async def no_wait(seconds: float) -> None:
    """Task polls and retries take no time in tests."""


def document(doc_id: int, **fields: Any) -> SearchDocument:
    usd = fields.pop("usd", 10000)
    eur = fields.pop("eur", usd - 500)
    values: dict[str, Any] = {
        "id": doc_id,
        "handle": f"product-{doc_id}",
        "title": f"Product {doc_id}",
        "description": "",
        "brand": "Alpina",
        "category_ids": [GEAR],
        "category_names": ["Gear"],
        "options": {},
        "prices": {"usd": usd} | ({"eur": eur} if eur is not None else {}),
        "currency_by_price_list": {"usd": "USD", "eur": "EUR"},
        "image_url": f"/img/{doc_id}.jpg",
        "image_alt": f"Product {doc_id}",
        "in_stock": True,
        "created_at": 1_700_000_000 + doc_id * 1000,
    }
    return SearchDocument(**(values | fields))


CATALOG = [
    document(1, title="Hiking Boots Summit GTX", description="Leather uppers and a grippy sole for rocky trails.",
             category_ids=[FOOTWEAR, BOOTS], category_names=["Footwear", "Hiking Boots"],
             options={"Color": ["Brown", "Black"], "Size": ["42", "43", "44"]}, usd=18900),
    document(2, title="Trail Runner Lite", brand="Fleetfoot", description="A light shoe for fast days on the trail.",
             category_ids=[FOOTWEAR], category_names=["Footwear"],
             options={"Color": ["Blue", "Red"], "Size": ["42", "44"]}, usd=12900, in_stock=False),
    document(3, title="Rain Shell Jacket", description="Waterproof and breathable, great for hiking in the wet.",
             category_ids=[APPAREL, JACKETS], category_names=["Apparel", "Jackets & Coats"],
             options={"Color": ["Red", "Yellow"], "Size": ["S", "M", "L"]}, usd=24900),
    document(4, title="Down Parka", brand="Northline", description="Goose down for the coldest belay stance.",
             category_ids=[APPAREL, JACKETS], category_names=["Apparel", "Jackets & Coats"],
             options={"Color": ["Black"], "Size": ["M", "L", "XL"]}, usd=45000, eur=None),
    document(5, title="Merino Base Layer", brand="Woolly", description="Soft wool next to the skin.",
             category_ids=[APPAREL], category_names=["Apparel"], options={"Color": ["Grey"], "Size": ["S", "M"]},
             usd=4900),
    document(6, title="Daypack 20L", brand="Northline", description="A light backpack for day hikes.",
             category_ids=[GEAR, PACKS], category_names=["Gear", "Backpacks"], options={"Color": ["Blue"]},
             usd=10000),
    document(7, title="Thermos Café", brand="Über Gear",
             description="Keeps coffee hot from the car park to the summit.", options={"Color": ["Green"]}, usd=2900),
]  # fmt: skip


def meilisearch(router: respx.MockRouter) -> MeilisearchSearch:
    fake = FakeMeilisearch()
    fake.install(router)
    settings = MeilisearchSettings(url=fake.url, api_key=fake.key, http=FAST)
    return MeilisearchSearch(settings, sleep=no_wait)


def algolia(router: respx.MockRouter) -> AlgoliaSearch:
    fake = FakeAlgolia()
    fake.install(router)
    return AlgoliaSearch(AlgoliaSettings(app_id=fake.app_id, api_key=fake.key, http=FAST), sleep=no_wait)


def typesense(router: respx.MockRouter) -> TypesenseSearch:
    fake = FakeTypesense()
    fake.install(router)
    return TypesenseSearch(TypesenseSettings(url=fake.url, api_key=fake.key, http=FAST), sleep=no_wait)


VENDORS: dict[str, Callable[[respx.MockRouter], SearchProvider]] = {
    "meilisearch": meilisearch,
    "algolia": algolia,
    "typesense": typesense,
}


@pytest.fixture(params=["builtin", *VENDORS])
async def provider(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SearchProvider]:
    """An empty index with the default settings applied, as `wrangler-py search reindex` leaves it."""
    if request.param == "builtin":
        engine = BuiltinSearch(str(tmp_path / "search.sqlite3"))
        await engine.apply_settings(IndexSettings())
        yield engine
        engine.close()
        return
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        adapter = VENDORS[request.param](router)
        await adapter.apply_settings(IndexSettings())
        yield adapter
        await adapter.aclose()  # type: ignore[attr-defined]


@pytest.fixture
async def indexed(provider: SearchProvider) -> SearchProvider:
    await provider.index_documents(CATALOG)
    return provider


async def find(provider: SearchProvider, **query: Any) -> SearchResult:
    return await provider.search(SearchQuery(**({"price_list": "usd", "per_page": 100} | query)))


async def ids(provider: SearchProvider, **query: Any) -> list[int]:
    return [hit.id for hit in (await find(provider, **query)).hits]


async def id_set(provider: SearchProvider, **query: Any) -> set[int]:
    return set(await ids(provider, **query))


def counts(result: SearchResult, facet: str) -> dict[str, int]:
    return {v.value: v.count for v in result.facets[facet]}


# -- text and filters ----------------------------------------------------------------------------------------------


async def test_text_matches_titles_descriptions_brands_and_categories(indexed: SearchProvider) -> None:
    assert await id_set(indexed, text="hiking") == {1, 3}
    assert await id_set(indexed, text="northline") == {4, 6}
    assert await id_set(indexed, text="backpacks") == {6}
    assert await id_set(indexed, text="hiking boots") == {1}
    assert await id_set(indexed, text="cafe") == {7}
    assert await id_set(indexed) == {1, 2, 3, 4, 5, 6, 7}


async def test_shopper_syntax_is_plain_words(indexed: SearchProvider) -> None:
    assert await id_set(indexed, text='"hiking') == {1, 3}
    assert await id_set(indexed, text="-boots") == {1}
    assert (await find(indexed, text="(*")).total == 7


async def test_brands_filter_is_an_or(indexed: SearchProvider) -> None:
    assert await id_set(indexed, brands=["Northline"]) == {4, 6}
    assert await id_set(indexed, brands=["Northline", "Fleetfoot"]) == {2, 4, 6}
    assert await id_set(indexed, brands=["Über Gear"]) == {7}


async def test_category_includes_descendants(indexed: SearchProvider) -> None:
    assert await id_set(indexed, category_id=APPAREL) == {3, 4, 5}
    assert await id_set(indexed, category_id=JACKETS) == {3, 4}
    assert await id_set(indexed, category_id=999) == set()


async def test_options_or_within_and_across(indexed: SearchProvider) -> None:
    assert await id_set(indexed, options={"Color": ["Red"]}) == {2, 3}
    assert await id_set(indexed, options={"Color": ["Red", "Black"]}) == {1, 2, 3, 4}
    assert await id_set(indexed, options={"Color": ["Red", "Black"], "Size": ["L"]}) == {3, 4}
    assert await id_set(indexed, options={"Color": ["Mauve"]}) == set()


async def test_price_range_is_inclusive_minor_units_of_the_price_list(indexed: SearchProvider) -> None:
    assert await id_set(indexed, price_min=10000, price_max=18900) == {1, 2, 6}
    assert await id_set(indexed, price_min=45000) == {4}
    assert await id_set(indexed, price_max=2900) == {7}
    assert await id_set(indexed, price_list="eur", price_min=18400, price_max=18400) == {1}


async def test_in_stock_only_and_filters_combine(indexed: SearchProvider) -> None:
    assert await id_set(indexed, in_stock_only=True) == {1, 3, 4, 5, 6, 7}
    assert await id_set(indexed, text="light", category_id=FOOTWEAR) == {2}
    assert await id_set(indexed, text="light", category_id=FOOTWEAR, in_stock_only=True) == set()


async def test_only_documents_priced_in_the_price_list_are_found(indexed: SearchProvider) -> None:
    assert await id_set(indexed, price_list="eur") == {1, 2, 3, 5, 6, 7}
    assert (await find(indexed, price_list="gbp")).total == 0


async def test_hits_carry_the_price_of_the_queried_list(indexed: SearchProvider) -> None:
    usd = (await find(indexed, text="parka")).hits[0]
    assert (usd.id, usd.price, usd.currency, usd.handle, usd.brand, usd.in_stock) == (
        4, 45000, "USD", "product-4", "Northline", True,
    )  # fmt: skip
    eur = (await find(indexed, price_list="eur", text="boots")).hits[0]
    assert (eur.id, eur.price, eur.currency, eur.image_url, eur.image_alt) == (
        1,
        18400,
        "EUR",
        "/img/1.jpg",
        "Product 1",
    )


# -- facets --------------------------------------------------------------------------------------------------------


async def test_facets_count_the_filtered_set_with_labels(indexed: SearchProvider) -> None:
    result = await find(indexed, category_id=APPAREL)
    assert counts(result, "category") == {"1": 3, "2": 2}
    assert [(v.value, v.label) for v in result.facets["category"]] == [("1", "Apparel"), ("2", "Jackets & Coats")]
    assert counts(result, "brand") == {"Alpina": 1, "Northline": 1, "Woolly": 1}
    assert counts(result, "option:Size") == {"S": 2, "M": 3, "L": 2, "XL": 1}
    assert list(result.facets) == ["category", "brand", "option:Color", "option:Size", "price"]


async def test_disjunctive_facets_ignore_their_own_filter_only(indexed: SearchProvider) -> None:
    result = await find(indexed, brands=["Alpina"], options={"Color": ["Red"]})
    assert [hit.id for hit in result.hits] == [3]
    assert counts(result, "brand") == {"Alpina": 1, "Fleetfoot": 1}  # Red, any brand
    assert counts(result, "option:Color") == {"Black": 1, "Brown": 1, "Red": 1, "Yellow": 1}  # Alpina, any color
    assert counts(result, "option:Size") == {"S": 1, "M": 1, "L": 1}  # both filters
    assert counts(result, "price") == {"20000-40000": 1}


async def test_facet_values_sort_by_count_then_label(indexed: SearchProvider) -> None:
    colors = (await find(indexed, facets=["option:Color"])).facets["option:Color"]
    assert [v.value for v in colors] == ["Black", "Blue", "Red", "Brown", "Green", "Grey", "Yellow"]
    assert (await find(indexed, facets=["brand"])).facets.keys() == {"brand"}
    assert (await find(indexed, facets=[])).facets == {}
    assert (await find(indexed, facets=["option:Weight"])).facets == {"option:Weight": []}


async def test_price_buckets_in_price_order(indexed: SearchProvider) -> None:
    buckets = (await find(indexed, facets=["price"])).facets["price"]
    assert [(v.value, v.label, v.count) for v in buckets] == [
        ("0-5000", "0 – 50", 2),
        ("10000-20000", "100 – 200", 3),
        ("20000-40000", "200 – 400", 1),
        ("40000-", "400+", 1),
    ]
    assert counts(await find(indexed, price_list="eur", price_max=9999, facets=["price"]), "price") == {
        "0-5000": 2,
        "5000-10000": 1,
    }


# -- sorting and pages ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("price_asc", [7, 5, 6, 2, 1, 3, 4]),
        ("price_desc", [4, 3, 1, 2, 6, 5, 7]),
        ("newest", [7, 6, 5, 4, 3, 2, 1]),
        ("title", [6, 4, 1, 5, 3, 7, 2]),
    ],
)
async def test_sorts(indexed: SearchProvider, sort: str, expected: list[int]) -> None:
    assert await ids(indexed, sort=sort) == expected


async def test_sorts_are_strict_on_text_matches_and_per_price_list(indexed: SearchProvider) -> None:
    assert await ids(indexed, text="light", sort="price_desc") == [2, 6]
    assert await ids(indexed, text="light", sort="newest") == [6, 2]
    assert await ids(indexed, price_list="eur", sort="price_asc") == [7, 5, 6, 2, 1, 3]


async def test_pages_cover_every_match_once(indexed: SearchProvider) -> None:
    pages = [await find(indexed, sort="price_asc", per_page=3, page=n) for n in (1, 2, 3, 4)]
    assert [[hit.id for hit in p.hits] for p in pages] == [[7, 5, 6], [2, 1, 3], [4], []]
    assert {p.total for p in pages} == {7}
    assert (pages[1].page, pages[1].per_page) == (2, 3)
    result = await find(indexed, category_id=APPAREL, per_page=1)
    assert (result.total, len(result.hits)) == (3, 1)


# -- index maintenance ---------------------------------------------------------------------------------------------


async def test_index_replaces_by_id(indexed: SearchProvider) -> None:
    await indexed.index_documents([document(1, title="Approach Shoe", options={"Color": ["Orange"]}, usd=9900)])
    assert await id_set(indexed, text="summit") == {7}
    assert await id_set(indexed, text="approach") == {1}
    result = await find(indexed)
    assert result.total == 7
    assert "Brown" not in counts(result, "option:Color") and counts(result, "option:Color")["Orange"] == 1
    assert str(BOOTS) not in counts(result, "category")
    assert (await find(indexed, text="approach")).hits[0].price == 9900


async def test_last_duplicate_in_a_batch_wins(provider: SearchProvider) -> None:
    await provider.index_documents([document(1, title="First"), document(1, title="Second")])
    assert [hit.title for hit in (await find(provider)).hits] == ["Second"]


async def test_delete_documents(indexed: SearchProvider) -> None:
    await indexed.delete_documents([2, 4, 999])
    result = await find(indexed)
    assert {hit.id for hit in result.hits} == {1, 3, 5, 6, 7}
    assert "Fleetfoot" not in counts(result, "brand")
    assert await id_set(indexed, text="parka") == set()
    await indexed.delete_documents([])


async def test_clear_keeps_the_index_usable(indexed: SearchProvider) -> None:
    await indexed.clear()
    result = await find(indexed)
    assert (result.total, result.hits, result.facets["brand"]) == (0, [], [])
    await indexed.index_documents([document(1)])
    assert await ids(indexed, sort="price_asc") == [1]


async def test_a_new_price_list_is_searchable_and_sortable(indexed: SearchProvider) -> None:
    await indexed.index_documents(
        [document(8, prices={"usd": 500, "gbp": 400}, currency_by_price_list={"usd": "USD", "gbp": "GBP"})]
    )
    result = await find(indexed, price_list="gbp", sort="price_desc", price_max=400)
    assert [(hit.id, hit.price, hit.currency) for hit in result.hits] == [(8, 400, "GBP")]


async def test_documents_and_settings_are_checked_alike(provider: SearchProvider) -> None:
    from connectors.errors import VendorRejected

    with pytest.raises(VendorRejected, match="gbp"):
        await provider.index_documents([document(1, prices={"usd": 100, "gbp": 90})])
    for settings in (IndexSettings(searchable=[]), IndexSettings(filterable=["color"]), IndexSettings(sortable=["x"])):
        with pytest.raises(VendorRejected):
            await provider.apply_settings(settings)
