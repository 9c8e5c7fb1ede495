"""The caching rule: shared pages are the same bytes for every shopper and say so; per-shopper pages are private."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.storefront.conftest import ClientFactory, add_to_cart


def shared_urls(facts: dict[str, Any]) -> dict[str, tuple[int, set[str]]]:
    """URL -> (status, surrogate keys it must carry)."""
    parent = facts["parent"].category
    product = facts["multi"]
    return {
        "/": (200, {"home", "cms:home:home"}),
        f"/c/{parent.slug}": (200, {f"category:{parent.id}"}),
        f"/p/{product.handle}": (200, {f"product:{product.id}", f"category:{product.category_id}"}),
        "/search?q=jacket": (200, {"search"}),
        "/p/no-such-product": (404, {"not-found"}),
        "/nothing/here": (404, {"not-found"}),
    }


@pytest.fixture
def two_shoppers(new_client: ClientFactory, catalog_facts: dict[str, Any]) -> tuple[TestClient, TestClient]:
    """One shopper with a cart (and its cookie), one who just arrived."""
    with_cart = new_client()
    assert add_to_cart(with_cart, catalog_facts["plenty"].id, 2).status_code == 303
    assert with_cart.cookies.get("es_cart")
    return with_cart, new_client()


def test_shared_pages_carry_shared_cache_headers(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    for url, (status, keys) in shared_urls(catalog_facts).items():
        response = client.get(url)
        assert response.status_code == status, url
        cache_control = response.headers["cache-control"]
        assert "public" in cache_control and "s-maxage=" in cache_control, url
        assert response.headers["etag"].startswith('"'), url
        assert keys <= set(response.headers["surrogate-key"].split()), url
        # Only the home page reads the segment and the hero experiment, so only it is split by them.
        expected_vary = "X-Market, X-Segment, X-Exp-Hero" if url == "/" else "X-Market"
        assert response.headers["vary"] == expected_vary, url
        assert "set-cookie" not in response.headers, url


def test_category_keys_name_the_listed_products(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    response = client.get(f"/c/{catalog_facts['parent'].category.slug}")
    keys = response.headers["surrogate-key"].split()
    handles = {p.handle: p.id for p in catalog_facts["products"]}
    listed = [h for h in handles if f'href="/p/{h}"' in response.text]
    assert listed
    assert {f"product:{handles[h]}" for h in listed} <= set(keys)


def test_shared_pages_are_the_same_bytes_for_every_shopper(
    two_shoppers: tuple[TestClient, TestClient], catalog_facts: dict[str, Any]
) -> None:
    with_cart, newcomer = two_shoppers
    for url in shared_urls(catalog_facts):
        a, b = with_cart.get(url), newcomer.get(url)
        assert a.content == b.content, url
        assert a.headers["etag"] == b.headers["etag"], url
        assert "csrf_token" not in a.text, url
        assert "set-cookie" not in a.headers, url


def test_shared_pages_leave_a_hole_for_the_cart_badge(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    page = client.get(f"/p/{catalog_facts['multi'].handle}")
    assert page.headers["surrogate-control"] == 'content="ESI/1.0"'  # the edge fills the hole
    body = page.text
    hole = '<esi:include src="/_fragments/cart-badge" requires-cookie="es_cart"></esi:include>'
    assert f'<span class="cart-badge" data-cart-badge>{hole}</span>' in body


def test_matching_etag_gets_304(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    url = f"/p/{catalog_facts['multi'].handle}"
    etag = client.get(url).headers["etag"]
    revalidated = client.get(url, headers={"If-None-Match": etag})
    assert revalidated.status_code == 304
    assert revalidated.content == b""


def test_markets_are_different_representations(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    url = f"/p/{catalog_facts['multi'].handle}"
    assert client.get(url).headers["etag"] != client.get(url, headers={"X-Market": "eu"}).headers["etag"]


def test_per_shopper_pages_are_private(
    two_shoppers: tuple[TestClient, TestClient], catalog_facts: dict[str, Any]
) -> None:
    with_cart, newcomer = two_shoppers
    for shopper in (with_cart, newcomer):
        for url in ("/cart", "/checkout", "/_fragments/cart-badge", "/orders/ES-NOPE?token=x"):
            response = shopper.get(url)
            assert response.headers["cache-control"] == "private, no-store", url
            assert "surrogate-key" not in response.headers, url


def test_form_posts_answer_privately(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    ok = add_to_cart(client, catalog_facts["plenty"].id)
    refused = client.post("/cart/add", data={"variant_id": "1", "quantity": "1"})
    invalid = add_to_cart(client, catalog_facts["plenty"].id, 0, handle=catalog_facts["multi"].handle)
    for response in (ok, refused, invalid):
        assert response.headers["cache-control"] == "private, no-store"
    assert (ok.status_code, refused.status_code, invalid.status_code) == (303, 403, 422)
