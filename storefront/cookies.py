"""The cart cookie: the shopper's cart id, signed so a guessed or edited value is simply ignored."""

from __future__ import annotations

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

CART_COOKIE = "es_cart"
CART_COOKIE_MAX_AGE = 30 * 86_400


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
