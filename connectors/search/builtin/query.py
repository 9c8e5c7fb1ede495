"""Pure SQL building for a search: text match, conjunctive filters, disjunctive facet passes, buckets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.errors import VendorRejected
from connectors.search.base import (
    FacetValue,
    SearchDocument,
    SearchQuery,
)
from connectors.search.builtin.schema import (
    EN_DASH,
    FTS_COLUMNS,
    MAX_FILTER_VALUES,
    MAX_FILTERS,
    MAX_TERMS,
    PRICE_BUCKETS,
    RANK_WEIGHTS,
    TERM,
)


@dataclass(frozen=True, slots=True)
class Clause:
    sql: str
    params: tuple[Any, ...] = ()


def marks(n: int) -> str:
    return ", ".join("?" * n)


def fts_match(text: str, searchable: Sequence[str]) -> str | None:
    """An FTS5 MATCH expression of prefix terms, or None when the text holds no searchable term.

    Every term is a double-quoted string, so FTS operators typed by a shopper (AND, NEAR, *, quotes,
    parentheses, column filters) are plain words and can never be a syntax error.
    """
    terms = TERM.findall(text)[:MAX_TERMS]
    if not terms:
        return None
    expression = " ".join(f'"{term}"*' for term in terms)
    if set(searchable) == set(FTS_COLUMNS):
        return expression
    return f"{{{' '.join(c for c in FTS_COLUMNS if c in searchable)}}} : ({expression})"


def rank_weights(searchable: Sequence[str]) -> tuple[float, ...]:
    order = list(dict.fromkeys(searchable))
    return tuple(RANK_WEIGHTS[order.index(c)] if c in order else 0.0 for c in FTS_COLUMNS)


def base_insert(query: SearchQuery, searchable: Sequence[str], category_value: int | None) -> Clause:
    """Fills temp.search_base with the documents passing every filter that is not a disjunctive facet."""
    conds = ["p.price_list = ?"]
    params: list[Any] = [query.price_list]
    if category_value is not None:
        conds.append("p.doc_id IN (SELECT doc_id FROM search_facets WHERE value_id = ?)")
        params.append(category_value)
    if query.price_min is not None:
        conds.append("p.amount >= ?")
        params.append(query.price_min)
    if query.price_max is not None:
        conds.append("p.amount <= ?")
        params.append(query.price_max)
    if query.in_stock_only:
        conds.append("EXISTS (SELECT 1 FROM search_documents d WHERE d.id = p.doc_id AND d.in_stock = 1)")
    match = fts_match(query.text, searchable)
    if match is None:
        source, rank = "search_prices p", "0.0"
    else:
        # CROSS JOIN pins FTS as the outer loop; otherwise SQLite may run one MATCH per price row.
        source = "search_fts CROSS JOIN search_prices p ON p.doc_id = search_fts.rowid"
        conds.insert(0, "search_fts MATCH ?")
        params.insert(0, match)
        # bm25 costs a few microseconds per match; only relevance needs it.
        if query.sort == "relevance":
            rank = "bm25(search_fts, ?, ?, ?, ?)"
            params[:0] = rank_weights(searchable)
        else:
            rank = "0.0"
    return Clause(
        f"INSERT INTO temp.search_base(id, amount, rank) SELECT p.doc_id, p.amount, {rank} FROM {source}"
        f" WHERE {' AND '.join(conds)}",
        tuple(params),
    )


def disjunctive_filters(query: SearchQuery) -> dict[str, list[str]]:
    """Facet name -> accepted values, for the filters that facets of the same name ignore when counting."""
    filters = {"brand": list(query.brands)} if query.brands else {}
    filters.update({f"option:{name}": values for name, values in sorted(query.options.items()) if values})
    # Each filter is one bit of a 64-bit SQLite integer, and each value one bound SQL variable.
    if len(filters) > MAX_FILTERS or sum(len(values) for values in filters.values()) > MAX_FILTER_VALUES:
        raise VendorRejected(f"at most {MAX_FILTERS} brand/option filters with {MAX_FILTER_VALUES} values in all")
    return filters


def facet_passes(requested: Iterable[str], bits: dict[str, int]) -> dict[int, list[str]]:
    """Groups the facets to count by the miss-mask their documents must clear; one GROUP BY per group."""
    everything = sum(bits.values())
    passes: dict[int, list[str]] = {}
    for name in dict.fromkeys(requested):
        if name != "price":
            passes.setdefault(everything & ~bits.get(name, 0), []).append(name)
    return passes


def price_bucket_case() -> str:
    arms = " ".join(f"WHEN b.amount < {high} THEN {i}" for i, (_, high) in enumerate(PRICE_BUCKETS) if high)
    return f"CASE {arms} ELSE {len(PRICE_BUCKETS) - 1} END"


def price_bucket_facet(index: int, count: int) -> FacetValue:
    low, high = PRICE_BUCKETS[index]
    if high is None:
        return FacetValue(value=f"{low}-", label=f"{low // 100}+", count=count)
    return FacetValue(value=f"{low}-{high}", label=f"{low // 100} {EN_DASH} {high // 100}", count=count)


def by_count(values: Iterable[FacetValue]) -> list[FacetValue]:
    return sorted(values, key=lambda v: (-v.count, v.label, v.value))


def facet_entries(doc: SearchDocument) -> Iterator[tuple[str, str, str]]:
    """(facet, value, label) of one document; category ids and names are parallel lists."""
    for category_id, name in zip(doc.category_ids, doc.category_names, strict=False):
        yield "category", str(category_id), name
    for category_id in doc.category_ids[len(doc.category_names) :]:
        yield "category", str(category_id), str(category_id)
    if doc.brand:
        yield "brand", doc.brand, doc.brand
    for name, values in doc.options.items():
        for value in values:
            yield f"option:{name}", value, value
