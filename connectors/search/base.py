"""The SearchProvider port: full-text product search with filters, facets, sort and pagination."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

SearchSort = Literal["relevance", "price_asc", "price_desc", "newest", "title"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class SearchDocument(_Model):
    """One product as the search index sees it; carries what a result card shows."""

    id: int
    handle: str
    title: str
    description: str
    brand: str
    category_ids: list[int] = Field(description="the product's category and all its ancestors")
    category_names: list[str]
    options: dict[str, list[str]] = Field(description="option name -> values offered, e.g. {'Color': ['Red']}")
    prices: dict[str, int] = Field(description="price list -> lowest variant price in minor units")
    currency_by_price_list: dict[str, str]
    image_url: str
    image_alt: str
    in_stock: bool
    created_at: int = Field(description="unix seconds, for `newest`")


# Bounds a query can have, whatever the vendor: a shopper's URL must not become an unbounded query.
MAX_OPTION_FILTERS = 16
MAX_FILTER_VALUES = 200
MAX_MINOR_UNITS = 10**12


class SearchQuery(_Model):
    text: str = Field(default="", max_length=200)
    category_id: int | None = Field(default=None, ge=1, le=2**53)
    # option name -> accepted values (OR within one option, AND across options)
    options: dict[str, list[str]] = Field(default_factory=dict, max_length=MAX_OPTION_FILTERS)
    brands: list[str] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    price_list: str
    price_min: int | None = Field(default=None, ge=0, le=MAX_MINOR_UNITS)
    price_max: int | None = Field(default=None, ge=0, le=MAX_MINOR_UNITS)
    in_stock_only: bool = False
    sort: SearchSort = "relevance"
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=24, ge=1, le=100)
    facets: list[str] = Field(default_factory=lambda: ["category", "brand", "option:Color", "option:Size", "price"])

    @model_validator(mode="after")
    def _bounded(self) -> SearchQuery:
        if sum(len(values) for values in self.options.values()) > MAX_FILTER_VALUES:
            raise ValueError(f"at most {MAX_FILTER_VALUES} filter values in one query")
        return self


class FacetValue(_Model):
    value: str
    label: str
    count: int


class SearchHit(_Model):
    id: int
    handle: str
    title: str
    brand: str
    price: int
    currency: str
    image_url: str
    image_alt: str
    in_stock: bool


class SearchResult(_Model):
    hits: list[SearchHit]
    total: int
    page: int
    per_page: int
    # facet name ("category", "brand", "option:Color", "price") -> values with counts
    facets: dict[str, list[FacetValue]]


class IndexSettings(_Model):
    searchable: list[str] = Field(default_factory=lambda: ["title", "brand", "category_names", "description"])
    filterable: list[str] = Field(default_factory=lambda: ["category_ids", "brand", "options", "prices", "in_stock"])
    sortable: list[str] = Field(default_factory=lambda: ["prices", "created_at", "title"])


class SearchProvider(Protocol):
    vendor: str

    async def search(self, query: SearchQuery) -> SearchResult: ...

    async def index_documents(self, documents: list[SearchDocument]) -> None:
        """Add or replace documents by id."""
        ...

    async def delete_documents(self, ids: list[int]) -> None: ...

    async def apply_settings(self, settings: IndexSettings) -> None: ...

    async def clear(self) -> None: ...
