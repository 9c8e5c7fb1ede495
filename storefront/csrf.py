"""Cross-site request forgery defence that works with pages served from a shared cache.

Why not the classic "token in every form"? The product page (with its add-to-cart form) is one cached
document for every shopper: a per-shopper token baked into it would either leak into the shared cache or
force the page to be private. So the defence has two layers:

1. Every unsafe request must prove it comes from one of our own pages, using headers the browser sets and
   a page script cannot forge: `Sec-Fetch-Site` (Fetch Metadata) when the browser sends it, must be
   `same-origin` (or `none`: the user typed it); otherwise `Origin` must equal our own origin; browsers
   that send neither fall back to a same-origin `Referer`. A request with none of them is refused:
   failing closed costs a legacy client a retry, failing open would cost a shopper their cart.
   The cart cookie is also `SameSite=Lax`, so a cross-site POST does not carry it in the first place.
2. Forms on private pages (cart, checkout) also carry a synchronizer token: an HMAC of the shopper's cart
   id under the store's secret key. It needs no server-side state and cannot be computed by another site,
   which matters most on checkout, where a forged request could spend money.

Both run before the form body is read, in `origin_checked`, so no handler can forget layer 1.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

CSRF_FIELD = "csrf_token"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})

Endpoint = Callable[[Request], Awaitable[Response]]
Rejecter = Callable[[Request, str], Awaitable[Response]]


def normalize_origin(value: str) -> str | None:
    """`scheme://host[:port]` lower-cased with the default port dropped; None for anything else ("null")."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    suffix = f":{port}" if port is not None and port != _DEFAULT_PORTS[parts.scheme] else ""
    return f"{parts.scheme}://{host}{suffix}"


def own_origin(request: Request) -> str | None:
    """Our origin as the browser saw it: the request's scheme and its Host header."""
    host = request.headers.get("host")
    if not host:
        return None
    return normalize_origin(f"{request.url.scheme}://{host}")


def origin_rejection(request: Request) -> str | None:
    """Why this unsafe request does not come from our own pages, or None when it does."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site.strip().lower() in _TRUSTED_FETCH_SITES:
            return None
        return f"the browser reported this form was sent from another site (Sec-Fetch-Site: {fetch_site})"
    ours = own_origin(request)
    origin = request.headers.get("origin")
    if origin is not None:
        if ours is not None and normalize_origin(origin) == ours:
            return None
        return "the form was sent from another site (its Origin does not match this shop)"
    referer = request.headers.get("referer")
    if referer:
        if ours is not None and normalize_origin(_origin_of(referer)) == ours:
            return None
        return "the form was sent from another page than this shop's (Referer does not match)"
    return "the browser did not say which site sent the form (no Origin, Sec-Fetch-Site or Referer header)"


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def origin_checked(endpoint: Endpoint, reject: Rejecter) -> Endpoint:
    """Wrap a form-POST endpoint so it only runs for requests sent from our own pages (layer 1)."""

    async def guarded(request: Request) -> Response:
        reason = origin_rejection(request)
        if reason is not None:
            return await reject(request, reason)
        return await endpoint(request)

    guarded.__name__ = getattr(endpoint, "__name__", "guarded")
    return guarded


class CsrfTokens:
    """Synchronizer tokens bound to a cart id (layer 2); stateless, so any origin replica can check them."""

    def __init__(self, secret_key: bytes) -> None:
        self._key = hmac.new(secret_key, b"storefront-csrf-v1", hashlib.sha256).digest()

    def for_cart(self, cart_id: str) -> str:
        return hmac.new(self._key, cart_id.encode(), hashlib.sha256).hexdigest()

    def valid(self, cart_id: str | None, token: object) -> bool:
        if not cart_id or not isinstance(token, str) or not token:
            return False
        return hmac.compare_digest(self.for_cart(cart_id), token)
