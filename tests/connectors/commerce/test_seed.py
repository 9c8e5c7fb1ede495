"""The demo catalog generator: deterministic, complete, and consistent with the schema's invariants."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connectors.commerce.builtin.images import PRODUCT_KINDS
from connectors.commerce.builtin.schema import create_schema
from connectors.commerce.builtin.seed import FIXED_EPOCH, MAX_VARIANTS, SeedSummary, seed_catalog
from connectors.sqlite import connect

CATALOG_TABLES = (
    "categories",
    "price_lists",
    "products",
    "product_images",
    "product_options",
    "variants",
    "prices",
    "product_prices",
    "inventory",
)
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
IMAGE_URL = re.compile(r"^/media/products/(?P<kind>[a-z-]+)/(?P<color>[0-9a-f]{6})/(?P<view>[1-3])\.svg$")


@pytest.fixture
def make_db(tmp_path: Path) -> Iterator[Callable[[], sqlite3.Connection]]:
    """A factory of fresh, schema-ready databases, all closed at teardown."""
    opened: list[sqlite3.Connection] = []

    def make() -> sqlite3.Connection:
        conn = connect(str(tmp_path / f"commerce-{len(opened)}.sqlite3"))
        create_schema(conn)
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()


@pytest.fixture
def seeded(make_db: Callable[[], sqlite3.Connection]) -> sqlite3.Connection:
    conn = make_db()
    seed_catalog(conn, products=200, seed=7)
    return conn


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in CATALOG_TABLES}


def count(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0])


def test_same_arguments_give_identical_rows(make_db: Callable[[], sqlite3.Connection]) -> None:
    first, second, other = make_db(), make_db(), make_db()
    assert seed_catalog(first, products=150, seed=11) == seed_catalog(second, products=150, seed=11)
    seed_catalog(other, products=150, seed=12)
    assert dump(first) == dump(second)
    assert dump(first)["products"] != dump(other)["products"]
    assert dump(first)["prices"] != dump(other)["prices"]


def test_summary_and_counts(make_db: Callable[[], sqlite3.Connection]) -> None:
    conn = make_db()
    summary = seed_catalog(conn, products=200, seed=7)
    assert isinstance(summary, SeedSummary)
    assert summary.products == count(conn, "SELECT COUNT(*) FROM products") == 200
    assert summary.variants == count(conn, "SELECT COUNT(*) FROM variants")
    assert summary.categories == count(conn, "SELECT COUNT(*) FROM categories")
    assert 200 <= summary.variants <= 200 * MAX_VARIANTS
    assert conn.execute("SELECT id, currency FROM price_lists ORDER BY id").fetchall() == [
        ("eur", "EUR"),
        ("gbp", "GBP"),
        ("usd", "USD"),
    ]
    assert [r[0] for r in conn.execute("SELECT id FROM products ORDER BY id")] == list(range(1, 201))
    assert [r[0] for r in conn.execute("SELECT id FROM variants ORDER BY id")] == list(range(1, summary.variants + 1))


def test_empty_catalog_and_negative_count(make_db: Callable[[], sqlite3.Connection]) -> None:
    conn = make_db()
    assert seed_catalog(conn, products=0) == SeedSummary(
        categories=count(conn, "SELECT COUNT(*) FROM categories"), products=0, variants=0
    )
    with pytest.raises(ValueError, match="products"):
        seed_catalog(conn, products=-1)


def test_every_variant_is_priced_in_every_list_and_stocked(seeded: sqlite3.Connection) -> None:
    variants = count(seeded, "SELECT COUNT(*) FROM variants")
    assert count(seeded, "SELECT COUNT(*) FROM prices") == variants * 3
    assert count(seeded, "SELECT COUNT(DISTINCT variant_id || price_list) FROM prices") == variants * 3
    assert count(seeded, "SELECT COUNT(*) FROM inventory i JOIN variants v ON v.id = i.variant_id") == variants
    assert (
        count(
            seeded,
            "SELECT COUNT(*) FROM products p WHERE NOT EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id)",
        )
        == 0
    )


def test_amounts_are_integers_with_store_style_endings(seeded: sqlite3.Connection) -> None:
    rows = seeded.execute("SELECT price_list, amount, compare_at FROM prices").fetchall()
    endings = {"usd": {99, 0}, "eur": {95, 0}, "gbp": {99, 0}}
    for price_list, amount, compare_at in rows:
        assert type(amount) is int and amount > 0
        assert amount % 100 in endings[price_list]
        if compare_at is not None:
            assert type(compare_at) is int and compare_at > amount
    assert count(seeded, "SELECT COUNT(*) FROM prices WHERE typeof(amount) != 'integer'") == 0
    on_sale = count(
        seeded,
        "SELECT COUNT(DISTINCT v.product_id) FROM prices p JOIN variants v ON v.id = p.variant_id"
        " WHERE p.compare_at IS NOT NULL",
    )
    assert 10 <= on_sale <= 55  # about 15% of 200


def test_non_usd_prices_are_derived_below_usd(seeded: sqlite3.Connection) -> None:
    by_variant: dict[int, dict[str, int]] = {}
    for variant_id, price_list, amount in seeded.execute("SELECT variant_id, price_list, amount FROM prices"):
        by_variant.setdefault(variant_id, {})[price_list] = amount
    for prices in by_variant.values():
        assert prices["gbp"] < prices["eur"] <= prices["usd"]


def test_product_prices_hold_the_minimum_variant_price(seeded: sqlite3.Connection) -> None:
    expected = seeded.execute(
        "SELECT v.product_id, p.price_list, MIN(p.amount) FROM variants v JOIN prices p ON p.variant_id = v.id"
        " GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    actual = seeded.execute("SELECT product_id, price_list, min_amount FROM product_prices ORDER BY 1, 2").fetchall()
    assert actual == expected
    assert len(actual) == 200 * 3


def test_handles_slugs_and_skus_are_unique_and_url_safe(make_db: Callable[[], sqlite3.Connection]) -> None:
    conn = make_db()
    seed_catalog(conn, products=3000, seed=1)  # enough to force repeated titles
    handles = [r[0] for r in conn.execute("SELECT handle FROM products")]
    slugs = [r[0] for r in conn.execute("SELECT slug FROM categories")]
    assert count(conn, "SELECT COUNT(*) - COUNT(DISTINCT title) FROM products") > 0
    for values in (handles, slugs):
        assert len(values) == len(set(values))
        assert all(SLUG.match(value) for value in values)
    assert count(conn, "SELECT COUNT(DISTINCT sku) FROM variants") == count(conn, "SELECT COUNT(*) FROM variants")


def test_categories_nest_two_levels_and_products_sit_in_leaves(seeded: sqlite3.Connection) -> None:
    categories = seeded.execute("SELECT id, parent_id, name, description FROM categories").fetchall()
    parents = {cid for cid, parent, _, _ in categories if parent is None}
    children = [(cid, parent) for cid, parent, _, _ in categories if parent is not None]
    assert 5 <= len(parents) <= 8
    assert all(parent in parents for _, parent in children)
    for top in parents:
        assert 2 <= sum(1 for _, parent in children if parent == top) <= 5
    assert all(description.endswith(".") for _, _, _, description in categories)
    used = {r[0] for r in seeded.execute("SELECT DISTINCT category_id FROM products")}
    assert used == {cid for cid, _ in children}  # every leaf is stocked, no product on a parent


def test_options_and_variants_agree(seeded: sqlite3.Connection) -> None:
    options: dict[int, list[tuple[str, list[str]]]] = {}
    for product_id, name, vals in seeded.execute(
        "SELECT product_id, name, vals FROM product_options ORDER BY product_id, position"
    ):
        options.setdefault(product_id, []).append((name, json.loads(vals)))
    variants: dict[int, list[tuple[str, dict[str, str]]]] = {}
    for product_id, title, opts in seeded.execute(
        "SELECT product_id, title, options FROM variants ORDER BY product_id, position"
    ):
        variants.setdefault(product_id, []).append((title, json.loads(opts)))
    assert options.keys() == variants.keys()
    for product_id, product_options in options.items():
        names = [name for name, _ in product_options]
        assert "Color" in names
        expected = 1
        for _, values in product_options:
            assert values and len(values) == len(set(values))
            expected *= len(values)
        rows = variants[product_id]
        assert 1 <= len(rows) == expected <= MAX_VARIANTS
        assert len({json.dumps(o) for _, o in rows}) == len(rows)
        for title, chosen in rows:
            assert list(chosen) == names
            assert all(chosen[name] in values for name, values in product_options)
            assert title == " / ".join(chosen.values())


def test_inventory_has_sold_out_and_low_stock(make_db: Callable[[], sqlite3.Connection]) -> None:
    conn = make_db()
    seed_catalog(conn, products=1000, seed=5)
    total = count(conn, "SELECT COUNT(*) FROM inventory")
    sold_out = count(conn, "SELECT COUNT(*) FROM inventory WHERE on_hand = 0")
    assert 0.05 < sold_out / total < 0.11
    assert count(conn, "SELECT COUNT(*) FROM inventory WHERE on_hand BETWEEN 1 AND 3") > 0
    assert count(conn, "SELECT MAX(on_hand) FROM inventory") <= 60
    assert count(conn, "SELECT COUNT(*) FROM inventory WHERE reserved != 0") == 0


def test_images_point_at_drawable_kinds(seeded: sqlite3.Connection) -> None:
    per_product = seeded.execute("SELECT product_id, COUNT(*) FROM product_images GROUP BY product_id").fetchall()
    assert len(per_product) == 200
    assert all(1 <= n <= 3 for _, n in per_product)
    for url, alt, title in seeded.execute(
        "SELECT i.url, i.alt, p.title FROM product_images i JOIN products p ON p.id = i.product_id"
    ):
        match = IMAGE_URL.match(url)
        assert match, url
        assert match["kind"] in PRODUCT_KINDS
        assert alt.startswith(f"{title} in ") and alt.endswith(" view")


def test_timestamps_and_featured_rank(seeded: sqlite3.Connection) -> None:
    rows = seeded.execute("SELECT id, featured_rank, created_at, updated_at FROM products ORDER BY id").fetchall()
    assert sorted(r[1] for r in rows) == list(range(1, 201))
    assert [r[1] for r in rows] != list(range(1, 201))  # featured order is mixed, not id order
    two_years = 2 * 366 * 86_400
    for _, _, created_at, updated_at in rows:
        assert FIXED_EPOCH - two_years <= created_at <= updated_at <= FIXED_EPOCH


def test_reseeding_replaces_the_catalog_but_keeps_orders(seeded: sqlite3.Connection) -> None:
    seeded.execute(
        "INSERT INTO orders (id, idempotency_key, fingerprint, token_hash, status, email, market, currency, subtotal,"
        " shipping, tax, total, shipping_address, shipping_method, created_at, updated_at)"
        " VALUES ('O1', 'k', 'f', 't', 'captured', 'a@example.com', 'us', 'USD', 1, 0, 0, 1, '{}', 'standard', 1, 1)"
    )
    summary = seed_catalog(seeded, products=50, seed=9)
    assert count(seeded, "SELECT COUNT(*) FROM products") == 50
    assert count(seeded, "SELECT COUNT(*) FROM variants") == summary.variants
    assert count(seeded, "SELECT COUNT(*) FROM prices") == summary.variants * 3
    assert count(seeded, "SELECT COUNT(*) FROM product_prices") == 150
    assert count(seeded, "SELECT COUNT(*) FROM price_lists") == 3
    assert count(seeded, "SELECT COUNT(*) FROM orders") == 1
    assert count(seeded, "SELECT MAX(id) FROM variants") == summary.variants


def test_a_failed_seed_rolls_back(seeded: sqlite3.Connection) -> None:
    before = dump(seeded)
    seeded.execute("CREATE TRIGGER boom BEFORE INSERT ON inventory BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        seed_catalog(seeded, products=20, seed=1)
    assert not seeded.in_transaction
    assert dump(seeded) == before
