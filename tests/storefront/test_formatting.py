"""Money and text formatting for a market's locale: exact decimals, CLDR patterns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.money import Money
from storefront.formatting import formatter, sentence
from storefront.variants import stock_text


@pytest.mark.parametrize(
    ("locale", "amount", "currency", "expected"),
    [
        ("en_US", 1999, "USD", "$19.99"),
        ("en_US", 123456789, "USD", "$1,234,567.89"),
        ("de_DE", 4999, "EUR", "49,99\xa0€"),
        ("en_GB", 500, "GBP", "£5.00"),
        ("en_US", 1500, "JPY", "¥1,500"),
        ("en_US", 1234, "KWD", "KWD1.234"),
    ],
)
def test_money_uses_minor_units_and_the_locale(locale: str, amount: int, currency: str, expected: str) -> None:
    assert formatter(locale).money(Money(amount=amount, currency=currency)) == expected


def test_dates_and_countries_follow_the_locale() -> None:
    moment = datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert formatter("en_US").date(moment) == "March 1, 2025"
    assert formatter("de_DE").date(moment) == "1. März 2025"
    assert formatter("de_DE").country("de") == "Deutschland"


def test_sentences_and_stock() -> None:
    assert sentence("only 3 left in stock") == "Only 3 left in stock."
    assert sentence("Done!") == "Done!"
    assert (stock_text(0), stock_text(3), stock_text(40)) == ("Sold out", "Only 3 left", "In stock")
