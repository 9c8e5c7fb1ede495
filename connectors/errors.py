"""Errors raised across the connector boundary.

ConnectorError
├── NotFound                 the vendor has no such object (product, order, entry)
├── OutOfStock               a reservation could not be made; carries the short variants
├── IdempotencyConflict      an idempotency key was reused with a different request
├── PaymentDeclined          the payment method was refused; nothing was charged
├── VendorMisconfigured      config or credentials are wrong; retrying will not help
├── VendorRejected           the vendor refused the request as invalid
├── VendorTimeout            no answer in time; safe to retry only if the call is idempotent
├── VendorUnavailable        the vendor is down or its circuit is open
└── WebhookRejected          a webhook's signature, timestamp or body did not verify; nothing was changed
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class: every connector failure that crosses `base.py` is one of these."""

    retryable: bool = False

    def __init__(self, message: str, *, vendor: str = "builtin") -> None:
        super().__init__(message)
        self.vendor = vendor


class NotFound(ConnectorError):
    pass


class OutOfStock(ConnectorError):
    def __init__(self, shortages: dict[int, int], *, vendor: str = "builtin") -> None:
        detail = ", ".join(f"variant {vid} has {avail} left" for vid, avail in sorted(shortages.items()))
        super().__init__(f"not enough stock: {detail}", vendor=vendor)
        self.shortages = shortages


class IdempotencyConflict(ConnectorError):
    pass


class PaymentDeclined(ConnectorError):
    def __init__(self, message: str, *, code: str, vendor: str = "builtin") -> None:
        super().__init__(message, vendor=vendor)
        self.code = code


class VendorMisconfigured(ConnectorError):
    pass


class VendorRejected(ConnectorError):
    pass


class VendorTimeout(ConnectorError):
    retryable = True


class VendorUnavailable(ConnectorError):
    retryable = True


class WebhookRejected(ConnectorError):
    """The webhook is not from the vendor (or is too old to trust): answer 400 and change nothing."""
