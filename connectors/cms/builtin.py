"""The built-in ContentProvider: Markdown files with TOML front matter, kept in the store's project folder.

Layout: `<root>/<locale>/<content_type>/<slug>.md`, drafts under `<root>/_drafts/<locale>/...` (seen only with
`preview=True`). A file starts with a `+++` fenced TOML block (title and structured fields), then Markdown.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio.to_thread
from markdown_it import MarkdownIt

from connectors.cms.base import ContentEntry, ContentEvent
from connectors.errors import NotFound, VendorMisconfigured, WebhookRejected

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
_TYPE = re.compile(r"^[a-z][a-z0-9_-]{0,49}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$")
_FENCE = "+++"


def normalize_locale(locale: str) -> str | None:
    """BCP 47 casing (de_DE, de-de -> de-DE; zh-hant-tw -> zh-Hant-TW), or None when it is not a locale tag.

    A locale becomes a folder name, so anything outside the tag alphabet (dots, slashes) is refused here.
    """
    if not _LOCALE.fullmatch(locale):
        return None
    language, *rest = locale.replace("_", "-").split("-")
    parts = [language.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            parts.append(part.title())
        elif len(part) == 2 or (len(part) == 3 and part.isdigit()):
            parts.append(part.upper())
        else:
            parts.append(part.lower())
    return "-".join(parts)


def locale_chain(locale: str, default: str) -> list[str]:
    """de_DE -> ["de-DE", "de", default]: the most specific content first, the store's default last."""
    chain = []
    normalized = normalize_locale(locale)
    if normalized is not None:
        parts = normalized.split("-")
        chain = ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]
    fallback = normalize_locale(default)
    if fallback is not None:
        chain.append(fallback)
    return list(dict.fromkeys(chain))


def parse_entry(
    text: str, *, content_type: str, slug: str, locale: str, updated_at: datetime, md: MarkdownIt
) -> ContentEntry:
    fields: dict[str, Any] = {}
    body = text
    if text.startswith(_FENCE):
        end = text.find("\n" + _FENCE, len(_FENCE))
        if end < 0:
            raise ValueError("front matter opened with +++ is never closed")
        fields = tomllib.loads(text[len(_FENCE) : end])
        body = text[end + len(_FENCE) + 1 :]
    title = str(fields.pop("title", slug.replace("-", " ").title()))
    return ContentEntry(
        id=f"{content_type}/{slug}",
        content_type=content_type,
        slug=slug,
        locale=locale,
        title=title,
        body_html=md.render(body) if body.strip() else "",
        fields=fields,
        updated_at=updated_at,
    )


def _position(entry: ContentEntry) -> tuple[int, str]:
    position = entry.fields.get("position", 1000)
    return (position if isinstance(position, int) else 1000, entry.slug)


class BuiltinContent:
    vendor = "builtin"

    def __init__(self, root: Path, default_locale: str = "en") -> None:
        if not root.is_dir():
            raise VendorMisconfigured(f"connectors.cms.path: content folder {root} does not exist")
        self._root = root.resolve()
        self._default = default_locale
        # Raw HTML in content is off: merchants write Markdown, and a pasted <script> must not reach shoppers.
        self._md = MarkdownIt("commonmark", {"html": False})
        self._cache: dict[Path, tuple[int, ContentEntry]] = {}

    def _load(self, path: Path, content_type: str, slug: str, locale: str) -> ContentEntry | None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        cached = self._cache.get(path)
        if cached is not None and cached[0] == stat.st_mtime_ns:
            return cached[1]
        try:
            entry = parse_entry(
                path.read_text(encoding="utf-8"),
                content_type=content_type,
                slug=slug,
                locale=locale,
                updated_at=datetime.fromtimestamp(stat.st_mtime, UTC),
                md=self._md,
            )
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise VendorMisconfigured(f"{path}: {exc}") from exc
        self._cache[path] = (stat.st_mtime_ns, entry)
        return entry

    async def published_versions(self) -> dict[tuple[str, str, str], tuple[int, int]]:
        """(content_type, slug, locale folder) -> (mtime, size) of every published file (drafts left out).

        Compared from one call to the next, this tells which entries were edited, added or removed, so the
        pages showing them can be purged: the built-in CMS's equivalent of a vendor's publish webhook.
        """
        return await anyio.to_thread.run_sync(self._published_versions)

    def _published_versions(self) -> dict[tuple[str, str, str], tuple[int, int]]:
        versions = {}
        for path in self._root.glob("*/*/*.md"):
            locale, content_type, slug = path.parent.parent.name, path.parent.name, path.stem
            if locale.startswith("_") or not (_TYPE.fullmatch(content_type) and _SLUG.fullmatch(slug)):
                continue
            try:
                stat = path.stat()
                # with the size too: two saves within one tick of a coarse filesystem clock still differ
                versions[(content_type, slug, locale)] = (stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:
                continue  # removed while we looked: the next look reports it gone
        return versions

    def _folders(self, locale: str, preview: bool) -> list[tuple[Path, str]]:
        folders = []
        for candidate in locale_chain(locale, self._default):
            if preview:
                folders.append((self._root / "_drafts" / candidate, candidate))
            folders.append((self._root / candidate, candidate))
        return folders

    async def get_entry(self, content_type: str, slug: str, *, locale: str, preview: bool = False) -> ContentEntry:
        # stat() and reads are file I/O: off the event loop, like every other embedded store.
        return await anyio.to_thread.run_sync(partial(self._get_entry, content_type, slug, locale, preview))

    async def list_entries(self, content_type: str, *, locale: str, preview: bool = False) -> list[ContentEntry]:
        return await anyio.to_thread.run_sync(partial(self._list_entries, content_type, locale, preview))

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[ContentEvent]:
        """Content files are watched instead (origin.content_watch): nothing calls in."""
        raise WebhookRejected("the built-in CMS sends no webhooks", vendor="builtin")

    def _get_entry(self, content_type: str, slug: str, locale: str, preview: bool) -> ContentEntry:
        # Both names become path parts: anything but the safe alphabet could walk out of the content folder.
        if not _TYPE.fullmatch(content_type) or not _SLUG.fullmatch(slug):
            raise NotFound(f"no {content_type} entry {slug!r}")
        for folder, folder_locale in self._folders(locale, preview):
            entry = self._load(folder / content_type / f"{slug}.md", content_type, slug, folder_locale)
            if entry is not None:
                return entry
        raise NotFound(f"no {content_type} entry {slug!r} for locale {locale}")

    def _list_entries(self, content_type: str, locale: str, preview: bool) -> list[ContentEntry]:
        if not _TYPE.fullmatch(content_type):
            return []
        found: dict[str, ContentEntry] = {}
        for folder, folder_locale in self._folders(locale, preview):
            for path in sorted((folder / content_type).glob("*.md")):
                slug = path.stem
                if slug in found or not _SLUG.fullmatch(slug):
                    continue
                entry = self._load(path, content_type, slug, folder_locale)
                if entry is not None:
                    found[slug] = entry
        return sorted(found.values(), key=_position)
