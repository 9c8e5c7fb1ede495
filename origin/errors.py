"""Errors of the origin's domain services, each mapped to one RFC 9457 problem type.

DomainError
├── InvalidRequest       422: a field is wrong; `fields` says which and why
├── ResourceNotFound     404
├── Conflict             409: the state forbids it now (out of stock, cart already checked out)
├── PaymentFailed        402: the payment method was refused; nothing was charged
├── Forbidden            403
└── TryAgain             503: a dependency is down; safe to retry with the same Idempotency-Key
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    type_slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidRequest(DomainError):
    status = 422
    type_slug = "invalid-request"
    title = "Your request has invalid fields"

    def __init__(self, detail: str, *, fields: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.fields = fields or {}


class ResourceNotFound(DomainError):
    status = 404
    type_slug = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    type_slug = "conflict"
    title = "Conflict"


class OutOfStockConflict(Conflict):
    type_slug = "out-of-stock"
    title = "Not enough stock"


class PaymentFailed(DomainError):
    status = 402
    type_slug = "payment-declined"
    title = "Payment declined"


class Forbidden(DomainError):
    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class TryAgain(DomainError):
    status = 503
    type_slug = "try-again"
    title = "Temporarily unavailable"
