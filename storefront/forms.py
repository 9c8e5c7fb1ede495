"""Reading small urlencoded form posts: bounded parsing, text fields only, quantities with shopper-facing errors."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request

from origin import MAX_QUANTITY

# Our forms have a dozen short fields; anything much bigger is not one of them.
MAX_FORM_BYTES = 16 * 1024
_MAX_FIELDS = 40
_MAX_FIELD_BYTES = 4 * 1024

QUANTITY_MESSAGE = f"Enter a quantity from 1 to {MAX_QUANTITY}."


async def read_form(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=_MAX_FIELDS, max_part_size=_MAX_FIELD_BYTES)


def text(form: FormData, name: str, *, limit: int = 500) -> str:
    """A text field's value; an upload or a missing field reads as empty."""
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def first_text(form: FormData, name: str, *, limit: int = 500) -> str:
    """The first non-empty value of a field that may appear twice (the payment widget and its <noscript>)."""
    for value in form.getlist(name):
        if isinstance(value, str) and value.strip():
            return value.strip()[:limit]
    return ""


def small_int(raw: str | None, *, digits: int = 18) -> int | None:
    """A non-negative integer of at most `digits` ASCII digits; `str.isdigit` alone also accepts '²' and '٣'."""
    raw = (raw or "").strip()
    if not raw or len(raw) > digits or not (raw.isascii() and raw.isdecimal()):
        return None
    return int(raw)


def parse_quantity(raw: str) -> int | None:
    """1..MAX_QUANTITY, or None when the shopper typed something else."""
    value = small_int(raw, digits=3)
    return value if value is not None and 1 <= value <= MAX_QUANTITY else None


def parse_id(raw: str) -> int | None:
    return small_int(raw)
