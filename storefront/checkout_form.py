"""The checkout form: its fields, the CheckoutBody payload built from them, and errors mapped back to fields.

The server validates with `origin.checkout.CheckoutBody`, the same model as the JSON API, so the page and
the API accept exactly the same orders; this module only translates between form fields and that model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from origin import MAX_PAYMENT_TOKEN, TEST_CARDS
from storefront.forms import first_text, text

ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "region", "country")
FIELDS = ("email", *ADDRESS_FIELDS, "shipping_method", "payment_token")
IDEMPOTENCY_FIELD = "idempotency_key"

# What a missing value asks for; select-like fields are "chosen", the rest "entered".
_PAYMENT_REFUSED = "This payment method was not accepted; use a test card."
_ASK = {
    "email": "Enter your email address.",
    "name": "Enter the recipient's full name.",
    "line1": "Enter the street address.",
    "line2": "Shorten the second address line.",
    "city": "Enter the town or city.",
    "postal_code": "Enter the postal code.",
    "region": "Shorten the state or region.",
    "country": "Choose a country.",
    "shipping_method": "Choose a shipping method.",
    "payment_token": "Enter your card details.",
}

# The no-JS fallback of the payment widget lists these test tokens.
TEST_TOKEN_CHOICES: tuple[tuple[str, str], ...] = (
    ("pm_card_visa", "Visa (succeeds)"),
    ("pm_card_chargeDeclined", "Declined card"),
    ("pm_card_chargeDeclinedInsufficientFunds", "Insufficient funds"),
)
TEST_CARD_HINTS: tuple[tuple[str, str], ...] = (
    ("4242 4242 4242 4242", "succeeds"),
    ("4000 0000 0000 0002", "declined"),
    ("4000 0000 0000 9995", "insufficient funds"),
)


def test_cards_json() -> str:
    """The builtin provider's number -> token table, for the widget (one source of truth, in Python)."""
    return json.dumps(TEST_CARDS, separators=(",", ":"), sort_keys=True)


@dataclass(slots=True)
class CheckoutForm:
    values: dict[str, str] = field(default_factory=lambda: dict.fromkeys(FIELDS, ""))

    @classmethod
    def read(cls, form: FormData) -> CheckoutForm:
        values = {name: text(form, name, limit=300).strip() for name in FIELDS}
        values["payment_token"] = first_text(form, "payment_token", limit=MAX_PAYMENT_TOKEN)
        return cls(values=values)

    def payload(self, cart_id: str) -> dict[str, Any]:
        v = self.values
        return {
            "cart_id": cart_id,
            "email": v["email"],
            "shipping_address": {name: v[name] for name in ADDRESS_FIELDS},
            "shipping_method": v["shipping_method"],
            "payment": {"token": v["payment_token"]},
        }


def _field_of(loc: tuple[int | str, ...]) -> str:
    if loc[:1] == ("shipping_address",) and len(loc) > 1:
        return str(loc[1])
    if loc[:1] == ("payment",):
        return "payment_token"
    return str(loc[0]) if loc else "form"


def _message(name: str, error: Any) -> str:
    kind = error["type"]
    if kind in ("missing", "string_too_short"):
        return _ASK.get(name, "This field is required.")
    if kind == "string_too_long":
        return f"Use at most {error.get('ctx', {}).get('max_length', 'fewer')} characters."
    if name == "email":
        return "Enter a valid email address, like name@example.com."
    if name == "country":
        return "Choose a country from the list."
    if name == "payment_token":
        return "Use the card form: card numbers are never sent to our servers."
    return "Check this field."


def validation_errors(exc: ValidationError) -> dict[str, str]:
    """The first problem of each field, worded for shoppers (pydantic's messages are for developers)."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = _field_of(tuple(error["loc"]))
        errors.setdefault(name, _message(name, error))
    return errors


def domain_field_errors(fields: dict[str, str]) -> dict[str, str]:
    """InvalidRequest.fields from the checkout service, keyed by our form fields."""
    errors: dict[str, str] = {}
    for key, detail in fields.items():
        if key == "shipping_method":
            errors["shipping_method"] = "This shipping method is not available for your order; choose another."
        elif key.startswith("payment"):
            errors["payment_token"] = _PAYMENT_REFUSED
        elif key in FIELDS:
            errors[key] = detail
    return errors
