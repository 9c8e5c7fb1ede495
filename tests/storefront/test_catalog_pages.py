"""Shared catalog pages render the real catalog: home, category listings, product pages, search, 404s."""

from __future__ import annotations

import html
import re
from functools import partial
from typing import Any

from starlette.testclient import TestClient

from origin.store import Store
from storefront.formatting import formatter
from tests.storefront.conftest import run

US = formatter("en_US")


def test_home_shows_featured_products_and_categories(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    response = client.get("/")
    assert response.status_code == 200
    body = html.unescape(response.text)
    assert "Featured gear" in body
    assert len(re.findall(r'<article class="card', body)) == 8  # StorefrontSettings.featured_products
    for node in catalog_facts["tree"].roots:
        assert f'href="/c/{node.category.slug}"' in body
        assert node.category.name in body
    assert re.search(r"\$\d[\d,]*\.\d\d", body)


def test_category_page_has_breadcrumb_subcategories_products_and_facets(
    client: TestClient, catalog_facts: dict[str, Any]
) -> None:
    parent = catalog_facts["parent"]
    response = client.get(f"/c/{parent.category.slug}")
    assert response.status_code == 200
    body = html.unescape(response.text)
    assert f'<span aria-current="page">{parent.category.name}</span>' in body
    assert f"<h1>{parent.category.name}</h1>" in body
    for child in parent.children:
        assert f'href="/c/{child.category.slug}"' in body
    assert re.search(r'<article class="card', body)
    for legend in ("Brand", "Color", "Size", "Price"):
        assert f"<legend>{legend}</legend>" in body
    assert re.search(r'<input type="checkbox" name="brand" value="[^"]+">', body)
    assert '<select id="sort" name="sort">' in body


def test_subcategory_breadcrumb_links_its_parent(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    parent = catalog_facts["parent"]
    child = parent.children[0]
    body = html.unescape(client.get(f"/c/{child.category.slug}").text)
    assert f'<a href="/c/{parent.category.slug}">{parent.category.name}</a>' in body
    assert f'<span aria-current="page">{child.category.name}</span>' in body


def test_brand_filter_narrows_the_listing(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    parent = catalog_facts["parent"]
    body = html.unescape(client.get(f"/c/{parent.category.slug}").text)
    brand = re.search(r'name="brand" value="([^"]+)"', body).group(1)  # type: ignore[union-attr]
    filtered = html.unescape(client.get(f"/c/{parent.category.slug}", params={"brand": brand}).text)
    brands = re.findall(r'<p class="card-brand">([^<]+)</p>', filtered)
    assert brands and set(brands) == {brand}
    assert f'name="brand" value="{brand}" checked' in filtered
    assert 'class="chip"' in filtered  # the active filter, with a link that removes it


def test_listing_paginates_with_page_numbers(client: TestClient) -> None:
    first = client.get("/search")
    assert first.status_code == 200
    assert 'aria-current="page" class="is-current"><span class="visually-hidden">Page </span>1</a>' in first.text
    assert 'href="/search?page=2" rel="next"' in first.text
    second = client.get("/search?page=2")
    assert 'class="is-current"><span class="visually-hidden">Page </span>2</a>' in second.text
    assert 'href="/search" rel="prev"' in second.text
    first_titles = set(re.findall(r'<h3 class="card-title">([^<]+)</h3>', first.text))
    second_titles = set(re.findall(r'<h3 class="card-title">([^<]+)</h3>', second.text))
    assert first_titles and second_titles and not first_titles & second_titles


def test_product_page(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    product = catalog_facts["multi"]
    node = catalog_facts["tree"].by_id[product.category_id]
    response = client.get(f"/p/{product.handle}")
    assert response.status_code == 200
    body = html.unescape(response.text)
    assert f'<h1 id="product-title" class="product-title">{product.title}</h1>' in body
    assert product.brand in body
    assert f'<span aria-current="page">{product.title}</span>' in body
    assert f'<a href="/c/{node.category.slug}">{node.category.name}</a>' in body
    assert '<form class="add-to-cart" method="post" action="/cart/add"' in body
    assert '<select id="variant_id" name="variant_id"' in body
    variant_select = body.split('<select id="variant_id"', 1)[1].split("</select>", 1)[0]
    assert variant_select.count("<option value=") == len(product.variants)
    assert 'name="quantity" type="number" inputmode="numeric" min="1" max="99"' in body
    assert US.money(product.variants[0].price) in body or US.money(product.min_price) in body
    assert 'loading="lazy"' in body and 'fetchpriority="high"' in body
    # the option buttons for the JS picker, and the data they need
    assert "data-option-groups hidden" in body and "data-variants=" in body


def test_sale_price_shows_the_compare_at_price_struck_through(
    client: TestClient, catalog_facts: dict[str, Any]
) -> None:
    product = catalog_facts["on_sale"]
    variant = next(v for v in product.variants if v.compare_at_price and v.compare_at_price.amount > v.price.amount)
    body = html.unescape(client.get(f"/p/{product.handle}", params={"variant": variant.id}).text)
    assert '<span class="price-now is-sale" data-price>' + US.money(variant.price) in body
    assert f"<span data-compare-at-value>{US.money(variant.compare_at_price)}</span></s>" in body


def test_search_finds_products(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    product = catalog_facts["multi"]
    word = product.title.split()[-1]
    response = client.get("/search", params={"q": word})
    assert response.status_code == 200
    body = html.unescape(response.text)
    assert f"Results for “{word}”" in body
    assert f'<h3 class="card-title">{product.title}</h3>' in body
    assert f'value="{word}"' in body  # the header search box keeps the query


def test_search_without_results_helps(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    body = html.unescape(client.get("/search", params={"q": "xylophonezzz"}).text)
    assert "We found no products for “xylophonezzz”" in body
    assert "Check the spelling" in body
    assert f'href="/c/{catalog_facts["parent"].category.slug}"' in body


def test_euro_market_shows_euro_prices(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    product = catalog_facts["multi"]
    response = client.get(f"/p/{product.handle}", headers={"X-Market": "eu"})
    assert response.status_code == 200
    assert "€" in response.text and "$" not in re.sub(r"<script.*?</script>", "", response.text, flags=re.S)
    assert response.headers["vary"] == "X-Market"
    assert '<html lang="de">' in response.text


def test_unknown_product_is_a_helpful_404(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    response = client.get("/p/no-such-thing")
    assert response.status_code == 404
    body = html.unescape(response.text)
    assert "We couldn’t find that product" in body
    assert 'action="/search"' in body
    assert f'href="/c/{catalog_facts["parent"].category.slug}"' in body


def test_unknown_category_and_path_are_404(client: TestClient) -> None:
    category = client.get("/c/no-such-category")
    assert category.status_code == 404
    assert "We couldn’t find that category" in html.unescape(category.text)
    path = client.get("/definitely/not/here")
    assert path.status_code == 404
    assert "We couldn’t find that page" in html.unescape(path.text)


def test_unknown_api_path_gets_a_problem_document(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_unknown_cms_page_is_404(client: TestClient) -> None:
    response = client.get("/pages/no-such-page")
    assert response.status_code == 404
    assert "cms:page:no-such-page" in response.headers["surrogate-key"]
    assert client.get("/pages/..%2Fsecrets").status_code == 404


def test_a_page_past_the_end_is_404(client: TestClient, catalog_facts: dict[str, Any]) -> None:
    assert client.get("/search", params={"page": "999"}).status_code == 404
    assert client.get(f"/c/{catalog_facts['parent'].category.slug}", params={"page": "50"}).status_code == 404


def test_home_hero_and_banners_come_from_the_cms(client: TestClient, store: Store) -> None:
    entry = run(partial(store.connectors.cms.get_entry, "home", "home", locale="en_US"))
    body = html.unescape(client.get("/").text)
    assert f"<h1>{entry.fields['hero_title']}</h1>" in body
    assert f'href="{entry.fields["hero_cta_url"]}">{entry.fields["hero_cta_label"]}</a>' in body
    for banner in entry.fields.get("banners", []):
        assert banner["title"] in body


def test_cms_page(client: TestClient, store: Store) -> None:
    entry = run(partial(store.connectors.cms.get_entry, "page", "shipping", locale="en_US"))
    response = client.get("/pages/shipping")
    assert response.status_code == 200
    assert "cms:page:shipping" in response.headers["surrogate-key"].split()
    body = html.unescape(response.text)
    assert f"<h1>{entry.title}</h1>" in body
    assert html.unescape(entry.body_html) in body
    assert f'<span aria-current="page">{entry.title}</span>' in body


def test_cms_page_in_the_markets_language(client: TestClient, store: Store) -> None:
    german = run(partial(store.connectors.cms.get_entry, "page", "shipping", locale="de_DE"))
    english = run(partial(store.connectors.cms.get_entry, "page", "shipping", locale="en_US"))
    assert german.title != english.title  # the fixture content has a German shipping page
    body = html.unescape(client.get("/pages/shipping", headers={"X-Market": "eu"}).text)
    assert f"<h1>{german.title}</h1>" in body
