"""The built-in SearchProvider on SQLite FTS5: the embedded default, so `make run` needs no search service.

Tables (all prefixed `search_`, created on first use):

    search_documents   one row per document: what a hit shows and what `newest`/`title` sort on
    search_fts         FTS5 over title, brand, category_names, description (rowid = document id)
    search_prices      (doc_id, price_list) -> amount in minor units, currency
    search_facets      (doc_id, facet, value): 'category'/'<id>', 'brand'/'<brand>', 'option:<Name>'/'<value>'
    search_categories  category id -> name, the labels of the category facet
    search_meta        the applied IndexSettings

A search first materializes the documents that pass the conjunctive filters (text, category, price list,
price range, stock) into a per-connection temp table; the hit page, the total and every facet are then
GROUP BY queries over that table, so no step loops over documents in Python. Brand and option filters are
disjunctive facets (Algolia's model): each of those facets is counted with its own filter left out, so
picking "Red" still shows how many "Blue" there are.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread

from connectors.errors import VendorMisconfigured, VendorRejected, VendorTimeout, VendorUnavailable
from connectors.search.base import (
    FacetValue,
    IndexSettings,
    SearchDocument,
    SearchHit,
    SearchQuery,
    SearchResult,
)

T = TypeVar("T")

FTS_COLUMNS: tuple[str, ...] = ("title", "brand", "category_names", "description")
# bm25 weight by position in IndexSettings.searchable; the defaults rank title highest.
RANK_WEIGHTS: tuple[float, ...] = (10.0, 5.0, 3.0, 1.0)
# Half-open [low, high) ranges in minor units; None is open-ended. A facet value "5000-10000" therefore maps to
# price_min=5000, price_max=9999 (the query bounds are inclusive).
PRICE_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (0, 5000),
    (5000, 10000),
    (10000, 20000),
    (20000, 40000),
    (40000, None),
)
KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "searchable": frozenset(FTS_COLUMNS),
    "filterable": frozenset({"category_ids", "brand", "options", "prices", "in_stock"}),
    "sortable": frozenset({"prices", "created_at", "title"}),
}
# A long paste should not become a query with hundreds of prefix scans.
MAX_TERMS = 16
# Same token characters as FTS5's unicode61 tokenizer: letters and digits, everything else separates.
_TERM = re.compile(r"[^\W_]+")
_EN_DASH = "\N{EN DASH}"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS search_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS search_documents (
    id INTEGER PRIMARY KEY,
    handle TEXT NOT NULL,
    title TEXT NOT NULL,
    brand TEXT NOT NULL,
    image_url TEXT NOT NULL,
    image_alt TEXT NOT NULL,
    in_stock INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
    title, brand, category_names, description, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
CREATE TABLE IF NOT EXISTS search_prices (
    doc_id INTEGER NOT NULL,
    price_list TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    PRIMARY KEY (doc_id, price_list)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_prices_amount ON search_prices(price_list, amount);
CREATE TABLE IF NOT EXISTS search_facets (
    doc_id INTEGER NOT NULL,
    facet TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (doc_id, facet, value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_facets_value ON search_facets(facet, value);
CREATE TABLE IF NOT EXISTS search_categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
"""

_TEMP_SCHEMA = """
CREATE TEMP TABLE IF NOT EXISTS search_base (
    id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, currency TEXT NOT NULL, rank REAL NOT NULL
);
"""

_ORDER_BY: dict[str, str] = {
    "relevance": "b.rank, b.id",
    "price_asc": "b.amount, b.id",
    "price_desc": "b.amount DESC, b.id",
    "newest": "d.created_at DESC, d.id",
    "title": "d.title COLLATE NOCASE, d.id",
}


# -- pure query building ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clause:
    sql: str
    params: tuple[Any, ...] = ()


def all_of(clauses: Iterable[Clause]) -> Clause:
    items = list(clauses)
    if not items:
        return Clause("1")
    return Clause(" AND ".join(f"({c.sql})" for c in items), tuple(p for c in items for p in c.params))


def fts_match(text: str, searchable: Sequence[str]) -> str | None:
    """An FTS5 MATCH expression of prefix terms, or None when the text holds no searchable term.

    Every term is a double-quoted string, so FTS operators typed by a shopper (AND, NEAR, *, quotes,
    parentheses, column filters) are plain words and can never be a syntax error.
    """
    terms = _TERM.findall(text)[:MAX_TERMS]
    if not terms:
        return None
    expression = " ".join(f'"{term}"*' for term in terms)
    if set(searchable) == set(FTS_COLUMNS):
        return expression
    return f"{{{' '.join(c for c in FTS_COLUMNS if c in searchable)}}} : ({expression})"


def rank_weights(searchable: Sequence[str]) -> tuple[float, ...]:
    return tuple(RANK_WEIGHTS[searchable.index(c)] if c in searchable else 0.0 for c in FTS_COLUMNS)


def in_facet(column: str, facet: str, values: Sequence[str]) -> Clause:
    marks = ", ".join("?" * len(values))
    return Clause(
        f"{column} IN (SELECT doc_id FROM search_facets WHERE facet = ? AND value IN ({marks}))", (facet, *values)
    )


def disjunctive_filters(query: SearchQuery) -> dict[str, Clause]:
    """Facet name -> the filter on it; each facet is counted without its own entry."""
    filters: dict[str, Clause] = {}
    if query.brands:
        filters["brand"] = in_facet("b.id", "brand", query.brands)
    for name, values in sorted(query.options.items()):
        if values:
            filters[f"option:{name}"] = in_facet("b.id", f"option:{name}", values)
    return filters


def base_insert(query: SearchQuery, searchable: Sequence[str]) -> Clause:
    """Fills temp.search_base with the documents passing every non-disjunctive filter, with their rank."""
    conds = [Clause("p.price_list = ?", (query.price_list,))]
    if query.category_id is not None:
        conds.append(in_facet("p.doc_id", "category", [str(query.category_id)]))
    if query.price_min is not None:
        conds.append(Clause("p.amount >= ?", (query.price_min,)))
    if query.price_max is not None:
        conds.append(Clause("p.amount <= ?", (query.price_max,)))
    if query.in_stock_only:
        conds.append(Clause("p.doc_id IN (SELECT id FROM search_documents WHERE in_stock = 1)"))
    match = fts_match(query.text, searchable)
    if match is None:
        source, rank, rank_params = "search_prices p", "0.0", ()
    else:
        source = "search_fts CROSS JOIN search_prices p ON p.doc_id = search_fts.rowid"
        rank, rank_params = "bm25(search_fts, ?, ?, ?, ?)", rank_weights(searchable)
        conds.insert(0, Clause("search_fts MATCH ?", (match,)))
    where = all_of(conds)
    return Clause(
        f"INSERT INTO temp.search_base(id, amount, currency, rank) SELECT p.doc_id, p.amount, p.currency, {rank}"
        f" FROM {source} WHERE {where.sql}",
        (*rank_params, *where.params),
    )


def price_bucket_case() -> str:
    arms = " ".join(f"WHEN b.amount < {high} THEN {i}" for i, (_, high) in enumerate(PRICE_BUCKETS) if high)
    return f"CASE {arms} ELSE {len(PRICE_BUCKETS) - 1} END"


def price_bucket_facet(index: int, count: int) -> FacetValue:
    low, high = PRICE_BUCKETS[index]
    if high is None:
        return FacetValue(value=f"{low}-", label=f"{low // 100}+", count=count)
    return FacetValue(value=f"{low}-{high}", label=f"{low // 100} {_EN_DASH} {high // 100}", count=count)


def by_count(values: Iterable[FacetValue]) -> list[FacetValue]:
    return sorted(values, key=lambda v: (-v.count, v.label, v.value))


def facet_rows(doc: SearchDocument) -> Iterator[tuple[int, str, str]]:
    for category_id in doc.category_ids:
        yield doc.id, "category", str(category_id)
    if doc.brand:
        yield doc.id, "brand", doc.brand
    for name, values in doc.options.items():
        for value in values:
            yield doc.id, f"option:{name}", value


# -- the adapter ---------------------------------------------------------------------------------------------------


class BuiltinSearch:
    vendor = "builtin"

    def __init__(self, path: str) -> None:
        self._path = path
        self._memory = path == ":memory:"
        self._local = threading.local()
        self._setup_lock = threading.Lock()
        self._schema_ready = False
        self._opened: list[sqlite3.Connection] = []
        # A :memory: database lives in one connection, so threads take turns on it.
        self._shared: sqlite3.Connection | None = None
        self._shared_lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA temp_store=MEMORY")
        with self._setup_lock:
            if not self._schema_ready:
                conn.executescript(_SCHEMA)
                self._schema_ready = True
            self._opened.append(conn)
        conn.executescript(_TEMP_SCHEMA)
        return conn

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with _translate_errors():
            if self._memory:
                with self._shared_lock:
                    if self._shared is None:
                        self._shared = self._connect()
                    return fn(self._shared)
            conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self._connect()
            return fn(conn)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        # SQLite is blocking I/O: keep it off the event loop.
        return await anyio.to_thread.run_sync(partial(self._call, fn))

    def close(self) -> None:
        """Closes every connection this instance opened; call once no request is in flight."""
        with self._setup_lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
        self._shared = None
        self._local = threading.local()

    # -- SearchProvider ----------------------------------------------------------------------------------------

    async def search(self, query: SearchQuery) -> SearchResult:
        return await self._run(partial(_search, query=query))

    async def index_documents(self, documents: list[SearchDocument]) -> None:
        """Add or replace documents by id; of several documents with one id, the last wins."""
        by_id = {doc.id: doc for doc in documents}
        for doc in by_id.values():
            _check_currencies(doc)
        if by_id:
            await self._run(partial(_index, documents=list(by_id.values())))

    async def delete_documents(self, ids: list[int]) -> None:
        if ids:
            await self._run(partial(_delete, ids=sorted(set(ids))))

    async def apply_settings(self, settings: IndexSettings) -> None:
        """Validates and stores the settings; the FTS columns are fixed, `searchable` picks and ranks them."""
        for kind, known in KNOWN_FIELDS.items():
            unknown = sorted(set(getattr(settings, kind)) - known)
            if unknown:
                raise VendorRejected(
                    f"index settings: {kind} fields {unknown} are not supported; choose from {sorted(known)}"
                )
        await self._run(partial(_store_settings, settings=settings))

    async def clear(self) -> None:
        await self._run(_clear)


# -- SQLite work, run in a worker thread ---------------------------------------------------------------------------


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise VendorTimeout(f"search database stayed locked: {exc}") from exc
        raise VendorUnavailable(f"search database failed: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise VendorMisconfigured(f"search database is unusable: {exc}") from exc


@contextmanager
def _transaction(conn: sqlite3.Connection, mode: str = "DEFERRED") -> Iterator[None]:
    # DEFERRED reads one consistent WAL snapshot; IMMEDIATE takes the write lock before reading old rows.
    conn.execute(f"BEGIN {mode}")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _check_currencies(doc: SearchDocument) -> None:
    missing = sorted(set(doc.prices) - set(doc.currency_by_price_list))
    if missing:
        raise VendorRejected(f"document {doc.id}: price lists {missing} have no entry in currency_by_price_list")


def _load_settings(conn: sqlite3.Connection) -> IndexSettings:
    row = conn.execute("SELECT value FROM search_meta WHERE key = 'settings'").fetchone()
    return IndexSettings() if row is None else IndexSettings.model_validate_json(row[0])


def _store_settings(conn: sqlite3.Connection, settings: IndexSettings) -> None:
    conn.execute(
        "INSERT INTO search_meta(key, value) VALUES ('settings', ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (settings.model_dump_json(),),
    )


def _delete_rows(conn: sqlite3.Connection, ids: list[tuple[int]]) -> None:
    for table, column in (("search_documents", "id"), ("search_fts", "rowid")):
        conn.executemany(f"DELETE FROM {table} WHERE {column} = ?", ids)
    for table in ("search_prices", "search_facets"):
        conn.executemany(f"DELETE FROM {table} WHERE doc_id = ?", ids)


def _index(conn: sqlite3.Connection, documents: list[SearchDocument]) -> None:
    with _transaction(conn, "IMMEDIATE"):
        _delete_rows(conn, [(doc.id,) for doc in documents])
        conn.executemany(
            "INSERT INTO search_documents(id, handle, title, brand, image_url, image_alt, in_stock, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (d.id, d.handle, d.title, d.brand, d.image_url, d.image_alt, int(d.in_stock), d.created_at)
                for d in documents
            ],
        )
        conn.executemany(
            "INSERT INTO search_fts(rowid, title, brand, category_names, description) VALUES (?, ?, ?, ?, ?)",
            [(d.id, d.title, d.brand, " ".join(d.category_names), d.description) for d in documents],
        )
        conn.executemany(
            "INSERT INTO search_prices(doc_id, price_list, amount, currency) VALUES (?, ?, ?, ?)",
            [(d.id, pl, amount, d.currency_by_price_list[pl]) for d in documents for pl, amount in d.prices.items()],
        )
        # OR IGNORE: a document may list one option value twice.
        conn.executemany(
            "INSERT OR IGNORE INTO search_facets(doc_id, facet, value) VALUES (?, ?, ?)",
            [row for d in documents for row in facet_rows(d)],
        )
        # Labels of the category facet; ids and names are parallel lists (the category and its ancestors).
        conn.executemany(
            "INSERT INTO search_categories(id, name) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name",
            [pair for d in documents for pair in zip(d.category_ids, d.category_names, strict=False)],
        )


def _delete(conn: sqlite3.Connection, ids: list[int]) -> None:
    with _transaction(conn, "IMMEDIATE"):
        _delete_rows(conn, [(i,) for i in ids])


def _clear(conn: sqlite3.Connection) -> None:
    with _transaction(conn, "IMMEDIATE"):
        for table in ("search_documents", "search_fts", "search_prices", "search_facets", "search_categories"):
            conn.execute(f"DELETE FROM {table}")


def _search(conn: sqlite3.Connection, query: SearchQuery) -> SearchResult:
    with _transaction(conn):
        conn.execute("DELETE FROM temp.search_base")
        try:
            base = base_insert(query, _load_settings(conn).searchable)
            conn.execute(base.sql, base.params)
            filters = disjunctive_filters(query)
            everything = all_of(filters.values())
            total = conn.execute(f"SELECT COUNT(*) FROM temp.search_base b WHERE {everything.sql}", everything.params)
            return SearchResult(
                hits=_hits(conn, query, everything),
                total=total.fetchone()[0],
                page=query.page,
                per_page=query.per_page,
                facets={name: _facet(conn, name, filters) for name in dict.fromkeys(query.facets)},
            )
        finally:
            conn.execute("DELETE FROM temp.search_base")


def _hits(conn: sqlite3.Connection, query: SearchQuery, where: Clause) -> list[SearchHit]:
    rows = conn.execute(
        "SELECT d.id, d.handle, d.title, d.brand, b.amount, b.currency, d.image_url, d.image_alt, d.in_stock"
        f" FROM temp.search_base b JOIN search_documents d ON d.id = b.id WHERE {where.sql}"
        f" ORDER BY {_ORDER_BY[query.sort]} LIMIT ? OFFSET ?",
        (*where.params, query.per_page, (query.page - 1) * query.per_page),
    )
    return [
        SearchHit(
            id=r[0],
            handle=r[1],
            title=r[2],
            brand=r[3],
            price=r[4],
            currency=r[5],
            image_url=r[6],
            image_alt=r[7],
            in_stock=bool(r[8]),
        )
        for r in rows
    ]


def _facet(conn: sqlite3.Connection, name: str, filters: dict[str, Clause]) -> list[FacetValue]:
    if name == "price":
        return _price_facet(conn, all_of(filters.values()))
    # Disjunctive: the facet's own filter is left out; for category (not disjunctive) this keeps every filter.
    where = all_of(clause for facet, clause in filters.items() if facet != name)
    rows = conn.execute(
        "SELECT f.value, COUNT(*) FROM temp.search_base b JOIN search_facets f ON f.doc_id = b.id AND f.facet = ?"
        f" WHERE {where.sql} GROUP BY f.value",
        (name, *where.params),
    ).fetchall()
    if name != "category":
        return by_count(FacetValue(value=v, label=v, count=n) for v, n in rows)
    labels = _category_labels(conn, [int(v) for v, _ in rows])
    return by_count(FacetValue(value=v, label=labels.get(int(v), v), count=n) for v, n in rows)


def _category_labels(conn: sqlite3.Connection, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    return dict(conn.execute(f"SELECT id, name FROM search_categories WHERE id IN ({marks})", ids).fetchall())


def _price_facet(conn: sqlite3.Connection, where: Clause) -> list[FacetValue]:
    # Buckets stay in price order, not count order: that is how a price filter reads.
    rows = conn.execute(
        f"SELECT {price_bucket_case()} AS bucket, COUNT(*) FROM temp.search_base b WHERE {where.sql}"
        " GROUP BY bucket ORDER BY bucket",
        where.params,
    )
    return [price_bucket_facet(bucket, count) for bucket, count in rows]
