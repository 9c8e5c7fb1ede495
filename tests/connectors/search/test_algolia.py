"""Algolia adapter: hosts, headers, request bodies, tasks and errors, from the vendor pack
(`tests/fixtures/vendors/algolia/`, vendor-contracts/algolia.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from connectors.errors import NotFound, VendorMisconfigured, VendorRejected, VendorTimeout
from connectors.http import VendorHttpSettings
from connectors.search.algolia import AlgoliaSearch, build
from connectors.search.base import IndexSettings, SearchDocument, SearchQuery
from connectors.search.documents import vendor_document
from connectors.settings import AlgoliaSettings

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendors" / "algolia"
READ = "https://appid42-dsn.algolia.net"
WRITE = "https://appid42.algolia.net"
TASK_ID = 1514562690001
RETRIEVE = ["id", "handle", "title", "brand", "image_url", "image_alt", "in_stock", "amount_usd", "currency_usd"]
FACETING = ["filterOnly(price_lists)", "filterOnly(category_ids)", "category_values", "brand", "option_values",
            "price_ranges", "filterOnly(in_stock)"]  # fmt: skip
TIES = ["typo", "geo", "words", "filters", "proximity", "attribute", "exact", "custom"]


def pack(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class Time:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def time_() -> Time:
    return Time()


@pytest.fixture
async def algolia(time_: Time) -> Any:
    settings = AlgoliaSettings(
        app_id="APPID42", api_key="admin-key", task_timeout_seconds=3, http=VendorHttpSettings(retries=2)
    )
    adapter = AlgoliaSearch(settings, sleep=time_.sleep, clock=time_.clock)
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


def hit(doc_id: int = 42, **fields: Any) -> dict[str, Any]:
    record = vendor_document(doc(doc_id, **fields), "algolia")
    return {"objectID": record["id"], **{k: record[k] for k in RETRIEVE}, "_highlightResult": {}}


def answer(hits: list[dict[str, Any]], nb_hits: int, facets: dict[str, Any]) -> dict[str, Any]:
    """The pack's query answer with our records as hits."""
    return pack("query.response.json") | {"hits": hits, "nbHits": nb_hits, "facets": facets, "page": 0}


def body(route: respx.Route, n: int = 0) -> Any:
    return json.loads(route.calls[n].request.content)


@respx.mock
async def test_search_goes_to_the_read_host_with_both_headers(algolia: AlgoliaSearch) -> None:
    facets = {"category_values": {"1:Shirts": 17}, "brand": {"Acme": 17}, "option_values": {"Color:White": 9},
              "price_ranges": {"usd:0-5000": 12, "usd:5000-10000": 5, "eur:0-5000": 17}}  # fmt: skip
    route = respx.post(f"{READ}/1/indexes/products/query").mock(
        return_value=httpx.Response(200, json=answer([hit(), hit(7, title="Blue linen shirt")], 17, facets))
    )
    result = await algolia.search(
        SearchQuery(
            text="linen shirt",
            price_list="usd",
            category_id=1,
            price_min=2000,
            price_max=8000,
            in_stock_only=True,
            page=2,
            per_page=2,
        )
    )
    request = route.calls[0].request
    assert request.headers["x-algolia-application-id"] == "APPID42"
    assert request.headers["x-algolia-api-key"] == "admin-key"
    assert body(route) == {
        "query": "linen shirt",
        "filters": 'price_lists:"usd" AND category_ids:1 AND amount_usd >= 2000 AND amount_usd <= 8000'
                   " AND in_stock:true",
        "page": 1,  # 0-based
        "hitsPerPage": 2,
        "attributesToRetrieve": RETRIEVE,
        "attributesToHighlight": [],
        "facets": ["category_values", "brand", "option_values", "price_ranges"],
        "maxValuesPerFacet": 1000,
    }  # fmt: skip
    assert (result.total, result.page, result.per_page) == (17, 2, 2)
    assert [(h.id, h.title, h.price, h.currency) for h in result.hits] == [
        (42, "Linen shirt", 4999, "USD"), (7, "Blue linen shirt", 4999, "USD"),
    ]  # fmt: skip
    assert [(v.value, v.count) for v in result.facets["price"]] == [("0-5000", 12), ("5000-10000", 5)]
    assert [(v.value, v.label, v.count) for v in result.facets["category"]] == [("1", "Shirts", 17)]


@respx.mock
async def test_brand_and_option_groups_and_their_disjunctive_queries(algolia: AlgoliaSearch) -> None:
    route = respx.post(f"{READ}/1/indexes/products/query").mock(
        side_effect=lambda request: httpx.Response(200, json=answer([], 0, {}))
    )
    await algolia.search(
        SearchQuery(
            price_list="usd",
            brands=["Acme", 'Bob "B"'],
            options={"Color": ["White", "Blue"]},
            facets=["brand", "option:Color"],
        )
    )
    brands = '(brand:"Acme" OR brand:"Bob \\"B\\"")'
    colors = '(option_values:"Color:White" OR option_values:"Color:Blue")'
    sent = sorted((body(route, n) for n in range(3)), key=lambda b: b.get("facets", []))
    assert sent[0]["filters"] == f'price_lists:"usd" AND {brands} AND {colors}' and "facets" not in sent[0]
    facet_only = {"maxValuesPerFacet": 1000, "hitsPerPage": 0, "page": 0, "analytics": False, "query": ""}
    assert sent[1] == facet_only | {"filters": f'price_lists:"usd" AND {colors}', "facets": ["brand"]}
    assert sent[2] == facet_only | {"filters": f'price_lists:"usd" AND {brands}', "facets": ["option_values"]}


@pytest.mark.parametrize(
    ("sort", "index"),
    [("price_asc", "products_price_asc_usd"), ("price_desc", "products_price_desc_usd"),
     ("newest", "products_newest"), ("title", "products_title"), ("relevance", "products")],
)  # fmt: skip
@respx.mock
async def test_a_sort_is_a_replica(algolia: AlgoliaSearch, sort: str, index: str) -> None:
    route = respx.post(f"{READ}/1/indexes/{index}/query").mock(return_value=httpx.Response(200, json=answer([], 0, {})))
    await algolia.search(SearchQuery(price_list="usd", sort=sort, facets=[]))  # type: ignore[arg-type]
    assert route.call_count == 1


@respx.mock
async def test_index_documents_batches_on_the_write_host_and_waits(algolia: AlgoliaSearch, time_: Time) -> None:
    replicas = ["products_price_asc_usd", "products_price_desc_usd", "products_newest", "products_title"]
    respx.get(f"{READ}/1/indexes/products/settings").mock(
        return_value=httpx.Response(200, json={"attributesForFaceting": FACETING, "replicas": replicas})
    )
    batch = respx.post(f"{WRITE}/1/indexes/products/batch").mock(
        return_value=httpx.Response(200, json=pack("batch.response.json"))
    )
    polls = respx.get(f"{READ}/1/indexes/products/task/{TASK_ID}").mock(
        side_effect=[
            httpx.Response(200, json={"status": "notPublished"}),
            *[httpx.Response(200, json=pack("task.response.json"))] * 2,
        ]
    )
    await algolia.index_documents([doc(), doc(7)])
    record = vendor_document(doc(), "algolia")
    assert body(batch)["requests"][0] == {"action": "updateObject", "body": {"objectID": "42", **record}}
    assert [r["body"]["objectID"] for r in body(batch)["requests"]] == ["42", "7"]
    assert batch.calls[0].request.headers["x-algolia-api-key"] == "admin-key"
    assert polls.call_count == 2 and time_.waits == [0.05]  # notPublished, then published
    await algolia.delete_documents([7, 3, 7])
    assert body(batch, 1) == {"requests": [{"action": "deleteObject", "body": {"objectID": "3"}},
                                           {"action": "deleteObject", "body": {"objectID": "7"}}]}  # fmt: skip


@respx.mock
async def test_a_new_price_list_gets_its_replicas_first(algolia: AlgoliaSearch) -> None:
    respx.get(f"{READ}/1/indexes/products/settings").mock(
        return_value=httpx.Response(200, json={"attributesForFaceting": FACETING, "replicas": ["products_newest"]})
    )
    settings = respx.put(url__regex=rf"^{WRITE}/1/indexes/[^/]+/settings$").mock(
        return_value=httpx.Response(200, json={"taskID": TASK_ID, "updatedAt": "2026-01-01T00:00:00.000Z"})
    )
    respx.get(url__regex=rf"^{READ}/1/indexes/[^/]+/task/{TASK_ID}$").mock(
        return_value=httpx.Response(200, json=pack("task.response.json"))
    )
    respx.post(f"{WRITE}/1/indexes/products/batch").mock(
        return_value=httpx.Response(200, json=pack("batch.response.json"))
    )
    await algolia.index_documents([doc()])
    sent = {call.request.url.path: json.loads(call.request.content) for call in settings.calls}
    assert sent["/1/indexes/products/settings"] == {
        "replicas": ["products_newest", "products_price_asc_usd", "products_price_desc_usd"]
    }
    common = {
        "searchableAttributes": ["title", "brand", "category_names", "description"],
        "attributesForFaceting": FACETING,
    }
    assert sent["/1/indexes/products_price_asc_usd/settings"] == common | {"ranking": ["asc(amount_usd)", *TIES]}
    assert sent["/1/indexes/products_price_desc_usd/settings"] == common | {"ranking": ["desc(amount_usd)", *TIES]}


@respx.mock
async def test_apply_settings_sets_the_primary_and_each_replica(algolia: AlgoliaSearch) -> None:
    respx.get(f"{READ}/1/indexes/products/settings").mock(
        return_value=httpx.Response(404, json=pack("error.404.index.json"))
    )
    settings = respx.put(url__regex=rf"^{WRITE}/1/indexes/[^/]+/settings$").mock(
        return_value=httpx.Response(200, json={"taskID": TASK_ID, "updatedAt": "2026-01-01T00:00:00.000Z"})
    )
    respx.get(url__regex=rf"^{READ}/1/indexes/[^/]+/task/{TASK_ID}$").mock(
        return_value=httpx.Response(200, json=pack("task.response.json"))
    )
    await algolia.apply_settings(IndexSettings(searchable=["title"], filterable=["brand"], sortable=["created_at"]))
    sent = [(call.request.url.path, json.loads(call.request.content)) for call in settings.calls]
    primary = {"searchableAttributes": ["title"], "attributesForFaceting": ["filterOnly(price_lists)", "brand"]}
    assert sent == [
        ("/1/indexes/products/settings", primary | {"replicas": ["products_newest"]}),
        ("/1/indexes/products_newest/settings", primary | {"ranking": ["desc(created_at)", *TIES]}),
    ]


@respx.mock
async def test_a_task_never_published(algolia: AlgoliaSearch, time_: Time) -> None:
    respx.post(f"{WRITE}/1/indexes/products/clear").mock(return_value=httpx.Response(200, json={"taskID": TASK_ID}))
    respx.get(f"{READ}/1/indexes/products/task/{TASK_ID}").mock(
        return_value=httpx.Response(200, json={"status": "notPublished"})
    )
    with pytest.raises(VendorTimeout, match="not published after 3 s"):
        await algolia.clear()
    assert time_.now == pytest.approx(3.0)


@respx.mock
async def test_clearing_a_missing_index_is_nothing_to_do(algolia: AlgoliaSearch) -> None:
    route = respx.post(f"{WRITE}/1/indexes/products/clear").mock(
        return_value=httpx.Response(404, json=pack("error.404.index.json"))
    )
    await algolia.clear()
    assert route.call_count == 1


@respx.mock
async def test_errors(algolia: AlgoliaSearch, time_: Time) -> None:
    url = f"{READ}/1/indexes/products/query"
    query = SearchQuery(price_list="usd", facets=[])
    respx.post(url).mock(return_value=httpx.Response(403, json=pack("error.403.json")))
    with pytest.raises(VendorMisconfigured, match="credentials refused"):
        await algolia.search(query)
    respx.post(url).mock(return_value=httpx.Response(404, json=pack("error.404.index.json")))
    with pytest.raises(NotFound, match="Index does not exist"):
        await algolia.search(query)
    respx.post(url).mock(return_value=httpx.Response(400, json={"message": "Unknown attribute brand", "status": 400}))
    with pytest.raises(VendorRejected, match="Unknown attribute brand"):
        await algolia.search(query)
    limited = httpx.Response(
        429, headers={"Retry-After": "1", "x-ratelimit-reset": "1767225600"}, json={"message": "Too many"}
    )
    route = respx.post(url).mock(
        side_effect=[limited, httpx.Response(500), httpx.Response(200, json=answer([], 0, {}))]
    )
    route.calls.clear()
    assert (await algolia.search(query)).total == 0
    assert route.call_count == 3 and time_.waits[0] == 1.0


def test_build_uses_the_documented_hosts_unless_given_one() -> None:
    adapter = build(AlgoliaSettings(app_id="APPID42", api_key="k"))
    assert (adapter.read.base_url, adapter.write.base_url) == (
        "https://APPID42-dsn.algolia.net", "https://APPID42.algolia.net",
    )  # fmt: skip
    proxied = build(AlgoliaSettings(app_id="APPID42", api_key="k", base_url="http://algolia.proxy.test"))
    assert proxied.read.base_url == proxied.write.base_url == "http://algolia.proxy.test/"


@respx.mock
async def test_requests_use_the_packs_parameters(algolia: AlgoliaSearch) -> None:
    """Every key sent appears in the pack (examples or algolia.md), but for the two listed here."""
    documented = set(pack("query.request.json")) | {"attributesToHighlight"}
    beyond_the_pack = {"maxValuesPerFacet", "analytics"}  # Algolia search parameters the pack does not list
    route = respx.post(f"{READ}/1/indexes/products/query").mock(
        return_value=httpx.Response(200, json=answer([], 0, {}))
    )
    await algolia.search(SearchQuery(price_list="usd", brands=["A"]))
    assert all(set(json.loads(call.request.content)) <= documented | beyond_the_pack for call in route.calls)
    respx.get(f"{READ}/1/indexes/products/settings").mock(
        return_value=httpx.Response(
            200, json={"attributesForFaceting": FACETING, "replicas": ["products_price_asc_usd"]}
        )
    )
    batch = respx.post(f"{WRITE}/1/indexes/products/batch").mock(
        return_value=httpx.Response(200, json=pack("batch.response.json"))
    )
    respx.get(f"{READ}/1/indexes/products/task/{TASK_ID}").mock(
        return_value=httpx.Response(200, json=pack("task.response.json"))
    )
    await algolia.index_documents([doc()])
    example = pack("batch.request.json")["requests"][0]
    sent = body(batch)["requests"][0]
    assert set(sent) == set(example) and sent["action"] == example["action"] and "objectID" in sent["body"]
