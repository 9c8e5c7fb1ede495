"""Facet groups and active-filter chips for listing pages, built from a SearchResult and the URL state.

Every choice carries the URL it leads to, so filtering works as plain links and GET forms without JS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from origin import FacetValue
from storefront.formatting import Formatter
from storefront.listing import Filters

_MAX_CHOICES = 12
# Apparel sizes read in this order, not alphabetically; other values sort numerically, then by name.
_SIZE_ORDER = {size: i for i, size in enumerate(("XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL"))}


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str
    count: int
    selected: bool
    url: str


@dataclass(frozen=True, slots=True)
class FacetGroup:
    key: str
    title: str
    param: str
    kind: Literal["checkbox", "link"]
    choices: list[Choice]


@dataclass(frozen=True, slots=True)
class Chip:
    label: str
    remove_url: str


def price_bounds(value: str) -> tuple[int | None, int | None]:
    """A price facet value "5000-10000" is [5000, 10000); query bounds are inclusive, so max is 9999."""
    low, _, high = value.partition("-")
    try:
        return (int(low) if low else None), (int(high) - 1 if high else None)
    except ValueError:
        return None, None


def price_label(fmt: Formatter, currency: str, low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{fmt.whole(low, currency)} – {fmt.whole(high + 1, currency)}"
    if low is not None:
        return f"{fmt.whole(low, currency)} and up"
    if high is not None:
        return f"Up to {fmt.whole(high + 1, currency)}"
    return "Any price"


def _choices(values: list[FacetValue], selected: tuple[str, ...]) -> list[FacetValue]:
    """The most common values, plus every selected one so it can always be unticked."""
    top = values[:_MAX_CHOICES]
    top += [v for v in values[_MAX_CHOICES:] if v.value in selected]
    return sorted(top, key=_natural)


def _natural(value: FacetValue) -> tuple[int, float, str]:
    label = value.label.strip()
    if label.upper() in _SIZE_ORDER:
        return 0, _SIZE_ORDER[label.upper()], ""
    number = label.split(" ")[0].replace(",", ".")
    try:
        return 1, float(number), label.lower()
    except ValueError:
        return 2, 0.0, label.lower()


def facet_groups(
    facets: dict[str, list[FacetValue]],
    filters: Filters,
    path: str,
    *,
    fmt: Formatter,
    currency: str,
    with_category: bool,
) -> list[FacetGroup]:
    groups: list[FacetGroup] = []
    if with_category and facets.get("category"):
        current = str(filters.category_id) if filters.category_id is not None else ""
        choices = [
            Choice(
                value=v.value,
                label=v.label,
                count=v.count,
                selected=v.value == current,
                url=filters.url(path, category_id=None if v.value == current else int(v.value)),
            )
            for v in facets["category"][:_MAX_CHOICES]
        ]
        groups.append(FacetGroup(key="category", title="Category", param="category", kind="link", choices=choices))
    if facets.get("brand"):
        choices = [
            Choice(
                v.value,
                v.label,
                v.count,
                v.value in filters.brands,
                filters.url(path, brands=filters.toggle_brand(v.value)),
            )
            for v in _choices(facets["brand"], filters.brands)
        ]
        groups.append(FacetGroup(key="brand", title="Brand", param="brand", kind="checkbox", choices=choices))
    for key, values in facets.items():
        if not key.startswith("option:") or not values:
            continue
        name = key.removeprefix("option:")
        chosen = filters.option(name)
        choices = [
            Choice(
                v.value,
                v.label,
                v.count,
                v.value in chosen,
                filters.url(path, options=filters.toggle_option(name, v.value)),
            )
            for v in _choices(values, chosen)
        ]
        groups.append(FacetGroup(key=key, title=name, param=name, kind="checkbox", choices=choices))
    if facets.get("price"):
        choices = []
        for v in facets["price"]:
            low, high = price_bounds(v.value)
            selected = (low, high) == (filters.price_min, filters.price_max)
            url = (
                filters.url(path, price_min=None, price_max=None)
                if selected
                else filters.url(path, price_min=low, price_max=high)
            )
            choices.append(Choice(v.value, price_label(fmt, currency, low, high), v.count, selected, url))
        groups.append(FacetGroup(key="price", title="Price", param="price", kind="link", choices=choices))
    return groups


def active_chips(
    filters: Filters, path: str, *, fmt: Formatter, currency: str, category_label: str | None = None
) -> list[Chip]:
    chips: list[Chip] = []
    if category_label is not None:
        chips.append(Chip(f"Category: {category_label}", filters.url(path, category_id=None)))
    chips.extend(Chip(brand, filters.url(path, brands=filters.toggle_brand(brand))) for brand in filters.brands)
    for name, values in filters.options:
        chips.extend(Chip(f"{name}: {v}", filters.url(path, options=filters.toggle_option(name, v))) for v in values)
    if filters.price_min is not None or filters.price_max is not None:
        label = price_label(fmt, currency, filters.price_min, filters.price_max)
        chips.append(Chip(label, filters.url(path, price_min=None, price_max=None)))
    if filters.in_stock:
        chips.append(Chip("In stock only", filters.url(path, in_stock=False)))
    return chips


def cleared_url(filters: Filters, path: str, *, keep_category: bool) -> str:
    return filters.url(
        path,
        brands=(),
        options=(),
        price_min=None,
        price_max=None,
        in_stock=False,
        category_id=filters.category_id if keep_category else None,
    )
