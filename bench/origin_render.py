"""Origin page render throughput, uncached: product page and category page with a large seeded catalog.

Runs the real origin ASGI app in process (httpx.ASGITransport: no sockets, so the figure is the app's own
cost) and reports requests per second for each page next to a baseline measured in the same run: the same
pages on a 200-product catalog, and /healthz (the framework's floor). Ratios, not absolute times, are what
compare across machines.

    .venv/bin/python bench/origin_render.py [--products 100000] [--seconds 5] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from wrangler_py.apps import build_origin_app, build_store_from_config
from wrangler_py.config import load_config

REPO = Path(__file__).resolve().parent.parent


def make_store_dir(folder: Path, products: int) -> Path:
    folder.mkdir(parents=True)
    config = folder / "wrangler.toml"
    config.write_text(
        f'[origin]\ndata_dir = "data"\nseed_products = 0\n[connectors.cms]\nvendor = "builtin"\n'
        f'path = "{(REPO / "content").as_posix()}"\n'
    )
    store = build_store_from_config(load_config(config, environ={}))
    started = time.perf_counter()
    store.connectors.commerce.seed(products=products, seed=42)  # type: ignore[attr-defined]
    from origin.indexing import reindex

    asyncio.run(reindex(store.connectors.commerce, store.connectors.search))
    print(f"  seeded and indexed {products} products in {time.perf_counter() - started:.1f}s")
    return config


async def measure(client: httpx.AsyncClient, paths: list[str], seconds: float, workers: int) -> float:
    """Requests per second with `workers` concurrent loops cycling through `paths`, for `seconds`."""
    deadline = time.perf_counter() + seconds
    done = 0

    async def loop(offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < deadline:
            response = await client.get(paths[i % len(paths)])
            assert response.status_code == 200, (paths[i % len(paths)], response.status_code)
            i += 1
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(workers)))
    return done / (time.perf_counter() - started)


async def pages(client: httpx.AsyncClient) -> tuple[list[str], list[str]]:
    products = (await client.get("/api/products", params={"per_page": 50, "sort": "newest"})).json()["items"]
    categories = (await client.get("/api/categories")).json()["categories"]
    category_paths = []
    for category in categories:
        total = (await client.get("/api/products", params={"category": category["slug"], "per_page": 1})).json()
        last_page = max(1, -(-total["total"] // 24))
        category_paths += [f"/c/{category['slug']}", f"/c/{category['slug']}?page={min(3, last_page)}&sort=price_asc"]
    return [f"/p/{p['handle']}" for p in products], category_paths


async def run_one(config: Path, seconds: float, workers: int) -> dict[str, float]:
    app = build_origin_app(load_config(config, environ={}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench.local") as client:
        product_paths, category_paths = await pages(client)
        # Warm-up visits every page once: templates compiled, SQLite pages in the OS cache, and each listing's
        # facet counts computed (the search index keeps them per filter set until the index changes).
        for path in product_paths + category_paths:
            assert (await client.get(path)).status_code == 200, path
        return {
            "healthz": await measure(client, ["/healthz"], seconds, workers),
            "product": await measure(client, product_paths, seconds, workers),
            "category": await measure(client, category_paths, seconds, workers),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("baseline catalog: 200 products")
        small = asyncio.run(run_one(make_store_dir(Path(tmp) / "small", 200), args.seconds, args.workers))
        print(f"large catalog: {args.products} products")
        large = asyncio.run(run_one(make_store_dir(Path(tmp) / "large", args.products), args.seconds, args.workers))
    print()
    print(f"| page | req/s, 200 products | req/s, {args.products} products | large / small | large / healthz |")
    print("|---|---|---|---|---|")
    for name in ("healthz", "product", "category"):
        print(
            f"| {name} | {small[name]:.0f} | {large[name]:.0f} | {large[name] / small[name]:.2f} "
            f"| {large[name] / large['healthz']:.3f} |"
        )


if __name__ == "__main__":
    main()
