"""`wrangler-py status`: figures computed from the exposition as Prometheus would, and a compact table."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import LiveOrigin
from wrangler_py.cli import main
from wrangler_py.status import Scrape, Target, parse_samples, quantile, render_table, summarize

EDGE = """
# TYPE edgeshop_edge_requests_total counter
edgeshop_edge_requests_total{route="/p/{handle}",method="GET",status="2xx",cache="l1_hit"} 90
edgeshop_edge_requests_total{route="/p/{handle}",method="GET",status="2xx",cache="miss"} 8
edgeshop_edge_requests_total{route="/cart",method="POST",status="5xx",cache="pass"} 2
# TYPE edgeshop_edge_cache_results_total counter
edgeshop_edge_cache_results_total{cache="l1_hit"} 80
edgeshop_edge_cache_results_total{cache="l2_hit"} 6
edgeshop_edge_cache_results_total{cache="stale"} 4
edgeshop_edge_cache_results_total{cache="miss"} 10
edgeshop_edge_cache_results_total{cache="pass"} 2
# TYPE edgeshop_edge_request_duration_seconds histogram
edgeshop_edge_request_duration_seconds_bucket{route="/p/{handle}",cache="l1_hit",le="0.001"} 90
edgeshop_edge_request_duration_seconds_bucket{route="/p/{handle}",cache="l1_hit",le="0.01"} 90
edgeshop_edge_request_duration_seconds_bucket{route="/p/{handle}",cache="l1_hit",le="+Inf"} 90
edgeshop_edge_request_duration_seconds_count{route="/p/{handle}",cache="l1_hit"} 90
edgeshop_edge_request_duration_seconds_sum{route="/p/{handle}",cache="l1_hit"} 0.05
edgeshop_edge_request_duration_seconds_bucket{route="/p/{handle}",cache="miss",le="0.001"} 0
edgeshop_edge_request_duration_seconds_bucket{route="/p/{handle}",cache="miss",le="0.01"} 5
edgeshop_edge_request_duration_seconds_bucket{route="/p/{handle}",cache="miss",le="+Inf"} 10
edgeshop_edge_request_duration_seconds_count{route="/p/{handle}",cache="miss"} 10
edgeshop_edge_request_duration_seconds_sum{route="/p/{handle}",cache="miss"} 0.2
# TYPE edgeshop_edge_origin_breaker_state gauge
edgeshop_edge_origin_breaker_state{region="us-east",origin="http://a"} 0
edgeshop_edge_origin_breaker_state{region="eu-west",origin="http://b"} 0
edgeshop_edge_origin_breaker_state{region="eu-west",origin="http://c"} 1
"""
ORIGIN = """
# TYPE edgeshop_origin_request_duration_seconds histogram
edgeshop_origin_request_duration_seconds_bucket{route="/p/{handle}",method="GET",le="0.01"} 50
edgeshop_origin_request_duration_seconds_bucket{route="/p/{handle}",method="GET",le="0.05"} 100
edgeshop_origin_request_duration_seconds_bucket{route="/p/{handle}",method="GET",le="+Inf"} 100
edgeshop_origin_request_duration_seconds_count{route="/p/{handle}",method="GET"} 100
edgeshop_origin_request_duration_seconds_sum{route="/p/{handle}",method="GET"} 1.5
# TYPE edgeshop_vendor_breaker_state gauge
edgeshop_vendor_breaker_state{vendor="stripe"} 2
"""


def test_quantile_interpolates_within_the_bucket_like_prometheus() -> None:
    samples = parse_samples(ORIGIN)
    # 100 requests: rank 99 falls in (0.01, 0.05] holding 50, 49 of them in: 0.01 + 0.04 * 49/50.
    assert quantile(samples, "edgeshop_origin_request_duration_seconds", 0.99) == pytest.approx(0.0492)
    assert quantile(samples, "edgeshop_origin_request_duration_seconds", 0.5) == pytest.approx(0.01)
    # Buckets of every series add up: 100 edge requests, rank 99 lands in the +Inf bucket -> its lower bound.
    assert quantile(parse_samples(EDGE), "edgeshop_edge_request_duration_seconds", 0.99) == pytest.approx(0.01)
    assert quantile(parse_samples(""), "edgeshop_edge_request_duration_seconds", 0.99) is None


def test_summary_of_a_region() -> None:
    edge = Scrape("http://e", alive=True, ready=True, samples=parse_samples(EDGE))
    origin = Scrape("http://o", alive=True, ready=False, samples=parse_samples(ORIGIN))
    row = summarize(Target("us-east", "http://e", "http://o"), edge, origin)
    assert row.edge == "ready" and row.origin == "not ready"
    assert row.requests == 100
    assert row.hit_ratio == pytest.approx(90 / 100)  # l1 + l2 + stale over lookups; `pass` is not a lookup
    assert row.errors_5xx == pytest.approx(0.02)
    assert row.breakers == {"eu-west": "open", "us-east": "closed"}  # the worst origin of a region speaks for it
    assert row.vendors == {"stripe": "half-open"}
    assert row.origin_p99_ms == pytest.approx(49.2)
    table = render_table([row])
    assert table.splitlines()[0].split() == [
        "REGION", "EDGE", "ORIGIN", "REQS", "HIT", "EDGE", "p99", "ORIGIN", "p99", "5XX", "BREAKERS", "VENDORS",
    ]  # fmt: skip
    assert "us-east  ready  not ready  100   90.0%" in table and "eu-west:open" in table


def test_an_interval_is_the_difference_of_two_scrapes() -> None:
    before = parse_samples(EDGE)
    later = EDGE.replace('cache="l1_hit"} 80', 'cache="l1_hit"} 100').replace('cache="miss"} 10', 'cache="miss"} 30')
    edge = Scrape("http://e", alive=True, ready=True, samples=parse_samples(later))
    row = summarize(Target("r", "http://e", None), edge, None, {"http://e": before})
    assert row.hit_ratio == pytest.approx(20 / 40)  # 20 new hits, 20 new misses since the last scrape
    assert row.origin == "-"


def test_probes_scrapes_and_purges_are_not_traffic() -> None:
    operators = (
        "# TYPE edgeshop_edge_requests_total counter\n"
        'edgeshop_edge_requests_total{route="/metrics",method="GET",status="2xx",cache="pass"} 50\n'
        'edgeshop_edge_requests_total{route="/_edge/readyz",method="GET",status="5xx",cache="pass"} 30\n'
        'edgeshop_edge_requests_total{route="/readyz",method="GET",status="5xx",cache="pass"} 20\n'
    )
    text = EDGE.replace("# TYPE edgeshop_edge_requests_total counter\n", operators)
    edge = Scrape("http://e", alive=True, ready=True, samples=parse_samples(text))
    row = summarize(Target("r", "http://e", None), edge, None)
    assert row.requests == 100 and row.errors_5xx == pytest.approx(0.02)


def test_a_restarted_process_counts_from_its_restart_for_the_whole_family() -> None:
    before = parse_samples(ORIGIN)  # 50 requests up to 10 ms, 50 more up to 50 ms
    # The origin restarted and has served 120 since: 40 up to 10 ms, 80 more up to 50 ms. Only the first bucket
    # went down; subtracting the others would leave 40, 20, 20, which is no histogram.
    restarted = (
        ORIGIN.replace('le="0.01"} 50', 'le="0.01"} 40').replace('le="0.05"} 100', 'le="0.05"} 120')
        .replace('le="+Inf"} 100', 'le="+Inf"} 120')
    )  # fmt: skip
    origin = Scrape("http://o", alive=True, ready=True, samples=parse_samples(restarted))
    row = summarize(Target("r", None, "http://o"), None, origin, {"http://o": before})
    assert row.origin_p99_ms == pytest.approx(49.4)  # rank 118.8 of 120, 78.8 of 80 into (10, 50] ms
    assert row.since_start is False


def test_a_process_that_does_not_answer_is_down() -> None:
    row = summarize(Target("r", "http://e", "http://o"), Scrape("http://e", error="ConnectError"), None)
    assert (row.edge, row.origin, row.requests) == ("down", "-", None)


def test_status_of_a_live_dev_store(live_origin: Callable[..., LiveOrigin], capsys: pytest.CaptureFixture[str]) -> None:
    store = live_origin(seed_products=5)
    for _ in range(3):  # a miss, then hits
        assert httpx.get(store.edge_url + "/", timeout=10).status_code == 200
    assert httpx.get(store.edge_url + "/no-such-page", timeout=10).status_code == 404
    edge, origin = f"default={store.edge_url}", f"default={store.url}"
    config = str(store.config_path)
    assert main(["--config", config, "status", "--json", "--edge", edge, "--origin", origin]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["region"] == "default" and row["edge"] == "ready" and row["origin"] == "ready"
    assert row["requests"] == 4  # the shoppers' four; probes and this command's own scrapes are not traffic
    assert 0 < row["hit_ratio"] < 1
    assert row["edge_p99_ms"] > 0 and row["origin_p99_ms"] > 0
    assert row["vendors"] == {}  # the built-in connectors call no vendor

    assert main(["--config", config, "status", "--edge", edge, "--origin", origin]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "test-store (since each process started)" and table[1].startswith("REGION")
    store.stop()
    assert main(["--config", config, "status", "--edge", edge, "--origin", origin]) == 1  # down: an alert's exit
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["default", "down", "down"] in [row[:3] for row in rows]
