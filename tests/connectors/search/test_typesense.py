"""Typesense adapter: query-string searches, schema, JSON-lines imports and errors, from the vendor pack
(`tests/fixtures/vendors/typesense/`, vendor-contracts/typesense.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from connectors.errors import NotFound, VendorMisconfigured, VendorRejected, VendorUnavailable
from connectors.http import VendorHttpSettings
from connectors.search.base import IndexSettings, SearchDocument, SearchQuery
from connectors.search.documents import vendor_document
from connectors.search.typesense import TypesenseSearch, build, schema_fields
from connectors.settings import TypesenseSettings

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendors" / "typesense"
URL = "http://typesense.test:8108"
COLLECTION = f"{URL}/collections/products"
SEARCH = f"{COLLECTION}/documents/search"
IMPORT = f"{COLLECTION}/documents/import"


def pack(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def typesense(sleeps: Sleeps) -> Any:
    settings = TypesenseSettings(url=URL, api_key="ts-key", http=VendorHttpSettings(retries=2))
    adapter = TypesenseSearch(settings, sleep=sleeps)
    yield adapter
    await adapter.aclose()


def doc(doc_id: int = 42, **fields: Any) -> SearchDocument:
    values: dict[str, Any] = {
        "id": doc_id, "handle": "linen-shirt", "title": "Linen shirt", "description": "", "brand": "Acme",
        "category_ids": [1], "category_names": ["Shirts"], "options": {"Color": ["White"]},
        "prices": {"usd": 4999}, "currency_by_price_list": {"usd": "USD"},
        "image_url": "/img/42.jpg", "image_alt": "A shirt", "in_stock": True, "created_at": 1_700_000_000,
    }  # fmt: skip
    return SearchDocument(**(values | fields))


def answer(documents: list[dict[str, Any]], found: int, facet_counts: list[dict[str, Any]]) -> dict[str, Any]:
    """The pack's search answer with our documents in the hits."""
    base = pack("search_response.json")
    hits = [base["hits"][0] | {"document": d} for d in documents]
    return base | {"hits": hits, "found": found, "facet_counts": facet_counts}


def facet(field: str, counts: dict[str, int]) -> dict[str, Any]:
    rows = [{"count": n, "highlighted": v, "value": v} for v, n in counts.items()]
    return {"field_name": field, "counts": rows, "sampled": False, "stats": {"total_values": len(rows)}}


@respx.mock
async def test_search_is_a_get_with_query_string_parameters(typesense: TypesenseSearch) -> None:
    facets = [facet("category_values", {"1:Shirts": 17}), facet("price_ranges", {"usd:0-5000": 17, "eur:0-5000": 3})]
    route = respx.get(SEARCH).mock(
        return_value=httpx.Response(200, json=answer([vendor_document(doc(), "typesense")], 17, facets))
    )
    result = await typesense.search(
        SearchQuery(
            text="linen shirt",
            price_list="usd",
            category_id=1,
            price_min=2000,
            price_max=8000,
            in_stock_only=True,
            sort="price_asc",
            page=2,
            per_page=10,
            facets=["category", "price"],
        )
    )
    request = route.calls[0].request
    assert request.headers["x-typesense-api-key"] == "ts-key"
    assert dict(request.url.params) == {
        "q": "linen shirt",
        "query_by": "title,brand,category_names,description",
        "filter_by": "price_lists:=[`usd`] && category_ids:=1 && amount_usd:>=2000 && amount_usd:<=8000"
                     " && in_stock:=true",
        "page": "2",
        "per_page": "10",
        "include_fields": "id,handle,title,brand,image_url,image_alt,in_stock,amount_usd,currency_usd",
        "sort_by": "amount_usd:asc",
        "facet_by": "category_values,price_ranges",
        "max_facet_values": "1000",
    }  # fmt: skip
    assert (result.total, [(h.id, h.price, h.currency) for h in result.hits]) == (17, [(42, 4999, "USD")])
    assert [(v.value, v.label, v.count) for v in result.facets["category"]] == [("1", "Shirts", 17)]
    assert [(v.value, v.count) for v in result.facets["price"]] == [("0-5000", 17)]


@respx.mock
async def test_any_of_filters_and_their_facet_passes(typesense: TypesenseSearch) -> None:
    route = respx.get(SEARCH).mock(side_effect=lambda request: httpx.Response(200, json=answer([], 0, [])))
    await typesense.search(
        SearchQuery(price_list="usd", brands=["Acme", "Über Gear"], options={"Size": ["M, tall"]}, facets=["brand"])
    )
    sent = sorted((dict(call.request.url.params) for call in route.calls), key=lambda p: p.get("facet_by", ""))
    assert sent[0]["q"] == "*"  # no text: every document
    assert (
        sent[0]["filter_by"]
        == "price_lists:=[`usd`] && brand:=[`Acme`, `Über Gear`] && option_values:=[`Size:M, tall`]"
    )
    assert sent[1] == {
        "q": "*",
        "query_by": "title,brand,category_names,description",
        "filter_by": "price_lists:=[`usd`] && option_values:=[`Size:M, tall`]",
        "facet_by": "brand",
        "max_facet_values": "1000",
        "per_page": "0",
    }


async def test_a_value_with_a_backtick_cannot_be_filtered(typesense: TypesenseSearch) -> None:
    with pytest.raises(VendorRejected, match="backtick"):
        await typesense.search(SearchQuery(price_list="usd", brands=["A`B"]))


@respx.mock
async def test_import_sends_json_lines_and_checks_every_line(typesense: TypesenseSearch) -> None:
    route = respx.post(IMPORT, params={"action": "upsert"}).mock(
        return_value=httpx.Response(200, text=(FIXTURES / "import.response.jsonl").read_text())
    )
    with pytest.raises(
        VendorRejected, match=r"1 of 2 documents refused.*Field `price` must be a float\. \(document SHIRT-X\)"
    ):
        await typesense.index_documents([doc(), doc(7, title="Other")])
    request = route.calls[0].request
    assert request.headers["content-type"] == "application/octet-stream"
    lines = request.content.decode().split("\n")
    assert [json.loads(line) for line in lines] == [
        vendor_document(doc(), "typesense"),
        vendor_document(doc(7, title="Other"), "typesense"),
    ]
    route.mock(return_value=httpx.Response(200, text='{"success": true}\n{"success": true}'))
    await typesense.index_documents([doc(), doc(7)])


@respx.mock
async def test_apply_settings_creates_the_collection(typesense: TypesenseSearch) -> None:
    respx.get(COLLECTION).mock(return_value=httpx.Response(404, json=pack("error.404.json")))
    create = respx.post(f"{URL}/collections").mock(return_value=httpx.Response(201, json={}))
    await typesense.apply_settings(IndexSettings())
    assert json.loads(create.calls[0].request.content) == {
        "name": "products",
        "fields": [
            {"name": "title", "type": "string", "facet": False, "optional": False, "sort": True},
            {"name": "description", "type": "string", "facet": False, "optional": False, "sort": False},
            {"name": "brand", "type": "string", "facet": True, "optional": False, "sort": False},
            {"name": "category_names", "type": "string[]", "facet": False, "optional": False, "sort": False},
            {"name": "category_ids", "type": "int64[]", "facet": False, "optional": False, "sort": False},
            {"name": "category_values", "type": "string[]", "facet": True, "optional": False, "sort": False},
            {"name": "option_values", "type": "string[]", "facet": True, "optional": False, "sort": False},
            {"name": "price_lists", "type": "string[]", "facet": False, "optional": False, "sort": False},
            {"name": "price_ranges", "type": "string[]", "facet": True, "optional": False, "sort": False},
            {"name": "amount_.*", "type": "int64", "facet": False, "optional": True, "sort": True},
            {"name": "in_stock", "type": "bool", "facet": False, "optional": False, "sort": False},
            {"name": "created_at", "type": "int64", "facet": False, "optional": False, "sort": True},
        ],
    }


@respx.mock
async def test_apply_settings_alters_only_the_fields_that_differ(typesense: TypesenseSearch) -> None:
    current = schema_fields(IndexSettings())
    current[2] = {"name": "brand", "type": "string", "facet": True, "index": True, "infix": False}  # as GET shows it
    respx.get(COLLECTION).mock(return_value=httpx.Response(200, json={"name": "products", "fields": current[:-1]}))
    alter = respx.patch(COLLECTION).mock(return_value=httpx.Response(200, json={}))
    await typesense.apply_settings(IndexSettings(filterable=["category_ids", "options", "prices", "in_stock"]))
    brand = {"name": "brand", "type": "string", "facet": False, "optional": False, "sort": False}
    created = {"name": "created_at", "type": "int64", "facet": False, "optional": False, "sort": True}
    assert json.loads(alter.calls[0].request.content) == {"fields": [{"name": "brand", "drop": True}, brand, created]}


@respx.mock
async def test_clear_recreates_the_collection_with_its_fields(typesense: TypesenseSearch) -> None:
    fields = schema_fields(IndexSettings())
    respx.get(COLLECTION).mock(return_value=httpx.Response(200, json={"name": "products", "fields": fields}))
    drop = respx.delete(COLLECTION).mock(return_value=httpx.Response(200, json={}))
    create = respx.post(f"{URL}/collections").mock(return_value=httpx.Response(201, json={}))
    await typesense.clear()
    assert drop.call_count == 1
    assert json.loads(create.calls[0].request.content) == {"name": "products", "fields": fields}


@respx.mock
async def test_delete_documents_one_by_one_and_gone_is_fine(typesense: TypesenseSearch) -> None:
    gone = respx.delete(f"{COLLECTION}/documents/3").mock(return_value=httpx.Response(404, json=pack("error.404.json")))
    here = respx.delete(f"{COLLECTION}/documents/7").mock(return_value=httpx.Response(200, json={"id": "7"}))
    await typesense.delete_documents([7, 3, 7])
    assert (gone.call_count, here.call_count) == (1, 1)


@respx.mock
async def test_errors(typesense: TypesenseSearch, sleeps: Sleeps) -> None:
    query = SearchQuery(price_list="usd", facets=[])
    route = respx.get(SEARCH)
    route.mock(return_value=httpx.Response(400, json=pack("error.400.json")))
    with pytest.raises(VendorRejected, match="Could not find a field named `brand`"):
        await typesense.search(query)
    route.mock(return_value=httpx.Response(404, json=pack("error.404.json")))
    with pytest.raises(NotFound, match="collection 'products'"):
        await typesense.search(query)
    route.mock(
        return_value=httpx.Response(
            401, json={"message": "Forbidden - a valid `x-typesense-api-key` header must be sent."}
        )
    )
    with pytest.raises(VendorMisconfigured):
        await typesense.search(query)
    route.mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(503),
            httpx.Response(200, json=answer([], 0, [])),
        ]
    )
    assert (await typesense.search(query)).total == 0
    assert sleeps.waits[0] == 3.0
    route.mock(return_value=httpx.Response(503))
    with pytest.raises(VendorUnavailable):
        await typesense.search(query)
    route.mock(return_value=httpx.Response(200, json=pack("search_response.json")))  # the pack's shirts
    with pytest.raises(VendorMisconfigured, match="did not write"):
        await typesense.search(query)


def test_build() -> None:
    adapter = build(TypesenseSettings(url=URL, api_key="ts-key", collection="shop"))
    assert adapter.vendor == "typesense" and adapter.client.headers == {"X-TYPESENSE-API-KEY": "ts-key"}
