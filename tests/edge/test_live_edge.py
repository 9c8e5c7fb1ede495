"""The edge in front of the real store, as `make run` starts it (real processes on loopback)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, LiveOrigin

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


def test_an_edited_cms_page_is_fresh_at_the_edge_within_seconds(
    live_origin: Callable[..., LiveOrigin], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGESHOP_PURGE_TOKEN", TOKEN)
    content = {}

    def own_content(config_path: Path) -> None:
        content["root"] = shutil.copytree(REPO / "content", config_path.parent / "content")
        text = config_path.read_text(encoding="utf-8").replace(
            (REPO / "content").as_posix(), content["root"].as_posix()
        )
        config_path.write_text(text, encoding="utf-8")

    store = live_origin(
        seed_products=5,
        prepare=own_content,
        extra='[edge]\npurge_token = "env:EDGESHOP_PURGE_TOKEN"\n',
        origin_extra="content_poll_seconds = 0.2",
    )
    page = store.edge_url + "/pages/shipping"
    httpx.get(page)
    cached = httpx.get(page)
    assert cached.headers["x-cache"] == "HIT" and "Same-day dispatch" not in cached.text
    source = content["root"] / "en" / "page" / "shipping.md"
    source.write_text(source.read_text(encoding="utf-8") + "\nSame-day dispatch, now on Saturdays too.\n")
    edited = time.monotonic()
    while "Same-day dispatch" not in httpx.get(page).text:
        assert time.monotonic() - edited < 5, "the edit never reached the edge"
        time.sleep(0.1)
