"""Keeps the search index in step with the catalog: documents from catalog records, full reindex in batches."""

from __future__ import annotations

from collections.abc import Callable

from connectors import CatalogRecord, CommerceBackend, IndexSettings, SearchDocument, SearchProvider
from origin.catalog import CategoryTree, build_tree


def to_document(record: CatalogRecord, tree: CategoryTree) -> SearchDocument:
    node = tree.by_id.get(record.category_id)
    trail = node.trail if node else []
    return SearchDocument(
        id=record.id,
        handle=record.handle,
        title=record.title,
        description=record.description,
        brand=record.brand,
        category_ids=[c.id for c in trail],
        category_names=[c.name for c in trail],
        options=record.options,
        prices={pl: m.amount for pl, m in record.min_prices.items()},
        currency_by_price_list={pl: m.currency for pl, m in record.min_prices.items()},
        image_url=record.image.url if record.image else "",
        image_alt=record.image.alt if record.image else record.title,
        in_stock=record.available > 0,
        created_at=int(record.created_at.timestamp()),
    )


# Documents per write: big enough to keep a vendor's task queue short, small enough for one request body.
REINDEX_BATCH_SIZE = 500


async def reindex(
    backend: CommerceBackend,
    search: SearchProvider,
    *,
    batch_size: int = REINDEX_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Rebuild the index from the catalog; returns the number of documents indexed.

    Settings go first, so a vendor knows its filterable and sortable attributes before documents arrive (Meilisearch
    reworks every document when they change). Each batch returns once the vendor has applied it, as the adapters
    wait for their tasks, so `progress(done)` counts searchable documents. A vendor error stops the rebuild and
    propagates as a ConnectorError; the index then holds what was written so far.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    tree = build_tree(await backend.list_categories())
    await search.apply_settings(IndexSettings())
    await search.clear()
    after_id, count = 0, 0
    while batch := await backend.catalog_batch(after_id=after_id, limit=batch_size):
        await search.index_documents([to_document(r, tree) for r in batch])
        after_id = batch[-1].id
        count += len(batch)
        if progress is not None:
            progress(count)
    return count
