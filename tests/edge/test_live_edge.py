"""The edge in front of the real store, as `make run` starts it (real processes on loopback)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import LiveOrigin

TOKEN = "edge-purge-token-for-tests"
ADMIN = "admin-token-for-tests"


@pytest.fixture
def store(live_origin: Callable[..., LiveOrigin], monkeypatch: pytest.MonkeyPatch) -> LiveOrigin:
    monkeypatch.setenv("EDGESHOP_PURGE_TOKEN", TOKEN)
    monkeypatch.setenv("EDGESHOP_ADMIN_TOKEN", ADMIN)
    return live_origin(
        seed_products=20,
        extra='[edge]\npurge_token = "env:EDGESHOP_PURGE_TOKEN"\n',
        origin_extra='admin_token = "env:EDGESHOP_ADMIN_TOKEN"',
    )


def test_shared_pages_are_cached_and_wrangler_purge_clears_them(store: LiveOrigin) -> None:
    product = httpx.get(store.url + "/api/products", params={"per_page": 1}).json()["items"][0]
    page = f"{store.edge_url}/p/{product['handle']}"
    assert httpx.get(page).headers["x-cache"] == "MISS"
    cached = httpx.get(page)
    assert cached.headers["x-cache"] == "HIT" and "age" in cached.headers
    purge = subprocess.run(
        [sys.executable, "-m", "wrangler_py.cli", "--config", str(store.config_path), "purge",
         "--tag", f"product:{product['id']}", "--edge", store.edge_url],
        capture_output=True, text=True, timeout=30, env={**os.environ, "EDGESHOP_PURGE_TOKEN": TOKEN},
    )  # fmt: skip
    assert purge.returncode == 0, purge.stderr
    assert httpx.get(page).headers["x-cache"] == "MISS"


def test_carts_and_deception_paths_never_come_from_the_cache(store: LiveOrigin) -> None:
    with httpx.Client(base_url=store.edge_url) as alice:
        products = alice.get("/api/products", params={"per_page": 20}).json()["items"]
        chosen, variant = next((p, v) for p in products for v in p["variants"] if v["available"] > 0)
        marker = chosen["title"]
        added = alice.post("/cart/add", data={"variant_id": variant["id"], "quantity": "1"},
                           headers={"origin": store.edge_url})  # fmt: skip
        assert added.status_code == 303
        alices_cart = alice.get("/cart")
        assert alices_cart.headers["x-cache"] == "BYPASS" and marker in alices_cart.text
        for trick in ("/cart;x.css", "/cart/..%2fstatic/x.css", "/cart%2Fx.css", "/cart/x.css"):
            alice.get(trick)
    with httpx.Client(base_url=store.edge_url) as bob:
        bobs_cart = bob.get("/cart")
        assert bobs_cart.headers["x-cache"] == "BYPASS" and marker not in bobs_cart.text
        for trick in ("/cart;x.css", "/cart/..%2fstatic/x.css", "/cart%2Fx.css", "/cart/x.css"):
            answer = bob.get(trick)
            assert marker not in answer.text and "es_cart" not in answer.headers.get("set-cookie", "")


def test_forwarded_host_from_a_shopper_never_changes_what_others_get(store: LiveOrigin) -> None:
    poisoned = httpx.get(store.edge_url + "/", headers={"x-forwarded-host": "evil.example"})
    clean = httpx.get(store.edge_url + "/")
    assert "evil.example" not in poisoned.text and "evil.example" not in clean.text


def test_a_merchants_edit_is_fresh_at_the_edge_at_once(store: LiveOrigin) -> None:
    product = httpx.get(store.url + "/api/products", params={"per_page": 1}).json()["items"][0]
    page = f"{store.edge_url}/p/{product['handle']}"
    httpx.get(page)
    assert httpx.get(page).headers["x-cache"] == "HIT"
    edit = httpx.put(
        f"{store.url}/api/admin/products/{product['id']}",
        json={"title": "Freshly Renamed Anorak"},
        headers={"authorization": f"Bearer {ADMIN}"},
    )
    assert edit.status_code == 200
    fresh = httpx.get(page)  # the origin purged the edge before answering the merchant
    assert fresh.headers["x-cache"] == "MISS" and "Freshly Renamed Anorak" in fresh.text
