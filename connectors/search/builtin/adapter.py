"""BuiltinSearch: the SearchProvider adapter, its connections per thread and its cache of facet counts."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import anyio.to_thread
from cachetools import LRUCache

from connectors.errors import VendorRejected
from connectors.search.base import (
    IndexSettings,
    SearchDocument,
    SearchQuery,
    SearchResult,
)
from connectors.search.builtin.schema import KNOWN_FIELDS, SUMMARY_CACHE_SIZE, TEMP_SCHEMA, ensure_schema
from connectors.search.builtin.storage import (
    Summary,
    check_currencies,
    clear_rows,
    delete_rows_by_id,
    index_rows,
    index_version,
    run_search,
    store_settings,
    translate_errors,
)
from connectors.sqlite import connect

T = TypeVar("T")


class _Held:
    """One connection, closed when its owner drops it: a worker thread ending frees its thread-local copy."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        weakref.finalize(self, conn.close)


class BuiltinSearch:
    vendor = "builtin"

    def __init__(self, path: str) -> None:
        self._path = path
        self._memory = path == ":memory:"
        self._local = threading.local()
        self._setup_lock = threading.Lock()
        self._schema_ready = False
        self._held: weakref.WeakSet[_Held] = weakref.WeakSet()
        # A :memory: database lives in one connection, so threads take turns on it.
        self._shared: _Held | None = None
        self._shared_lock = threading.Lock()
        self._summaries: LRUCache[tuple[str, str], Summary] = LRUCache(maxsize=SUMMARY_CACHE_SIZE)
        self._summaries_lock = threading.Lock()  # cachetools caches are not thread-safe

    # -- plumbing -------------------------------------------------------------------------------------------

    def _connect(self) -> _Held:
        # WAL, lock waits (busy timeout) and autocommit come from the shared helper.
        conn = connect(self._path)
        held = _Held(conn)
        conn.execute("PRAGMA temp_store=MEMORY")
        with self._setup_lock:
            if not self._schema_ready:
                ensure_schema(conn)
                self._schema_ready = True
            self._held.add(held)
        conn.executescript(TEMP_SCHEMA)
        return held

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with translate_errors():
            if self._memory:
                with self._shared_lock:
                    if self._shared is None:
                        self._shared = self._connect()
                    return fn(self._shared.conn)
            held: _Held | None = getattr(self._local, "held", None)
            if held is None:
                held = self._local.held = self._connect()
            return fn(held.conn)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        # SQLite is blocking I/O: keep it off the event loop.
        return await anyio.to_thread.run_sync(partial(self._call, fn))

    def close(self) -> None:
        """Closes every open connection of this instance; call once no request is in flight."""
        with self._setup_lock:
            for held in list(self._held):
                held.conn.close()
            self._held.clear()
        self._shared = None
        self._local = threading.local()

    # -- SearchProvider ----------------------------------------------------------------------------------------

    async def search(self, query: SearchQuery) -> SearchResult:
        return await self._run(partial(self._search, query=query))

    def _search(self, conn: sqlite3.Connection, query: SearchQuery) -> SearchResult:
        # Total and facets depend on the filters only, not on sort or page, and counting facets over a large
        # category is most of a search's cost: paging and re-sorting reuse them until the index changes.
        key = (index_version(conn), query.model_dump_json(exclude={"page", "per_page", "sort"}))
        with self._summaries_lock:
            summary = self._summaries.get(key)
        result, summary = run_search(conn, query, summary)
        with self._summaries_lock:
            self._summaries[key] = summary
        return result

    async def index_documents(self, documents: list[SearchDocument]) -> None:
        """Add or replace documents by id; of several documents with one id, the last wins."""
        by_id = {doc.id: doc for doc in documents}
        for doc in by_id.values():
            check_currencies(doc)
        if by_id:
            await self._run(partial(index_rows, documents=list(by_id.values())))

    async def delete_documents(self, ids: list[int]) -> None:
        if ids:
            await self._run(partial(delete_rows_by_id, ids=sorted(set(ids))))

    async def apply_settings(self, settings: IndexSettings) -> None:
        """Validates and stores the settings; the FTS columns are fixed, `searchable` picks and ranks them."""
        if not settings.searchable:
            raise VendorRejected("index settings: searchable must name at least one field")
        for kind, known in KNOWN_FIELDS.items():
            unknown = sorted(set(getattr(settings, kind)) - known)
            if unknown:
                raise VendorRejected(
                    f"index settings: {kind} fields {unknown} are not supported; choose from {sorted(known)}"
                )
        await self._run(partial(store_settings, settings=settings))

    async def clear(self) -> None:
        await self._run(clear_rows)
