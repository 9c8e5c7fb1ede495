"""Product cards for grids: one shape whether the item came from the catalog or from the search index."""

from __future__ import annotations

from dataclasses import dataclass

from origin import Product, SearchHit
from storefront.formatting import Formatter


@dataclass(frozen=True, slots=True)
class Card:
    handle: str
    title: str
    brand: str
    price: str
    from_price: bool  # variants differ in price: "From $x"
    compare_at: str | None  # set when the lowest-priced variant is on sale
    image_url: str
    image_alt: str
    image_width: int
    image_height: int
    in_stock: bool

    @property
    def url(self) -> str:
        return f"/p/{self.handle}"

    @property
    def on_sale(self) -> bool:
        return self.compare_at is not None


def card_from_product(product: Product, fmt: Formatter) -> Card:
    cheapest = min(product.variants, key=lambda v: v.price.amount)
    on_sale = cheapest.compare_at_price is not None and cheapest.compare_at_price.amount > cheapest.price.amount
    image = product.images[0] if product.images else None
    return Card(
        handle=product.handle,
        title=product.title,
        brand=product.brand,
        price=fmt.money(cheapest.price),
        from_price=product.min_price.amount != product.max_price.amount,
        compare_at=fmt.money(cheapest.compare_at_price) if on_sale and cheapest.compare_at_price else None,
        image_url=image.url if image else "",
        image_alt=image.alt if image else product.title,
        image_width=image.width if image else 800,
        image_height=image.height if image else 800,
        in_stock=product.available > 0,
    )


def card_from_hit(hit: SearchHit, fmt: Formatter) -> Card:
    # The index keeps the lowest price only, so a hit cannot tell a range or a sale; the product page does.
    return Card(
        handle=hit.handle,
        title=hit.title,
        brand=hit.brand,
        price=fmt.minor(hit.price, hit.currency),
        from_price=False,
        compare_at=None,
        image_url=hit.image_url,
        image_alt=hit.image_alt or hit.title,
        image_width=800,
        image_height=800,
        in_stock=hit.in_stock,
    )
