"""The storefront's cookies, signed so a guessed or edited value is simply ignored.

The cart cookie holds the shopper's cart id. The segment cookie tells the edge which segment a shopper is in
(`returning`, `vip`); the edge verifies it with the same secret and salt (`edge.segments`) and ignores
anything else, so a shopper cannot make themselves a VIP.
"""

from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

CART_COOKIE = "es_cart"
CART_COOKIE_MAX_AGE = 30 * 86_400
SEGMENT_COOKIE = "es_seg"
SEGMENT_SALT = "edgeshop.segment"  # the edge's `edge.SEGMENT_SALT`: it verifies what is signed here
SEGMENT_COOKIE_MAX_AGE = 365 * 86_400


class CartCookie:
    def __init__(self, secret_key: bytes, *, secure: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="cart")
        self._secure = secure

    def read(self, request: Request) -> str | None:
        """The cart id, or None when the cookie is missing, tampered with or older than its max-age."""
        raw = request.cookies.get(CART_COOKIE)
        if not raw:
            return None
        try:
            value = self._serializer.loads(raw, max_age=CART_COOKIE_MAX_AGE)
        except BadData:
            return None
        return value if isinstance(value, str) else None

    def write(self, response: Response, cart_id: str) -> None:
        response.set_cookie(
            CART_COOKIE,
            self._serializer.dumps(cart_id),
            max_age=CART_COOKIE_MAX_AGE,
            path="/",
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(CART_COOKIE, path="/", secure=self._secure, httponly=True, samesite="lax")


def segment_key(secret_key: bytes) -> str:
    """The key segment cookies are signed with, derived from the shop's secret: the edge gets this one only,
    so an edge node never holds what signs carts, CSRF tokens and order links."""
    return hmac.new(secret_key, b"edgeshop segment cookie", hashlib.sha256).hexdigest()


class SegmentCookie:
    def __init__(self, secret_key: bytes, *, secure: bool, vip_after_orders: int) -> None:
        self._serializer = URLSafeTimedSerializer(segment_key(secret_key).encode(), salt=SEGMENT_SALT)
        self._secure = secure
        self._vip_after = vip_after_orders

    def _read(self, request: Request) -> dict[str, object]:
        raw = request.cookies.get(SEGMENT_COOKIE)
        if not raw:
            return {}
        try:
            value = self._serializer.loads(raw, max_age=SEGMENT_COOKIE_MAX_AGE)
        except BadData:
            return {}
        return value if isinstance(value, dict) else {}

    def after_order(self, request: Request, response: Response, order_id: str) -> None:
        """One more order: the shopper is `returning` now, `vip` from `vip_after_orders` on. The same order
        shown again (a resubmitted form) counts once."""
        value = self._read(request)
        count = value.get("n")
        count = count if isinstance(count, int) and count >= 0 else 0
        if value.get("o") != order_id:
            count += 1
        segment = "vip" if count >= self._vip_after else "returning"
        response.set_cookie(
            SEGMENT_COOKIE,
            self._serializer.dumps({"s": segment, "n": count, "o": order_id}),
            max_age=SEGMENT_COOKIE_MAX_AGE,
            path="/",
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )
