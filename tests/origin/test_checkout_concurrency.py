"""Real concurrency against a running origin process: stock is never sold twice, a key never charges twice."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.conftest import LiveOrigin

ADDRESS = {"name": "Grace Hopper", "line1": "1 Navy Yard", "city": "Arlington", "postal_code": "22202", "country": "US"}


def _stock_one_variant(origin: LiveOrigin, units: int) -> int:
    products = httpx.get(origin.url + "/api/products", params={"per_page": 50}).json()["items"]
    variant_id = next(v["id"] for p in products for v in p["variants"] if v["available"] > 0)
    with sqlite3.connect(origin.data_dir / "commerce.sqlite3") as conn:
        conn.execute("UPDATE inventory SET on_hand = ?, reserved = 0 WHERE variant_id = ?", (units, variant_id))
    return variant_id


def _cart_with(client: httpx.Client, variant_id: int) -> str:
    cart_id: str = client.post("/api/carts").json()["id"]
    # The add itself may see the stock (it is not reserved yet): every cart gets one unit.
    assert client.post(f"/api/carts/{cart_id}/lines", json={"variant_id": variant_id, "quantity": 1}).status_code == 201
    return cart_id


def _checkout(base_url: str, cart_id: str, key: str) -> httpx.Response:
    body = {
        "cart_id": cart_id,
        "email": "grace@example.com",
        "shipping_address": ADDRESS,
        "shipping_method": "standard",
        "payment": {"token": "pm_card_visa"},
    }
    with httpx.Client(base_url=base_url, timeout=60) as client:
        return client.post("/api/checkout", json=body, headers={"Idempotency-Key": key})


def test_n_concurrent_checkouts_for_m_units_make_exactly_m_orders(live_origin: Callable[..., LiveOrigin]) -> None:
    origin = live_origin(seed_products=30)
    units, shoppers = 5, 16
    variant_id = _stock_one_variant(origin, units)
    with httpx.Client(base_url=origin.url, timeout=30) as client:
        carts = [_cart_with(client, variant_id) for _ in range(shoppers)]

    with ThreadPoolExecutor(max_workers=shoppers) as pool:
        responses = list(pool.map(lambda i: _checkout(origin.url, carts[i], f"race-key-{i:04d}"), range(shoppers)))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: units, 409: shoppers - units}, [(r.status_code, r.text[:200]) for r in responses]
    for rejected in (r for r in responses if r.status_code == 409):
        problem: dict[str, Any] = rejected.json()
        assert problem["type"].endswith("/out-of-stock") and problem["shortages"][0]["variant_id"] == variant_id
    with sqlite3.connect(origin.data_dir / "commerce.sqlite3") as conn:
        on_hand, reserved = conn.execute(
            "SELECT on_hand, reserved FROM inventory WHERE variant_id = ?", (variant_id,)
        ).fetchone()
        orders = conn.execute("SELECT COUNT(*) FROM orders WHERE status = 'captured'").fetchone()[0]
    assert (on_hand, reserved, orders) == (0, 0, units)


def test_the_same_key_sent_concurrently_charges_once(live_origin: Callable[..., LiveOrigin]) -> None:
    origin = live_origin(seed_products=30)
    variant_id = _stock_one_variant(origin, 10)
    with httpx.Client(base_url=origin.url, timeout=30) as client:
        cart_id = _cart_with(client, variant_id)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: _checkout(origin.url, cart_id, "double-click-key"), range(8)))

    # A double-click is one checkout: every copy of the request gets the same order back.
    assert [r.status_code for r in responses] == [201] * 8, [r.text[:200] for r in responses]
    assert len({r.json()["order_id"] for r in responses}) == 1
    with sqlite3.connect(origin.data_dir / "payments.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM payments").fetchone()[0] == 1
    with sqlite3.connect(origin.data_dir / "commerce.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 1
        assert conn.execute("SELECT on_hand FROM inventory WHERE variant_id = ?", (variant_id,)).fetchone()[0] == 9
