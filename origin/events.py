"""What follows a catalog change: the search index is updated and the edge forgets the affected pages."""

from __future__ import annotations

from connectors import CommerceBackend, SearchProvider
from origin.catalog import build_tree
from origin.indexing import to_document
from origin.purging import Purger


def cms_tag(content_type: str, slug: str) -> str:
    """The surrogate key of every page that shows a CMS entry: a publish purges it. Pages also carry the
    type's key (`cms:page`), so an event that cannot name its slug (an unpublish the vendor sends without
    fields) purges every page of the type rather than none."""
    return f"cms:{content_type}:{slug}" if slug else f"cms:{content_type}"


class CatalogEvents:
    def __init__(self, backend: CommerceBackend, search: SearchProvider, purger: Purger) -> None:
        self._backend = backend
        self._search = search
        self._purger = purger

    async def products_changed(self, product_ids: list[int]) -> None:
        tree = build_tree(await self._backend.list_categories())
        documents, tags = [], []
        for product_id in sorted(set(product_ids)):
            batch = await self._backend.catalog_batch(after_id=product_id - 1, limit=1)
            if batch and batch[0].id == product_id:
                record = batch[0]
                documents.append(to_document(record, tree))
                tags += [f"product:{record.id}", f"category:{record.category_id}"]
        if documents:
            await self._search.index_documents(documents)
            await self._purger.purge([*dict.fromkeys(tags), "search"])

    async def content_changed(self, entries: set[tuple[str, str]]) -> None:
        """CMS entries (content_type, slug) were published, edited or removed: their pages are purged."""
        await self._purger.purge(sorted(cms_tag(content_type, slug) for content_type, slug in entries))

    async def aclose(self) -> None:
        await self._purger.aclose()
