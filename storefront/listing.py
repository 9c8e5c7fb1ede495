"""Listing state from the URL (filters, sort, page), back into URLs, and into a SearchQuery.

The parameters follow the JSON API (`origin.api.Api.search_query`): `q`, `category` (id), `brand`,
`price_min`/`price_max` (minor units), `in_stock`, `sort`, `page`, and any other name is a product option
(`Color=Red&Size=M`, names title-cased). Unlike the API, a page never fails on a bad value: it ignores it,
because the URL came from a link and the shopper should still see products.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from origin import SearchQuery
from storefront.forms import small_int

SEARCH_SORTS: Mapping[str, str] = {
    "relevance": "Best match",
    "newest": "Newest",
    "price_asc": "Price: low to high",
    "price_desc": "Price: high to low",
    "title": "Name: A to Z",
}
CATEGORY_SORTS: Mapping[str, str] = {
    "featured": "Featured",
    **{k: v for k, v in SEARCH_SORTS.items() if k != "relevance"},
}
RESERVED_PARAMS = frozenset(
    {"q", "sort", "page", "per_page", "category", "brand", "price_min", "price_max", "in_stock", "market", "variant"}
)
MAX_PAGE = 1000
MAX_TEXT = 200
_MAX_OPTIONS = 8
_MAX_VALUES = 30


def _int(raw: str | None, *, low: int, high: int) -> int | None:
    value = small_int(raw)
    return value if value is not None and low <= value <= high else None


def _values(raw: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip()[:100] for v in raw if v.strip()))[:_MAX_VALUES]


@dataclass(frozen=True, slots=True)
class Filters:
    sort: str
    default_sort: str
    text: str = ""
    category_id: int | None = None
    brands: tuple[str, ...] = ()
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()
    price_min: int | None = None
    price_max: int | None = None
    in_stock: bool = False
    page: int = 1
    # False on category pages: the category is in the path, not in the query.
    category_in_url: bool = True

    @property
    def narrowed(self) -> bool:
        """True when a facet filter is on; a plain category or text listing is not narrowed."""
        return bool(self.brands or self.options or self.price_min is not None or self.price_max is not None) or (
            self.in_stock
        )

    def option(self, name: str) -> tuple[str, ...]:
        return dict(self.options).get(name, ())

    def params(self) -> list[tuple[str, str]]:
        """The URL parameters in one fixed order, so equal listings have equal URLs (one cache entry)."""
        out: list[tuple[str, str]] = []
        if self.text:
            out.append(("q", self.text))
        if self.category_in_url and self.category_id is not None:
            out.append(("category", str(self.category_id)))
        out.extend(("brand", b) for b in self.brands)
        for name, values in self.options:
            out.extend((name, v) for v in values)
        if self.price_min is not None:
            out.append(("price_min", str(self.price_min)))
        if self.price_max is not None:
            out.append(("price_max", str(self.price_max)))
        if self.in_stock:
            out.append(("in_stock", "1"))
        if self.sort != self.default_sort:
            out.append(("sort", self.sort))
        if self.page != 1:
            out.append(("page", str(self.page)))
        return out

    def url(self, path: str, **changes: Any) -> str:
        """This listing with `changes` applied; any change other than the page starts again at page 1."""
        if changes and "page" not in changes:
            changes["page"] = 1
        state = replace(self, **changes) if changes else self
        query = urlencode(state.params())
        return f"{path}?{query}" if query else path

    def toggle_brand(self, brand: str) -> tuple[str, ...]:
        return tuple(b for b in self.brands if b != brand) if brand in self.brands else (*self.brands, brand)

    def toggle_option(self, name: str, value: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        current = dict(self.options)
        values = current.get(name, ())
        values = tuple(v for v in values if v != value) if value in values else (*values, value)
        if values:
            current[name] = values
        else:
            current.pop(name, None)
        return tuple(sorted(current.items()))

    def hidden_fields(self, *, skip: frozenset[str]) -> list[tuple[str, str]]:
        """Current parameters as hidden inputs for a GET form that edits the ones in `skip`."""
        return [(k, v) for k, v in self.params() if k not in skip and k != "page"]

    def search_query(self, *, price_list: str, per_page: int) -> SearchQuery:
        return SearchQuery(
            text=self.text,
            category_id=self.category_id,
            brands=list(self.brands),
            options={name: list(values) for name, values in self.options},
            price_list=price_list,
            price_min=self.price_min,
            price_max=self.price_max,
            in_stock_only=self.in_stock,
            sort="relevance" if self.sort == "featured" else self.sort,  # type: ignore[arg-type]
            page=self.page,
            per_page=per_page,
        )


def parse_filters(
    params: QueryParams, *, sorts: Mapping[str, str], default_sort: str, category_id: int | None = None
) -> Filters:
    """Filters from the query string; a fixed `category_id` (category pages) wins over `category=`."""
    options: dict[str, tuple[str, ...]] = {}
    for name in params:
        if name in RESERVED_PARAMS or len(options) >= _MAX_OPTIONS:
            continue
        values = _values(params.getlist(name))
        if values and name.strip():
            options[name.strip()[:50].title()] = values
    sort = params.get("sort") or default_sort
    return Filters(
        sort=sort if sort in sorts else default_sort,
        default_sort=default_sort,
        text=" ".join(params.get("q", "").split())[:MAX_TEXT],
        category_id=category_id if category_id is not None else _int(params.get("category"), low=1, high=2**31),
        brands=_values(params.getlist("brand")),
        options=tuple(sorted(options.items())),
        price_min=_int(params.get("price_min"), low=0, high=10**9),
        price_max=_int(params.get("price_max"), low=0, high=10**9),
        in_stock=params.get("in_stock") in ("1", "true", "on"),
        page=_int(params.get("page"), low=1, high=MAX_PAGE) or 1,
        category_in_url=category_id is None,
    )


@dataclass(frozen=True, slots=True)
class PageLink:
    number: int | None  # None: an ellipsis
    url: str
    current: bool = False


@dataclass(frozen=True, slots=True)
class Pagination:
    page: int
    pages: int
    total: int
    prev_url: str | None
    next_url: str | None
    links: list[PageLink]


def paginate(filters: Filters, path: str, *, total: int, per_page: int) -> Pagination:
    pages = max(1, min(MAX_PAGE, -(-total // per_page)))
    page = filters.page
    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    links: list[PageLink] = []
    previous = 0
    for number in shown:
        if number - previous > 1:
            links.append(PageLink(number=None, url=""))
        links.append(PageLink(number=number, url=filters.url(path, page=number), current=number == page))
        previous = number
    return Pagination(
        page=page,
        pages=pages,
        total=total,
        prev_url=filters.url(path, page=page - 1) if 1 < page <= pages else None,
        next_url=filters.url(path, page=page + 1) if page < pages else None,
        links=links,
    )
