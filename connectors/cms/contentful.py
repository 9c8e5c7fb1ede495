"""Contentful as the ContentProvider: the Content Delivery API, and the Preview API for drafts.

Contract: `vendor-contracts/contentful.md` ([V] = confirmed there, [U] = not confirmed).

- Reads are `GET /spaces/{space}/environments/{env}/entries?content_type=…&fields.slug=…&locale=*&include=2`
  [V], with `Authorization: Bearer <token>` [V]; `preview=True` goes to the Preview API host with the preview
  token (delivery tokens are refused there) [V].
- Locales: every read asks for `locale=*` [V: each field becomes an object keyed by locale code], and each field
  takes the first value along our chain `de_DE → de-DE → de → default_locale`, compared case-insensitively.
  One request whatever locales the space has (asking for a locale the space lacks would be an error), and an
  entry untranslated into the shopper's locale falls back field by field, like Contentful's own chain [V].
  `ContentEntry.locale` is the most specific locale the entry has any value in.
- The content model the storefront expects: a content type per our `content_type` (`page`, `home`) whose field
  ids are ours: `slug` (Short text, **not localized**: `fields.slug` matches the one stored value — how a filter
  on a localized field behaves with `locale=*` is [U]), `title`, `body` (Long text = Markdown, or Rich Text) and
  any others, exposed in `ContentEntry.fields` as they are (`hero_title`, `position` as Integer, `experiments`
  as a JSON object, `banners` as references to entries with `title`, `text`, `url`).
- Links resolve through `items ∪ includes.Entry` and `includes.Asset` [V], two levels deep (`include=2`);
  a linked entry becomes `{"sys": {"type": "Entry", "id", "content_type"}, **its fields}`, an asset a flat
  dict (`url`, `title`, `width`, …). A link Delivery left out (draft, deleted) counts as missing: None as a
  field, dropped from a list [V]. A link deeper than two levels, or back to an entry being resolved, stays a
  `{"sys": …}` stub, so a cycle ends.
- Errors [V ids]: 404 → NotFound (VendorMisconfigured when the space or environment is what is missing),
  400 `InvalidQuery` for an unknown content type → NotFound (an empty list), other 400s (`InvalidQuery`,
  `BadRequest`) → VendorRejected; 401/403/429/5xx are the shared client's (`connectors.http`).
  A 429 carries `X-Contentful-RateLimit-Reset` [V]; the client reads only `Retry-After`, so without one it
  waits its own backoff.
- Webhooks: Contentful's request signing is not in the pack, so the check is a shared secret sent as the custom
  header `X-Webhook-Secret` (configure it on the webhook in Contentful), compared in constant time.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from html import escape
from typing import Any, Literal
from urllib.parse import quote

import httpx
from cachetools import LRUCache
from markdown_it import MarkdownIt

from connectors.cms.base import ContentEntry, ContentEvent
from connectors.cms.builtin import locale_chain
from connectors.cms.html import safe_href
from connectors.errors import (
    NotFound,
    VendorMisconfigured,
    VendorRejected,
    VendorUnavailable,
    WebhookRejected,
)
from connectors.http import VendorClient, vendor_answers
from connectors.settings import ContentfulSettings

log = logging.getLogger("edgeshop.connectors")

VENDOR = "contentful"
LINK_DEPTH = 2  # levels of links resolved, and the `include` asked for
PAGE_SIZE = 100  # [U] Contentful's default `limit`
MAX_PAGES = 10  # a content type of more than 1000 entries is not a list a page shows
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_OWN_FIELDS = frozenset({"title", "slug", "body"})
Action = Literal["published", "unpublished", "deleted"]
_TOPICS: dict[str, Action] = {
    "ContentManagement.Entry.publish": "published",
    "ContentManagement.Entry.unpublish": "unpublished",
    "ContentManagement.Entry.delete": "deleted",
}


class _Localizer:
    """Picks each field's value along the locale chain from `locale=*` field objects, and remembers the most
    specific locale any value came from (the locale the entry is served in)."""

    def __init__(self, locale: str, default: str) -> None:
        self.chain = [code.lower() for code in locale_chain(locale, default)]
        self.best = len(self.chain)
        self.best_code = default

    def fields(self, item: Mapping[str, Any]) -> dict[str, Any]:
        raw = item.get("fields")
        if not isinstance(raw, dict):
            return {}
        if (item.get("sys") or {}).get("locale") is not None:
            return dict(raw)  # a single-locale answer: values are plain
        picked: dict[str, Any] = {}
        for name, per_locale in raw.items():
            if not isinstance(per_locale, dict):
                continue
            codes = {code.lower(): code for code in per_locale}
            for index, wanted in enumerate(self.chain):
                if wanted in codes:
                    picked[name] = per_locale[codes[wanted]]
                    if index < self.best:
                        self.best, self.best_code = index, codes[wanted]
                    break
        return picked


class _Resolver:
    """One collection answer: entries by id (items and includes), assets by id, links resolved in fields."""

    def __init__(self, answer: dict[str, Any], localizer: _Localizer) -> None:
        includes = answer.get("includes") or {}
        self.entries = {e["sys"]["id"]: e for e in [*answer.get("items", []), *includes.get("Entry", [])]}
        self.assets = {a["sys"]["id"]: a for a in includes.get("Asset", [])}
        self.localizer = localizer

    def entry_fields(self, entry: dict[str, Any], depth: int, path: frozenset[str]) -> dict[str, Any]:
        fields = self.localizer.fields(entry)
        return {name: self.value(value, depth, path) for name, value in fields.items()}

    def value(self, value: Any, depth: int, path: frozenset[str]) -> Any:
        if _is_link(value):
            return self.link(value, depth, path)
        if isinstance(value, list):
            resolved = [self.value(item, depth, path) for item in value]
            return [item for item, raw in zip(resolved, value, strict=True) if item is not None or not _is_link(raw)]
        return value  # JSON objects, rich text documents, locations: data, not links

    def link(self, link: dict[str, Any], depth: int, path: frozenset[str]) -> dict[str, Any] | None:
        sys = link["sys"]
        target_id = sys.get("id")
        if sys.get("linkType") == "Asset":
            asset = self.assets.get(target_id)
            return self.asset(asset) if asset is not None else None
        entry = self.entries.get(target_id) if sys.get("linkType") == "Entry" else None
        if entry is None:
            return None  # not published, deleted, or beyond `include`: missing
        stub: dict[str, Any] = {"sys": {"type": "Entry", "id": target_id, "content_type": _content_type_of(entry)}}
        if depth >= LINK_DEPTH or target_id in path:
            return stub
        return {**self.entry_fields(entry, depth + 1, path | {target_id}), **stub}

    def asset(self, asset: dict[str, Any]) -> dict[str, Any]:
        fields = self.localizer.fields(asset)
        file = _dict(fields.get("file"))
        url = str(file.get("url") or "")
        details = _dict(file.get("details"))
        image = _dict(details.get("image"))
        return {
            "sys": {"type": "Asset", "id": asset["sys"]["id"]},
            "title": fields.get("title") or "",
            "description": fields.get("description") or "",
            "url": f"https:{url}" if url.startswith("//") else url,
            "content_type": file.get("contentType") or "",
            "file_name": file.get("fileName") or "",
            "size": details.get("size"),
            "width": image.get("width"),
            "height": image.get("height"),
        }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_link(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("sys"), dict) and value["sys"].get("type") == "Link"


def _content_type_of(entry: Mapping[str, Any]) -> str:
    return str(((entry.get("sys") or {}).get("contentType") or {}).get("sys", {}).get("id", ""))


_BLOCKS = {
    "paragraph": "p",
    **{f"heading-{level}": f"h{level}" for level in range(1, 7)},
    "unordered-list": "ul",
    "ordered-list": "ol",
    "list-item": "li",
    "blockquote": "blockquote",
    "table": "table",
    "table-row": "tr",
    "table-cell": "td",
    "table-header-cell": "th",
}
_MARKS = {
    "bold": "strong",
    "italic": "em",
    "underline": "u",
    "code": "code",
    "superscript": "sup",
    "subscript": "sub",
    "strikethrough": "s",
}


def render_rich_text(node: Any, resolver: _Resolver) -> str:
    """Contentful Rich Text [U: node and mark names from Contentful's rich-text-types] to HTML.

    Text is escaped, links keep only safe targets, an embedded image asset becomes an <img>; embedded entries
    and unknown nodes give only their text: what cannot be rendered safely is never passed through raw.
    """
    if not isinstance(node, dict):
        return ""
    kind = node.get("nodeType")
    if kind == "text":
        html = escape(str(node.get("value", "")))
        for mark in node.get("marks") or []:
            tag = _MARKS.get(str(_dict(mark).get("type")))
            if tag:
                html = f"<{tag}>{html}</{tag}>"
        return html
    data = _dict(node.get("data"))
    if kind == "hr":
        return "<hr>"
    if kind == "embedded-asset-block":
        asset = resolver.link(data["target"], 0, frozenset()) if _is_link(data.get("target")) else None
        src = safe_href(asset["url"]) if asset else None
        if asset and src and str(asset["content_type"]).startswith("image/"):
            return f'<img src="{escape(src)}" alt="{escape(str(asset["description"] or asset["title"]))}">'
        return ""
    inner = "".join(render_rich_text(child, resolver) for child in node.get("content") or [])
    if kind in _BLOCKS:
        return f"<{_BLOCKS[kind]}>{inner}</{_BLOCKS[kind]}>"
    if kind == "hyperlink" and (href := safe_href(data.get("uri"))):
        return f'<a href="{escape(href)}">{inner}</a>'
    return inner  # document, entry/asset hyperlinks, embedded entries, anything newer


def _error(response: httpx.Response) -> tuple[str, str, dict[str, Any]]:
    """(error id, message, details) of a Contentful error body [V: sys.id, message, details]."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return "", response.reason_phrase, {}
    details = body.get("details")
    error_id = (body.get("sys") or {}).get("id", "")
    return str(error_id), str(body.get("message", "")), details if isinstance(details, dict) else {}


class ContentfulContent:
    vendor = VENDOR

    def __init__(
        self,
        settings: ContentfulSettings,
        *,
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        remember: int = 4096,
    ) -> None:
        self.settings = settings
        self._path = f"/spaces/{quote(settings.space_id, safe='')}/environments/{quote(settings.environment, safe='')}"
        self._delivery = self._client(str(settings.delivery_url), settings.delivery_token.get_secret_value(), http)
        self._preview = (
            self._client(str(settings.preview_url), settings.preview_token.get_secret_value(), http)
            if settings.preview_token is not None
            else None
        )
        for client in (self._delivery, self._preview):
            if client is not None and sleep is not None:
                client.sleep = sleep
        # Raw HTML in Markdown is off, as in the built-in CMS: a pasted <script> must not reach shoppers.
        self._md = MarkdownIt("commonmark", {"html": False})
        # entry id -> (content_type, slug): unpublish and delete webhooks carry no fields, so no slug
        self._known: LRUCache[str, tuple[str, str]] = LRUCache(remember)

    def _client(self, base_url: str, token: str, http: httpx.AsyncClient | None) -> VendorClient:
        # Contentful's 429 may say how long to wait only in its own header (seconds, like Retry-After).
        return VendorClient(
            VENDOR,
            base_url,
            self.settings.http,
            headers={"Authorization": f"Bearer {token}"},
            http=http,
            retry_after_headers=("retry-after", "x-contentful-ratelimit-reset"),
        )

    async def aclose(self) -> None:
        await self._delivery.aclose()
        if self._preview is not None:
            await self._preview.aclose()

    async def get_entry(self, content_type: str, slug: str, *, locale: str, preview: bool = False) -> ContentEntry:
        if not _TYPE.fullmatch(content_type) or not _SLUG.fullmatch(slug):
            raise NotFound(f"no {content_type} entry {slug!r}", vendor=VENDOR)
        params = {"content_type": content_type, "fields.slug": slug, "locale": "*", "include": str(LINK_DEPTH)}
        answer = await self._entries(params, preview, "get_entry")
        with vendor_answers(VENDOR, "get_entry"):
            for item in answer.get("items", []):
                if slug in _slugs(item):  # the filter is the vendor's; the match is checked here too
                    return self._entry(item, answer, content_type, slug, locale)
        raise NotFound(f"no {content_type} entry {slug!r} for locale {locale}", vendor=VENDOR)

    async def list_entries(self, content_type: str, *, locale: str, preview: bool = False) -> list[ContentEntry]:
        if not _TYPE.fullmatch(content_type):
            return []
        found: dict[str, ContentEntry] = {}
        for page in range(MAX_PAGES):
            params = {
                "content_type": content_type,
                "locale": "*",
                "include": str(LINK_DEPTH),
                "order": "sys.createdAt",
                "limit": str(PAGE_SIZE),
                "skip": str(page * PAGE_SIZE),
            }
            try:
                answer = await self._entries(params, preview, "list_entries")
            except NotFound:
                return []  # the space has no such content type
            with vendor_answers(VENDOR, "list_entries"):
                items = answer.get("items", [])
                for item in items:
                    slug = next((s for s in _slugs(item) if _SLUG.fullmatch(s)), None)
                    if slug is not None and slug not in found:
                        found[slug] = self._entry(item, answer, content_type, slug, locale)
                if not items or (page + 1) * PAGE_SIZE >= int(answer.get("total", 0)):
                    break
        return sorted(found.values(), key=_position)

    async def _entries(self, params: dict[str, str], preview: bool, call: str) -> dict[str, Any]:
        client = self._delivery
        if preview:
            if self._preview is None:
                raise VendorMisconfigured(
                    "connectors.cms.preview_token: set a Contentful Preview API token to show drafts", vendor=VENDOR
                )
            client = self._preview
        response = await client.request("GET", f"{self._path}/entries", params=params, call=call)
        if response.status_code == 200:
            with vendor_answers(VENDOR, call):
                answer = response.json()
                if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
                    raise ValueError("no items array")
                return answer
        error_id, message, details = _error(response)
        if response.status_code == 404:
            if details.get("type") in ("Space", "Environment"):
                raise VendorMisconfigured(
                    f"connectors.cms: Contentful has no {str(details['type']).lower()} {details.get('id', '')!r}; "
                    "check space_id and environment",
                    vendor=VENDOR,
                )
            raise NotFound(f"contentful: {message or 'not found'}", vendor=VENDOR)
        if 400 <= response.status_code < 500:
            reasons: list[Any] = details["errors"] if isinstance(details.get("errors"), list) else []
            if any(_dict(reason).get("name") == "unknownContentType" for reason in reasons):
                # [V example] a space without that content type has no such entry, as a content folder without it
                raise NotFound(f"contentful: no content type {params.get('content_type')!r}", vendor=VENDOR)
            raise VendorRejected(
                f"contentful refused {call} ({response.status_code} {error_id}): {message} {reasons}".rstrip(),
                vendor=VENDOR,
            )
        raise VendorUnavailable(f"contentful: unexpected {response.status_code} to {call}", vendor=VENDOR)

    def _entry(
        self, item: dict[str, Any], answer: dict[str, Any], content_type: str, slug: str, locale: str
    ) -> ContentEntry:
        localizer = _Localizer(locale, self.settings.default_locale)
        resolver = _Resolver(answer, localizer)
        entry_id = str(item["sys"]["id"])
        raw = localizer.fields(item)
        served = item["sys"].get("locale") or localizer.best_code  # before links: theirs must not count
        fields = {
            name: resolver.value(value, 0, frozenset({entry_id}))
            for name, value in raw.items()
            if name not in _OWN_FIELDS
        }
        title = raw.get("title")
        self._known[entry_id] = (content_type, slug)
        return ContentEntry(
            id=entry_id,
            content_type=content_type,
            slug=slug,
            locale=str(served),
            title=title if isinstance(title, str) and title else slug.replace("-", " ").title(),
            body_html=self._body(raw.get("body"), resolver),
            fields=fields,
            updated_at=datetime.fromisoformat(item["sys"]["updatedAt"]),
        )

    def _body(self, body: Any, resolver: _Resolver) -> str:
        if isinstance(body, str):
            return self._md.render(body) if body.strip() else ""
        if isinstance(body, dict) and body.get("nodeType") == "document":
            return render_rich_text(body, resolver)
        return ""

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[ContentEvent]:
        """Entry publish, unpublish and delete → events; other verified topics → []. Raises WebhookRejected.

        One event per distinct slug the entry has (and an `unpublished` one for a slug it no longer has). An
        unpublish or delete sends only the entry's `sys` (a tombstone [U]); its slug is the one this adapter last
        saw for the entry, else `""`, which means "unknown: every page of this content type".
        """
        secret = self.settings.webhook_secret
        if secret is None:
            raise WebhookRejected("connectors.cms.webhook_secret is not set: webhooks are refused", vendor=VENDOR)
        lowered = {name.lower(): value for name, value in headers.items()}
        given = lowered.get("x-webhook-secret", "")
        if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()) or not given:
            raise WebhookRejected("contentful webhook: X-Webhook-Secret missing or wrong", vendor=VENDOR)
        topic = lowered.get("x-contentful-topic", "")
        try:
            payload = json.loads(body)
            sys = payload["sys"]
            entry_id = str(sys["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("contentful webhook: not an entity JSON body", vendor=VENDOR) from exc
        action = _TOPICS.get(topic)
        if action is None:
            return []
        known = self._known.get(entry_id)
        content_type = _content_type_of(payload) or (known[0] if known else "")
        if not content_type:
            log.warning("contentful webhook %s for entry %s names no content type: ignored", topic, entry_id)
            return []
        slugs = _slugs(payload)
        changes: list[tuple[Action, str]] = [(action, slug) for slug in slugs]
        if known is not None and known[1] not in slugs:
            changes.append(("unpublished" if action == "published" else action, known[1]))
        if action == "published" and slugs:
            self._known[entry_id] = (content_type, slugs[0])
        elif action != "published":
            self._known.pop(entry_id, None)
        if not changes:
            changes = [(action, "")]
        base = lowered.get("x-contentful-idempotency-key") or f"{entry_id}:{sys.get('version', '')}:{topic}"
        return [
            ContentEvent(
                id=base if len(changes) == 1 else f"{base}:{slug}", action=what, content_type=content_type, slug=slug
            )
            for what, slug in changes
        ]


def _slugs(item: Mapping[str, Any]) -> list[str]:
    """The entry's slug values: plain, or one per locale (`locale=*` answers and webhook bodies)."""
    value = (item.get("fields") or {}).get("slug")
    values = list(value.values()) if isinstance(value, dict) else [value]
    return list(dict.fromkeys(v for v in values if isinstance(v, str) and v))


def _position(entry: ContentEntry) -> tuple[int, str]:
    position = entry.fields.get("position", 1000)
    return (position if isinstance(position, int) else 1000, entry.slug)


def build(settings: ContentfulSettings) -> ContentfulContent:
    return ContentfulContent(settings)


__all__ = ["ContentfulContent", "build", "render_rich_text", "safe_href"]
