"""Tables, constants and layout version of the built-in search index (see the package docstring)."""

from __future__ import annotations

import re
import sqlite3

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
# Facets are counted from the matches when they are under 1/FEW_MATCHES_RATIO of the catalog (see _facet_join).
FEW_MATCHES_RATIO = 5
MAX_FILTERS = 32
MAX_FILTER_VALUES = 500
# Distinct filter combinations whose total and facets are kept in memory per process.
SUMMARY_CACHE_SIZE = 512
# A long paste should not become a query with hundreds of prefix scans.
MAX_TERMS = 16
# Same token characters as FTS5's unicode61 tokenizer: letters and digits, everything else separates.
TERM = re.compile(r"[^\W_]+")
EN_DASH = "\N{EN DASH}"

# The index is derived data: a file written by another layout is dropped and rebuilt (then reindexed).
SCHEMA_VERSION = 2
_SEARCH_TABLES = (
    "search_meta",
    "search_documents",
    "search_fts",
    "search_prices",
    "search_facet_values",
    "search_facets",
    "search_categories",
)

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
CREATE TABLE IF NOT EXISTS search_facet_values (
    id INTEGER PRIMARY KEY,
    facet TEXT NOT NULL,
    value TEXT NOT NULL,
    label TEXT NOT NULL,
    UNIQUE (facet, value)
);
CREATE TABLE IF NOT EXISTS search_facets (
    doc_id INTEGER NOT NULL,
    value_id INTEGER NOT NULL,
    PRIMARY KEY (doc_id, value_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_facets_value ON search_facets(value_id);
"""

# misses: bit i is set when the document fails the i-th disjunctive filter of the current search.
TEMP_SCHEMA = """
CREATE TEMP TABLE IF NOT EXISTS search_base (
    id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, rank REAL NOT NULL, misses INTEGER NOT NULL DEFAULT 0
);
"""

ORDER_BY: dict[str, str] = {
    "relevance": "b.rank, b.id",
    "price_asc": "b.amount, b.id",
    "price_desc": "b.amount DESC, b.id",
    "newest": "d.created_at DESC, d.id",
    "title": "d.title COLLATE NOCASE, d.id",
}
# The value id no facet value has: an unknown category or option value then matches nothing.
NO_VALUE = 0


def ensure_schema(conn: sqlite3.Connection) -> None:
    if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        for table in _SEARCH_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.executescript(_SCHEMA)
