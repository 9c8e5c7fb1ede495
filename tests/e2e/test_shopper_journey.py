"""A shopper's journey in real headless Chromium against a real origin process on loopback."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import LiveOrigin

CHROMIUM = Path("/usr/bin/chromium")
# Flags for a closed network: no background fetches Chromium would otherwise retry at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Chromium is missing: `make test` installs Debian's chromium package"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def pick_product(origin: LiveOrigin) -> dict[str, Any]:
    """A product with several variants, all in stock, and its category trail, chosen through the API."""
    categories = {c["id"]: c for c in httpx.get(origin.url + "/api/categories").json()["categories"]}
    for product in httpx.get(origin.url + "/api/products", params={"per_page": 100}).json()["items"]:
        if len(product["variants"]) >= 2 and all(v["available"] >= 3 for v in product["variants"]):
            leaf = categories[product["category_id"]]
            top = categories[leaf["parent_id"]] if leaf["parent_id"] else leaf
            return {"product": product, "leaf": leaf, "top": top}
    raise AssertionError("no product with every variant in stock")


def order_count(origin: LiveOrigin) -> int:
    with sqlite3.connect(origin.data_dir / "commerce.sqlite3") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0])


def region_has_colour(png: Path, box: dict[str, float], hex_colour: str, tolerance: int = 40) -> bool:
    """Whether pixels close to `hex_colour` appear inside `box` of the screenshot."""
    target = tuple(int(hex_colour[i : i + 2], 16) for i in (0, 2, 4))
    with Image.open(png) as image:
        region = image.convert("RGB").crop(
            (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"]))
        )
        for count, pixel in region.getcolors(maxcolors=1 << 20) or []:
            if count > 20 and all(abs(a - b) <= tolerance for a, b in zip(pixel, target, strict=True)):
                return True
    return False


def region_has_text_contrast(png: Path, box: dict[str, float]) -> bool:
    """Rendered text: a light background with a good share of dark pixels in the element's box."""
    with Image.open(png) as image:
        region = image.convert("L").crop(
            (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"]))
        )
        histogram = region.histogram()  # 256 counts of grey levels
    total = sum(histogram)
    dark, light = sum(histogram[:100]), sum(histogram[201:])
    return dark > total * 0.02 and light > total * 0.3


def choose_variant(page: Page, product: dict[str, Any]) -> dict[str, Any]:
    """Pick the last variant with the option buttons, as a shopper would."""
    variant = product["variants"][-1]
    for name, value in variant["options"].items():
        page.locator(f'.option-button[data-option="{name}"][data-value="{value}"]').click()
    expect(page.locator('[name="variant_id"]').first).to_have_value(str(variant["id"]))
    return variant


def fill_checkout(page: Page, card_number: str) -> None:
    page.get_by_label("Email").fill("shopper@example.com")
    page.get_by_label("Full name").fill("Jo Walker")
    page.get_by_label("Street address").fill("12 Trailhead Road")
    page.get_by_label("Town or city").fill("Boulder")
    page.get_by_label("Postal code").fill("80302")
    page.get_by_label("Country").select_option("US")
    page.get_by_label("Card number").fill(card_number)
    page.get_by_label("Expiry date").fill("12 / 34")
    page.get_by_label("Security code").fill("123")


def test_browse_choose_add_search_and_pay(page: Page, live_origin: Callable[..., LiveOrigin], tmp_path: Path) -> None:
    origin = live_origin(seed_products=60)
    pick = pick_product(origin)
    product = pick["product"]

    page.goto(origin.edge_url + "/")  # as a shopper does: through the edge, which caches the shared pages
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.locator("nav").get_by_role("link", name=pick["top"]["name"], exact=True).first.click()
    expect(page).to_have_url(re.compile(f"/c/{pick['top']['slug']}"))
    if pick["leaf"]["id"] != pick["top"]["id"]:
        page.get_by_role("link", name=pick["leaf"]["name"], exact=True).first.click()
        expect(page).to_have_url(re.compile(f"/c/{pick['leaf']['slug']}"))
    page.locator(f'a.card-link[href="/p/{product["handle"]}"]').click()
    expect(page.get_by_role("heading", level=1)).to_have_text(product["title"])

    variant = choose_variant(page, product)
    page.get_by_label("Quantity").fill("2")
    product_png = tmp_path / "product.png"
    page.screenshot(path=str(product_png))
    gallery_image = page.locator("[data-gallery] img").first
    box = gallery_image.bounding_box()
    assert box is not None
    colour = re.search(r"/media/products/[^/]+/([0-9a-f]{6})/", gallery_image.get_attribute("src") or "")
    assert colour, "product images are the catalog's generated SVGs"
    assert region_has_colour(product_png, box, colour.group(1)), "the product picture is drawn on the page"

    page.get_by_role("button", name="Add to cart").click()
    expect(page).to_have_url(re.compile("/cart$"))
    line = page.locator("main").get_by_text(product["title"]).first
    expect(line).to_be_visible()
    expect(page.locator("main")).to_contain_text(variant["title"])

    search_box = page.get_by_role("searchbox").first
    search_box.fill(product["title"].split()[1].lower())
    search_box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q="))
    expect(page.locator(f'a.card-link[href="/p/{product["handle"]}"]')).to_be_visible()

    page.get_by_role("link", name=re.compile("^Cart")).first.click()
    page.get_by_role("link", name=re.compile("check ?out", re.I)).first.click()
    expect(page).to_have_url(re.compile("/checkout$"))
    fill_checkout(page, "4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile("^Pay")).click()

    expect(page).to_have_url(re.compile(r"/orders/ES-[A-Z0-9]+\?token="))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Thank you")
    order_id = re.search(r"/orders/(ES-[A-Z0-9]+)", page.url).group(1)  # type: ignore[union-attr]
    order_number = page.get_by_text(order_id).first
    expect(order_number).to_be_visible()
    expect(page.locator("main")).to_contain_text(product["title"])
    confirmation_png = tmp_path / "confirmation.png"
    page.screenshot(path=str(confirmation_png))
    number_box = order_number.bounding_box()
    assert number_box is not None and number_box["y"] < 900, "the order number is on screen without scrolling"
    assert region_has_text_contrast(confirmation_png, number_box), "the order number is rendered as text"

    with sqlite3.connect(origin.data_dir / "commerce.sqlite3") as conn:
        status, quantity = conn.execute(
            "SELECT o.status, l.quantity FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE o.id = ?",
            (order_id,),
        ).fetchone()
    assert (status, quantity) == ("captured", 2)
    # The sale purged the product page at the edge (it shows stock); the next shopper refills the cache.
    product_page = f"{origin.edge_url}/p/{product['handle']}"
    assert httpx.get(product_page).headers["x-cache"] == "MISS"
    assert httpx.get(product_page).headers["x-cache"] == "HIT"


def test_a_declined_card_shows_an_error_and_creates_no_order(
    page: Page, live_origin: Callable[..., LiveOrigin]
) -> None:
    origin = live_origin(seed_products=60)
    product = pick_product(origin)["product"]
    page.goto(f"{origin.url}/p/{product['handle']}")
    choose_variant(page, product)
    page.get_by_role("button", name="Add to cart").click()
    expect(page).to_have_url(re.compile("/cart$"))
    page.goto(origin.url + "/checkout")
    fill_checkout(page, "4000 0000 0000 0002")
    page.get_by_role("button", name=re.compile("^Pay")).click()

    error = page.get_by_text(re.compile("declined", re.I)).first
    expect(error).to_be_visible()
    expect(page).to_have_url(re.compile("/checkout"))
    assert order_count(origin) == 0
    with sqlite3.connect(origin.data_dir / "commerce.sqlite3") as conn:
        assert conn.execute("SELECT COALESCE(SUM(reserved), 0) FROM inventory").fetchone()[0] == 0

    # the same page, now with a good card, goes through
    fill_checkout(page, "4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    expect(page).to_have_url(re.compile(r"/orders/ES-"))
    assert order_count(origin) == 1
