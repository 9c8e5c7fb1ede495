"""The product page: shared for everyone, or rendered privately when an add-to-cart attempt needs an error shown."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from origin import Market, Product
from storefront.cards import card_from_product
from storefront.formatting import formatter, to_decimal
from storefront.site import Site
from storefront.variants import pick_variant, picker_json, variant_view

RELATED_PRODUCTS = 4


def product_path(product: Product) -> str:
    return f"/p/{product.handle}"


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]


def _structured_data(product: Product, market: Market, url: str) -> dict[str, Any]:
    """schema.org Product for search engines; prices as decimal strings, never floats."""
    return {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.title,
        "description": product.description,
        "brand": {"@type": "Brand", "name": product.brand},
        "image": [i.url for i in product.images],
        "url": url,
        "offers": [
            {
                "@type": "Offer",
                "sku": v.sku,
                "price": str(to_decimal(v.price.amount, v.price.currency)),
                "priceCurrency": v.price.currency,
                "availability": "https://schema.org/" + ("InStock" if v.available > 0 else "OutOfStock"),
            }
            for v in product.variants
        ],
    }


class ProductPages:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.store = site.store

    async def _values(
        self,
        request: Request,
        market: Market,
        product: Product,
        *,
        variant: str | int | None,
        quantity: str,
        errors: dict[str, str],
    ) -> dict[str, Any]:
        fmt = formatter(market.locale)
        tree = await self.store.catalog.tree()
        node = tree.by_id.get(product.category_id)
        selected = pick_variant(product, variant)
        views = [variant_view(v, fmt) for v in product.variants]
        # Siblings from the parent category: a leaf category alone is often too small to suggest from.
        around = node.parent.category.id if node is not None and node.parent is not None else product.category_id
        related = await self.store.catalog.products(
            market, category_id=around, page=1, per_page=RELATED_PRODUCTS + 1, sort="featured"
        )
        return {
            "title": product.title,
            "product": product,
            "crumbs": [
                ("Home", "/"),
                *((c.name, f"/c/{c.slug}") for c in (node.trail if node else [])),
                (product.title, None),
            ],
            "variants": views,
            "selected": next(v for v in views if v.id == selected.id),
            "picker_json": picker_json(product, views),
            "price_range": fmt.price_range(product) if product.min_price.amount != product.max_price.amount else "",
            "sold_out": product.available <= 0,
            "quantity": quantity,
            "errors": errors,
            "paragraphs": _paragraphs(product.description),
            "structured_data": _structured_data(
                product, market, self.site.urls(request).absolute(market, product_path(product))
            ),
            "related": [card_from_product(p, fmt) for p in related.items if p.id != product.id][:RELATED_PRODUCTS],
        }

    async def show(self, request: Request) -> Response:
        market = self.site.market(request)
        product = await self.store.catalog.product(request.path_params["handle"], market)
        values = await self._values(
            request, market, product, variant=request.query_params.get("variant"), quantity="1", errors={}
        )
        keys = [f"product:{product.id}", f"category:{product.category_id}"]
        return await self.site.shared(
            request, "product.html", market=market, keys=keys, canonical=product_path(product), **values
        )

    async def with_errors(
        self,
        request: Request,
        market: Market,
        product: Product,
        *,
        variant: str | int | None,
        quantity: str,
        errors: dict[str, str],
        status_code: int,
    ) -> Response:
        """The same page for one shopper, with the add-to-cart problem next to its field; never cached."""
        values = await self._values(request, market, product, variant=variant, quantity=quantity, errors=errors)
        return await self.site.private(
            request, "product.html", market=market, status_code=status_code, canonical=product_path(product), **values
        )
