import pytest

from cdn import redact_capabilities


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/p/blue-shoe", "/p/blue-shoe"),
        ("/", "/"),
        ("/api/carts", "/api/carts"),
        ("/api/carts/cart_AbC-123_x", "/api/carts/{id}"),
        ("/api/carts/cart_AbC/lines/ln_1", "/api/carts/{id}/lines/ln_1"),
        ("/api/carts/whatever-id", "/api/carts/{id}"),
        ("/api/orders/ES-ABCDEFGHJK", "/api/orders/{id}"),
        ("/orders/ES-ABCDEFGHJK", "/orders/{id}"),
        ("/eu/orders/ES-ABCDEFGHJK", "/eu/orders/{id}"),
        ("/api/%63arts/cart_x", "/api/%63arts/{id}"),
        ("/api/carts/%63art_x", "/api/carts/{id}"),
        ("/anything/cart_secret/more", "/anything/{id}/more"),
        ("/cart", "/cart"),
        ("/cart/lines/ln_1", "/cart/lines/ln_1"),
        ("/api/carts/", "/api/carts/"),
    ],
)
def test_capability_segments_are_redacted(path: str, expected: str) -> None:
    assert redact_capabilities(path) == expected
