"""Meilisearch adapter: the requests it sends and how it reads the answers, from the vendor pack
(`tests/fixtures/vendors/meilisearch/`, vendor-contracts/meilisearch.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from connectors.errors import NotFound, VendorMisconfigured, VendorRejected, VendorTimeout, VendorUnavailable
from connectors.http import VendorHttpSettings
from connectors.search.base import IndexSettings, SearchDocument, SearchQuery
from connectors.search.documents import vendor_document
from connectors.search.meilisearch import MeilisearchSearch, build
from connectors.settings import MeilisearchSettings

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendors" / "meilisearch"
URL = "http://meili.test:7700"
SEARCH = f"{URL}/indexes/products/search"
SETTINGS_URL = f"{URL}/indexes/products/settings"
CONFIGURED = {
    "filterableAttributes": ["price_lists", "category_ids", "category_values", "brand", "option_values",
                             "price_ranges", "amount_usd", "in_stock"],
    "sortableAttributes": ["amount_usd", "created_at", "title"],
}  # fmt: skip


BOTH_LISTS = {
    "filterableAttributes": [*CONFIGURED["filterableAttributes"], "amount_eur"],
    "sortableAttributes": [*CONFIGURED["sortableAttributes"], "amount_eur"],
}


def pack(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class Time:
    """A clock that moves only when the adapter sleeps."""

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
async def meili(time_: Time) -> Any:
    settings = MeilisearchSettings(
        url=URL, api_key="meili-key", task_timeout_seconds=5, http=VendorHttpSettings(retries=2, backoff_seconds=0.1)
    )
    adapter = MeilisearchSearch(settings, sleep=time_.sleep, clock=time_.clock)
    yield adapter
    await adapter.aclose()


def doc(doc_id: int = 42, **fields: Any) -> SearchDocument:
    values: dict[str, Any] = {
        "id": doc_id, "handle": "trail-boot", "title": "Trail Boot", "description": "Grippy.", "brand": "Acme Co",
        "category_ids": [3, 4], "category_names": ["Footwear", "Boots"], "options": {"Color": ["Red", "Blue"]},
        "prices": {"usd": 12900, "eur": 11900}, "currency_by_price_list": {"usd": "USD", "eur": "EUR"},
        "image_url": "/img/42.jpg", "image_alt": "A boot", "in_stock": True, "created_at": 1_700_000_000,
    }  # fmt: skip
    return SearchDocument(**(values | fields))


def record(doc_id: int = 42, **fields: Any) -> dict[str, Any]:
    return vendor_document(doc(doc_id, **fields), "meilisearch")


def paged(hits: list[dict[str, Any]], total: int, **extra: Any) -> dict[str, Any]:
    """The pack's page-mode answer with our documents as hits."""
    answer = pack("search_response.paged.json") | {"hits": hits, "totalHits": total, "page": 1, "hitsPerPage": 24}
    return answer | extra


def body(route: respx.Route, n: int = 0) -> Any:
    return json.loads(route.calls[n].request.content)


# -- the document --------------------------------------------------------------------------------------------------


def test_one_document_shape_for_every_vendor() -> None:
    assert record() == {
        "id": "42",
        "handle": "trail-boot",
        "title": "Trail Boot",
        "description": "Grippy.",
        "brand": "Acme Co",
        "category_ids": [3, 4],
        "category_names": ["Footwear", "Boots"],
        "category_values": ["3:Footwear", "4:Boots"],
        "option_values": ["Color:Red", "Color:Blue"],
        "price_lists": ["eur", "usd"],
        "price_ranges": ["eur:10000-20000", "usd:10000-20000"],
        "amount_eur": 11900,
        "currency_eur": "EUR",
        "amount_usd": 12900,
        "currency_usd": "USD",
        "image_url": "/img/42.jpg",
        "image_alt": "A boot",
        "in_stock": True,
        "created_at": 1_700_000_000,
    }


def test_a_price_list_that_cannot_name_an_attribute_is_refused() -> None:
    with pytest.raises(VendorRejected, match="b2b-eu"):
        record(prices={"b2b-eu": 100}, currency_by_price_list={"b2b-eu": "EUR"})


# -- search --------------------------------------------------------------------------------------------------------


@respx.mock
async def test_search_request_and_answer(meili: MeilisearchSearch) -> None:
    answer = paged(
        [record(), record(7, title="Rain Shell", brand="Zed")],
        total=2,
        facetDistribution={
            "category_values": {"3:Footwear": 2, "4:Boots": 1},
            "brand": {"Acme Co": 1, "Zed": 1},
            "option_values": {"Color:Red": 2, "Color:Blue": 1, "Size:42": 1},
            "price_ranges": {"usd:10000-20000": 2, "eur:10000-20000": 2},
        },
        facetStats={"amount_usd": {"min": 12900, "max": 12900}},
    )
    route = respx.post(SEARCH).mock(return_value=httpx.Response(200, json=answer))
    result = await meili.search(
        SearchQuery(
            text="trail boot",
            price_list="usd",
            category_id=3,
            price_min=1000,
            price_max=20000,
            in_stock_only=True,
            sort="price_desc",
        )
    )
    request = route.calls[0].request
    assert request.headers["authorization"] == "Bearer meili-key"
    assert request.headers["content-type"] == "application/json"
    assert body(route) == {
        "q": "trail boot",
        "filter": ['price_lists = "usd"', "category_ids = 3", "amount_usd >= 1000", "amount_usd <= 20000",
                   "in_stock = true"],
        "page": 1,
        "hitsPerPage": 24,
        "attributesToRetrieve": ["id", "handle", "title", "brand", "image_url", "image_alt", "in_stock",
                                 "amount_usd", "currency_usd"],
        "sort": ["amount_usd:desc"],
        "facets": ["category_values", "brand", "option_values", "price_ranges"],
    }  # fmt: skip
    assert route.call_count == 1  # no brand or option filter: no disjunctive pass
    assert (result.total, result.page, result.per_page) == (2, 1, 24)
    assert [(h.id, h.price, h.currency, h.brand) for h in result.hits] == [
        (42, 12900, "USD", "Acme Co"),
        (7, 12900, "USD", "Zed"),
    ]
    assert [(v.value, v.label, v.count) for v in result.facets["category"]] == [("3", "Footwear", 2), ("4", "Boots", 1)]
    assert [(v.value, v.count) for v in result.facets["option:Color"]] == [("Red", 2), ("Blue", 1)]
    assert [(v.value, v.count) for v in result.facets["option:Size"]] == [("42", 1)]
    assert [(v.value, v.count) for v in result.facets["price"]] == [("10000-20000", 2)]


@respx.mock
async def test_disjunctive_facets_are_counted_without_their_own_filter(meili: MeilisearchSearch) -> None:
    main = paged([record()], total=1, facetDistribution={"category_values": {"3:Footwear": 1}})
    brands = {"hits": [], "query": "", "processingTimeMs": 0, "limit": 0, "offset": 0, "estimatedTotalHits": 3,
              "facetDistribution": {"brand": {"Acme Co": 1, 'Bob "B"': 2}}}  # fmt: skip
    colors = brands | {"facetDistribution": {"option_values": {"Color:Red": 1, "Color:Green": 4, "Size:9": 1}}}
    by_facets = {"category_values": main, "brand": brands, "option_values": colors}
    route = respx.post(SEARCH).mock(
        side_effect=lambda request: httpx.Response(200, json=by_facets[json.loads(request.content)["facets"][0]])
    )
    result = await meili.search(
        SearchQuery(
            price_list="usd",
            brands=["Acme Co", 'Bob "B"'],
            options={"Color": ["Red"], "Size": []},
            facets=["category", "brand", "option:Color"],
        )
    )
    sent = [body(route, n) for n in range(3)]
    brand_or = ['brand = "Acme Co"', 'brand = "Bob \\"B\\""']
    color_or = ['option_values = "Color:Red"']
    assert sent[0]["filter"] == ['price_lists = "usd"', brand_or, color_or]
    assert sent[0]["facets"] == ["category_values"]
    assert sent[1] == {"q": "", "filter": ['price_lists = "usd"', color_or], "facets": ["brand"], "limit": 0}
    assert sent[2] == {"q": "", "filter": ['price_lists = "usd"', brand_or], "facets": ["option_values"], "limit": 0}
    assert {v.value: v.count for v in result.facets["brand"]} == {'Bob "B"': 2, "Acme Co": 1}
    assert [(v.value, v.count) for v in result.facets["option:Color"]] == [("Green", 4), ("Red", 1)]


@respx.mock
async def test_shopper_text_becomes_plain_terms(meili: MeilisearchSearch) -> None:
    route = respx.post(SEARCH).mock(return_value=httpx.Response(200, json=paged([], total=0)))
    await meili.search(SearchQuery(text='"Über -boots" AND (x', price_list="usd", facets=[]))
    assert body(route)["q"] == "Über boots AND x"


@respx.mock
async def test_an_invalid_filter_is_refused(meili: MeilisearchSearch) -> None:
    respx.post(SEARCH).mock(return_value=httpx.Response(400, json=pack("error.invalid_search_filter.json")))
    with pytest.raises(VendorRejected, match=r"(?s)is not filterable.*\(invalid_search_filter\)") as caught:
        await meili.search(SearchQuery(price_list="usd", brands=["acme"]))
    assert caught.value.vendor == "meilisearch" and not caught.value.retryable


@respx.mock
async def test_a_missing_index_is_not_found(meili: MeilisearchSearch) -> None:
    respx.post(SEARCH).mock(return_value=httpx.Response(404, json=pack("error.index_not_found.json")))
    with pytest.raises(NotFound, match=r"Index `products` not found\..*reindex"):
        await meili.search(SearchQuery(price_list="usd"))


@respx.mock
async def test_missing_credentials_are_a_misconfiguration(meili: MeilisearchSearch) -> None:
    route = respx.post(SEARCH).mock(
        return_value=httpx.Response(401, json=pack("error.missing_authorization_header.json"))
    )
    with pytest.raises(VendorMisconfigured, match="credentials"):
        await meili.search(SearchQuery(price_list="usd"))
    assert route.call_count == 1


@respx.mock
async def test_429_waits_as_told_then_retries(meili: MeilisearchSearch, time_: Time) -> None:
    busy = httpx.Response(
        429, headers={"Retry-After": "2"}, json={"message": "busy", "code": "too_many_search_requests"}
    )
    route = respx.post(SEARCH).mock(side_effect=[busy, httpx.Response(200, json=paged([record()], total=1))])
    result = await meili.search(SearchQuery(price_list="usd", facets=[]))
    assert (route.call_count, time_.waits, result.total) == (2, [2.0], 1)


@respx.mock
async def test_a_search_is_retried_after_5xx(meili: MeilisearchSearch) -> None:
    route = respx.post(SEARCH).mock(
        side_effect=[httpx.Response(503), httpx.Response(502), httpx.Response(200, json=paged([], total=0))]
    )
    assert (await meili.search(SearchQuery(price_list="usd", facets=[]))).total == 0
    bodies = {call.request.content for call in route.calls}
    assert route.call_count == 3 and len(bodies) == 1  # the same request, repeated


@respx.mock
async def test_5xx_until_the_retries_run_out_is_unavailable(meili: MeilisearchSearch) -> None:
    respx.post(SEARCH).mock(return_value=httpx.Response(500))
    with pytest.raises(VendorUnavailable) as caught:
        await meili.search(SearchQuery(price_list="usd"))
    assert caught.value.retryable


@respx.mock
async def test_documents_of_another_shape_are_a_misconfiguration(meili: MeilisearchSearch) -> None:
    answer = pack("search_response.json")  # the pack's own shirts: no amount_usd, no handle
    respx.post(SEARCH).mock(return_value=httpx.Response(200, json=answer | {"totalHits": 17}))
    with pytest.raises(VendorMisconfigured, match="did not write"):
        await meili.search(SearchQuery(price_list="usd"))


# -- writes and tasks ----------------------------------------------------------------------------------------------


def task(status: str, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json=pack("task.json") | {"status": status, **extra})


@respx.mock
async def test_index_documents_posts_then_polls_the_task(meili: MeilisearchSearch, time_: Time) -> None:
    respx.get(SETTINGS_URL).mock(return_value=httpx.Response(200, json=CONFIGURED | {"rankingRules": []}))
    add = respx.post(f"{URL}/indexes/products/documents", params={"primaryKey": "id"}).mock(
        return_value=httpx.Response(202, json=pack("task.enqueued.json"))
    )
    polls = respx.get(f"{URL}/tasks/147").mock(
        side_effect=[task("enqueued", startedAt=None), task("processing"), task("succeeded")]
    )
    usd = {"prices": {"usd": 12900}, "currency_by_price_list": {"usd": "USD"}}
    await meili.index_documents([doc(**usd), doc(7, title="X", **usd), doc(**usd, title="Last wins")])
    assert body(add) == [record(**usd, title="Last wins"), record(7, title="X", **usd)]
    assert add.calls[0].request.headers["authorization"] == "Bearer meili-key"
    assert polls.call_count == 3 and time_.waits == [0.05, 0.1]


@respx.mock
async def test_a_new_price_list_is_made_filterable_and_sortable_first(meili: MeilisearchSearch) -> None:
    respx.get(SETTINGS_URL).mock(return_value=httpx.Response(200, json=CONFIGURED))
    patch = respx.patch(SETTINGS_URL).mock(return_value=httpx.Response(202, json=pack("task.enqueued.settings.json")))
    respx.get(f"{URL}/tasks/149").mock(return_value=task("succeeded", uid=149, type="settingsUpdate"))
    respx.post(f"{URL}/indexes/products/documents").mock(
        return_value=httpx.Response(202, json=pack("task.enqueued.json"))
    )
    respx.get(f"{URL}/tasks/147").mock(return_value=task("succeeded"))
    await meili.index_documents([doc()])
    assert body(patch) == {
        "filterableAttributes": [*CONFIGURED["filterableAttributes"], "amount_eur"],
        "sortableAttributes": [*CONFIGURED["sortableAttributes"], "amount_eur"],
    }
    await meili.index_documents([doc(43)])  # known now: no second look at the settings
    assert patch.call_count == 1 and respx.calls.call_count == 7  # settings, patch, task, (add, task) × 2


@respx.mock
async def test_a_failed_task_is_refused_with_its_error(meili: MeilisearchSearch) -> None:
    respx.get(SETTINGS_URL).mock(return_value=httpx.Response(200, json=BOTH_LISTS))
    respx.post(f"{URL}/indexes/products/documents").mock(
        return_value=httpx.Response(202, json=pack("task.enqueued.json"))
    )
    respx.get(f"{URL}/tasks/147").mock(return_value=httpx.Response(200, json=pack("task.failed.json") | {"uid": 147}))
    with pytest.raises(
        VendorRejected, match=r"task 147 \(documentAdditionOrUpdate\) failed: Document identifier.*invalid_document_id"
    ):
        await meili.index_documents([doc()])


@respx.mock
async def test_a_task_that_outlives_the_timeout(meili: MeilisearchSearch, time_: Time) -> None:
    respx.get(SETTINGS_URL).mock(return_value=httpx.Response(200, json=BOTH_LISTS))
    respx.post(f"{URL}/indexes/products/documents").mock(
        return_value=httpx.Response(202, json=pack("task.enqueued.json"))
    )
    respx.get(f"{URL}/tasks/147").mock(return_value=task("processing"))
    with pytest.raises(VendorTimeout, match="task 147 still processing after 5 s"):
        await meili.index_documents([doc()])
    assert time_.now == pytest.approx(5.0) and max(time_.waits) == 1.0


@respx.mock
async def test_apply_settings(meili: MeilisearchSearch) -> None:
    respx.get(SETTINGS_URL).mock(return_value=httpx.Response(404, json=pack("error.index_not_found.json")))
    patch = respx.patch(SETTINGS_URL).mock(return_value=httpx.Response(202, json=pack("task.enqueued.settings.json")))
    respx.get(f"{URL}/tasks/149").mock(return_value=task("succeeded", uid=149, type="settingsUpdate"))
    await meili.apply_settings(IndexSettings(searchable=["title", "description"], sortable=["prices", "title"]))
    assert body(patch) == {
        "searchableAttributes": ["title", "description"],
        "filterableAttributes": ["price_lists", "category_ids", "category_values", "brand", "option_values",
                                 "price_ranges", "in_stock"],
        "sortableAttributes": ["title"],  # no price list is known yet: the first documents add theirs
        "rankingRules": ["sort", "words", "typo", "proximity", "attribute", "exactness"],
        "faceting": {"maxValuesPerFacet": 1000},
    }  # fmt: skip


@respx.mock
async def test_delete_and_clear(meili: MeilisearchSearch) -> None:
    delete = respx.post(f"{URL}/indexes/products/documents/delete-batch").mock(
        return_value=httpx.Response(202, json=pack("task.enqueued.json") | {"type": "documentDeletion"})
    )
    clear = respx.delete(f"{URL}/indexes/products/documents").mock(
        return_value=httpx.Response(202, json=pack("task.enqueued.json") | {"type": "documentDeletion"})
    )
    respx.get(f"{URL}/tasks/147").mock(return_value=task("succeeded", type="documentDeletion"))
    await meili.delete_documents([4, 2, 4])
    await meili.clear()
    assert body(delete) == ["2", "4"] and clear.call_count == 1


@respx.mock
async def test_deleting_from_a_missing_index_is_nothing_to_do(meili: MeilisearchSearch) -> None:
    missing = pack("task.failed.json") | {
        "uid": 147,
        "type": "documentDeletion",
        "error": pack("error.index_not_found.json"),
    }
    respx.post(f"{URL}/indexes/products/documents/delete-batch").mock(
        return_value=httpx.Response(202, json=pack("task.enqueued.json"))
    )
    respx.delete(f"{URL}/indexes/products/documents").mock(
        return_value=httpx.Response(404, json=pack("error.index_not_found.json"))
    )
    respx.get(f"{URL}/tasks/147").mock(return_value=httpx.Response(200, json=missing))
    await meili.delete_documents([1])
    await meili.clear()


def test_build_reads_the_settings() -> None:
    adapter = build(MeilisearchSettings(url=URL, index="shop eu"))
    assert adapter.vendor == "meilisearch" and adapter.client.base_url == f"{URL}/"
    assert "Authorization" not in adapter.client.headers  # a keyless development instance


@respx.mock
async def test_an_answer_without_a_task_is_a_misconfiguration(meili: MeilisearchSearch) -> None:
    respx.delete(f"{URL}/indexes/products/documents").mock(return_value=httpx.Response(202, text="<html>proxy</html>"))
    with pytest.raises(VendorMisconfigured, match="without JSON"):
        await meili.clear()
    respx.delete(f"{URL}/indexes/products/documents").mock(return_value=httpx.Response(202, json={"status": "ok"}))
    with pytest.raises(VendorMisconfigured, match="without a taskUid"):
        await meili.clear()


@respx.mock
async def test_requests_use_the_packs_parameters(meili: MeilisearchSearch) -> None:
    """Every key sent appears in the pack's examples, but for the settings the pack does not show."""
    documented = set(pack("search.request.json")) | set(pack("search.request.paged.json"))
    route = respx.post(SEARCH).mock(return_value=httpx.Response(200, json=paged([], total=0)))
    await meili.search(SearchQuery(price_list="usd", brands=["A"], sort="title"))
    assert all(set(json.loads(call.request.content)) <= documented for call in route.calls)
    respx.get(SETTINGS_URL).mock(return_value=httpx.Response(200, json={}))
    patch = respx.patch(SETTINGS_URL).mock(return_value=httpx.Response(202, json=pack("task.enqueued.settings.json")))
    respx.get(f"{URL}/tasks/149").mock(return_value=task("succeeded", uid=149))
    await meili.apply_settings(IndexSettings())
    beyond_the_pack = {"rankingRules", "faceting"}  # settings the pack does not cover (meilisearch.md §5 is partial)
    assert set(body(patch)) == set(pack("settings.patch.request.json")) | beyond_the_pack
    add = respx.post(f"{URL}/indexes/products/documents").mock(
        return_value=httpx.Response(202, json=pack("task.enqueued.json"))
    )
    respx.get(f"{URL}/tasks/147").mock(return_value=task("succeeded"))
    await meili.index_documents([doc()])
    example = pack("documents.add.request.json")
    assert isinstance(body(add), list) and all({"id", "title", "in_stock"} <= set(d) for d in [*example, *body(add)])
