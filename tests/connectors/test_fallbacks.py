"""What shoppers get while a vendor is down: FallbackSearch and LastGoodContent over simple fake providers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from connectors.cms.base import ContentEntry, ContentEvent
from connectors.errors import ConnectorError, NotFound, VendorRejected, VendorTimeout, VendorUnavailable
from connectors.fallbacks import FallbackSearch, LastGoodContent
from connectors.search.base import IndexSettings, SearchDocument, SearchHit, SearchQuery, SearchResult

pytestmark = pytest.mark.anyio


def result(title: str) -> SearchResult:
    hit = SearchHit(
        id=1, handle="h", title=title, brand="b", price=100, currency="EUR", image_url="", image_alt="", in_stock=True
    )
    return SearchResult(hits=[hit], total=1, page=1, per_page=24, facets={})


def document(product_id: int) -> SearchDocument:
    return SearchDocument(
        id=product_id,
        handle=f"p{product_id}",
        title="Tent",
        description="",
        brand="b",
        category_ids=[1],
        category_names=["Camp"],
        options={},
        prices={"eur": 100},
        currency_by_price_list={"eur": "EUR"},
        image_url="",
        image_alt="",
        in_stock=True,
        created_at=0,
    )


class FakeSearch:
    """Answers `title` for every query, or raises `failure`; records every call."""

    def __init__(self, vendor: str, title: str) -> None:
        self.vendor = vendor
        self.title = title
        self.failure: ConnectorError | None = None
        self.calls: list[tuple[str, object]] = []
        self.closed = False

    async def search(self, query: SearchQuery) -> SearchResult:
        self.calls.append(("search", query))
        if self.failure is not None:
            raise self.failure
        return result(self.title)

    async def index_documents(self, documents: list[SearchDocument]) -> None:
        self.calls.append(("index_documents", [d.id for d in documents]))

    async def delete_documents(self, ids: list[int]) -> None:
        self.calls.append(("delete_documents", ids))

    async def apply_settings(self, settings: IndexSettings) -> None:
        self.calls.append(("apply_settings", settings))

    async def clear(self) -> None:
        self.calls.append(("clear", None))

    async def aclose(self) -> None:
        self.closed = True


def query(text: str = "tent") -> SearchQuery:
    return SearchQuery(text=text, price_list="eur")


async def test_search_vendor_down_the_builtin_backup_answers() -> None:
    vendor, backup = FakeSearch("algolia", "from vendor"), FakeSearch("builtin", "from backup")
    search = FallbackSearch(vendor, backup=backup, remember_results=False)
    assert search.vendor == "algolia"
    assert (await search.search(query())).hits[0].title == "from vendor" and backup.calls == []
    for outage in (VendorUnavailable("down", vendor="algolia"), VendorTimeout("slow", vendor="algolia")):
        vendor.failure = outage
        assert (await search.search(query())).hits[0].title == "from backup"


async def test_search_last_result_mode_answers_the_same_query_only() -> None:
    vendor = FakeSearch("meilisearch", "fresh")
    search = FallbackSearch(vendor, backup=None, remember_results=True)
    await search.search(query("tent"))
    vendor.failure = VendorUnavailable("down", vendor="meilisearch")
    assert (await search.search(query("tent"))).hits[0].title == "fresh"
    with pytest.raises(VendorUnavailable):
        await search.search(query("stove"))  # never answered: nothing to fall back on


async def test_search_without_a_fallback_fails() -> None:
    vendor = FakeSearch("typesense", "fresh")
    search = FallbackSearch(vendor, backup=None, remember_results=False)
    await search.search(query())
    vendor.failure = VendorUnavailable("down", vendor="typesense")
    with pytest.raises(VendorUnavailable):
        await search.search(query())


@pytest.mark.parametrize("remember", [True, False])
async def test_an_invalid_query_is_not_hidden_by_a_fallback(remember: bool) -> None:
    vendor, backup = FakeSearch("algolia", "fresh"), FakeSearch("builtin", "backup")
    search = FallbackSearch(vendor, backup=backup if not remember else None, remember_results=remember)
    await search.search(query())
    vendor.failure = VendorRejected("bad filter", vendor="algolia")
    with pytest.raises(VendorRejected):
        await search.search(query())
    assert [name for name, _ in backup.calls] == []


async def test_indexing_goes_to_the_vendor_and_the_backup() -> None:
    vendor, backup = FakeSearch("algolia", "v"), FakeSearch("builtin", "b")
    search = FallbackSearch(vendor, backup=backup, remember_results=False)
    await search.index_documents([document(1), document(2)])
    await search.delete_documents([2])
    await search.apply_settings(IndexSettings())
    await search.clear()
    expected = [("index_documents", [1, 2]), ("delete_documents", [2]), ("apply_settings", IndexSettings())]
    assert vendor.calls == backup.calls == [*expected, ("clear", None)]
    await search.aclose()
    assert vendor.closed and not backup.closed


async def test_indexing_without_a_backup_goes_to_the_vendor_only() -> None:
    vendor = FakeSearch("algolia", "v")
    search = FallbackSearch(vendor, backup=None, remember_results=True)
    await search.index_documents([document(1)])
    assert vendor.calls == [("index_documents", [1])]


def entry(title: str, slug: str = "shipping") -> ContentEntry:
    return ContentEntry(
        id=f"page/{slug}",
        content_type="page",
        slug=slug,
        locale="en",
        title=title,
        fields={},
        updated_at=datetime(2026, 1, 2, tzinfo=UTC),
    )


class FakeContent:
    vendor = "contentful"

    def __init__(self) -> None:
        self.entries: dict[str, ContentEntry] = {"shipping": entry("Shipping")}
        self.failure: ConnectorError | None = None
        self.webhooks: list[bytes] = []
        self.closed = False

    async def get_entry(self, content_type: str, slug: str, *, locale: str, preview: bool = False) -> ContentEntry:
        if self.failure is not None:
            raise self.failure
        if slug not in self.entries:
            raise NotFound(f"no {slug}", vendor=self.vendor)
        return self.entries[slug]

    async def list_entries(self, content_type: str, *, locale: str, preview: bool = False) -> list[ContentEntry]:
        if self.failure is not None:
            raise self.failure
        return list(self.entries.values())

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[ContentEvent]:
        self.webhooks.append(body)
        action = "unpublished" if body == b"unpublish" else "published"
        return [ContentEvent(id="1", action=action, content_type="page", slug="shipping")]

    async def aclose(self) -> None:
        self.closed = True


async def test_content_vendor_down_the_last_good_entry_is_served() -> None:
    vendor = FakeContent()
    cms = LastGoodContent(vendor)
    assert cms.vendor == "contentful"
    assert (await cms.get_entry("page", "shipping", locale="en")).title == "Shipping"
    vendor.entries["shipping"] = entry("Shipping v2")
    assert (await cms.get_entry("page", "shipping", locale="en")).title == "Shipping v2"
    vendor.failure = VendorUnavailable("down", vendor="contentful")
    assert (await cms.get_entry("page", "shipping", locale="en")).title == "Shipping v2"  # the latest good one
    with pytest.raises(VendorUnavailable):
        await cms.get_entry("page", "shipping", locale="de")  # never served in that locale
    with pytest.raises(VendorUnavailable):
        await cms.get_entry("page", "shipping", locale="en", preview=True)  # nor as a draft


async def test_not_found_is_not_masked_and_forgets_the_entry() -> None:
    vendor = FakeContent()
    cms = LastGoodContent(vendor)
    await cms.get_entry("page", "shipping", locale="en")
    del vendor.entries["shipping"]  # unpublished
    with pytest.raises(NotFound):
        await cms.get_entry("page", "shipping", locale="en")
    vendor.failure = VendorUnavailable("down", vendor="contentful")
    with pytest.raises(VendorUnavailable):
        await cms.get_entry("page", "shipping", locale="en")  # not brought back from memory


async def test_a_rejected_request_is_not_masked() -> None:
    vendor = FakeContent()
    cms = LastGoodContent(vendor)
    await cms.get_entry("page", "shipping", locale="en")
    vendor.failure = VendorRejected("invalid query", vendor="contentful")
    with pytest.raises(VendorRejected):
        await cms.get_entry("page", "shipping", locale="en")
    with pytest.raises(VendorRejected):
        await cms.list_entries("page", locale="en")


async def test_the_last_good_list_is_served_while_the_vendor_is_down() -> None:
    vendor = FakeContent()
    cms = LastGoodContent(vendor)
    assert [e.slug for e in await cms.list_entries("page", locale="en")] == ["shipping"]
    vendor.failure = VendorTimeout("slow", vendor="contentful")
    assert [e.slug for e in await cms.list_entries("page", locale="en")] == ["shipping"]
    with pytest.raises(VendorTimeout):
        await cms.list_entries("home", locale="en")


async def test_webhooks_and_closing_reach_the_vendor() -> None:
    vendor = FakeContent()
    cms = LastGoodContent(vendor)
    (event,) = cms.parse_webhook(b"{}", {})
    assert event.slug == "shipping" and vendor.webhooks == [b"{}"]
    await cms.aclose()
    assert vendor.closed


async def test_an_unpublished_entry_is_forgotten_in_every_locale() -> None:
    vendor = FakeContent()
    cms = LastGoodContent(vendor)
    for locale in ("en", "de"):
        await cms.get_entry("page", "shipping", locale=locale)
    del vendor.entries["shipping"]
    with pytest.raises(NotFound):
        await cms.get_entry("page", "shipping", locale="en")
    vendor.failure = VendorUnavailable("down", vendor="contentful")
    with pytest.raises(VendorUnavailable):
        await cms.get_entry("page", "shipping", locale="de")  # not served from memory in the other locale


async def test_an_unpublish_webhook_forgets_what_was_kept() -> None:
    vendor = FakeContent()
    cms = LastGoodContent(vendor)
    await cms.get_entry("page", "shipping", locale="en")
    cms.parse_webhook(b"unpublish", {})
    vendor.failure = VendorUnavailable("down", vendor="contentful")
    with pytest.raises(VendorUnavailable):
        await cms.get_entry("page", "shipping", locale="en")


async def test_a_missing_vendor_index_is_answered_by_the_backup() -> None:
    vendor, backup = FakeSearch("meilisearch", "from the vendor"), FakeSearch("builtin", "from the backup")
    search = FallbackSearch(vendor, backup=backup, remember_results=False)  # type: ignore[arg-type]
    vendor.failure = NotFound("index products not found", vendor="meilisearch")
    assert await search.search(query()) == result("from the backup")
