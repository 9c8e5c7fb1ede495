"""The origin check and the synchronizer tokens of storefront.csrf, on hand-built requests."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from storefront.csrf import CsrfTokens, normalize_origin, origin_rejection


def request(scheme: str = "http", host: str = "shop.example", **headers: str) -> Request:
    raw = [(b"host", host.encode())] + [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "scheme": scheme, "path": "/cart/add", "headers": raw})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://Shop.Example", "https://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("http://shop.example:8080", "http://shop.example:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("null", None),
        ("ftp://shop.example", None),
        ("https://shop.example:99999", None),
    ],
)
def test_normalize_origin(value: str, expected: str | None) -> None:
    assert normalize_origin(value) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"sec_fetch_site": "same-origin"},
        {"sec_fetch_site": "none"},
        {"origin": "http://shop.example"},
        {"origin": "http://SHOP.example:80"},
        {"referer": "http://shop.example/p/some-jacket?variant=3"},
    ],
)
def test_same_origin_requests_pass(headers: dict[str, str]) -> None:
    assert origin_rejection(request(**headers)) is None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"sec_fetch_site": "cross-site"},
        {"sec_fetch_site": "same-site"},  # a sibling subdomain is another origin
        {"sec_fetch_site": "cross-site", "origin": "http://shop.example"},  # Fetch Metadata decides when present
        {"origin": "https://shop.example"},  # another scheme is another origin
        {"origin": "http://shop.example.evil.test"},
        {"origin": "null"},
        {"origin": "http://evil.test", "referer": "http://shop.example/"},  # Origin wins over Referer
        {"referer": "http://evil.test/shop.example"},
        {"referer": "not a url"},
    ],
)
def test_other_requests_are_rejected_with_a_reason(headers: dict[str, str]) -> None:
    reason = origin_rejection(request(**headers))
    assert reason and isinstance(reason, str)


def test_origin_is_compared_with_the_host_and_scheme_the_request_came_in_on() -> None:
    assert origin_rejection(request(scheme="https", host="shop.example", origin="https://shop.example")) is None
    assert origin_rejection(request(host="127.0.0.1:8787", origin="http://127.0.0.1:8787")) is None
    assert origin_rejection(request(host="127.0.0.1:8787", origin="http://127.0.0.1:8788")) is not None


def test_tokens_are_bound_to_the_cart_and_the_key() -> None:
    tokens = CsrfTokens(b"k" * 32)
    token = tokens.for_cart("cart_a")
    assert tokens.valid("cart_a", token)
    assert not tokens.valid("cart_b", token)
    assert not tokens.valid(None, token)
    assert not tokens.valid("cart_a", "")
    assert not tokens.valid("cart_a", None)
    assert not CsrfTokens(b"j" * 32).valid("cart_a", token)
