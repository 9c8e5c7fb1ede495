"""One ContentProvider contract, every adapter: built-in (files), Contentful and Storyblok (respx fakes).

The same content is given to each: as content files, as a Contentful space answering `entries` queries, and as a
Storyblok space answering `stories` requests. The fakes answer in the shapes of the vendor pack
(`tests/fixtures/vendors/`), checking tokens the way the vendors do, so a wrong host or token fails here too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from connectors.cms.base import ContentProvider
from connectors.cms.builtin import BuiltinContent
from connectors.cms.contentful import ContentfulContent
from connectors.cms.storyblok import StoryblokContent
from connectors.errors import NotFound
from connectors.settings import ContentfulSettings, StoryblokSettings

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendors"

Content = dict[tuple[str, str], dict[str, dict[str, Any]]]  # (content_type, slug) -> locale -> fields and body
BANNERS = [{"title": "Rain", "text": "Dry", "url": "/c/rain"}, {"title": "Sleep", "text": "Warm", "url": "/c/bags"}]
PUBLISHED: Content = {
    ("page", "shipping"): {
        "en": {"title": "Shipping", "position": 1, "body": "We ship **fast**."},
        "de": {"title": "Versand", "position": 1, "body": "Wir versenden **schnell**."},
    },
    ("page", "about"): {"en": {"title": "About", "position": 2, "body": "Hello."}},
    ("home", "home"): {"en": {"title": "Home", "hero_title": "Built", "banners": BANNERS, "body": "Ours."}},
}
DRAFTS: Content = {
    ("page", "shipping"): {"en": {"title": "Shipping (draft)", "position": 1, "body": "Soon."}},
    ("page", "faq"): {"en": {"title": "FAQ", "position": 3, "body": "Ask."}},
}


def fixture(vendor: str, name: str) -> Any:
    return json.loads((FIXTURES / vendor / name).read_text(encoding="utf-8"))


def with_drafts(published: Content, drafts: Content) -> Content:
    merged = copy.deepcopy(published)
    for key, locales in drafts.items():
        merged.setdefault(key, {}).update(copy.deepcopy(locales))
    return merged


# --- built-in: content files --------------------------------------------------------------------------------


def content_file(values: dict[str, Any]) -> str:
    lines, tables = [], []
    for name, value in values.items():
        if name == "body":
            continue
        if isinstance(value, list):
            for row in value:
                tables.append(f"[[{name}]]")
                tables.extend(f"{key} = {json.dumps(item)}" for key, item in row.items())
        else:
            lines.append(f"{name} = {json.dumps(value)}")
    return "+++\n" + "\n".join([*lines, *tables]) + "\n+++\n" + values.get("body", "") + "\n"


def builtin_folder(root: Path) -> Path:
    for prefix, content in (("", PUBLISHED), ("_drafts/", DRAFTS)):
        for (content_type, slug), locales in content.items():
            for locale, values in locales.items():
                path = root / f"{prefix}{locale}/{content_type}/{slug}.md"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content_file(values), encoding="utf-8")
    return root


# --- Contentful: a space answering `entries` with locale=* ------------------------------------------------------

CONTENTFUL_LOCALES = {"en": "en-US", "de": "de"}


def contentful_space(content: Content) -> tuple[list[Any], list[Any]]:
    """(entries of our content types, linked banner entries), in the pack's entry shape with per-locale fields."""
    entries, linked = [], []
    for (content_type, slug), locales in content.items():
        made = fixture("contentful", "entry.json")
        made["sys"].update(id=f"{content_type}-{slug}")
        made["sys"].pop("locale")  # locale=* answers carry no sys.locale
        made["sys"]["contentType"]["sys"]["id"] = content_type
        fields: dict[str, dict[str, Any]] = {"slug": {"en-US": slug}}  # not localized
        for locale, values in locales.items():
            code = CONTENTFUL_LOCALES[locale]
            for name, value in values.items():
                if name == "banners":
                    links = []
                    for index, banner in enumerate(value):
                        banner_id = f"{content_type}-{slug}-banner-{index}-{locale}"
                        target = fixture("contentful", "entry.json")
                        target["sys"].update(id=banner_id)
                        target["sys"].pop("locale")
                        target["sys"]["contentType"]["sys"]["id"] = "banner"
                        target["fields"] = {key: {code: item} for key, item in banner.items()}
                        linked.append(target)
                        links.append({"sys": {"type": "Link", "linkType": "Entry", "id": banner_id}})
                    value = links
                fields.setdefault(name, {})[code] = value
        made["fields"] = fields
        entries.append(made)
    return entries, linked


def contentful_handler(request: httpx.Request) -> httpx.Response:
    preview = request.url.host == "preview.contentful.com"
    if request.headers.get("authorization") != ("Bearer cpa-token" if preview else "Bearer cda-token"):
        return httpx.Response(401, json=fixture("contentful", "error.access_token_invalid.json"))
    params = request.url.params
    assert params["locale"] == "*"
    if params["content_type"] not in {content_type for content_type, _ in PUBLISHED}:
        unknown = fixture("contentful", "error.invalid_query.json")  # unknownContentType
        unknown["details"]["errors"][0]["value"] = params["content_type"]
        return httpx.Response(400, json=unknown)
    entries, linked = contentful_space(with_drafts(PUBLISHED, DRAFTS) if preview else PUBLISHED)
    matching = [
        e
        for e in entries
        if e["sys"]["contentType"]["sys"]["id"] == params["content_type"]
        and ("fields.slug" not in params or params["fields.slug"] in e["fields"]["slug"].values())
    ]
    skip, limit = int(params.get("skip", "0")), int(params.get("limit", "100"))
    return httpx.Response(
        200,
        json={
            "sys": {"type": "Array"},
            "total": len(matching),
            "skip": skip,
            "limit": limit,
            "items": matching[skip : skip + limit],
            "includes": {"Entry": linked},
        },
    )


# --- Storyblok: a space answering `stories` -----------------------------------------------------------------

CV = 1767348000


def storyblok_story(content_type: str, slug: str, values: dict[str, Any], language: str | None, number: int) -> Any:
    story = fixture("storyblok", "story_response.json")["story"]
    banners = [
        {"_uid": f"b{index}", "component": "banner", **banner} for index, banner in enumerate(values.get("banners", []))
    ]
    content = {"_uid": f"u{number}", "component": content_type, **values}
    if banners:
        content["banners"] = banners
    story.update(
        id=400000000 + number,
        name=values.get("title", slug),
        slug=slug,
        full_slug=f"{content_type}/{slug}",
        content=content,
        lang=language or "default",
        position=0,
    )
    return story


def storyblok_handler(request: httpx.Request) -> httpx.Response:
    params = request.url.params
    path = request.url.path.removeprefix("/v2/cdn")
    if path == "/spaces/me":
        return httpx.Response(200, json=fixture("storyblok", "spaces_me.response.json"))
    draft = params.get("version") == "draft"
    if params.get("token") != ("preview-token" if draft else "public-token"):
        return httpx.Response(401, json=fixture("storyblok", "error.401.json"))
    if "cv" not in params:
        return httpx.Response(301, headers={"Location": f"{request.url}&cv={CV}"})
    content = with_drafts(PUBLISHED, DRAFTS) if draft else PUBLISHED
    language = params.get("language")
    stories = []
    for number, ((content_type, slug), locales) in enumerate(sorted(content.items())):
        # field-level translation: a story exists in every language, untranslated fields are the default's
        values = {**locales.get("en", {}), **locales.get(language or "", {})}
        stories.append(storyblok_story(content_type, slug, values, language, number))
    if path == "/stories":
        chosen = [s for s in stories if s["full_slug"].startswith(params.get("starts_with", ""))]
        page, per_page = int(params.get("page", "1")), int(params.get("per_page", "25"))
        return httpx.Response(
            200,
            json={"stories": chosen[(page - 1) * per_page : page * per_page], "cv": CV, "rels": [], "links": []},
            headers={"total": str(len(chosen)), "per-page": str(per_page)},
        )
    found = [s for s in stories if f"/stories/{s['full_slug']}" == path]
    if not found:
        return httpx.Response(404, json=fixture("storyblok", "error.404.json"))
    return httpx.Response(200, json={"story": found[0], "cv": CV, "rels": [], "links": []})


@pytest.fixture(params=["builtin", "contentful", "storyblok"])
async def cms(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ContentProvider]:
    if request.param == "builtin":
        yield BuiltinContent(builtin_folder(tmp_path), default_locale="en")
        return
    with respx.mock(assert_all_called=False) as router:
        adapter: ContentfulContent | StoryblokContent
        if request.param == "contentful":
            router.route(host__in=("cdn.contentful.com", "preview.contentful.com")).mock(side_effect=contentful_handler)
            adapter = ContentfulContent(
                ContentfulSettings.model_validate(
                    {"space_id": "yw2kq8c0abcd", "delivery_token": "cda-token", "preview_token": "cpa-token"}
                )
            )
        else:
            router.route(host="api.storyblok.com").mock(side_effect=storyblok_handler)
            adapter = StoryblokContent(
                StoryblokSettings.model_validate(
                    {"token": "public-token", "preview_token": "preview-token", "default_locale": "en"}
                )
            )
        yield adapter
        await adapter.aclose()


async def test_an_entry_in_the_shoppers_locale(cms: ContentProvider) -> None:
    entry = await cms.get_entry("page", "shipping", locale="de_DE")
    assert (entry.content_type, entry.slug, entry.title, entry.locale) == ("page", "shipping", "Versand", "de")
    assert entry.body_html == "<p>Wir versenden <strong>schnell</strong>.</p>\n"
    assert entry.fields["position"] == 1 and "title" not in entry.fields
    assert isinstance(entry.updated_at, datetime) and entry.updated_at.tzinfo is not None


async def test_an_untranslated_entry_falls_back_to_the_default_locale(cms: ContentProvider) -> None:
    entry = await cms.get_entry("page", "about", locale="de_DE")
    assert entry.title == "About" and entry.body_html == "<p>Hello.</p>\n"
    english = await cms.get_entry("page", "shipping", locale="en_US")
    assert english.title == "Shipping" and english.body_html == "<p>We ship <strong>fast</strong>.</p>\n"


async def test_structured_fields_the_home_page_reads(cms: ContentProvider) -> None:
    home = await cms.get_entry("home", "home", locale="fr_FR")
    assert home.fields["hero_title"] == "Built" and home.body_html == "<p>Ours.</p>\n"
    assert [(b["title"], b["text"], b["url"]) for b in home.fields["banners"]] == [
        ("Rain", "Dry", "/c/rain"),
        ("Sleep", "Warm", "/c/bags"),
    ]


@pytest.mark.parametrize("slug", ["missing", "faq", "../home/home", "Shipping"])
async def test_unknown_slugs_are_not_found(cms: ContentProvider, slug: str) -> None:
    with pytest.raises(NotFound):
        await cms.get_entry("page", slug, locale="en")


async def test_list_entries_in_position_order(cms: ContentProvider) -> None:
    english = await cms.list_entries("page", locale="en")
    assert [(e.slug, e.title) for e in english] == [("shipping", "Shipping"), ("about", "About")]
    german = await cms.list_entries("page", locale="de_DE")
    assert [e.title for e in german] == ["Versand", "About"]
    assert await cms.list_entries("nothing", locale="en") == []


async def test_preview_shows_drafts(cms: ContentProvider) -> None:
    assert (await cms.get_entry("page", "shipping", locale="en", preview=True)).title == "Shipping (draft)"
    assert (await cms.get_entry("page", "faq", locale="en", preview=True)).title == "FAQ"
    assert (await cms.get_entry("page", "shipping", locale="en")).title == "Shipping"
    drafts = await cms.list_entries("page", locale="en", preview=True)
    assert [(e.slug, e.title) for e in drafts] == [("shipping", "Shipping (draft)"), ("about", "About"), ("faq", "FAQ")]
