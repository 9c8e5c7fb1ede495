"""Locale-aware display of money, dates and country names for one market (Babel CLDR data, never floats)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_compact_currency, format_currency, format_decimal

from origin import Money, Product, minor_unit_exponent


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units to an exact decimal amount: 1999 USD -> Decimal('19.99')."""
    return Decimal(amount).scaleb(-minor_unit_exponent(currency))


class Formatter:
    """Formats values for one locale; templates get one per page as `fmt`."""

    __slots__ = ("_locale", "locale")

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._locale = Locale.parse(locale)

    def money(self, money: Money) -> str:
        return self.minor(money.amount, money.currency)

    def minor(self, amount: int, currency: str) -> str:
        return format_currency(to_decimal(amount, currency), currency, locale=self._locale)

    def whole(self, amount: int, currency: str) -> str:
        """A short amount for filter labels: 5000 USD -> "$50"."""
        return format_compact_currency(to_decimal(amount, currency), currency, locale=self._locale, fraction_digits=0)

    def price_range(self, product: Product) -> str:
        low, high = product.min_price, product.max_price
        if low.amount == high.amount:
            return self.money(low)
        return f"{self.money(low)} – {self.money(high)}"

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self._locale)

    def date(self, value: datetime) -> str:
        return format_date(value, format="long", locale=self._locale)

    def datetime(self, value: datetime) -> str:
        return format_datetime(value, format="medium", locale=self._locale)

    def country(self, code: str) -> str:
        return str(self._locale.territories.get(code.upper(), code.upper()))


@cache
def formatter(locale: str) -> Formatter:
    """One formatter per locale for the process: parsing CLDR locale data is the slow part."""
    return Formatter(locale)


def sentence(text: str) -> str:
    """Domain error details are lower-case fragments ("only 3 left in stock"); pages show sentences."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."
