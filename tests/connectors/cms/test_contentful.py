"""Contentful adapter against respx fakes built from the vendor pack (`tests/fixtures/vendors/contentful/`)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from connectors.cms import contentful
from connectors.cms.contentful import ContentfulContent, build
from connectors.errors import NotFound, VendorMisconfigured, VendorRejected, VendorUnavailable, WebhookRejected
from connectors.settings import ContentfulSettings

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendors" / "contentful"
SPACE = "yw2kq8c0abcd"
ENTRIES = f"https://cdn.contentful.com/spaces/{SPACE}/environments/master/entries"
PREVIEW_ENTRIES = f"https://preview.contentful.com/spaces/{SPACE}/environments/master/entries"
EMPTY = {"sys": {"type": "Array"}, "total": 0, "skip": 0, "limit": 100, "items": []}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def settings(**overrides: Any) -> ContentfulSettings:
    values = {
        "space_id": SPACE,
        "delivery_token": "cda-token",
        "preview_token": "cpa-token",
        "webhook_secret": "hook-secret",
        "http": {"retries": 1, "backoff_seconds": 0.05},
        **overrides,
    }
    return ContentfulSettings.model_validate(values)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def entry(
    entry_id: str, content_type: str, fields: dict[str, Any], *, updated: str = "2026-01-02T10:00:00.000Z"
) -> Any:
    """An entry in the pack's shape (`entry.json`), fields as a `locale=*` answer has them."""
    made = fixture("entry.json")
    made["sys"].update(id=entry_id, updatedAt=updated)
    made["sys"].pop("locale")
    made["sys"]["contentType"]["sys"]["id"] = content_type
    made["fields"] = fields
    return made


def collection(*items: Any, includes: dict[str, Any] | None = None, total: int | None = None) -> Any:
    return {
        "sys": {"type": "Array"},
        "total": len(items) if total is None else total,
        "skip": 0,
        "limit": 100,
        "items": list(items),
        "includes": includes or {},
    }


async def test_get_entry_asks_the_delivery_api_and_resolves_links() -> None:
    with respx.mock() as router:
        route = router.get(ENTRIES).mock(return_value=httpx.Response(200, json=fixture("entries_response.json")))
        cms = ContentfulContent(settings())
        got = await cms.get_entry("product", "linen-shirt", locale="en_US")
        await cms.aclose()
    request = route.calls.last.request
    assert request.url.path == f"/spaces/{SPACE}/environments/master/entries"
    assert dict(request.url.params) == {
        "content_type": "product",
        "fields.slug": "linen-shirt",
        "locale": "*",
        "include": "2",
    }
    assert request.headers["authorization"] == "Bearer cda-token"
    assert got.id == "6pRoDuCtLiNeN1" and got.content_type == "product" and got.slug == "linen-shirt"
    assert got.title == "Linen shirt" and got.locale == "en-US" and got.body_html == ""
    assert got.updated_at == datetime(2026, 1, 2, 10, tzinfo=UTC)
    assert "title" not in got.fields and "slug" not in got.fields and got.fields["sku"] == "SHIRT-LIN-M"
    hero = got.fields["heroImage"]
    assert hero["url"] == "https://images.ctfassets.net/yw2kq8c0abcd/4nImg0f5h1rtAa/0a1b2c3d/linen-shirt.jpg"
    assert (hero["width"], hero["height"], hero["content_type"]) == (1600, 2000, "image/jpeg")
    assert got.fields["category"]["name"] == "Shirts"
    assert got.fields["category"]["sys"] == {"type": "Entry", "id": "2cAtShIrTs0001", "content_type": "category"}
    # 6pRoDuCtLiNeN2 is found in `items` (not repeated in includes); the draft 6mIsSiNgDrAfT9 is missing: dropped
    (related,) = got.fields["related"]
    assert related["title"] == "Blue linen shirt" and related["category"]["name"] == "Shirts"


async def test_links_two_levels_deep_then_stubs_and_cycles_end() -> None:
    answer = fixture("entries_response.json")
    category = answer["includes"]["Entry"][0]
    back = {"sys": {"type": "Link", "linkType": "Entry", "id": "6pRoDuCtLiNeN1"}}
    category["fields"]["featured"] = back  # category -> the product itself: a cycle
    category["fields"]["self"] = {"sys": {"type": "Link", "linkType": "Entry", "id": "2cAtShIrTs0001"}}
    with respx.mock() as router:
        router.get(ENTRIES).mock(return_value=httpx.Response(200, json=answer))
        got = await ContentfulContent(settings()).get_entry("product", "linen-shirt", locale="en")
    stub = {"sys": {"type": "Entry", "id": "6pRoDuCtLiNeN1", "content_type": "product"}}
    assert got.fields["category"]["featured"] == stub  # back to the entry being resolved
    assert got.fields["category"]["self"] == {
        "sys": {"type": "Entry", "id": "2cAtShIrTs0001", "content_type": "category"}
    }
    # product -> related (level 1) -> category (level 2) -> featured: deeper than two levels, a stub
    assert got.fields["related"][0]["category"]["featured"]["sys"]["id"] == "6pRoDuCtLiNeN1"
    assert "title" not in got.fields["related"][0]["category"]["featured"]


async def test_locale_star_fields_fall_back_along_the_chain() -> None:
    answer = fixture("entries_response.locale_all.json")
    with respx.mock() as router:
        router.get(ENTRIES).mock(return_value=httpx.Response(200, json=answer))
        cms = ContentfulContent(settings())
        german = await cms.get_entry("product", "linen-shirt", locale="de_DE")
        french = await cms.get_entry("product", "linen-shirt", locale="fr_FR")
    assert german.title == "Leinenhemd" and german.locale == "de-DE"
    assert german.fields["sku"] == "SHIRT-LIN-M"  # only en-US has one: the default locale's value
    assert german.fields["heroImage"]["title"] == "Linen shirt hero"
    assert french.title == "Linen shirt" and french.locale == "en-US"


async def test_a_language_only_locale_matches_a_regional_chain() -> None:
    answer = collection(entry("e1", "page", {"slug": {"en-US": "shipping"}, "title": {"en-US": "S", "de": "V"}}))
    with respx.mock() as router:
        router.get(ENTRIES).mock(return_value=httpx.Response(200, json=answer))
        got = await ContentfulContent(settings()).get_entry("page", "shipping", locale="de_AT")
    assert got.title == "V" and got.locale == "de"


async def test_preview_uses_the_preview_api_and_its_token() -> None:
    answer = collection(entry("e1", "page", {"slug": {"en-US": "shipping"}, "title": {"en-US": "Draft"}}))
    with respx.mock(assert_all_called=False) as router:
        delivery = router.get(ENTRIES).mock(return_value=httpx.Response(200, json=EMPTY))
        preview = router.get(PREVIEW_ENTRIES).mock(return_value=httpx.Response(200, json=answer))
        got = await ContentfulContent(settings()).get_entry("page", "shipping", locale="en", preview=True)
    assert got.title == "Draft" and not delivery.called
    assert preview.calls.last.request.headers["authorization"] == "Bearer cpa-token"


async def test_preview_without_a_preview_token_names_the_setting() -> None:
    with respx.mock():  # no route: a request would fail the test
        cms = ContentfulContent(settings(preview_token=None))
        with pytest.raises(VendorMisconfigured, match=r"connectors\.cms\.preview_token"):
            await cms.get_entry("page", "shipping", locale="en", preview=True)


@pytest.mark.parametrize("slug", ["missing", "../x", "Shipping", ""])
async def test_unknown_and_hostile_slugs_are_not_found(slug: str) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.get(ENTRIES).mock(return_value=httpx.Response(200, json=EMPTY))
        with pytest.raises(NotFound):
            await ContentfulContent(settings()).get_entry("page", slug, locale="en")


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (404, "error.not_found.json", NotFound, "could not be found"),
        (400, "error.invalid_query.json", NotFound, "no content type 'page'"),  # unknownContentType
        (401, "error.access_token_invalid.json", VendorMisconfigured, "credentials"),
    ],
)
async def test_vendor_errors_are_translated(status: int, body: str, error: type[Exception], text: str) -> None:
    with respx.mock() as router:
        router.get(ENTRIES).mock(return_value=httpx.Response(status, json=fixture(body)))
        with pytest.raises(error, match=text):
            await ContentfulContent(settings()).get_entry("page", "shipping", locale="en")


async def test_an_unknown_content_type_lists_nothing_and_other_invalid_queries_are_rejected() -> None:
    unknown_type = fixture("error.invalid_query.json")
    invalid = fixture("error.invalid_query.json")
    invalid["details"]["errors"] = [{"name": "invalidFieldValue", "value": "x"}]
    with respx.mock() as router:
        router.get(ENTRIES).mock(
            side_effect=[httpx.Response(400, json=unknown_type), httpx.Response(400, json=invalid)]
        )
        cms = ContentfulContent(settings())
        assert await cms.list_entries("DOESNOTEXIST", locale="en") == []
        with pytest.raises(VendorRejected, match="InvalidQuery"):
            await cms.get_entry("page", "shipping", locale="en")


async def test_a_missing_space_is_a_configuration_error_not_a_missing_entry() -> None:
    body = fixture("error.not_found.json")
    body["details"] = {"type": "Space", "id": SPACE}
    with respx.mock() as router:
        router.get(ENTRIES).mock(return_value=httpx.Response(404, json=body))
        with pytest.raises(VendorMisconfigured, match="space_id"):
            await ContentfulContent(settings()).get_entry("page", "shipping", locale="en")


async def test_outages_and_garbage_are_unavailable() -> None:
    with respx.mock() as router:
        route = router.get(ENTRIES).mock(return_value=httpx.Response(503))
        cms = ContentfulContent(settings(), sleep=Sleeps())
        with pytest.raises(VendorUnavailable):
            await cms.get_entry("page", "shipping", locale="en")
        assert route.call_count == 2  # one retry: settings.http.retries
        route.mock(return_value=httpx.Response(200, text="<html>"))
        with pytest.raises(VendorUnavailable, match="unexpected answer"):
            await cms.get_entry("page", "shipping", locale="en")


async def test_429_waits_for_retry_after() -> None:
    sleeps = Sleeps()
    answer = collection(entry("e1", "page", {"slug": {"en-US": "shipping"}, "title": {"en-US": "S"}}))
    limited = httpx.Response(429, headers={"Retry-After": "2", "X-Contentful-RateLimit-Reset": "2"})
    with respx.mock() as router:
        route = router.get(ENTRIES).mock(side_effect=[limited, httpx.Response(200, json=answer)])
        got = await ContentfulContent(settings(), sleep=sleeps).get_entry("page", "shipping", locale="en")
    assert got.title == "S" and route.call_count == 2 and sleeps.waits == [2.0]


async def test_contentfuls_own_rate_limit_reset_header_is_honoured() -> None:
    """A 429 with only X-Contentful-RateLimit-Reset (seconds) waits that long, within the client's bound."""
    sleeps = Sleeps()
    short = httpx.Response(429, headers={"X-Contentful-RateLimit-Reset": "2"})
    with respx.mock() as router:
        router.get(ENTRIES).mock(side_effect=[short, httpx.Response(200, json=fixture("entries_response.json"))])
        await ContentfulContent(settings(), sleep=sleeps).get_entry("product", "linen-shirt", locale="en_US")
    assert sleeps.waits == [2.0]
    long = httpx.Response(429, headers={"X-Contentful-RateLimit-Reset": "70"})
    with respx.mock() as router:
        router.get(ENTRIES).mock(side_effect=[long, long])
        with pytest.raises(VendorUnavailable, match="rate limited"):
            await ContentfulContent(settings(), sleep=sleeps).get_entry("page", "shipping", locale="en")
    assert sleeps.waits == [2.0]  # too long to hold a shopper's page: failed at once


async def test_list_entries_pages_with_skip_and_orders_by_position(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contentful, "PAGE_SIZE", 2)

    def page(slug: str, position: int) -> Any:
        return entry(f"id-{slug}", "page", {"slug": {"en-US": slug}, "position": {"en-US": position}})

    pages = [
        collection(page("returns", 2), page("shipping", 1), total=3),
        collection(page("about", 3), total=3),
    ]
    with respx.mock() as router:
        route = router.get(ENTRIES).mock(side_effect=[httpx.Response(200, json=p) for p in pages])
        listed = await ContentfulContent(settings()).list_entries("page", locale="en")
    assert [e.slug for e in listed] == ["shipping", "returns", "about"]
    params = [dict(call.request.url.params) for call in route.calls]
    assert [(p["skip"], p["limit"]) for p in params] == [("0", "2"), ("2", "2")]
    assert params[0]["content_type"] == "page" and params[0]["locale"] == "*" and "fields.slug" not in params[0]


async def test_markdown_body_is_rendered_and_raw_html_escaped() -> None:
    body = "# Fast\n\nWe ship **today**. <script>alert(1)</script>\n"
    answer = collection(entry("e1", "page", {"slug": {"en-US": "s"}, "body": {"en-US": body}}))
    with respx.mock() as router:
        router.get(ENTRIES).mock(return_value=httpx.Response(200, json=answer))
        got = await ContentfulContent(settings()).get_entry("page", "s", locale="en")
    assert "<h1>Fast</h1>" in got.body_html and "<strong>today</strong>" in got.body_html
    assert "<script>" not in got.body_html and "&lt;script&gt;" in got.body_html
    assert "body" not in got.fields and got.title == "S"  # no title field: from the slug


def text(value: str, *marks: str) -> dict[str, Any]:
    return {"nodeType": "text", "value": value, "marks": [{"type": m} for m in marks], "data": {}}


def node(kind: str, *content: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {"nodeType": kind, "data": data, "content": list(content)}


async def test_rich_text_body_is_rendered_safely() -> None:
    asset_link = {"sys": {"type": "Link", "linkType": "Asset", "id": "4nImg0f5h1rtAa"}}
    document = node(
        "document",
        node("heading-2", text("Options")),
        node("paragraph", text("Fast ", "bold"), text("<b>not bold</b>")),
        node("paragraph", node("hyperlink", text("track"), uri="https://example.com/t?a=1&b=2")),
        node("paragraph", node("hyperlink", text("evil"), uri="javascript:alert(1)")),
        node("unordered-list", node("list-item", node("paragraph", text("one")))),
        node("embedded-asset-block", target=asset_link),
        node("embedded-entry-block", target={"sys": {"type": "Link", "linkType": "Entry", "id": "gone"}}),
        node("hr"),
    )
    includes = fixture("entries_response.locale_all.json")["includes"]
    answer = collection(entry("e1", "page", {"slug": {"en-US": "s"}, "body": {"en-US": document}}), includes=includes)
    with respx.mock() as router:
        router.get(ENTRIES).mock(return_value=httpx.Response(200, json=answer))
        got = await ContentfulContent(settings()).get_entry("page", "s", locale="en")
    assert got.body_html == (
        "<h2>Options</h2>"
        "<p><strong>Fast </strong>&lt;b&gt;not bold&lt;/b&gt;</p>"
        '<p><a href="https://example.com/t?a=1&amp;b=2">track</a></p>'
        "<p>evil</p>"
        "<ul><li><p>one</p></li></ul>"
        '<img src="https://images.ctfassets.net/yw2kq8c0abcd/4nImg0f5h1rtAa/0a1b2c3d/linen-shirt.jpg"'
        ' alt="Linen shirt hero">'
        "<hr>"
    )


def publish_body(entry_id: str = "e1", version: int = 7, slug: Any = None) -> bytes:
    payload = entry(entry_id, "page", {"slug": slug or {"en-US": "shipping"}, "title": {"en-US": "Shipping"}})
    payload["sys"]["version"] = version
    return json.dumps(payload).encode()


def hook_headers(topic: str = "ContentManagement.Entry.publish", secret: str = "hook-secret") -> dict[str, str]:
    return {
        "X-Contentful-Topic": topic,
        "X-Webhook-Secret": secret,
        "Content-Type": "application/vnd.contentful.management.v1+json",
    }


def test_webhook_publish_becomes_an_event() -> None:
    cms = ContentfulContent(settings())
    (event,) = cms.parse_webhook(publish_body(), hook_headers())
    assert (event.action, event.content_type, event.slug) == ("published", "page", "shipping")
    assert event.id == "e1:7:ContentManagement.Entry.publish"
    headers = {**hook_headers(), "X-Contentful-Idempotency-Key": "a" * 64}
    assert cms.parse_webhook(publish_body(), headers)[0].id == "a" * 64


def test_webhook_header_names_are_case_insensitive() -> None:
    headers = {name.lower(): value for name, value in hook_headers().items()}
    assert len(ContentfulContent(settings()).parse_webhook(publish_body(), headers)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        hook_headers(secret="wrong-secret"),
        hook_headers(secret="hook-secreT"),  # tampered by one character
        hook_headers(secret=""),
        {"X-Contentful-Topic": "ContentManagement.Entry.publish"},  # missing
    ],
)
def test_webhook_without_the_right_secret_is_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected):
        ContentfulContent(settings()).parse_webhook(publish_body(), headers)


def test_webhook_is_rejected_when_no_secret_is_configured() -> None:
    with pytest.raises(WebhookRejected, match="webhook_secret"):
        ContentfulContent(settings(webhook_secret=None)).parse_webhook(publish_body(), hook_headers())


def test_webhook_with_a_body_that_is_not_an_entity_is_rejected() -> None:
    with pytest.raises(WebhookRejected):
        ContentfulContent(settings()).parse_webhook(b"{not json", hook_headers())
    with pytest.raises(WebhookRejected):
        ContentfulContent(settings()).parse_webhook(b'{"fields": {}}', hook_headers())


def test_webhook_topics_other_than_entry_publishing_are_ignored() -> None:
    cms = ContentfulContent(settings())
    assert cms.parse_webhook(publish_body(), hook_headers("ContentManagement.Entry.save")) == []
    assert cms.parse_webhook(publish_body(), hook_headers("ContentManagement.Asset.publish")) == []


def test_localized_slugs_give_one_event_each() -> None:
    events = ContentfulContent(settings()).parse_webhook(
        publish_body(slug={"en-US": "shipping", "de-DE": "versand"}), hook_headers()
    )
    assert [(e.slug, e.id) for e in events] == [
        ("shipping", "e1:7:ContentManagement.Entry.publish:shipping"),
        ("versand", "e1:7:ContentManagement.Entry.publish:versand"),
    ]


async def test_unpublish_tombstones_get_the_slug_last_seen() -> None:
    tombstone = {
        "sys": {
            "type": "DeletedEntry",
            "id": "e1",
            "version": 9,
            "contentType": {"sys": {"type": "Link", "linkType": "ContentType", "id": "page"}},
        }
    }
    cms = ContentfulContent(settings())
    topic = "ContentManagement.Entry.unpublish"
    (unknown,) = cms.parse_webhook(json.dumps(tombstone).encode(), hook_headers(topic))
    assert (unknown.action, unknown.content_type, unknown.slug) == ("unpublished", "page", "")
    answer = collection(entry("e1", "page", {"slug": {"en-US": "shipping"}}))
    with respx.mock() as router:
        router.get(ENTRIES).mock(return_value=httpx.Response(200, json=answer))
        await cms.get_entry("page", "shipping", locale="en")
    (known,) = cms.parse_webhook(json.dumps(tombstone).encode(), hook_headers(topic))
    assert (known.action, known.slug, known.id) == ("unpublished", "shipping", f"e1:9:{topic}")


def test_a_renamed_slug_unpublishes_the_old_one() -> None:
    cms = ContentfulContent(settings())
    cms.parse_webhook(publish_body(slug={"en-US": "shipping"}), hook_headers())
    events = cms.parse_webhook(publish_body(version=8, slug={"en-US": "delivery"}), hook_headers())
    assert [(e.action, e.slug) for e in events] == [("published", "delivery"), ("unpublished", "shipping")]


async def test_build_makes_an_adapter_from_settings() -> None:
    cms = build(settings(environment="staging", delivery_url="https://cdn.eu.contentful.com"))
    answer = copy.deepcopy(EMPTY)
    with respx.mock() as router:
        route = router.get(f"https://cdn.eu.contentful.com/spaces/{SPACE}/environments/staging/entries").mock(
            return_value=httpx.Response(200, json=answer)
        )
        assert await cms.list_entries("page", locale="en") == []
    assert route.called and cms.vendor == "contentful"
    await cms.aclose()
