"""`edge.metrics`: what the edge's /metrics says after real requests, compared before and after each step.

The Prometheus registry is process-wide (every edge and origin app of this test process shares it), so every
assertion is on a difference between two scrapes, never on an absolute value. The origins here are wrapped in the
origin's real route middleware (`origin.RouteMetrics`), which names each response's route template to the edge.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdn import Purge
from edge import EdgeApp, EdgeSettings, server_config
from edge.metrics import MAX_ROUTES, ROUTE_HEADER, RequestStats
from origin import RouteMetrics
from origin.metrics import ROUTE_HEADER as ORIGIN_ROUTE_HEADER
from tests.conftest import REPO, free_port
from tests.edge.conftest import Clock, drop_keys
from tests.edge.live import Reader, request, serve, wait_ok

AUTH = {"authorization": "Bearer s3cret"}
PRODUCT = "/p/{slug}"
REQUESTS = "edgeshop_edge_requests_total"
SECONDS = "edgeshop_edge_request_duration_seconds_count"


class Scrape:
    """One /metrics exposition, parsed: samples by name and labels."""

    def __init__(self, text: str) -> None:
        self.samples: list[tuple[str, dict[str, str], float]] = [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` that carry all of `labels` (0 when there are none)."""
        return sum(v for n, have, v in self.samples if n == name and labels.items() <= have.items())

    def label_values(self, name: str, label: str) -> set[str]:
        return {have[label] for n, have, _ in self.samples if n == name and label in have}


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


class Shop:
    """A small origin: cacheable product pages under one route template."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.delay = 0.0

    def app(self) -> RouteMetrics:
        async def product(request: Request) -> Response:
            slug = request.path_params["slug"]
            self.hits[slug] += 1
            if self.delay:
                await asyncio.sleep(self.delay)
            headers = {
                "cache-control": "public, max-age=0, s-maxage=60, stale-while-revalidate=30",
                "surrogate-key": f"product:{slug}",
            }
            return Response(f"product {slug}", media_type="text/html", headers=headers)

        return RouteMetrics(Starlette(routes=[Route(PRODUCT, product)]))


@pytest.fixture
def shop() -> Shop:
    return Shop()


@pytest.fixture
def make_edge(shop: Shop) -> Callable[..., EdgeApp]:
    def make(**settings: Any) -> EdgeApp:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=shop.app()), base_url="http://origin")
        return EdgeApp(EdgeSettings(**settings), http=http)

    return make


def client_of(app: EdgeApp) -> httpx.AsyncClient:
    # ASGITransport's client address is 127.0.0.1: an admin network by default, so /metrics answers.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example")


async def scrape(client: httpx.AsyncClient) -> Scrape:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    return Scrape(answer.text)


def test_the_edge_and_the_origin_name_the_route_field_alike() -> None:
    assert ROUTE_HEADER == ORIGIN_ROUTE_HEADER


def test_every_label_comes_from_a_small_set_and_the_hit_ratio_from_the_counts() -> None:
    stats = RequestStats(max_routes=2)
    for number in range(10):
        stats.observe(f"/r{number}", "GET", 200, "l1_hit", 0.0002)
    stats.observe("no leading slash", "BREW", 999, "miss", 0.2)
    stats.observe("/line\nbreak", "get", 404, "miss", 0.2)
    stats.observe(None, "POST", 201, "pass", 0.01)
    families = {family.name: family for family in stats.collect()}
    requests = [sample.labels for sample in families["edgeshop_edge_requests"].samples]
    assert {labels["route"] for labels in requests} == {"/r0", "/r1", "other"}
    assert {labels["method"] for labels in requests} == {"GET", "POST", "other"}
    assert {labels["status"] for labels in requests} == {"2xx", "4xx", "other"}
    assert stats.routes() == {"/r0", "/r1"}  # refused values are not even remembered
    buckets = {
        sample.labels["le"]: sample.value
        for sample in families["edgeshop_edge_request_duration_seconds"].samples
        if sample.name.endswith("_bucket") and sample.labels["route"] == "/r0"
    }
    assert buckets["0.0001"] == 0 and buckets["0.00025"] == 1 and buckets["+Inf"] == 1
    results = {s.labels["cache"]: s.value for s in families["edgeshop_edge_cache_results"].samples}
    assert results == {"l1_hit": 10, "miss": 2}  # `pass` is no cache lookup
    assert families["edgeshop_edge_cache_hit_ratio"].samples[0].value == 10 / 12


@pytest.mark.anyio
async def test_a_miss_then_a_hit_count_under_the_route_template(make_edge: Callable[..., EdgeApp]) -> None:
    async with client_of(make_edge()) as edge:
        before = await scrape(edge)
        miss = await edge.get("/p/boots")
        middle = await scrape(edge)
        hit = await edge.get("/p/boots")
        after = await scrape(edge)
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
    assert ROUTE_HEADER not in miss.headers and ROUTE_HEADER not in hit.headers  # never shown to shoppers
    labels = {"route": PRODUCT, "method": "GET", "status": "2xx"}
    assert delta(before, middle, REQUESTS, cache="miss", **labels) == 1
    assert delta(before, middle, REQUESTS, cache="l1_hit", **labels) == 0
    assert delta(middle, after, REQUESTS, cache="l1_hit", **labels) == 1
    assert delta(middle, after, REQUESTS, cache="miss", **labels) == 0
    assert delta(middle, after, SECONDS, route=PRODUCT, cache="l1_hit") == 1
    assert delta(before, after, "edgeshop_edge_cache_results_total", cache="l1_hit") == 1
    assert delta(before, after, "edgeshop_edge_cache_results_total", cache="miss") == 1
    # A hit is a fraction of a millisecond of Python: it lands in one of the low buckets.
    fast = "edgeshop_edge_request_duration_seconds_bucket"
    assert delta(middle, after, fast, route=PRODUCT, cache="l1_hit", le="0.01") == 1
    assert 0 <= after.value("edgeshop_edge_cache_hit_ratio") <= 1
    # The origin counted its one fetch under the same template (one process: one registry).
    origin = {"route": PRODUCT, "method": "GET", "status": "2xx"}
    assert delta(before, after, "edgeshop_origin_requests_total", **origin) == 1
    assert delta(before, after, "edgeshop_edge_origin_requests_total", region="default", status="2xx") == 1
    assert delta(before, after, "edgeshop_edge_origin_request_duration_seconds_count", region="default") == 1


@pytest.mark.anyio
async def test_stale_and_revalidated_answers_have_their_own_labels(
    make_edge: Callable[..., EdgeApp], clock: Clock
) -> None:
    app = make_edge()
    async with client_of(app) as edge:
        await edge.get("/p/tent")
        before = await scrape(edge)
        clock.advance(70)  # past s-maxage=60, within stale-while-revalidate=30
        stale = await edge.get("/p/tent")
        await app.cache.drain()
        after = await scrape(edge)
    assert stale.headers["x-cache"] == "STALE"
    assert delta(before, after, REQUESTS, route=PRODUCT, cache="stale") == 1
    assert delta(before, after, "edgeshop_edge_cache_results_total", cache="stale") == 1
    # The background refresh went to the origin, and no shopper waited for it.
    assert delta(before, after, "edgeshop_edge_origin_requests_total", region="default") == 1
    assert delta(before, after, REQUESTS, route=PRODUCT, cache="miss") == 0


@pytest.mark.anyio
async def test_a_hit_from_redis_is_an_l2_hit_and_then_an_l1_hit(
    make_edge: Callable[..., EdgeApp], redis_url: str
) -> None:
    prefix = f"metrics-{secrets.token_hex(4)}:"
    first, second = (
        make_edge(redis_url=redis_url, redis_prefix=prefix),
        make_edge(redis_url=redis_url, redis_prefix=prefix),
    )
    try:
        async with client_of(first) as a, client_of(second) as b:
            await a.get("/p/stove")  # a miss on A: stored in A's L1 and the shared L2
            before = await scrape(b)
            from_l2 = await b.get("/p/stove")
            middle = await scrape(b)
            from_l1 = await b.get("/p/stove")
            after = await scrape(b)
    finally:
        await first.stop()
        await second.stop()
        await drop_keys(redis_url, prefix)
    assert from_l2.headers["x-cache"] == from_l1.headers["x-cache"] == "HIT"
    assert delta(before, middle, REQUESTS, route=PRODUCT, cache="l2_hit") == 1
    assert delta(before, middle, REQUESTS, route=PRODUCT, cache="l1_hit") == 0
    assert delta(middle, after, REQUESTS, route=PRODUCT, cache="l1_hit") == 1
    assert delta(middle, after, REQUESTS, route=PRODUCT, cache="l2_hit") == 0


@pytest.mark.anyio
async def test_concurrent_misses_wait_for_one_fetch_and_are_counted_as_coalesced(
    make_edge: Callable[..., EdgeApp], shop: Shop
) -> None:
    shop.delay = 0.3
    async with client_of(make_edge()) as edge:
        before = await scrape(edge)
        answers = await asyncio.gather(*(edge.get("/p/lantern") for _ in range(5)))
        after = await scrape(edge)
    assert shop.hits["lantern"] == 1 and {a.headers["x-cache"] for a in answers} == {"MISS"}
    assert delta(before, after, "edgeshop_edge_coalesced_waits_total", outcome="shared") == 4
    assert delta(before, after, REQUESTS, route=PRODUCT, cache="coalesced") == 4
    assert delta(before, after, REQUESTS, route=PRODUCT, cache="miss") == 1


@pytest.fixture
async def two_nodes(
    make_edge: Callable[..., EdgeApp], redis_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, EdgeApp]]:
    prefix = f"metrics-bus-{secrets.token_hex(4)}:"
    settings: dict[str, Any] = {"redis_url": redis_url, "redis_prefix": prefix, "purge_token": "s3cret"}
    app_a, app_b = make_edge(**settings), make_edge(**settings)
    await app_a.start()
    await app_b.start()
    await asyncio.sleep(0.2)  # both subscribed
    async with client_of(app_a) as a, client_of(app_b) as b:
        yield a, b, app_b
    await app_a.stop()
    await app_b.stop()
    await drop_keys(redis_url, prefix)


@pytest.mark.anyio
async def test_a_purge_from_another_node_is_measured_on_arrival(two_nodes: Any) -> None:
    a, b, _ = two_nodes
    await b.get("/p/rope")
    before = await scrape(b)
    purged = await a.post("/_edge/purge", json={"tags": ["product:rope"]}, headers=AUTH)
    assert purged.status_code == 200 and ROUTE_HEADER not in purged.headers
    for _ in range(60):  # the bus delivers it to B within a few event-loop turns
        after = await scrape(b)
        if delta(before, after, "edgeshop_edge_purge_lag_seconds_count") >= 1:
            break
        await asyncio.sleep(0.05)
    assert delta(before, after, "edgeshop_edge_purge_lag_seconds_count") == 1
    assert 0 <= delta(before, after, "edgeshop_edge_purge_lag_seconds_sum") < 5
    assert (await b.get("/p/rope")).headers["x-cache"] == "MISS"  # and it was applied
    assert delta(before, after, REQUESTS, route="/_edge/purge", method="POST", status="2xx", cache="pass") == 1


def test_purge_messages_carry_their_publication_time_and_old_ones_still_decode() -> None:
    stamped = Purge(("product:1",), generation=3, sender="a", published_at=1_800_000_000.5)
    assert Purge.decode(stamped.encode()) == stamped
    old = Purge.decode('{"tags": ["product:1"], "soft": false, "all": false, "gen": 3, "from": "a"}')
    assert old.published_at == 0.0 and old.tags == ("product:1",) and old.generation == 3
    assert Purge.decode('{"gen": 4, "at": "soon"}').published_at == 0.0


@pytest.mark.anyio
async def test_an_origin_breaker_opening_moves_its_gauge() -> None:
    refused = f"http://127.0.0.1:{free_port()}"
    app = EdgeApp(EdgeSettings.model_validate({"origin": refused, "breaker": {"failures": 1, "open_seconds": 60}}))
    async with client_of(app) as edge:
        before = await scrape(edge)
        failed = await edge.get("/p/anything")
        after = await scrape(edge)
    await app.stop()
    assert failed.status_code == 502
    state = "edgeshop_edge_origin_breaker_state"
    assert before.value(state, region="default", origin=refused) == 0
    assert after.value(state, region="default", origin=refused) == 1
    assert after.value("edgeshop_edge_origin_healthy", region="default", origin=refused) == 1  # no probes here
    assert delta(before, after, "edgeshop_edge_origin_requests_total", region="default", status="error") == 1
    # No origin answered, so nobody named a route: the edge's own 502 is `other`.
    assert delta(before, after, REQUESTS, route="other", status="5xx", cache="miss") == 1


@pytest.mark.anyio
async def test_the_edges_own_endpoints_have_fixed_route_labels(make_edge: Callable[..., EdgeApp]) -> None:
    async with client_of(make_edge()) as edge:
        before = await scrape(edge)
        health = await edge.get("/_edge/healthz")
        after = await scrape(edge)
    assert health.status_code == 200 and ROUTE_HEADER not in health.headers
    assert delta(before, after, REQUESTS, route="/_edge/healthz", method="GET", status="2xx", cache="pass") == 1
    assert delta(before, after, REQUESTS, route="/metrics", method="GET", status="2xx", cache="pass") == 1


@pytest.mark.anyio
async def test_the_probes_under_their_plain_names_are_the_edges_too(make_edge: Callable[..., EdgeApp]) -> None:
    async with client_of(make_edge()) as edge:
        before = await scrape(edge)
        await edge.get("/healthz")
        await edge.get("/readyz")
        after = await scrape(edge)
    for path in ("/healthz", "/readyz"):
        assert delta(before, after, REQUESTS, route=path, method="GET", status="2xx", cache="pass") == 1
    assert delta(before, after, "edgeshop_origin_requests_total") == 0  # neither reached the origin


@pytest.mark.anyio
async def test_with_metrics_off_the_edge_counts_nothing(make_edge: Callable[..., EdgeApp]) -> None:
    async with client_of(make_edge()) as counting, client_of(make_edge(observability={"metrics": False})) as quiet:
        before = await scrape(counting)
        for _ in range(3):
            assert (await quiet.get("/p/quiet")).status_code == 200
        after = await scrape(counting)
    assert delta(before, after, REQUESTS, route=PRODUCT) == 0
    assert delta(before, after, "edgeshop_origin_requests_total", route=PRODUCT) == 1  # the origin still counts


@pytest.mark.anyio
async def test_a_thousand_paths_under_one_template_add_no_series(make_edge: Callable[..., EdgeApp]) -> None:
    async with client_of(make_edge()) as edge:
        for number in range(3):
            await edge.get(f"/p/warm-{number}")
            await edge.get(f"/p/warm-{number}")
        await scrape(edge)  # so the scrape's own series exist before the one compared with
        before = await scrape(edge)
        for number in range(1000):
            assert (await edge.get(f"/p/item-{number}")).status_code == 200
        after = await scrape(edge)
    assert delta(before, after, REQUESTS, route=PRODUCT, cache="miss") == 1000
    assert PRODUCT in after.label_values(REQUESTS, "route")
    # The same series, edge's and origin's, before and after: their values moved, their number did not.
    assert series(after) == series(before)


def series(scraped: Scrape) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every counter and histogram series (breaker gauges come and go with the apps of other tests)."""
    return {
        (name, tuple(sorted(labels.items())))
        for name, labels, _ in scraped.samples
        if not name.endswith(("_breaker_state", "_healthy"))
    }


# -- the edge as it is served: wire hits and a separate process ----------------------------------------------------


@pytest.fixture
def served(shop: Shop) -> Iterator[str]:
    origin_port, edge_port = free_port(), free_port()
    origin = serve(uvicorn.Config(shop.app(), host="127.0.0.1", port=origin_port, log_level="warning"))
    app = EdgeApp(EdgeSettings.model_validate({"origin": f"http://127.0.0.1:{origin_port}"}))
    front = serve(server_config(app, host="127.0.0.1", port=edge_port))
    try:
        yield f"http://127.0.0.1:{edge_port}"
    finally:
        for server, thread in (front, origin):
            server.should_exit = True
            thread.join(timeout=10)


def test_hits_answered_below_asgi_are_counted_and_timed(served: str) -> None:
    port = int(served.rsplit(":", 1)[1])
    before = Scrape(httpx.get(served + "/metrics").text)
    with socket_to(port) as sock:
        reader = Reader(sock)
        replies = []
        for method in ("GET", "GET", "GET", "GET", "HEAD"):
            sock.sendall(request("/p/wire", method=method))
            replies.append(reader.reply(head=method == "HEAD"))
    after = Scrape(httpx.get(served + "/metrics").text)
    wired = [reply for reply in replies if reply.via_wire]
    assert replies[0].field("x-cache") == "MISS" and len(wired) >= 3 and replies[-1].via_wire
    assert all(reply.field(ROUTE_HEADER) is None for reply in replies)
    hits = sum(reply.field("x-cache") == "HIT" for reply in replies if reply is not replies[-1])
    assert delta(before, after, REQUESTS, route=PRODUCT, method="GET", status="2xx", cache="l1_hit") == hits
    assert delta(before, after, REQUESTS, route=PRODUCT, method="HEAD", status="2xx", cache="l1_hit") == 1
    assert delta(before, after, REQUESTS, route=PRODUCT, cache="miss") == 1
    assert delta(before, after, SECONDS, route=PRODUCT, cache="l1_hit") == hits + 1
    fast = "edgeshop_edge_request_duration_seconds_bucket"
    assert delta(before, after, fast, route=PRODUCT, cache="l1_hit", le="0.01") == hits + 1


def socket_to(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


async def declares_every_path(request: Request) -> Response:
    """An origin that names a new route template for every path: the edge must cap what it labels by."""
    headers = {"cache-control": "public, s-maxage=60", ROUTE_HEADER: "/evil/" + request.path_params["path"]}
    return Response("ok", headers=headers)


def test_route_labels_stay_capped_when_an_origin_declares_a_template_per_path(tmp_path: Path) -> None:
    origin_port, edge_port = free_port(), free_port()
    hostile = Starlette(routes=[Route("/{path:path}", declares_every_path)])
    origin = serve(uvicorn.Config(hostile, host="127.0.0.1", port=origin_port, log_level="warning"))
    config = tmp_path / "edge.toml"
    config.write_text('[edge]\nhost = "127.0.0.1"\n')
    log = (tmp_path / "edge.log").open("w")
    edge = subprocess.Popen(
        [sys.executable, "-m", "wrangler_py.cli", "--config", str(config), "edge",
         "--origin", f"http://127.0.0.1:{origin_port}", "--port", str(edge_port), "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{edge_port}"
    try:
        wait_ok(url + "/_edge/healthz", edge)
        with httpx.Client(base_url=url) as client:
            for number in range(1000):
                assert client.get(f"/x/{number}").status_code == 200
            metrics = Scrape(client.get("/metrics").text)
    finally:
        edge.terminate()
        edge.wait(timeout=20)
        log.close()
        origin[0].should_exit = True
        origin[1].join(timeout=10)
    routes = metrics.label_values(REQUESTS, "route")
    declared = {route for route in routes if route.startswith("/evil/")}
    assert len(declared) == MAX_ROUTES and "other" in routes
    assert routes - declared <= {"other", "/_edge/healthz", "/metrics"}
    assert metrics.value(REQUESTS, route="other", cache="miss") == 1000 - MAX_ROUTES
    assert len(metrics.label_values("edgeshop_edge_request_duration_seconds_count", "route")) <= MAX_ROUTES + 3


def test_a_purge_from_the_future_counts_as_clock_skew_not_as_no_lag() -> None:
    from prometheus_client import generate_latest

    from edge.metrics import observe_purge_lag

    before = Scrape(generate_latest().decode())
    observe_purge_lag(published_at=1_000.5, now=1_000.0)  # this node's clock is behind the publisher's
    observe_purge_lag(published_at=1_000.0, now=1_000.25)
    observe_purge_lag(published_at=0.0, now=1_000.0)  # an older publisher names no time: nothing to say
    after = Scrape(generate_latest().decode())
    assert delta(before, after, "edgeshop_edge_purge_clock_skew_total") == 1
    assert delta(before, after, "edgeshop_edge_purge_lag_seconds_count") == 1
    assert delta(before, after, "edgeshop_edge_purge_lag_seconds_sum") == pytest.approx(0.25)


@pytest.mark.anyio
async def test_an_origin_url_label_carries_no_credentials() -> None:
    port = free_port()
    origin = f"http://scraper:hunter2secret@127.0.0.1:{port}"
    app = EdgeApp(EdgeSettings.model_validate({"origin": origin}))
    async with client_of(app) as edge:
        scraped = await edge.get("/metrics")
    await app.stop()
    assert "hunter2secret" not in scraped.text and "scraper:" not in scraped.text
    assert Scrape(scraped.text).value("edgeshop_edge_origin_healthy", origin=f"http://127.0.0.1:{port}") == 1
