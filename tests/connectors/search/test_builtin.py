"""The built-in search on SQLite FTS5: text, filters, disjunctive facets, sorts and pages on a small catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import ValidationError

from connectors.errors import VendorRejected
from connectors.search.base import IndexSettings, SearchDocument, SearchQuery, SearchResult
from connectors.search.builtin import BuiltinSearch, fts_match

pytestmark = pytest.mark.anyio

DocFactory = Callable[..., SearchDocument]
APPAREL, JACKETS, FOOTWEAR, BOOTS, GEAR, PACKS = 1, 2, 3, 4, 5, 6


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_doc() -> DocFactory:
    def make(doc_id: int, **fields: Any) -> SearchDocument:
        usd = fields.pop("usd", 10000)
        eur = fields.pop("eur", usd - 500)
        prices = {"usd": usd} | ({"eur": eur} if eur is not None else {})
        values: dict[str, Any] = {
            "id": doc_id,
            "handle": f"product-{doc_id}",
            "title": f"Product {doc_id}",
            "description": "",
            "brand": "Alpina",
            "category_ids": [GEAR],
            "category_names": ["Gear"],
            "options": {},
            "prices": prices,
            "currency_by_price_list": {"usd": "USD", "eur": "EUR"},
            "image_url": f"/img/{doc_id}.jpg",
            "image_alt": f"Product {doc_id}",
            "in_stock": True,
            "created_at": 1_700_000_000 + doc_id * 1000,
        }
        return SearchDocument(**(values | fields))

    return make


@pytest.fixture
def catalog(make_doc: DocFactory) -> list[SearchDocument]:
    return [
        make_doc(
            1,
            title="Hiking Boots Summit GTX",
            description="Leather uppers and a grippy sole for rocky trails.",
            category_ids=[FOOTWEAR, BOOTS],
            category_names=["Footwear", "Hiking Boots"],
            options={"Color": ["Brown", "Black"], "Size": ["42", "43", "44"]},
            usd=18900,
        ),
        make_doc(
            2,
            title="Trail Runner Lite",
            brand="Fleetfoot",
            description="A light shoe for fast days on the trail.",
            category_ids=[FOOTWEAR],
            category_names=["Footwear"],
            options={"Color": ["Blue", "Red"], "Size": ["42", "44"]},
            usd=12900,
            in_stock=False,
        ),
        make_doc(
            3,
            title="Rain Shell Jacket",
            description="Waterproof and breathable, great for hiking in the wet.",
            category_ids=[APPAREL, JACKETS],
            category_names=["Apparel", "Jackets & Coats"],
            options={"Color": ["Red", "Yellow"], "Size": ["S", "M", "L"]},
            usd=24900,
        ),
        make_doc(
            4,
            title="Down Parka",
            brand="Northline",
            description="Goose down for the coldest belay stance.",
            category_ids=[APPAREL, JACKETS],
            category_names=["Apparel", "Jackets & Coats"],
            options={"Color": ["Black"], "Size": ["M", "L", "XL"]},
            usd=45000,
            eur=None,
        ),
        make_doc(
            5,
            title="Merino Base Layer",
            brand="Woolly",
            description="Soft wool next to the skin.",
            category_ids=[APPAREL],
            category_names=["Apparel"],
            options={"Color": ["Grey"], "Size": ["S", "M"]},
            usd=4900,
        ),
        make_doc(
            6,
            title="Daypack 20L",
            brand="Northline",
            description="A light backpack for day hikes.",
            category_ids=[GEAR, PACKS],
            category_names=["Gear", "Backpacks"],
            options={"Color": ["Blue"]},
            usd=10000,
        ),
        make_doc(
            7,
            title="Thermos Café",
            brand="Über Gear",
            description="Keeps coffee hot from the car park to the summit.",
            options={"Color": ["Green"]},
            usd=2900,
        ),
    ]


@pytest.fixture(params=["memory", "file"])
async def search(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BuiltinSearch]:
    engine = BuiltinSearch(":memory:" if request.param == "memory" else str(tmp_path / "search.sqlite3"))
    yield engine
    engine.close()


@pytest.fixture
async def indexed(search: BuiltinSearch, catalog: list[SearchDocument]) -> BuiltinSearch:
    await search.index_documents(catalog)
    return search


async def find(search: BuiltinSearch, **query: Any) -> SearchResult:
    return await search.search(SearchQuery(**({"price_list": "usd"} | query)))


async def ids(search: BuiltinSearch, **query: Any) -> list[int]:
    return [hit.id for hit in (await find(search, per_page=100, **query)).hits]


def counts(result: SearchResult, facet: str) -> dict[str, int]:
    return {v.value: v.count for v in result.facets[facet]}


# -- text ---------------------------------------------------------------------------------------------------------


async def test_each_term_matches_as_a_prefix(indexed: BuiltinSearch) -> None:
    assert await ids(indexed, text="hik boo") == [1]
    assert await ids(indexed, text="HIKING") == [1, 3]


async def test_title_outranks_description(indexed: BuiltinSearch) -> None:
    # 1 has "hiking" in its title, 3 only in its description; "summit" likewise for 1 and 7.
    assert await ids(indexed, text="hiking") == [1, 3]
    assert await ids(indexed, text="summit") == [1, 7]


async def test_brand_and_category_names_are_searched(indexed: BuiltinSearch) -> None:
    assert sorted(await ids(indexed, text="northline")) == [4, 6]
    assert await ids(indexed, text="backpacks") == [6]


async def test_unicode_and_diacritics(indexed: BuiltinSearch) -> None:
    assert await ids(indexed, text="über") == [7]
    assert await ids(indexed, text="cafe") == [7]
    assert await ids(indexed, text="Café") == [7]


async def test_empty_text_is_every_document_in_id_order(indexed: BuiltinSearch) -> None:
    assert await ids(indexed) == [1, 2, 3, 4, 5, 6, 7]
    assert await ids(indexed, text="   ") == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '"hiking',
        "hik*",
        "*",
        "AND",
        "hiking AND",
        "OR NOT",
        "(",
        "hiking)",
        "-boots",
        "NEAR(hiking boots)",
        "title:hiking",
        "{title}: x",
        "^hiking",
        "a'b",
        "\\",
        "%_",
        "🥾 boots",
        "ß",
        "日本語",
        "x" * 200,  # the longest text a SearchQuery admits
        " ".join(["w"] * 100),  # far more terms than the engine uses
        "\x00",
    ],
)
async def test_hostile_text_never_raises(indexed: BuiltinSearch, text: str) -> None:
    result = await find(indexed, text=text)
    assert result.total == len(result.hits)


async def test_fts_syntax_becomes_plain_words(indexed: BuiltinSearch) -> None:
    assert await ids(indexed, text='"hiking') == [1, 3]
    assert await ids(indexed, text="NEAR(hiking boots)") == []  # "near" is a word no document has
    assert fts_match('a "b" NEAR(c)', ["title", "brand", "category_names", "description"]) == '"a"* "b"* "NEAR"* "c"*'
    assert fts_match("*()", ["title"]) is None


# -- filters ------------------------------------------------------------------------------------------------------


async def test_category_includes_descendants(indexed: BuiltinSearch) -> None:
    assert await ids(indexed, category_id=APPAREL) == [3, 4, 5]
    assert await ids(indexed, category_id=JACKETS) == [3, 4]
    assert await ids(indexed, category_id=999) == []


async def test_options_or_within_and_across(indexed: BuiltinSearch) -> None:
    assert await ids(indexed, options={"Color": ["Red"]}) == [2, 3]
    assert await ids(indexed, options={"Color": ["Red", "Black"]}) == [1, 2, 3, 4]
    assert await ids(indexed, options={"Color": ["Red", "Black"], "Size": ["L"]}) == [3, 4]
    assert await ids(indexed, options={"Color": ["Red"], "Size": ["XL"]}) == []
    assert await ids(indexed, options={"Color": ["Mauve"]}) == []
    assert await ids(indexed, options={"Color": []}) == [1, 2, 3, 4, 5, 6, 7]


async def test_absurd_filters_are_rejected(indexed: BuiltinSearch) -> None:
    # The query contract bounds them before any vendor sees them.
    with pytest.raises(ValidationError):
        await find(indexed, options={f"Option{i}": ["x"] for i in range(100)})
    with pytest.raises(ValidationError):
        await find(indexed, brands=[f"Brand {i}" for i in range(1000)])
    with pytest.raises(ValidationError):
        await find(indexed, options={"Color": [f"c{i}" for i in range(300)]})


async def test_brands_or(indexed: BuiltinSearch) -> None:
    assert await ids(indexed, brands=["Northline"]) == [4, 6]
    assert await ids(indexed, brands=["Northline", "Fleetfoot"]) == [2, 4, 6]


async def test_price_bounds_are_inclusive(indexed: BuiltinSearch) -> None:
    assert await ids(indexed, price_min=10000, price_max=18900) == [1, 2, 6]
    assert await ids(indexed, price_min=45000) == [4]
    assert await ids(indexed, price_max=2900) == [7]


async def test_in_stock_only(indexed: BuiltinSearch) -> None:
    assert await ids(indexed, in_stock_only=True) == [1, 3, 4, 5, 6, 7]


async def test_filters_combine_with_text(indexed: BuiltinSearch) -> None:
    assert await ids(indexed, text="light", category_id=FOOTWEAR, in_stock_only=True) == []
    assert await ids(indexed, text="light", category_id=FOOTWEAR) == [2]


async def test_documents_without_a_price_in_the_price_list_are_left_out(indexed: BuiltinSearch) -> None:
    assert await ids(indexed, price_list="eur") == [1, 2, 3, 5, 6, 7]
    assert (await find(indexed, price_list="eur", facets=["brand"])).facets["brand"][0].count == 2
    assert (await find(indexed, price_list="gbp")).total == 0


async def test_hit_carries_the_price_of_the_queried_list(indexed: BuiltinSearch) -> None:
    usd = (await find(indexed, text="parka")).hits[0]
    assert (usd.price, usd.currency, usd.handle, usd.brand, usd.in_stock) == (
        45000,
        "USD",
        "product-4",
        "Northline",
        True,
    )
    eur = (await find(indexed, price_list="eur", text="boots")).hits[0]
    assert (eur.id, eur.price, eur.currency, eur.image_url) == (1, 18400, "EUR", "/img/1.jpg")


# -- facets -------------------------------------------------------------------------------------------------------


async def test_facets_count_the_filtered_set(indexed: BuiltinSearch) -> None:
    result = await find(indexed, category_id=APPAREL)
    assert counts(result, "category") == {"1": 3, "2": 2}
    assert [(v.value, v.label) for v in result.facets["category"]] == [("1", "Apparel"), ("2", "Jackets & Coats")]
    assert counts(result, "brand") == {"Alpina": 1, "Northline": 1, "Woolly": 1}
    assert counts(result, "option:Size") == {"S": 2, "M": 3, "L": 2, "XL": 1}


async def test_disjunctive_facets_ignore_their_own_filter(indexed: BuiltinSearch) -> None:
    result = await find(indexed, options={"Color": ["Red"]})
    assert result.total == 2
    assert counts(result, "option:Color") == {
        "Black": 2,
        "Blue": 2,
        "Red": 2,
        "Brown": 1,
        "Green": 1,
        "Grey": 1,
        "Yellow": 1,
    }
    assert counts(result, "brand") == {"Alpina": 1, "Fleetfoot": 1}
    assert counts(result, "category") == {"3": 1, "1": 1, "2": 1}


async def test_disjunctive_facets_keep_the_other_filters(indexed: BuiltinSearch) -> None:
    result = await find(indexed, brands=["Alpina"], options={"Color": ["Red"]})
    assert [hit.id for hit in result.hits] == [3]
    assert counts(result, "brand") == {"Alpina": 1, "Fleetfoot": 1}  # Red, any brand
    assert counts(result, "option:Color") == {"Black": 1, "Brown": 1, "Red": 1, "Yellow": 1}  # Alpina
    assert counts(result, "option:Size") == {"S": 1, "M": 1, "L": 1}  # both filters
    assert counts(result, "price") == {"20000-40000": 1}


async def test_facet_values_sort_by_count_then_label(indexed: BuiltinSearch) -> None:
    colors = (await find(indexed, facets=["option:Color"])).facets["option:Color"]
    assert [v.value for v in colors] == ["Black", "Blue", "Red", "Brown", "Green", "Grey", "Yellow"]
    assert all(v.label == v.value for v in colors)


async def test_only_requested_facets_are_returned(indexed: BuiltinSearch) -> None:
    assert (await find(indexed, facets=["brand"])).facets.keys() == {"brand"}
    assert (await find(indexed, facets=[])).facets == {}
    assert (await find(indexed, facets=["option:Weight"])).facets == {"option:Weight": []}


async def test_price_buckets(indexed: BuiltinSearch) -> None:
    buckets = (await find(indexed, facets=["price"])).facets["price"]
    # In price order, empty buckets (5000-10000) left out; 10000 falls in [10000, 20000).
    assert [(v.value, v.label, v.count) for v in buckets] == [
        ("0-5000", "0 – 50", 2),
        ("10000-20000", "100 – 200", 3),
        ("20000-40000", "200 – 400", 1),
        ("40000-", "400+", 1),
    ]


async def test_price_buckets_follow_the_price_filter_and_list(indexed: BuiltinSearch) -> None:
    result = await find(indexed, price_list="eur", price_max=9999, facets=["price"])
    assert counts(result, "price") == {"0-5000": 2, "5000-10000": 1}


# -- sorting and pages --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("relevance", [1, 2, 3, 4, 5, 6, 7]),
        ("price_asc", [7, 5, 6, 2, 1, 3, 4]),
        ("price_desc", [4, 3, 1, 2, 6, 5, 7]),
        ("newest", [7, 6, 5, 4, 3, 2, 1]),
        ("title", [6, 4, 1, 5, 3, 7, 2]),
    ],
)
async def test_sort_orders(indexed: BuiltinSearch, sort: str, expected: list[int]) -> None:
    assert await ids(indexed, sort=sort) == expected


async def test_sorts_apply_to_text_matches(indexed: BuiltinSearch) -> None:
    assert await ids(indexed, text="light", sort="price_desc") == [2, 6]
    assert await ids(indexed, text="light", sort="newest") == [6, 2]


async def test_ties_break_by_id(search: BuiltinSearch, make_doc: DocFactory) -> None:
    await search.index_documents([make_doc(i, usd=5000, title="Same", created_at=1) for i in (9, 3, 5)])
    for sort in ("price_asc", "price_desc", "newest", "title", "relevance"):
        assert await ids(search, sort=sort) == [3, 5, 9]


async def test_pages_cover_every_match_once(indexed: BuiltinSearch) -> None:
    pages = [await find(indexed, sort="price_asc", per_page=3, page=n) for n in (1, 2, 3, 4)]
    assert [[hit.id for hit in p.hits] for p in pages] == [[7, 5, 6], [2, 1, 3], [4], []]
    assert {p.total for p in pages} == {7}
    assert (pages[1].page, pages[1].per_page) == (2, 3)


async def test_total_counts_filtered_matches_not_the_page(indexed: BuiltinSearch) -> None:
    result = await find(indexed, category_id=APPAREL, per_page=1)
    assert (result.total, len(result.hits)) == (3, 1)


# -- index maintenance --------------------------------------------------------------------------------------------


async def test_index_replaces_by_id(indexed: BuiltinSearch, make_doc: DocFactory) -> None:
    await indexed.index_documents([make_doc(1, title="Approach Shoe", options={"Color": ["Orange"]}, usd=9900)])
    assert await ids(indexed, text="hik boo") == []
    assert await ids(indexed, text="approach") == [1]
    result = await find(indexed)
    assert result.total == 7
    assert "Brown" not in counts(result, "option:Color") and counts(result, "option:Color")["Orange"] == 1
    assert counts(result, "category").get(str(BOOTS)) is None
    assert (await find(indexed, text="approach")).hits[0].price == 9900


async def test_last_duplicate_in_a_batch_wins(search: BuiltinSearch, make_doc: DocFactory) -> None:
    await search.index_documents([make_doc(1, title="First"), make_doc(1, title="Second")])
    assert [hit.title for hit in (await find(search)).hits] == ["Second"]


async def test_reindexed_category_names_relabel_the_facet(indexed: BuiltinSearch, make_doc: DocFactory) -> None:
    await indexed.index_documents([make_doc(8, category_ids=[GEAR, PACKS], category_names=["Gear", "Packs"])])
    labels = {v.value: v.label for v in (await find(indexed)).facets["category"]}
    assert labels[str(PACKS)] == "Packs"


async def test_delete_documents(indexed: BuiltinSearch) -> None:
    await indexed.delete_documents([2, 4, 999])
    result = await find(indexed)
    assert [hit.id for hit in result.hits] == [1, 3, 5, 6, 7]
    assert "Fleetfoot" not in counts(result, "brand")
    assert await ids(indexed, text="parka") == []


async def test_clear(indexed: BuiltinSearch, make_doc: DocFactory) -> None:
    await indexed.clear()
    assert (await find(indexed)).total == 0
    assert (await find(indexed)).facets["brand"] == []
    await indexed.index_documents([make_doc(1)])
    assert await ids(indexed) == [1]


async def test_a_price_without_a_currency_is_rejected(search: BuiltinSearch, make_doc: DocFactory) -> None:
    with pytest.raises(VendorRejected, match="gbp"):
        await search.index_documents([make_doc(1, prices={"usd": 100, "gbp": 90})])


async def test_settings_pick_the_searchable_fields(indexed: BuiltinSearch) -> None:
    assert await ids(indexed, text="summit") == [1, 7]
    await indexed.apply_settings(IndexSettings(searchable=["description", "brand"]))
    assert await ids(indexed, text="summit") == [7]
    assert await ids(indexed, text="woolly") == [5]
    await indexed.apply_settings(IndexSettings())
    assert await ids(indexed, text="summit") == [1, 7]


@pytest.mark.parametrize(
    "settings",
    [
        IndexSettings(searchable=["title", "sku"]),
        IndexSettings(searchable=[]),
        IndexSettings(filterable=["color"]),
        IndexSettings(sortable=["popularity"]),
    ],
)
async def test_unknown_settings_are_rejected(search: BuiltinSearch, settings: IndexSettings) -> None:
    with pytest.raises(VendorRejected):
        await search.apply_settings(settings)


# -- storage ------------------------------------------------------------------------------------------------------


async def test_concurrent_searches_agree(indexed: BuiltinSearch) -> None:
    results: list[list[int]] = []

    async def one() -> None:
        results.append(await ids(indexed, text="hiking", options={"Color": ["Red", "Black"]}))

    async with anyio.create_task_group() as tg:
        for _ in range(12):
            tg.start_soon(one)
    assert results == [[1, 3]] * 12


async def test_a_file_index_survives_a_restart(tmp_path: Path, catalog: list[SearchDocument]) -> None:
    path = str(tmp_path / "search.sqlite3")
    first = BuiltinSearch(path)
    await first.index_documents(catalog)
    await first.apply_settings(IndexSettings(searchable=["description"]))
    first.close()
    second = BuiltinSearch(path)
    try:
        assert await ids(second, text="summit") == [7]
        assert (await find(second)).total == 7
    finally:
        second.close()


# -- cached totals and facets ---------------------------------------------------------------------------------------


async def test_paging_reuses_totals_and_facets_but_a_write_retires_them(
    indexed: BuiltinSearch, make_doc: DocFactory
) -> None:
    first = await find(indexed, brands=["Alpina"], per_page=2)
    second_page = await find(indexed, brands=["Alpina"], per_page=2, page=2, sort="title")
    assert (second_page.total, second_page.facets) == (first.total, first.facets)
    await indexed.index_documents([make_doc(9001, brand="Alpina")])
    after = await find(indexed, brands=["Alpina"], per_page=2)
    assert after.total == first.total + 1
    assert counts(after, "brand")["Alpina"] == counts(first, "brand")["Alpina"] + 1


async def test_a_write_by_another_process_retires_cached_facets(tmp_path: Path, make_doc: DocFactory) -> None:
    path = str(tmp_path / "shared.sqlite3")
    server, indexer = BuiltinSearch(path), BuiltinSearch(path)
    try:
        await indexer.index_documents([make_doc(1), make_doc(2)])
        assert (await find(server)).total == 2
        await indexer.index_documents([make_doc(3)])
        assert (await find(server)).total == 3
        await indexer.delete_documents([1])
        assert (await find(server)).total == 2
    finally:
        server.close()
        indexer.close()
