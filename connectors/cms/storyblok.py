"""Storyblok as the ContentProvider: the Content Delivery API v2 (stories).

Contract: `vendor-contracts/storyblok.md` ([V] = confirmed there, [U] = not confirmed).

- Entries are stories: `GET /v2/cdn/stories/{full_slug}?token=…&version=published|draft&cv=…[&language=…]`
  [V]; the token is a query parameter, never a header [V]. `preview=True` asks for `version=draft` with the
  preview token [V] (no preview token configured → VendorMisconfigured).
- Where an entry lives: `full_slug = "{folder}/{slug}"`, the folder being the content type itself unless
  `folders` maps it (`{"page": "pages"}`; `""` puts stories at the root). So `page/shipping`, `home/home`.
  The story's root block must be of that type (`content.component == content_type`), else NotFound.
- Cache version `cv` [V]: taken from `GET /v2/cdn/spaces/me` (`space.version`, with `space.language_codes`),
  kept for `SPACE_MAX_AGE_SECONDS`, raised by any newer `cv` an answer carries, and fetched again after a
  story webhook. Without a `cv` Storyblok answers with a redirect to the URL with the latest one [V]: the `cv`
  is read from its Location and the request made again (the Location itself is never followed).
- Languages [V: a `language` parameter]: our locale's chain (`de_DE → de-DE → de`) is matched against the
  space's language codes; no match, or the default locale, sends no `language` (the space's default).
  Untranslated fields then come from the default language [U: field-level translation].
- `body` becomes `body_html`: a Markdown string (Markdown or Textarea field) is rendered with markdown-it
  (raw HTML off); a Richtext field [U: node names] is rendered with text escaped and only safe links; a list
  of nestable blocks renders the Richtext fields of each block in order (the pack's `rich_text_block`).
  Lists are ordered by a `position` content field, like the built-in CMS, else by the story's folder order.
  Other content fields are `ContentEntry.fields`, without Storyblok's `_uid`/`_editable`; a multilink field
  becomes its URL string [U shape]. `title` falls back to the story's `name`.
- `list_entries` pages through `GET /v2/cdn/stories?starts_with={folder}/&per_page=100&page=N`, totals from
  the `total` response header [V].
- Errors: 404 → NotFound [V], 422 (invalid or unknown parameter) and other 4xx → VendorRejected [V 422];
  401/429/5xx are the shared client's (`connectors.http`).
- Webhooks [outside the pack; Storyblok's docs: storyblok.com/tp/webhook-secret-with-different-technologies]:
  `webhook-signature` = hex HMAC-SHA1 of the raw body with the webhook secret; body
  `{"action", "story_id", "space_id", "text", "full_slug" (published and moved only)}`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from cachetools import LRUCache
from markdown_it import MarkdownIt

from connectors.cms.base import ContentEntry, ContentEvent
from connectors.cms.builtin import locale_chain, normalize_locale
from connectors.cms.html import safe_href
from connectors.errors import (
    NotFound,
    VendorMisconfigured,
    VendorRejected,
    VendorTimeout,
    VendorUnavailable,
    WebhookRejected,
)
from connectors.http import VendorClient, vendor_answers
from connectors.settings import StoryblokSettings

log = logging.getLogger("edgeshop.connectors")

VENDOR = "storyblok"
REGION_URLS = {  # [V S1]
    "eu": "https://api.storyblok.com",
    "us": "https://api-us.storyblok.com",
    "ca": "https://api-ca.storyblok.com",
    "ap": "https://api-ap.storyblok.com",
    "cn": "https://app.storyblokchina.cn",
}
API = "/v2/cdn"
SPACE_MAX_AGE_SECONDS = 60.0  # another replica may have had the publish webhook: look again this often
PER_PAGE = 100  # [V] the largest page
MAX_PAGES = 20
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
_TYPE = re.compile(r"^[a-z][a-z0-9_-]{0,49}$")
_FOLDER = re.compile(r"^([a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*)?$")
_STORYBLOK_KEYS = frozenset({"_uid", "_editable"})
_OWN_FIELDS = frozenset({"_uid", "_editable", "component", "title", "body"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
Action = Literal["published", "unpublished", "deleted"]


_BLOCKS = {
    "paragraph": "p",
    "blockquote": "blockquote",
    "bullet_list": "ul",
    "ordered_list": "ol",
    "list_item": "li",
    "table": "table",
    "tableRow": "tr",
    "tableCell": "td",
    "tableHeader": "th",
}
_MARKS = {
    "bold": "strong",
    "italic": "em",
    "strike": "s",
    "underline": "u",
    "code": "code",
    "superscript": "sup",
    "subscript": "sub",
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _link_href(attrs: dict[str, Any]) -> str | None:
    href = attrs.get("href")
    if attrs.get("linktype") == "email" and isinstance(href, str) and not href.startswith("mailto:"):
        href = f"mailto:{href}"
    elif attrs.get("linktype") == "story" and isinstance(href, str) and href and href[0] not in "/#":
        href = f"/{href}"
    if isinstance(href, str) and attrs.get("anchor"):
        href = f"{href}#{attrs['anchor']}"
    return safe_href(href)


def render_richtext(node: Any) -> str:
    """Storyblok Richtext [U: ProseMirror node and mark names] to HTML.

    Text is escaped, links keep only safe targets; embedded blocks and unknown nodes give only their text.
    """
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    attrs = _dict(node.get("attrs"))
    if kind == "text":
        html = escape(str(node.get("text", "")))
        for mark in node.get("marks") or []:
            mark = _dict(mark)
            if mark.get("type") == "link":
                href = _link_href(_dict(mark.get("attrs")))
                html = f'<a href="{escape(href)}">{html}</a>' if href else html
            elif tag := _MARKS.get(str(mark.get("type"))):
                html = f"<{tag}>{html}</{tag}>"
        return html
    if kind == "horizontal_rule":
        return "<hr>"
    if kind == "hard_break":
        return "<br>"
    if kind == "image":
        src = safe_href(attrs.get("src"))
        return f'<img src="{escape(src)}" alt="{escape(str(attrs.get("alt") or ""))}">' if src else ""
    if kind == "blok":
        return ""
    inner = "".join(render_richtext(child) for child in node.get("content") or [])
    if kind == "heading":
        level = attrs.get("level")
        tag = f"h{level}" if isinstance(level, int) and 1 <= level <= 6 else "h2"
        return f"<{tag}>{inner}</{tag}>"
    if kind == "code_block":
        return f"<pre><code>{inner}</code></pre>"
    if kind in _BLOCKS:
        return f"<{_BLOCKS[kind]}>{inner}</{_BLOCKS[kind]}>"
    return inner  # doc, and anything newer


def _is_richtext(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc"


def _plain(value: Any) -> Any:
    """Content data without Storyblok's editor keys; a multilink field as its URL [U: multilink shape]."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if not isinstance(value, dict) or _is_richtext(value):
        return value
    if value.get("fieldtype") == "multilink":
        return _link_href({**value, "href": value.get("url") or value.get("cached_url") or ""}) or ""
    return {key: _plain(item) for key, item in value.items() if key not in _STORYBLOK_KEYS}


@dataclass(frozen=True, slots=True)
class _Space:
    cv: int | None
    languages: tuple[str, ...]
    fetched_at: float


class StoryblokContent:
    vendor = VENDOR

    def __init__(
        self,
        settings: StoryblokSettings,
        *,
        folders: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        remember: int = 4096,
    ) -> None:
        self.settings = settings
        self._folders = dict(folders or {})
        for content_type, folder in self._folders.items():
            if not _FOLDER.fullmatch(folder):
                raise VendorMisconfigured(
                    f"storyblok folder for {content_type!r}: {folder!r} is not a slug path", vendor=VENDOR
                )
        host = str(settings.base_url) if settings.base_url is not None else REGION_URLS[settings.region]
        host = host.rstrip("/").removesuffix(API)
        self._client = VendorClient(VENDOR, host + API, settings.http, http=http)
        if sleep is not None:
            self._client.sleep = sleep
        self._clock = clock
        self._space: _Space | None = None
        self._stale = False
        self._lock = asyncio.Lock()
        self._md = MarkdownIt("commonmark", {"html": False})
        # story id -> (content_type, slug): unpublish and delete webhooks carry no slug
        self._known: LRUCache[str, tuple[str, str]] = LRUCache(remember)

    async def aclose(self) -> None:
        await self._client.aclose()

    def full_slug(self, content_type: str, slug: str) -> str:
        folder = self._folders.get(content_type, content_type)
        return f"{folder}/{slug}" if folder else slug

    def _entry_of(self, full_slug: str) -> tuple[str, str] | None:
        """The inverse of `full_slug`: (content_type, slug), or None for a story outside our folders."""
        folder, _, slug = full_slug.strip("/").rpartition("/")
        mapped = [content_type for content_type, its_folder in self._folders.items() if its_folder == folder]
        # an unmapped folder is the content type of that name, unless that type was mapped elsewhere
        content_type = mapped[0] if mapped else ("" if folder in self._folders else folder)
        if not _TYPE.fullmatch(content_type) or not _SLUG.fullmatch(slug):
            return None
        return content_type, slug

    def _token(self, preview: bool) -> str:
        if not preview:
            return self.settings.token.get_secret_value()
        if self.settings.preview_token is None:
            raise VendorMisconfigured(
                "connectors.cms.preview_token: set a Storyblok preview token to show drafts", vendor=VENDOR
            )
        return self.settings.preview_token.get_secret_value()

    async def get_entry(self, content_type: str, slug: str, *, locale: str, preview: bool = False) -> ContentEntry:
        if not _TYPE.fullmatch(content_type) or not _SLUG.fullmatch(slug):
            raise NotFound(f"no {content_type} entry {slug!r}", vendor=VENDOR)
        params = await self._params(locale, preview)
        path = f"/stories/{quote(self.full_slug(content_type, slug), safe='/')}"
        answer = await self._get(path, params, "get_entry")
        with vendor_answers(VENDOR, "get_entry"):
            story = answer["story"]
            if _dict(story.get("content")).get("component") != content_type:
                raise NotFound(f"storyblok story {path} is not a {content_type}", vendor=VENDOR)
            return self._entry(story, content_type, slug)

    async def list_entries(self, content_type: str, *, locale: str, preview: bool = False) -> list[ContentEntry]:
        if not _TYPE.fullmatch(content_type):
            return []
        params = await self._params(locale, preview)
        folder = self._folders.get(content_type, content_type)
        found: dict[str, tuple[int, ContentEntry]] = {}  # slug -> (the story's place in its folder, entry)
        for page in range(1, MAX_PAGES + 1):
            query = {**params, "per_page": str(PER_PAGE), "page": str(page)}
            if folder:
                query["starts_with"] = f"{folder}/"
            answer, total = await self._get_page("/stories", query)
            with vendor_answers(VENDOR, "list_entries"):
                stories = answer["stories"]
                for story in stories:
                    slug = story.get("slug")
                    if (
                        isinstance(slug, str)
                        and _SLUG.fullmatch(slug)
                        and not story.get("is_startpage")
                        and story.get("full_slug") == self.full_slug(content_type, slug)
                        and _dict(story.get("content")).get("component") == content_type
                        and slug not in found
                    ):
                        found[slug] = (_position(story.get("position")), self._entry(story, content_type, slug))
            if not stories or total is None or page * PER_PAGE >= total:
                break
        # a `position` content field orders like the built-in CMS's; else the story's place in its folder
        ordered = sorted(found.values(), key=lambda p: (_position(p[1].fields.get("position"), p[0]), p[1].slug))
        return [entry for _, entry in ordered]

    async def _params(self, locale: str, preview: bool) -> dict[str, str]:
        token = self._token(preview)
        space = await self._space_info()
        params = {"token": token, "version": "draft" if preview else "published"}
        if space.cv is not None:
            params["cv"] = str(space.cv)
        language = self._language(locale, space.languages)
        if language is not None:
            params["language"] = language
        return params

    def _language(self, locale: str, languages: tuple[str, ...]) -> str | None:
        """The space's language code for our locale, or None for the space's default language."""
        default = (normalize_locale(self.settings.default_locale) or self.settings.default_locale).lower()
        codes = {code.replace("_", "-").lower(): code for code in languages}
        for candidate in locale_chain(locale, self.settings.default_locale):
            if candidate.lower() == default:
                return None
            if candidate.lower() in codes:
                return codes[candidate.lower()]
        return None

    async def _space_info(self) -> _Space:
        space = self._space
        if space is not None and not self._stale and self._clock() - space.fetched_at < SPACE_MAX_AGE_SECONDS:
            return space
        async with self._lock:
            if self._space is not space and self._space is not None:
                return self._space  # another request fetched it while this one waited
            stale = self._stale
            self._stale = False
            try:
                answer = await self._get("/spaces/me", {"token": self._token(False)}, "space")
            except (VendorUnavailable, VendorTimeout):
                if space is None:
                    raise
                self._stale = stale
                log.warning("storyblok: cannot refresh the cache version; keeping cv %s", space.cv)
                return space
            with vendor_answers(VENDOR, "space"):
                info = answer["space"]
                version = info.get("version")
                languages = tuple(str(code) for code in info.get("language_codes") or [])
            self._space = _Space(version if isinstance(version, int) else None, languages, self._clock())
            return self._space

    def _newer_cv(self, cv: Any) -> None:
        space = self._space
        if isinstance(cv, int) and space is not None and (space.cv is None or cv > space.cv):
            self._space = _Space(cv, space.languages, space.fetched_at)

    async def _get(self, path: str, params: dict[str, str], call: str) -> dict[str, Any]:
        return (await self._request(path, params, call))[0]

    async def _get_page(self, path: str, params: dict[str, str]) -> tuple[dict[str, Any], int | None]:
        answer, response = await self._request(path, params, "list_entries")
        total = response.headers.get("total")  # [V] totals are headers, not body fields
        return answer, int(total) if total is not None and total.isdigit() else None

    async def _request(self, path: str, params: dict[str, str], call: str) -> tuple[dict[str, Any], httpx.Response]:
        response = await self._client.request("GET", path, params=params, call=call)
        if response.status_code in _REDIRECTS:
            # [V] no or an old cv: Storyblok redirects to the same URL with the current one
            cv = parse_qs(urlsplit(response.headers.get("location", "")).query).get("cv", [""])[0]
            if not cv.isdigit():
                raise VendorUnavailable(f"storyblok: redirect without a cache version on {call}", vendor=VENDOR)
            self._newer_cv(int(cv))
            response = await self._client.request("GET", path, params={**params, "cv": cv}, call=call)
        status = response.status_code
        if status == 200:
            with vendor_answers(VENDOR, call):
                answer = response.json()
                if not isinstance(answer, dict):
                    raise ValueError("not a JSON object")
                self._newer_cv(answer.get("cv"))
                return answer, response
        if status == 404:
            raise NotFound(f"storyblok: no story at {path}", vendor=VENDOR)
        if 400 <= status < 500:
            raise VendorRejected(f"storyblok refused {call} ({status}): {_error_text(response)}", vendor=VENDOR)
        raise VendorUnavailable(f"storyblok: unexpected {status} to {call}", vendor=VENDOR)

    def _entry(self, story: dict[str, Any], content_type: str, slug: str) -> ContentEntry:
        content = _dict(story.get("content"))
        title = content.get("title")
        lang = story.get("lang")
        stamp = story.get("updated_at") or story.get("published_at") or story.get("created_at")
        self._known[str(story["id"])] = (content_type, slug)
        fields = {key: _plain(value) for key, value in content.items() if key not in _OWN_FIELDS}
        return ContentEntry(
            id=str(story["id"]),
            content_type=content_type,
            slug=slug,
            locale=str(lang) if isinstance(lang, str) and lang and lang != "default" else self.settings.default_locale,
            title=title if isinstance(title, str) and title else str(story.get("name") or slug.replace("-", " ")),
            body_html=self._body(content.get("body")),
            fields=fields,
            updated_at=datetime.fromisoformat(str(stamp)),
        )

    def _body(self, body: Any) -> str:
        if isinstance(body, str):
            return self._md.render(body) if body.strip() else ""
        if _is_richtext(body):
            return render_richtext(body)
        if isinstance(body, list):
            return "".join(
                render_richtext(value)
                for block in body
                for key, value in _dict(block).items()
                if key not in _OWN_FIELDS and _is_richtext(value)
            )
        return ""

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[ContentEvent]:
        """Story published/unpublished/deleted/moved → events; other verified actions → []. Raises WebhookRejected.

        Every story action makes the next read fetch a fresh `cv`. Storyblok sends no delivery id, version or
        time, so two publishes of one story are byte-identical: each receipt gets its own event id (a replay
        purges once more, which is harmless; an id from the body would let a dedupe drop the second publish).
        """
        secret = self.settings.webhook_secret
        if secret is None:
            raise WebhookRejected("connectors.cms.webhook_secret is not set: webhooks are refused", vendor=VENDOR)
        given = {name.lower(): value for name, value in headers.items()}.get("webhook-signature", "")
        expected = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha1).hexdigest()
        if not given or not hmac.compare_digest(expected, given.strip().lower()):
            raise WebhookRejected("storyblok webhook: webhook-signature missing or wrong", vendor=VENDOR)
        try:
            payload = json.loads(body)
            action = payload["action"]
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("storyblok webhook: not a webhook JSON body", vendor=VENDOR) from exc
        if action not in ("published", "unpublished", "deleted", "moved") or "story_id" not in payload:
            return []
        self._stale = True
        story_id = str(payload["story_id"])
        full_slug = payload.get("full_slug")
        target = self._entry_of(full_slug) if isinstance(full_slug, str) else None
        known = self._known.get(story_id)
        changes: list[tuple[Action, tuple[str, str]]] = []
        if action in ("published", "moved"):
            if target is not None:
                changes.append(("published", target))
                self._known[story_id] = target
            if known is not None and known != target:
                changes.append(("unpublished", known))
        else:
            gone = target or known
            if gone is not None:
                changes.append((action, gone))
            self._known.pop(story_id, None)
        if not changes:
            log.warning("storyblok webhook %s for story %s: no entry of ours known for it", action, story_id)
        receipt = f"{story_id}:{action}:{uuid.uuid4().hex}"
        return [
            ContentEvent(
                id=receipt if len(changes) == 1 else f"{receipt}:{content_type}/{slug}",
                action=what,
                content_type=content_type,
                slug=slug,
            )
            for what, (content_type, slug) in changes
        ]


def _position(value: Any, default: int = 1000) -> int:
    return value if isinstance(value, int) else default


def _error_text(response: httpx.Response) -> str:
    """Storyblok error bodies are small: `{"error": "…"}` or `["…"]` [U]."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    if isinstance(body, list) and body:
        return str(body[0])
    return response.reason_phrase


def build(settings: StoryblokSettings) -> StoryblokContent:
    return StoryblokContent(settings, folders=settings.folders)


__all__ = ["REGION_URLS", "StoryblokContent", "build", "render_richtext", "safe_href"]
