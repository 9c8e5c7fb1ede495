"""The product page's variant picker: labels for the no-JS select, and the data the option buttons use."""

from __future__ import annotations

import json
from dataclasses import dataclass

from origin import Product, Variant
from storefront.formatting import Formatter

# At or below this many left the page says "Only N left" instead of "In stock".
LOW_STOCK = 5


def stock_text(available: int) -> str:
    if available <= 0:
        return "Sold out"
    if available <= LOW_STOCK:
        return f"Only {available} left"
    return "In stock"


def stock_state(available: int) -> str:
    if available <= 0:
        return "out"
    return "low" if available <= LOW_STOCK else "in"


@dataclass(frozen=True, slots=True)
class VariantView:
    id: int
    title: str
    options: dict[str, str]
    price: str
    compare_at: str | None
    available: int

    @property
    def sold_out(self) -> bool:
        return self.available <= 0

    @property
    def stock(self) -> str:
        return stock_text(self.available)

    @property
    def state(self) -> str:
        return stock_state(self.available)

    @property
    def label(self) -> str:
        """What the no-JS select shows: "M / Red — $49.00 — only 3 left"."""
        parts = [self.title or "Default", self.price]
        if self.sold_out or self.available <= LOW_STOCK:
            parts.append(self.stock.lower())
        return " — ".join(parts)


def variant_view(variant: Variant, fmt: Formatter) -> VariantView:
    compare = variant.compare_at_price
    on_sale = compare is not None and compare.amount > variant.price.amount
    return VariantView(
        id=variant.id,
        title=variant.title,
        options=dict(variant.options),
        price=fmt.money(variant.price),
        compare_at=fmt.money(compare) if on_sale and compare is not None else None,
        available=variant.available,
    )


def pick_variant(product: Product, requested: str | int | None) -> Variant:
    """The requested variant when it exists, else the first one in stock, else the first."""
    if requested is not None:
        try:
            wanted = int(requested)
        except (TypeError, ValueError):
            wanted = None
        for variant in product.variants:
            if variant.id == wanted:
                return variant
    return next((v for v in product.variants if v.available > 0), product.variants[0])


def picker_json(product: Product, views: list[VariantView]) -> str:
    """Everything the option buttons need, as JSON for a data attribute (autoescaping makes it safe there)."""
    return json.dumps(
        {
            "options": [o.name for o in product.options],
            "variants": [
                {
                    "id": v.id,
                    "options": v.options,
                    "price": v.price,
                    "compareAt": v.compare_at,
                    "available": v.available,
                    "stock": v.stock,
                    "state": v.state,
                }
                for v in views
            ],
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
