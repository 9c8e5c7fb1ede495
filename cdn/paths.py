"""Paths as they may be written down: logs and trace spans never carry a capability.

A cart id is a bearer capability (whoever knows `cart_…` can read and change that cart), and an order id names a
shopper's order. The one rule, shared by the edge and the origin (`redact_capabilities`): a path segment that
follows a `carts` or `orders` segment, and any segment that starts with `cart_` wherever it is, becomes `{id}`.
Segments are compared percent-decoded (`/api/%63arts/…` is `/api/carts/…` to the origin), and the rest of the
path is kept as it came. Order tokens travel in the query or the `X-Order-Token` field, which are never logged.

Id formats this covers (connectors.commerce and origin.carts): carts `cart_<urlsafe base64>`, orders
`ES-<10 characters>` (built-in backend; a SaaS backend's own ids sit in the same place of the path).
"""

from __future__ import annotations

from urllib.parse import unquote

REDACTED = "{id}"
_ID_PARENTS = frozenset({"carts", "orders"})
_ID_PREFIXES = ("cart_",)


def redact_capabilities(path: str) -> str:
    """`path` (no query) with every capability segment replaced by `{id}`; unchanged when it has none."""
    if "cart" not in path and "order" not in path and "%" not in path:
        return path  # the common case (product and listing pages) costs one scan
    segments = path.split("/")
    previous = ""
    changed = False
    for index, segment in enumerate(segments):
        decoded = unquote(segment)
        if segment and (previous.lower() in _ID_PARENTS or decoded.startswith(_ID_PREFIXES)):
            segments[index] = REDACTED
            changed = True
        previous = decoded
    return "/".join(segments) if changed else path


__all__ = ["REDACTED", "redact_capabilities"]
