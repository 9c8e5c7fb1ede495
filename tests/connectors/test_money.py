from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.money import CurrencyMismatch, Money, minor_unit_exponent


def test_money_is_integer_minor_units() -> None:
    with pytest.raises(ValidationError):
        Money(amount=19.99, currency="USD")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Money(amount=1999, currency="usd")
    assert Money(amount=1999, currency="USD").model_dump() == {"amount": 1999, "currency": "USD"}


def test_arithmetic_stays_in_one_currency() -> None:
    a, b = Money(amount=150, currency="EUR"), Money(amount=250, currency="EUR")
    assert (a + b).amount == 400 and (b - a).amount == 100 and a.times(3).amount == 450
    with pytest.raises(CurrencyMismatch):
        a + Money(amount=1, currency="USD")


@pytest.mark.parametrize(
    ("amount", "num", "den", "expected"),
    [(1000, 19, 119, 160), (999, 1, 2, 500), (998, 1, 2, 499), (-999, 1, 2, -500), (10000, 2000, 10000, 2000)],
)
def test_share_rounds_half_away_from_zero(amount: int, num: int, den: int, expected: int) -> None:
    assert Money(amount=amount, currency="EUR").share(num, den).amount == expected


def test_minor_unit_exponents() -> None:
    assert minor_unit_exponent("USD") == 2 and minor_unit_exponent("JPY") == 0 and minor_unit_exponent("KWD") == 3
