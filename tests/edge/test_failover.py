"""Two regions as real processes (`wrangler-py dev --regions`): an origin goes down and comes back.

EU shoppers keep their cached pages, uncached reads move to the US origin, EU cart writes get a clear 503
(never written in the wrong region), and once the EU origin is back its traffic returns to it. And a real edge
in front of a home region that refuses connections: cart reads and writes get the same 503.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from edge import EdgeApp, EdgeSettings, server_config
from tests.conftest import REPO, free_port, write_config
from tests.edge.live import serve, wait_ok


@dataclass
class Regions:
    door: str
    edges: dict[str, str]
    origins: dict[str, tuple[str, int]]  # region -> (url, pid)
    plan: Path
    env: dict[str, str]


@pytest.fixture
def regions(tmp_path: Path) -> Iterator[Regions]:
    config = write_config(tmp_path / "store", seed_products=10, extra="[edge.geo]\ndev = true\n")
    port = free_port()
    log = (tmp_path / "dev.log").open("w+")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    parent = subprocess.Popen(
        [sys.executable, "-m", "wrangler_py.cli", "--config", str(config), "dev", "--regions", "us-east,eu-west",
         "--port", str(port), "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        text = ""
        while "plan: " not in text:
            assert parent.poll() is None and time.monotonic() < deadline, (tmp_path / "dev.log").read_text()
            time.sleep(0.1)
            text = (tmp_path / "dev.log").read_text()
        edges = dict(re.findall(r"(\S+)\s+edge\s+(http://\S+)", text))
        origins = {
            name: (url, int(pid)) for name, url, pid in re.findall(r"(\S+)\s+origin\s+(http://\S+)\s+pid (\d+)", text)
        }
        plan = Path(re.search(r"plan: (\S+?)\)", text).group(1))  # type: ignore[union-attr]
        found = Regions(f"http://127.0.0.1:{port}", edges, origins, plan, env)
        for url in [*edges.values(), found.door]:
            wait_ok(url + "/healthz")
        for url, _ in origins.values():
            wait_ok(url + "/readyz")
        yield found
    finally:
        os.killpg(parent.pid, signal.SIGTERM)
        parent.wait(timeout=20)
        log.close()


def test_an_eu_origin_outage_and_its_return(regions: Regions) -> None:
    eu_edge = regions.edges["eu-west"]
    products = httpx.get(regions.door + "/api/products", params={"per_page": 10}).json()["items"]
    variant = next(str(v["id"]) for p in products for v in p["variants"] if v["available"] > 2)
    add = {"variant_id": variant, "quantity": "1"}
    home = httpx.get(regions.door + "/?_geo=DE")
    assert home.headers["x-edge-region"] == "eu-west" and home.headers["x-origin-region"] == "eu-west"
    assert httpx.get(regions.door + "/?_geo=US").headers["x-edge-region"] == "us-east"
    httpx.get(eu_edge + "/?_geo=DE")  # the edge itself, by its own Host: another cache key than the door's
    assert httpx.get(eu_edge + "/?_geo=DE").headers["x-cache"] == "HIT"

    # A shopper keeps browsing the EU edge through the outage; count what they see.
    seen: Counter[str] = Counter()
    stop = threading.Event()

    def browse() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                try:
                    answer = client.get(eu_edge + "/?_geo=DE")
                    seen[f"{answer.status_code} {answer.headers.get('x-cache')}"] += 1
                except httpx.HTTPError as exc:
                    seen[type(exc).__name__] += 1
                time.sleep(0.01)

    browser = threading.Thread(target=browse)
    browser.start()
    try:
        url, pid = regions.origins["eu-west"]
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        uncached = httpx.get(eu_edge + "/pages/about?_geo=DE")
        assert uncached.status_code == 200 and uncached.headers["x-origin-region"] == "us-east"  # read failover
        cart = httpx.post(eu_edge + "/cart/add?_geo=DE", data=add,
                          headers={"origin": eu_edge})  # fmt: skip
        assert cart.status_code == 503 and cart.headers["content-type"] == "application/problem+json"
        us_cart = httpx.post(eu_edge + "/cart/add?_geo=US", data=add,
                             headers={"origin": eu_edge})  # fmt: skip
        assert us_cart.status_code == 303  # a US-homed cart is written in us-east, through the EU edge

        restarted = subprocess.Popen(
            [sys.executable, "-m", "wrangler_py.regions", "origin", "eu-west", str(regions.plan)],
            env={**regions.env, "EDGESHOP_DEV_REGIONS_PURGE_TOKEN": "restarted"}, cwd=REPO,
        )  # fmt: skip
        try:
            wait_ok(url + "/readyz")
            deadline = time.monotonic() + 15  # probes every 2 s, healthy after 2 passes
            while (
                httpx.get(eu_edge + f"/pages/shipping?_geo=DE&n={time.monotonic()}").headers["x-origin-region"]
                != "eu-west"
            ):
                assert time.monotonic() < deadline, "traffic never returned to the EU origin"
                time.sleep(0.2)
            back = httpx.post(eu_edge + "/cart/add?_geo=DE", data=add,
                              headers={"origin": eu_edge})  # fmt: skip
            assert back.status_code == 303
        finally:
            restarted.terminate()
            restarted.wait(timeout=10)
    finally:
        stop.set()
        browser.join(timeout=10)
    print(f"what an EU shopper on a cached page saw during the outage: {dict(seen)}")
    assert set(seen) <= {"200 HIT", "200 STALE", "200 REVALIDATED", "200 MISS"}, seen


@pytest.fixture
def refused_home() -> Iterator[str]:
    """An edge whose market's one home region is a port nobody listens on."""
    refused, port = free_port(), free_port()
    settings = EdgeSettings.model_validate(
        {
            "region": "eu-west",
            "regions": [{"name": "eu-west", "origins": [f"http://127.0.0.1:{refused}"]}],
            "markets": [{"id": "eu", "home_region": "eu-west"}],
            "default_market": "eu",
            # Neither probes nor the breaker step in during the test: each request meets the refusal itself.
            "health": {"unhealthy_after": 100},
            "breaker": {"failures": 100},
        }
    )
    server, thread = serve(server_config(EdgeApp(settings), host="127.0.0.1", port=port))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_cart_read_whose_home_region_refuses_is_the_same_503_as_a_cart_write(refused_home: str) -> None:
    write = httpx.post(refused_home + "/cart/add", data={"variant_id": "1", "quantity": "1"})
    read = httpx.get(refused_home + "/cart")
    assert write.status_code == read.status_code == 503
    assert read.headers["content-type"] == write.headers["content-type"] == "application/problem+json"
    assert read.json() == write.json()
    assert read.headers.get("retry-after") == write.headers.get("retry-after")
    assert read.headers["cache-control"] == "no-store"
    head = httpx.head(refused_home + "/checkout")
    assert head.status_code == 503 and head.content == b""
    again = httpx.get(refused_home + "/cart")
    assert again.status_code == 503 and again.headers["x-cache"] != "HIT"  # never stored
    # A shared page has no home: nothing answered it, which stays a 502.
    assert httpx.get(refused_home + "/pages/about").status_code == 502


def test_the_edge_says_it_is_alive_and_whether_it_can_serve() -> None:
    port, refused = free_port(), free_port()
    settings = EdgeSettings.model_validate(
        {"origin": f"http://127.0.0.1:{refused}", "breaker": {"failures": 1, "open_seconds": 60}}
    )
    app = EdgeApp(settings)
    server, thread = serve(server_config(app, host="127.0.0.1", port=port))
    try:
        edge = f"http://127.0.0.1:{port}"
        assert httpx.get(edge + "/_edge/healthz").json() == {"status": "ok", "region": "default"}
        assert httpx.get(edge + "/_edge/readyz").status_code == 200  # nothing known against the origin yet
        assert httpx.get(edge + "/p/x").status_code == 502  # refused: the breaker opens
        # One origin has no active probes: readiness never follows the passive breaker (tests/edge/test_health.py
        # has the probed case), so stale pages can still be served from this pod.
        still_ready = httpx.get(edge + "/_edge/readyz")
        assert still_ready.status_code == 200 and still_ready.headers["cache-control"] == "no-store"
        assert httpx.get(edge + "/_edge/healthz").status_code == 200  # alive all the same: no restart
    finally:
        server.should_exit = True
        thread.join(5)


def test_metrics_only_for_admin_networks_or_the_admin_token() -> None:
    port, refused = free_port(), free_port()
    closed = {"origin": f"http://127.0.0.1:{refused}", "admin_networks": [], "admin_token": "scrape-me"}
    for settings, allowed in ((EdgeSettings.model_validate({"origin": f"http://127.0.0.1:{refused}"}), True),
                              (EdgeSettings.model_validate(closed), False)):  # fmt: skip
        server, thread = serve(server_config(EdgeApp(settings), host="127.0.0.1", port=port))
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/metrics")
            if allowed:  # loopback is an admin network by default
                assert answer.status_code == 200 and "edgeshop_experiment_exposures_total" in answer.text
            else:  # a shopper: the page does not exist, and is not passed on to an origin either
                assert answer.status_code == 404 and "edgeshop" not in answer.text
                scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"authorization": "Bearer scrape-me"})
                assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
        finally:
            server.should_exit = True
            thread.join(5)
