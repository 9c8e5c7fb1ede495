"""Catalog reads for the API and the pages: categories as a tree, listings, products, search."""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors import (
    Category,
    CommerceBackend,
    NotFound,
    Product,
    ProductPage,
    ProductSort,
    SearchProvider,
    SearchQuery,
    SearchResult,
)
from origin.errors import ResourceNotFound
from origin.settings import Market


@dataclass(slots=True)
class CategoryNode:
    category: Category
    children: list[CategoryNode] = field(default_factory=list)
    parent: CategoryNode | None = None

    @property
    def trail(self) -> list[Category]:
        """Root first, this category last: the breadcrumb."""
        trail: list[Category] = []
        node: CategoryNode | None = self
        while node is not None:
            trail.append(node.category)
            node = node.parent
        return trail[::-1]


@dataclass(frozen=True, slots=True)
class CategoryTree:
    roots: list[CategoryNode]
    by_slug: dict[str, CategoryNode]
    by_id: dict[int, CategoryNode]


def build_tree(categories: list[Category]) -> CategoryTree:
    nodes = {c.id: CategoryNode(category=c) for c in categories}
    roots: list[CategoryNode] = []
    for node in nodes.values():
        parent = nodes.get(node.category.parent_id) if node.category.parent_id is not None else None
        if parent is None:
            roots.append(node)
        else:
            node.parent = parent
            parent.children.append(node)
    return CategoryTree(roots=roots, by_slug={n.category.slug: n for n in nodes.values()}, by_id=nodes)


class CatalogService:
    def __init__(self, backend: CommerceBackend, search: SearchProvider) -> None:
        self._backend = backend
        self._search = search
        self._tree: CategoryTree | None = None

    async def tree(self) -> CategoryTree:
        if self._tree is None:
            self._tree = build_tree(await self._backend.list_categories())
        return self._tree

    def forget(self) -> None:
        """Drop cached catalog structure after the catalog changed (seeding, imports)."""
        self._tree = None

    async def category(self, slug: str) -> CategoryNode:
        node = (await self.tree()).by_slug.get(slug)
        if node is None:
            raise ResourceNotFound(f"no category {slug!r}")
        return node

    async def products(
        self, market: Market, *, category_id: int | None, page: int, per_page: int, sort: ProductSort
    ) -> ProductPage:
        return await self._backend.list_products(
            price_list=market.price_list, category_id=category_id, page=page, per_page=per_page, sort=sort
        )

    async def product(self, handle: str, market: Market) -> Product:
        try:
            return await self._backend.get_product(handle, price_list=market.price_list)
        except NotFound as exc:
            raise ResourceNotFound(f"no product {handle!r}") from exc

    async def search(self, query: SearchQuery) -> SearchResult:
        return await self._search.search(query)
