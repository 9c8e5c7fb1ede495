"""The built-in commerce backend: catalog reads and the order/reservation state machine."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from connectors.commerce.base import Address, OrderDraft, OrderLine
from connectors.commerce.builtin.backend import BuiltinCommerce
from connectors.errors import IdempotencyConflict, NotFound, OutOfStock
from connectors.money import Money

pytestmark = pytest.mark.anyio


@pytest.fixture
def backend(tmp_path: Path) -> BuiltinCommerce:
    commerce = BuiltinCommerce(str(tmp_path / "commerce.sqlite3"))
    commerce.seed(products=30, seed=3)
    return commerce


def set_stock(backend: BuiltinCommerce, variant_id: int, on_hand: int) -> None:
    with sqlite3.connect(backend.path) as conn:
        conn.execute("UPDATE inventory SET on_hand = ?, reserved = 0 WHERE variant_id = ?", (on_hand, variant_id))


def stock(backend: BuiltinCommerce, variant_id: int) -> tuple[int, int]:
    with sqlite3.connect(backend.path) as conn:
        row = conn.execute("SELECT on_hand, reserved FROM inventory WHERE variant_id = ?", (variant_id,)).fetchone()
    return int(row[0]), int(row[1])


def draft(key: str, variant_id: int, quantity: int, fingerprint: str = "f1") -> OrderDraft:
    usd = Money(amount=1000, currency="USD")
    line = OrderLine(
        variant_id=variant_id,
        product_handle="h",
        title="t",
        variant_title="v",
        sku="s",
        quantity=quantity,
        unit_price=usd,
        total=usd.times(quantity),
    )
    return OrderDraft(
        idempotency_key=key,
        fingerprint=fingerprint,
        email="a@example.com",
        market="us",
        lines=[line],
        shipping_address=Address(name="A", line1="1 St", city="C", postal_code="1", country="US"),
        shipping_method="standard",
        subtotal=line.total,
        shipping=Money.zero("USD"),
        tax=Money.zero("USD"),
        total=line.total,
        token_hash="x",
    )


async def test_listing_pagination_and_sorting(backend: BuiltinCommerce) -> None:
    first = await backend.list_products(price_list="usd", per_page=10, sort="title")
    second = await backend.list_products(price_list="usd", page=2, per_page=10, sort="title")
    assert first.total == 30 and len(first.items) == len(second.items) == 10
    titles = [p.title for p in first.items + second.items]
    assert titles == sorted(titles)
    assert not {p.id for p in first.items} & {p.id for p in second.items}
    eur = await backend.list_products(price_list="eur", per_page=1)
    assert eur.items[0].variants[0].price.currency == "EUR"


async def test_get_product_and_quotes(backend: BuiltinCommerce) -> None:
    listing = await backend.list_products(price_list="gbp", per_page=1)
    product = await backend.get_product(listing.items[0].handle, price_list="gbp")
    assert product.variants and product.images and product.options
    quotes = await backend.quote_variants([product.variants[0].id, 10_000_000], price_list="gbp")
    assert list(quotes) == [product.variants[0].id] and quotes[product.variants[0].id].price.currency == "GBP"
    with pytest.raises(NotFound):
        await backend.get_product("nope", price_list="usd")


async def test_place_order_reserves_and_is_idempotent(backend: BuiltinCommerce) -> None:
    set_stock(backend, 1, 5)
    order = await backend.place_order(draft("k1", 1, 2))
    assert order.status == "pending_payment" and stock(backend, 1) == (5, 2)
    assert (await backend.place_order(draft("k1", 1, 2))).id == order.id
    assert stock(backend, 1) == (5, 2)
    with pytest.raises(IdempotencyConflict):
        await backend.place_order(draft("k1", 1, 2, fingerprint="other"))


async def test_shortage_stores_nothing(backend: BuiltinCommerce) -> None:
    set_stock(backend, 1, 1)
    with pytest.raises(OutOfStock) as caught:
        await backend.place_order(draft("k2", 1, 2))
    assert caught.value.shortages == {1: 1} and stock(backend, 1) == (1, 0)
    with sqlite3.connect(backend.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0


async def test_payment_turns_reservation_into_sale_and_void_releases(backend: BuiltinCommerce) -> None:
    set_stock(backend, 1, 5)
    paid = await backend.place_order(draft("k3", 1, 2))
    recorded = await backend.record_payment(paid.id, status="captured", payment_reference="pay_1")
    assert recorded.status == "captured" and stock(backend, 1) == (3, 0)
    again = await backend.record_payment(paid.id, status="captured", payment_reference="pay_1")
    assert again.status == "captured" and stock(backend, 1) == (3, 0)

    voided = await backend.place_order(draft("k4", 1, 3))
    assert stock(backend, 1) == (3, 3)
    await backend.void_order(voided.id)
    assert stock(backend, 1) == (3, 0)
    with pytest.raises(NotFound):
        await backend.get_order(voided.id)


async def test_expired_reservations_are_released(backend: BuiltinCommerce) -> None:
    set_stock(backend, 1, 2)
    stale = await backend.place_order(draft("k5", 1, 2))
    with sqlite3.connect(backend.path) as conn:
        conn.execute("UPDATE orders SET reserved_until = ? WHERE id = ?", (int(time.time()) - 1, stale.id))
    fresh = await backend.place_order(draft("k6", 1, 2))
    assert fresh.status == "pending_payment" and stock(backend, 1) == (2, 2)
    assert (await backend.get_order(stale.id)).status == "cancelled"
    # the late payment of the lapsed order cannot take stock the fresh order holds
    with pytest.raises(OutOfStock):
        await backend.record_payment(stale.id, status="captured", payment_reference="pay_late")


async def test_catalog_batches_cover_every_product_once(backend: BuiltinCommerce) -> None:
    seen: list[int] = []
    after = 0
    while batch := await backend.catalog_batch(after_id=after, limit=7):
        seen.extend(r.id for r in batch)
        after = batch[-1].id
        assert all(set(r.min_prices) == {"usd", "eur", "gbp"} for r in batch)
    assert seen == sorted(set(seen)) and len(seen) == 30
