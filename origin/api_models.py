"""Response bodies of the JSON API (documented in the OpenAPI document from these models)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from connectors import Address, Money, Order, OrderLine, OrderStatus, ProductImage
from origin.carts import PricedCart
from origin.pricing import shipping_price


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class CartLineOut(_Out):
    id: str
    variant_id: int
    product_handle: str
    product_title: str
    variant_title: str
    sku: str
    image: ProductImage | None
    quantity: int
    unit_price: Money
    total: Money
    available: int


class ShippingMethodOut(_Out):
    id: str
    label: str
    description: str
    price: Money


class CartOut(_Out):
    id: str
    market: str
    currency: str
    status: str
    item_count: int
    lines: list[CartLineOut]
    shipping_method: str | None
    shipping_methods: list[ShippingMethodOut]
    subtotal: Money
    shipping: Money
    tax: Money
    tax_included: bool
    total: Money

    @classmethod
    def of(cls, priced: PricedCart) -> CartOut:
        totals = priced.totals
        return cls(
            id=priced.cart.id,
            market=priced.market.id,
            currency=priced.market.currency,
            status=priced.cart.status,
            item_count=priced.item_count,
            lines=[
                CartLineOut(
                    id=pl.line.id,
                    variant_id=pl.line.variant_id,
                    product_handle=pl.quote.product_handle,
                    product_title=pl.quote.product_title,
                    variant_title=pl.quote.variant_title,
                    sku=pl.quote.sku,
                    image=pl.quote.image,
                    quantity=pl.line.quantity,
                    unit_price=pl.quote.price,
                    total=pl.total,
                    available=pl.quote.available,
                )
                for pl in priced.lines
            ],
            shipping_method=priced.shipping_method.id if priced.shipping_method else None,
            shipping_methods=[
                ShippingMethodOut(
                    id=m.id,
                    label=m.label,
                    description=m.description,
                    price=shipping_price(m, totals.subtotal) or Money.zero(totals.subtotal.currency),
                )
                for m in priced.shipping_methods
            ],
            subtotal=totals.subtotal,
            shipping=totals.shipping,
            tax=totals.tax,
            tax_included=totals.tax_included,
            total=totals.total,
        )


class CheckoutOut(_Out):
    order_id: str
    status: OrderStatus
    order_token: str


class OrderOut(_Out):
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
    created_at: str

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        return cls(
            **order.model_dump(exclude={"token_hash", "fingerprint", "payment_reference", "created_at"}),
            created_at=order.created_at.isoformat(),
        )


class CreatedCartOut(_Out):
    id: str


class AddLineBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a client-sent price is ignored, never trusted

    variant_id: int = Field(ge=1, le=2**53)
    quantity: int = Field(default=1, ge=1, le=99)


class UpdateLineBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a client-sent price is ignored, never trusted

    quantity: int = Field(ge=1, le=99)


class CreateCartBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a client-sent price is ignored, never trusted

    market: str | None = None
