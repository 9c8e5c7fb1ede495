"""What a shopper gets while a vendor is down, per capability (configured as `fallback` in its table).

- Search: the built-in index, kept in step with the vendor's by every indexing call, or the last answer the
  vendor gave to the same query. A query the vendor refuses as invalid is not hidden behind a fallback.
- CMS: the last content the vendor gave for that entry and locale.
- Payments have no fallback: a shopper is asked to try again, and nothing is charged twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from cachetools import LRUCache

from connectors.cms.base import ContentEntry, ContentEvent, ContentProvider
from connectors.errors import ConnectorError, NotFound, VendorRejected
from connectors.search.base import IndexSettings, SearchDocument, SearchProvider, SearchQuery, SearchResult

log = logging.getLogger("edgeshop.connectors")

# Refusals that say something about the request, not the vendor's health: a fallback would only hide them.
_NOT_AN_OUTAGE = (VendorRejected, NotFound)


class FallbackSearch:
    def __init__(
        self, vendor: SearchProvider, *, backup: SearchProvider | None, remember_results: bool, max_results: int = 2048
    ) -> None:
        self.primary = vendor
        self.vendor = vendor.vendor
        self.backup = backup
        self._results: LRUCache[str, SearchResult] | None = LRUCache(max_results) if remember_results else None

    async def search(self, query: SearchQuery) -> SearchResult:
        try:
            result = await self.primary.search(query)
        except VendorRejected:
            raise  # the query itself is wrong: a fallback would only hide it
        except ConnectorError as exc:  # NotFound included: a vendor index not (re)built yet is an outage here
            remembered = self._results.get(_key(query)) if self._results is not None else None
            if self.backup is not None:
                log.warning("search vendor %s failed (%s): answering from the built-in index", self.vendor, exc)
                return await self.backup.search(query)
            if remembered is not None:
                log.warning("search vendor %s failed (%s): answering with its last result", self.vendor, exc)
                return remembered
            raise
        if self._results is not None:
            self._results[_key(query)] = result
        return result

    # Writes go to the backup first: while the vendor is down the backup is what shoppers see, so it must not
    # miss the change the vendor could not take (the vendor's failure still reaches the caller).
    async def index_documents(self, documents: list[SearchDocument]) -> None:
        if self.backup is not None:
            await self.backup.index_documents(documents)
        await self.primary.index_documents(documents)

    async def delete_documents(self, ids: list[int]) -> None:
        if self.backup is not None:
            await self.backup.delete_documents(ids)
        await self.primary.delete_documents(ids)

    async def apply_settings(self, settings: IndexSettings) -> None:
        await self.primary.apply_settings(settings)
        if self.backup is not None:
            await self.backup.apply_settings(settings)

    async def clear(self) -> None:
        await self.primary.clear()
        if self.backup is not None:
            await self.backup.clear()

    async def aclose(self) -> None:
        close = getattr(self.primary, "aclose", None)
        if close is not None:
            await close()


def _key(query: SearchQuery) -> str:
    return query.model_dump_json()


class LastGoodContent:
    """Remembers each entry the vendor served (bounded), and serves it while the vendor cannot answer."""

    def __init__(self, vendor: ContentProvider, max_entries: int = 4096) -> None:
        self.primary = vendor
        self.vendor = vendor.vendor
        self._entries: LRUCache[tuple[str, str, str, bool], ContentEntry] = LRUCache(max_entries)
        self._lists: LRUCache[tuple[str, str, bool], list[ContentEntry]] = LRUCache(max_entries // 16 or 1)

    async def get_entry(self, content_type: str, slug: str, *, locale: str, preview: bool = False) -> ContentEntry:
        key = (content_type, slug, locale, preview)
        try:
            entry = await self.primary.get_entry(content_type, slug, locale=locale, preview=preview)
        except NotFound:
            self._forget(content_type, slug)  # unpublished: never bring it back from memory, in any locale
            raise
        except VendorRejected:
            raise
        except ConnectorError as exc:
            kept = self._entries.get(key)
            if kept is None:
                raise
            log.warning("CMS %s failed (%s): serving the last good %s/%s", self.vendor, exc, content_type, slug)
            return kept
        self._entries[key] = entry
        return entry

    async def list_entries(self, content_type: str, *, locale: str, preview: bool = False) -> list[ContentEntry]:
        key = (content_type, locale, preview)
        try:
            entries = await self.primary.list_entries(content_type, locale=locale, preview=preview)
        except _NOT_AN_OUTAGE:
            raise
        except ConnectorError as exc:
            kept = self._lists.get(key)
            if kept is None:
                raise
            log.warning("CMS %s failed (%s): serving the last good list of %s", self.vendor, exc, content_type)
            return kept
        self._lists[key] = entries
        return entries

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[ContentEvent]:
        events = self.primary.parse_webhook(body, headers)
        for event in events:
            if event.action != "published":
                self._forget(event.content_type, event.slug)
        return events

    def _forget(self, content_type: str, slug: str) -> None:
        """Drop what is kept of an entry (every locale; every entry of the type when the slug is unknown)."""
        for entry_key in [k for k in self._entries if k[0] == content_type and (not slug or k[1] == slug)]:
            self._entries.pop(entry_key, None)
        for list_key in [k for k in self._lists if k[0] == content_type]:
            self._lists.pop(list_key, None)

    async def aclose(self) -> None:
        close = getattr(self.primary, "aclose", None)
        if close is not None:
            await close()


__all__ = ["FallbackSearch", "LastGoodContent"]
