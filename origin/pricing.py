"""Cart and order totals, computed on the server only, in integer minor units."""

from __future__ import annotations

from dataclasses import dataclass

from connectors import Money
from origin.settings import Market, ShippingMethod


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Money
    shipping: Money
    tax: Money
    total: Money
    tax_included: bool
    tax_label: str


def shipping_price(method: ShippingMethod, subtotal: Money) -> Money | None:
    """None when the method is not offered in this currency."""
    price = method.prices.get(subtotal.currency)
    if price is None:
        return None
    threshold = method.free_over.get(subtotal.currency)
    if threshold is not None and subtotal.amount >= threshold:
        return Money.zero(subtotal.currency)
    return Money(amount=price, currency=subtotal.currency)


def offered_methods(methods: list[ShippingMethod], currency: str) -> list[ShippingMethod]:
    return [m for m in methods if currency in m.prices]


def compute_totals(subtotal: Money, shipping: Money, market: Market) -> Totals:
    """Tax on goods and shipping. VAT-inclusive markets show the tax contained in the price; others add it."""
    taxable = subtotal + shipping
    rate = market.tax.rate_bps
    if market.tax.inclusive:
        tax = taxable.share(rate, 10_000 + rate)
        total = taxable
    else:
        tax = taxable.share(rate, 10_000)
        total = taxable + tax
    return Totals(
        subtotal=subtotal,
        shipping=shipping,
        tax=tax,
        total=total,
        tax_included=market.tax.inclusive,
        tax_label=market.tax.label,
    )
