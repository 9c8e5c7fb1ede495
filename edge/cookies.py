"""Reading one cookie out of a request's Cookie header, and writing the edge's own cookies."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of cookie `name`, or None; a malformed header reads as no cookie rather than an error."""
    if not header or name not in header:
        return None  # the common case costs one substring test
    try:
        jar = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def cookie_names(header: str | None) -> frozenset[str]:
    """The names of the cookies a request carries (values unread)."""
    if not header:
        return frozenset()
    return frozenset(part.split("=", 1)[0].strip() for part in header.split(";"))


def set_cookie(name: str, value: str, *, max_age: int, secure: bool) -> str:
    """A Set-Cookie value for a first-party cookie only the edge reads (HttpOnly, Lax, whole site)."""
    flags = "; Secure" if secure else ""
    return f"{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{flags}"


__all__ = ["cookie_names", "cookie_value", "set_cookie"]
