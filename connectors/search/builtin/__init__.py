"""The built-in SearchProvider on SQLite FTS5: the embedded default, so `make run` needs no search service.

Tables (all prefixed `search_`, created on first use):

    search_documents      one row per document: what a hit shows and what `newest`/`title` sort on
    search_fts            FTS5 over title, brand, category_names, description (rowid = document id)
    search_prices         (doc_id, price_list) -> amount in minor units, currency
    search_facet_values   id -> (facet, value, label): ('category', '12', 'Jackets'), ('option:Color', 'Red', 'Red')
    search_facets         (doc_id, value_id): which facet values a document carries
    search_meta           the applied IndexSettings

Facet values are interned to integers so the (doc_id, value_id) table stays small and its lookups cheap.

A search first materializes the documents that pass the conjunctive filters (text, category, price list,
price range, stock) into a per-connection temp table, then marks in a bitmask which disjunctive filters (brand,
each option) every document misses. The hit page, the total and the facets are then SQL over that table,
GROUP BY for the counts; nothing loops over documents in Python. Disjunctive facets follow Algolia's model:
each is counted with its own filter left out, so picking "Red" still shows how many "Blue" there are.
"""

from connectors.search.builtin.adapter import BuiltinSearch
from connectors.search.builtin.query import fts_match

__all__ = ["BuiltinSearch", "fts_match"]
