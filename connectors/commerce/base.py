"""The CommerceBackend port: catalog, prices, inventory and orders."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from connectors.money import Money

ProductSort = Literal["featured", "newest", "price_asc", "price_desc", "title"]
OrderStatus = Literal["pending_payment", "authorized", "captured", "failed", "refunded", "cancelled"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Category(_Model):
    id: int
    slug: str
    name: str
    parent_id: int | None
    description: str = ""
    position: int = 0


class ProductImage(_Model):
    url: str
    alt: str
    width: int = 800
    height: int = 800


class ProductOption(_Model):
    name: str
    values: list[str]


class Variant(_Model):
    id: int
    sku: str
    title: str
    options: dict[str, str]
    price: Money
    compare_at_price: Money | None = None
    available: int


class Product(_Model):
    id: int
    handle: str
    title: str
    description: str
    brand: str
    category_id: int
    tags: list[str]
    images: list[ProductImage]
    options: list[ProductOption]
    variants: list[Variant]
    updated_at: datetime

    @property
    def min_price(self) -> Money:
        return min((v.price for v in self.variants), key=lambda m: m.amount)

    @property
    def max_price(self) -> Money:
        return max((v.price for v in self.variants), key=lambda m: m.amount)

    @property
    def available(self) -> int:
        return sum(v.available for v in self.variants)


class ProductPage(_Model):
    items: list[Product]
    total: int
    page: int
    per_page: int


class VariantQuote(_Model):
    """What a cart line needs to know about a variant, in one price list."""

    variant_id: int
    product_id: int
    product_handle: str
    product_title: str
    variant_title: str
    sku: str
    image: ProductImage | None
    price: Money
    available: int


class CatalogRecord(_Model):
    """A product flattened across all price lists, for indexing and exports."""

    id: int
    handle: str
    title: str
    description: str
    brand: str
    category_id: int
    options: dict[str, list[str]]
    min_prices: dict[str, Money]  # price list -> lowest variant price
    available: int
    image: ProductImage | None
    created_at: datetime


class Address(_Model):
    name: str
    line1: str
    line2: str = ""
    city: str
    postal_code: str
    region: str = ""
    country: str


class OrderLine(_Model):
    variant_id: int
    product_handle: str
    title: str
    variant_title: str
    sku: str
    quantity: int
    unit_price: Money
    total: Money


class OrderDraft(_Model):
    """An order as the origin priced it; the backend reserves stock and stores it atomically."""

    idempotency_key: str
    fingerprint: str
    email: str
    market: str
    lines: list[OrderLine]
    shipping_address: Address
    shipping_method: str
    subtotal: Money
    shipping: Money
    tax: Money
    total: Money
    token_hash: str


class Order(_Model):
    id: str
    status: OrderStatus
    email: str
    market: str
    lines: list[OrderLine]
    shipping_address: Address
    shipping_method: str
    subtotal: Money
    shipping: Money
    tax: Money
    total: Money
    token_hash: str
    fingerprint: str
    payment_reference: str | None
    created_at: datetime


class ProductUpdate(_Model):
    """A merchant's edit of one product; absent fields stay as they are. Amounts are minor units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    # price list -> variant id -> amount
    prices: dict[str, dict[int, Annotated[int, Field(ge=0, le=10**12)]]] = Field(default_factory=dict)
    # variant id -> units on hand
    stock: dict[int, Annotated[int, Field(ge=0, le=10**9)]] = Field(default_factory=dict)


class CommerceBackend(Protocol):
    vendor: str

    async def list_categories(self) -> list[Category]: ...

    async def list_products(
        self,
        *,
        price_list: str,
        category_id: int | None = None,
        page: int = 1,
        per_page: int = 24,
        sort: ProductSort = "featured",
    ) -> ProductPage: ...

    async def get_product(self, handle: str, *, price_list: str) -> Product:
        """Raises NotFound."""
        ...

    async def quote_variants(self, variant_ids: list[int], *, price_list: str) -> dict[int, VariantQuote]:
        """Variants that exist; unknown ids are absent from the result."""
        ...

    async def catalog_batch(self, *, after_id: int = 0, limit: int = 500) -> list[CatalogRecord]:
        """Products with id > after_id in id order; an empty list ends a scan."""
        ...

    async def update_product(self, product_id: int, update: ProductUpdate) -> CatalogRecord:
        """Apply a merchant's edit; raises NotFound, or VendorRejected (e.g. stock below what is reserved)."""
        ...

    async def place_order(self, draft: OrderDraft) -> Order:
        """Reserve every line and store the order as `pending_payment`, all or nothing.

        Idempotent on `draft.idempotency_key`: the same key returns the order it created (IdempotencyConflict
        when the fingerprint differs). Raises OutOfStock and stores nothing when any line is short.
        """
        ...

    async def record_payment(self, order_id: str, *, status: OrderStatus, payment_reference: str) -> Order:
        """Move a pending order to a paid state and turn its reservations into sold stock."""
        ...

    async def void_order(self, order_id: str) -> None:
        """Release a pending order's reservations and delete it (payment refused)."""
        ...

    async def update_order_status(
        self,
        order_id: str,
        status: OrderStatus,
        *,
        expected: Collection[OrderStatus],
        payment_reference: str | None = None,
    ) -> Order | None:
        """Move an order to `status` only from one of the `expected` statuses, atomically; None when it was in
        another (the move is not allowed, or a replay already made it). Stock follows the move: a pending order
        that failed releases its reservation; an authorized one that is cancelled puts its units back. Paying a
        pending order is `record_payment`'s job. `payment_reference` records which payment the move is about
        (a cancelled order that names its payment is never revived by a late event of it). Raises NotFound."""
        ...

    async def get_order(self, order_id: str) -> Order:
        """Raises NotFound."""
        ...
