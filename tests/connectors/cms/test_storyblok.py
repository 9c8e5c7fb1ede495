"""Storyblok adapter against respx fakes built from the vendor pack (`tests/fixtures/vendors/storyblok/`)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from connectors.cms.storyblok import StoryblokContent, build
from connectors.errors import NotFound, VendorMisconfigured, VendorRejected, VendorUnavailable, WebhookRejected
from connectors.settings import StoryblokSettings

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendors" / "storyblok"
BASE = "https://api.storyblok.com/v2/cdn"
STORY = f"{BASE}/stories/products/linen-shirt"
CV = "1767348000"
FOLDERS = {"product_page": "products"}  # the pack's story: a product_page under products/


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def settings(**overrides: Any) -> StoryblokSettings:
    values = {
        "token": "public-token",
        "preview_token": "preview-token",
        "webhook_secret": "hook-secret",
        "http": {"retries": 1, "backoff_seconds": 0.05},
        **overrides,
    }
    return StoryblokSettings.model_validate(values)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def story_answer(**content: Any) -> Any:
    answer = fixture("story_response.json")
    answer["story"]["content"].update(content)
    return answer


def mock_space(router: respx.MockRouter, space: Any = None) -> respx.Route:
    return router.get(f"{BASE}/spaces/me").mock(
        return_value=httpx.Response(200, json=space or fixture("spaces_me.response.json"))
    )


async def test_get_entry_sends_token_version_cv_and_language_as_query_params() -> None:
    with respx.mock() as router:
        space = mock_space(router)
        route = router.get(STORY).mock(return_value=httpx.Response(200, json=fixture("story_response.json")))
        cms = StoryblokContent(settings(), folders=FOLDERS)
        got = await cms.get_entry("product_page", "linen-shirt", locale="de_DE")
        again = await cms.get_entry("product_page", "linen-shirt", locale="en_US")
        await cms.aclose()
    assert dict(space.calls.last.request.url.params) == {"token": "public-token"}
    assert space.call_count == 1  # the cache version and languages are kept
    first, second = (call.request for call in route.calls)
    assert dict(first.url.params) == {"token": "public-token", "version": "published", "cv": CV, "language": "de"}
    assert dict(second.url.params) == {"token": "public-token", "version": "published", "cv": CV}  # no en: default
    assert "authorization" not in first.headers
    assert got.id == "401234567" and got.content_type == "product_page" and got.slug == "linen-shirt"
    assert got.title == "Linen shirt" and got.locale == "default" and again.title == "Linen shirt"
    assert got.updated_at == datetime(2026, 1, 2, 10, tzinfo=UTC)
    assert got.fields == {"sku": "SHIRT-LIN-M", "category": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"}
    assert got.body_html == ""  # the pack's rich_text_block holds an empty document


async def test_the_default_folder_is_the_content_type() -> None:
    with respx.mock() as router:
        mock_space(router)
        route = router.get(f"{BASE}/stories/page/shipping").mock(
            return_value=httpx.Response(200, json=story_answer(component="page", title="Shipping"))
        )
        got = await StoryblokContent(settings()).get_entry("page", "shipping", locale="en")
    assert got.title == "Shipping" and route.called


async def test_a_story_of_another_content_type_is_not_found() -> None:
    with respx.mock() as router:
        mock_space(router)
        router.get(f"{BASE}/stories/page/linen-shirt").mock(
            return_value=httpx.Response(200, json=fixture("story_response.json"))
        )
        with pytest.raises(NotFound):
            await StoryblokContent(settings()).get_entry("page", "linen-shirt", locale="en")


async def test_drafts_use_the_preview_token() -> None:
    with respx.mock() as router:
        mock_space(router)
        route = router.get(STORY).mock(return_value=httpx.Response(200, json=fixture("story_response.json")))
        await StoryblokContent(settings(), folders=FOLDERS).get_entry(
            "product_page", "linen-shirt", locale="en", preview=True
        )
    params = route.calls.last.request.url.params
    assert params["token"] == "preview-token" and params["version"] == "draft"


async def test_drafts_without_a_preview_token_name_the_setting() -> None:
    with respx.mock():
        cms = StoryblokContent(settings(preview_token=None), folders=FOLDERS)
        with pytest.raises(VendorMisconfigured, match=r"connectors\.cms\.preview_token"):
            await cms.get_entry("product_page", "linen-shirt", locale="en", preview=True)


async def test_without_a_cv_the_redirect_gives_it() -> None:
    space = fixture("spaces_me.response.json")
    del space["space"]["version"]
    redirect = httpx.Response(301, headers={"Location": f"{STORY}?token=public-token&version=published&cv={CV}"})
    with respx.mock() as router:
        mock_space(router, space)
        route = router.get(STORY).mock(
            side_effect=[redirect, *[httpx.Response(200, json=fixture("story_response.json"))] * 2]
        )
        cms = StoryblokContent(settings(), folders=FOLDERS)
        await cms.get_entry("product_page", "linen-shirt", locale="en")
        await cms.get_entry("product_page", "linen-shirt", locale="en")
    params = [dict(call.request.url.params) for call in route.calls]
    assert "cv" not in params[0] and params[1]["cv"] == CV
    assert len(params) == 3 and params[2]["cv"] == CV  # learnt: the next read skips the redirect


async def test_a_redirect_without_a_cv_is_not_followed() -> None:
    with respx.mock() as router:
        mock_space(router)
        router.get(STORY).mock(return_value=httpx.Response(302, headers={"Location": "https://evil.example/"}))
        with pytest.raises(VendorUnavailable, match="redirect"):
            await StoryblokContent(settings(), folders=FOLDERS).get_entry("product_page", "linen-shirt", locale="en")


async def test_cv_is_refreshed_after_a_publish_webhook_and_after_a_while() -> None:
    clock = Clock()
    newer = fixture("spaces_me.response.json")
    newer["space"]["version"] = 1767349999
    newest = fixture("spaces_me.response.json")
    newest["space"]["version"] = 1767350000
    spaces = [httpx.Response(200, json=s) for s in (fixture("spaces_me.response.json"), newer, newest)]
    with respx.mock() as router:
        space = router.get(f"{BASE}/spaces/me").mock(side_effect=spaces)
        route = router.get(STORY).mock(return_value=httpx.Response(200, json=fixture("story_response.json")))
        cms = StoryblokContent(settings(), folders=FOLDERS, clock=clock)
        await cms.get_entry("product_page", "linen-shirt", locale="en")
        body = json.dumps({"action": "published", "story_id": 401234567, "full_slug": "products/linen-shirt"})
        cms.parse_webhook(body.encode(), {"webhook-signature": sign(body.encode())})
        await cms.get_entry("product_page", "linen-shirt", locale="en")
        clock.now += 61
        await cms.get_entry("product_page", "linen-shirt", locale="en")
    assert space.call_count == 3
    assert [call.request.url.params["cv"] for call in route.calls] == [CV, "1767349999", "1767350000"]


async def test_a_newer_cv_in_an_answer_is_used_next() -> None:
    answer = fixture("story_response.json")
    answer["cv"] = 1767348500
    with respx.mock() as router:
        mock_space(router)
        route = router.get(STORY).mock(return_value=httpx.Response(200, json=answer))
        cms = StoryblokContent(settings(), folders=FOLDERS)
        await cms.get_entry("product_page", "linen-shirt", locale="en")
        await cms.get_entry("product_page", "linen-shirt", locale="en")
    assert [call.request.url.params["cv"] for call in route.calls] == [CV, "1767348500"]


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (404, "error.404.json", NotFound, "no story"),
        (422, "error.422.unknown_param.json", VendorRejected, "Unpermitted parameter: foo"),
        (401, "error.401.json", VendorMisconfigured, "credentials"),
    ],
)
async def test_vendor_errors_are_translated(status: int, body: str, error: type[Exception], text: str) -> None:
    with respx.mock() as router:
        mock_space(router)
        router.get(STORY).mock(return_value=httpx.Response(status, json=fixture(body)))
        with pytest.raises(error, match=text):
            await StoryblokContent(settings(), folders=FOLDERS).get_entry("product_page", "linen-shirt", locale="en")


@pytest.mark.parametrize("slug", ["../x", "Linen", "a/b", ""])
async def test_hostile_slugs_never_reach_the_url(slug: str) -> None:
    with respx.mock(), pytest.raises(NotFound):
        await StoryblokContent(settings()).get_entry("page", slug, locale="en")


async def test_429_waits_for_retry_after_and_outages_are_unavailable() -> None:
    sleeps = Sleeps()
    with respx.mock() as router:
        mock_space(router)
        route = router.get(STORY).mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "1"}),
                httpx.Response(200, json=fixture("story_response.json")),
                httpx.Response(500),
                httpx.Response(502),
            ]
        )
        cms = StoryblokContent(settings(), folders=FOLDERS, sleep=sleeps)
        assert (await cms.get_entry("product_page", "linen-shirt", locale="en")).title == "Linen shirt"
        with pytest.raises(VendorUnavailable):
            await cms.get_entry("product_page", "linen-shirt", locale="en")
    assert route.call_count == 4 and sleeps.waits[0] == 1.0


async def test_a_failed_cv_refresh_keeps_the_last_one() -> None:
    clock = Clock()
    with respx.mock() as router:
        space = router.get(f"{BASE}/spaces/me").mock(
            side_effect=[httpx.Response(200, json=fixture("spaces_me.response.json")), httpx.Response(503)]
        )
        route = router.get(STORY).mock(return_value=httpx.Response(200, json=fixture("story_response.json")))
        cms = StoryblokContent(settings(http={"retries": 0}), folders=FOLDERS, clock=clock)
        await cms.get_entry("product_page", "linen-shirt", locale="en")
        clock.now += 61
        await cms.get_entry("product_page", "linen-shirt", locale="en")
    assert space.call_count == 2 and route.calls.last.request.url.params["cv"] == CV


async def test_list_entries_pages_by_the_total_header() -> None:
    first = fixture("stories_response.json")
    other = json.loads(json.dumps(first["stories"][0]))
    other.update(id=401234568, slug="wool-sweater", full_slug="products/wool-sweater", name="Wool sweater", position=-1)
    other["content"]["title"] = "Wool sweater"
    nested = json.loads(json.dumps(other))
    nested.update(id=401234569, slug="deep", full_slug="products/archive/deep")
    folder = json.loads(json.dumps(other))
    folder.update(id=401234570, slug="", full_slug="products/", is_startpage=True)
    first["stories"] += [nested, folder]
    second = {"stories": [other], "cv": 1767348000, "rels": [], "links": []}
    headers = {"total": "104", "per-page": "100"}
    with respx.mock() as router:
        mock_space(router)
        route = router.get(f"{BASE}/stories").mock(
            side_effect=[httpx.Response(200, json=first, headers=headers), httpx.Response(200, json=second)]
        )
        listed = await StoryblokContent(settings(), folders=FOLDERS).list_entries("product_page", locale="de")
    # by the story's folder position (no position field); the nested story and the folder's start page left out
    assert [e.slug for e in listed] == ["wool-sweater", "linen-shirt"]
    params = [dict(call.request.url.params) for call in route.calls]
    assert params[0] == {
        "token": "public-token",
        "version": "published",
        "cv": CV,
        "language": "de",
        "per_page": "100",
        "page": "1",
        "starts_with": "products/",
    }
    assert params[1]["page"] == "2"


async def test_markdown_body_and_content_fields() -> None:
    banners = [
        {"_uid": "u1", "component": "banner", "title": "Rain", "_editable": "<!--#storyblok#-->", "url": "/c/rain"},
        {
            "_uid": "u2",
            "component": "banner",
            "title": "Sleep",
            "url": {"id": "", "url": "", "linktype": "story", "fieldtype": "multilink", "cached_url": "c/bags"},
        },
    ]
    answer = story_answer(
        component="page", body="We ship **fast**. <script>x</script>", hero_title="Built", banners=banners
    )
    del answer["story"]["content"]["title"]
    with respx.mock() as router:
        mock_space(router)
        router.get(f"{BASE}/stories/page/linen-shirt").mock(return_value=httpx.Response(200, json=answer))
        got = await StoryblokContent(settings()).get_entry("page", "linen-shirt", locale="en")
    assert got.body_html == "<p>We ship <strong>fast</strong>. &lt;script&gt;x&lt;/script&gt;</p>\n"
    assert got.title == "Linen shirt"  # the story's name
    assert got.fields["hero_title"] == "Built"
    assert got.fields["banners"] == [
        {"component": "banner", "title": "Rain", "url": "/c/rain"},
        {"component": "banner", "title": "Sleep", "url": "/c/bags"},
    ]


def doc(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "content": list(content)}


def para(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def text(value: str, *marks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "text", "text": value, "marks": list(marks)}


async def test_richtext_blocks_are_rendered_safely() -> None:
    link = {"type": "link", "attrs": {"href": "https://example.com/?a=1&b=2", "linktype": "url"}}
    evil = {"type": "link", "attrs": {"href": "javascript:alert(1)", "linktype": "url"}}
    story_link = {"type": "link", "attrs": {"href": "page/returns", "linktype": "story", "anchor": "repairs"}}
    rich = doc(
        {"type": "heading", "attrs": {"level": 2}, "content": [text("Options")]},
        para(text("Fast", {"type": "bold"}), text(" <i>x</i>"), {"type": "hard_break"}),
        para(text("go", link), text(" evil", evil), text(" returns", story_link)),
        {"type": "bullet_list", "content": [{"type": "list_item", "content": [para(text("one"))]}]},
        {"type": "blok", "attrs": {"body": [{"component": "cta"}]}},
        {"type": "horizontal_rule"},
    )
    body = [{"_uid": "b1", "component": "rich_text_block", "text": rich}, {"_uid": "b2", "component": "spacer"}]
    with respx.mock() as router:
        mock_space(router)
        router.get(STORY).mock(return_value=httpx.Response(200, json=story_answer(body=body)))
        got = await StoryblokContent(settings(), folders=FOLDERS).get_entry("product_page", "linen-shirt", locale="en")
    assert got.body_html == (
        "<h2>Options</h2>"
        "<p><strong>Fast</strong> &lt;i&gt;x&lt;/i&gt;<br></p>"
        '<p><a href="https://example.com/?a=1&amp;b=2">go</a> evil<a href="/page/returns#repairs"> returns</a></p>'
        "<ul><li><p>one</p></li></ul>"
        "<hr>"
    )


def sign(body: bytes, secret: str = "hook-secret") -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def hook(action: str = "published", **extra: Any) -> bytes:
    payload = {"text": "The user x published the Story Shipping", "action": action, "space_id": 123456}
    return json.dumps({**payload, "story_id": 401234567, **extra}).encode()


def test_webhook_publish_becomes_an_event() -> None:
    body = hook(full_slug="page/shipping")
    (event,) = StoryblokContent(settings()).parse_webhook(body, {"webhook-signature": sign(body)})
    assert (event.action, event.content_type, event.slug) == ("published", "page", "shipping")
    assert event.id.startswith("401234567:published:")


def test_each_receipt_gets_its_own_event_id() -> None:
    body = hook(full_slug="page/shipping")
    cms = StoryblokContent(settings())
    first, second = (cms.parse_webhook(body, {"Webhook-Signature": sign(body).upper()})[0] for _ in range(2))
    assert first.id != second.id


@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-signature": sign(hook(full_slug="page/shipping"), "wrong-secret")},
        {"webhook-signature": sign(hook(full_slug="page/other"))},  # a signature of another body: tampered
        {"webhook-signature": ""},
        {},
    ],
)
def test_webhook_without_a_valid_signature_is_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected):
        StoryblokContent(settings()).parse_webhook(hook(full_slug="page/shipping"), headers)


def test_webhook_is_rejected_when_no_secret_is_configured() -> None:
    body = hook(full_slug="page/shipping")
    with pytest.raises(WebhookRejected, match="webhook_secret"):
        StoryblokContent(settings(webhook_secret=None)).parse_webhook(body, {"webhook-signature": sign(body)})


def test_a_signed_body_that_is_not_json_is_rejected() -> None:
    with pytest.raises(WebhookRejected):
        StoryblokContent(settings()).parse_webhook(b"nope", {"webhook-signature": sign(b"nope")})


def test_unpublish_uses_the_slug_last_seen_and_moves_unpublish_the_old_slug() -> None:
    cms = StoryblokContent(settings(), folders={"page": "pages"})
    unknown = hook("unpublished")
    assert cms.parse_webhook(unknown, {"webhook-signature": sign(unknown)}) == []
    published = hook(full_slug="pages/shipping")
    assert cms.parse_webhook(published, {"webhook-signature": sign(published)})[0].slug == "shipping"
    moved = hook("moved", full_slug="pages/delivery")
    events = cms.parse_webhook(moved, {"webhook-signature": sign(moved)})
    assert [(e.action, e.content_type, e.slug) for e in events] == [
        ("published", "page", "delivery"),
        ("unpublished", "page", "shipping"),
    ]
    deleted = hook("deleted")
    (gone,) = cms.parse_webhook(deleted, {"webhook-signature": sign(deleted)})
    assert (gone.action, gone.slug) == ("deleted", "delivery")


def test_stories_outside_our_folders_and_other_actions_give_no_events() -> None:
    cms = StoryblokContent(settings(), folders={"page": "pages"})
    for body in (
        hook(full_slug="page/shipping"),  # the page type lives in pages/
        hook(full_slug="pages/a/b"),
        json.dumps({"action": "entries_updated", "datasource_slug": "x", "space_id": 1, "text": ""}).encode(),
    ):
        assert cms.parse_webhook(body, {"webhook-signature": sign(body)}) == []


async def test_build_uses_the_region_or_base_url() -> None:
    cms = build(settings(region="us"))
    with respx.mock() as router:
        route = router.get("https://api-us.storyblok.com/v2/cdn/spaces/me").mock(
            return_value=httpx.Response(200, json=fixture("spaces_me.response.json"))
        )
        router.get("https://api-us.storyblok.com/v2/cdn/stories").mock(
            return_value=httpx.Response(200, json={"stories": [], "cv": 1}, headers={"total": "0"})
        )
        assert await cms.list_entries("page", locale="en") == []
    assert route.called and cms.vendor == "storyblok"
    await cms.aclose()
    custom = StoryblokContent(settings(base_url="https://sb.example.test/v2/cdn/"))
    with respx.mock() as router:
        got = router.get("https://sb.example.test/v2/cdn/spaces/me").mock(
            return_value=httpx.Response(200, json=fixture("spaces_me.response.json"))
        )
        router.get("https://sb.example.test/v2/cdn/stories").mock(
            return_value=httpx.Response(200, json={"stories": []}, headers={"total": "0"})
        )
        await custom.list_entries("page", locale="en")
    assert got.called


def test_a_folder_that_is_not_a_slug_path_is_a_configuration_error() -> None:
    with pytest.raises(VendorMisconfigured, match="not a slug path"):
        StoryblokContent(settings(), folders={"page": "../pages"})
