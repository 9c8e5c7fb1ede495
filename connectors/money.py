"""Money as integer minor units plus an ISO 4217 currency code; never a float."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. USD")]

# ISO 4217 minor-unit exponents that differ from the common 2; vendors (Stripe, Adyen) use the same table.
_ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV"})
_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


def minor_unit_exponent(currency: str) -> int:
    if currency in _ZERO_DECIMAL:
        return 0
    if currency in _THREE_DECIMAL:
        return 3
    return 2


class CurrencyMismatch(ValueError):
    pass


class Money(BaseModel):
    """An amount in the currency's minor unit (cents for USD): 1999 USD is $19.99."""

    model_config = ConfigDict(frozen=True)

    amount: StrictInt
    currency: CurrencyCode

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls.model_construct(amount=0, currency=currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money.model_construct(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money.model_construct(amount=self.amount - other.amount, currency=self.currency)

    def times(self, quantity: int) -> Money:
        return Money.model_construct(amount=self.amount * quantity, currency=self.currency)

    def share(self, numerator: int, denominator: int) -> Money:
        """amount * numerator / denominator, rounded half away from zero, in integers only."""
        quotient, remainder = divmod(abs(self.amount) * numerator, denominator)
        if remainder * 2 >= denominator:
            quotient += 1
        return Money.model_construct(amount=quotient if self.amount >= 0 else -quotient, currency=self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} and {other.currency}")
