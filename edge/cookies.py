"""Reading the shopper's cookies, and writing the edge's own.

Parsing is lenient, as browsers and Starlette are: a third-party cookie with a space, quotes or JSON in it
must not hide the edge's own cookies (`http.cookies.SimpleCookie` gives up on the whole header then).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from starlette.requests import cookie_parser

from cdn import Headers, header_lines


def cookie_header(headers: Headers) -> str | None:
    """The Cookie field; several lines (as HTTP/2 may send them) join with "; " (RFC 9113 §8.2.3)."""
    lines = header_lines(headers, "cookie")
    if not lines:
        return None
    return lines[0] if len(lines) == 1 else "; ".join(lines)


@lru_cache(maxsize=4096)
def parsed(header: str) -> Mapping[str, str]:
    """A returning shopper sends the same header again and again: parsed once (read-only)."""
    return cookie_parser(header)


def cookie_value(header: str | None, name: str) -> str | None:
    if not header or name not in header:
        return None  # the common case costs one substring test
    return parsed(header).get(name)


def cookie_names(header: str | None) -> frozenset[str]:
    """The names of the cookies a request carries."""
    return frozenset(parsed(header)) if header else frozenset()


def set_cookie(name: str, value: str, *, max_age: int, secure: bool) -> str:
    """A Set-Cookie value for a first-party cookie only the edge reads (HttpOnly, Lax, whole site)."""
    flags = "; Secure" if secure else ""
    return f"{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{flags}"


__all__ = ["cookie_header", "cookie_names", "cookie_value", "parsed", "set_cookie"]
