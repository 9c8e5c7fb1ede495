"""`origin.metrics` and the vendor metrics of `connectors.http`: what the origin's /metrics says after real requests.

The registry is process-wide, so each test compares two scrapes of the real origin app (in process, from a
loopback client address, which the admin networks allow by default) and asserts on the differences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anyio
import httpx
import pytest
from starlette.testclient import TestClient

from connectors import VendorUnavailable
from connectors.http import VendorClient, VendorHttpSettings
from origin.metrics import ROUTE_HEADER
from tests.edge.test_metrics import Scrape, delta
from tests.origin.test_api import checkout, db, in_stock_variant, new_cart
from wrangler_py.apps import build_origin_app
from wrangler_py.config import LoadedConfig

REQUESTS = "edgeshop_origin_requests_total"
CHECKOUTS = "edgeshop_origin_checkouts_total"


@pytest.fixture
def loaded(make_config: Callable[..., LoadedConfig]) -> LoadedConfig:
    return make_config(seed_products=20)


@pytest.fixture
def client(loaded: LoadedConfig) -> Iterator[TestClient]:
    with TestClient(build_origin_app(loaded), client=("127.0.0.1", 5000)) as test_client:
        yield test_client


def scrape(client: TestClient) -> Scrape:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    return Scrape(answer.text)


def test_requests_are_counted_by_route_template_and_the_template_is_named_to_the_edge(client: TestClient) -> None:
    handles = [p["handle"] for p in client.get("/api/products", params={"per_page": 2}).json()["items"]]
    before = scrape(client)
    answers = [client.get(f"/api/products/{handle}") for handle in handles]
    missing = client.get("/no/such/page/at/all")
    after = scrape(client)
    template = "/api/products/{handle}"
    assert [a.headers[ROUTE_HEADER] for a in answers] == [template, template]
    assert ROUTE_HEADER not in missing.headers  # nothing matched: the edge labels it `other` too
    assert delta(before, after, REQUESTS, route=template, method="GET", status="2xx") == 2
    assert delta(before, after, "edgeshop_origin_request_duration_seconds_count", route=template, method="GET") == 2
    assert delta(before, after, REQUESTS, route="other", method="GET", status="4xx") == 1
    assert "/no/such/page/at/all" not in after.label_values(REQUESTS, "route")
    # The scrape before is counted by now, under its own route.
    assert delta(before, after, REQUESTS, route="/metrics", method="GET", status="2xx") == 1


def test_a_mounted_app_is_one_template_whatever_the_file(client: TestClient) -> None:
    before = scrape(client)
    for name in ("css/store.css", "css/no-such.css"):  # a file and a 404: one template
        answer = client.get(f"/static/{name}")
        assert answer.headers.get(ROUTE_HEADER) == "/static/{path}"
    after = scrape(client)
    assert delta(before, after, REQUESTS, route="/static/{path}", method="GET") == 2
    assert not {route for route in after.label_values(REQUESTS, "route") if "css" in route}


def test_checkout_outcomes_and_inventory_conflicts(client: TestClient, loaded: LoadedConfig) -> None:
    variant_id = in_stock_variant(client)["variant"]["id"]
    with db(loaded) as conn:
        conn.execute("UPDATE inventory SET on_hand = 1 WHERE variant_id = ?", (variant_id,))
    first, second, declined = (new_cart(client, variant_id) for _ in range(3))
    before = scrape(client)
    assert checkout(client, declined["id"], "metrics-declined", token="pm_card_chargeDeclined").status_code == 402
    middle = scrape(client)
    assert checkout(client, first["id"], "metrics-placed-1").status_code == 201
    assert checkout(client, first["id"], "metrics-placed-1").status_code == 201  # the same key: a replay
    sold_out = checkout(client, second["id"], "metrics-sold-out")
    after = scrape(client)
    assert sold_out.status_code == 409 and sold_out.json()["type"].endswith("/out-of-stock")
    assert delta(before, middle, CHECKOUTS, outcome="declined") == 1
    assert delta(before, middle, CHECKOUTS) == 1
    assert delta(middle, after, CHECKOUTS, outcome="placed") == 1
    assert delta(middle, after, CHECKOUTS, outcome="replayed") == 1
    assert delta(middle, after, CHECKOUTS, outcome="out_of_stock") == 1
    assert delta(middle, after, CHECKOUTS) == 3
    assert delta(before, after, "edgeshop_origin_inventory_conflicts_total", stage="reserve") == 1
    assert delta(before, after, REQUESTS, route="/api/checkout", method="POST", status="4xx") == 2


def test_vendor_errors_and_breaker_state_show_on_the_origins_metrics(client: TestClient) -> None:
    vendor = "acme-metrics"
    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    settings = VendorHttpSettings(retries=1, backoff_seconds=0, breaker_failures=2)

    async def call() -> None:
        async def no_sleep(seconds: float) -> None:
            return None

        async with httpx.AsyncClient(transport=transport) as http:
            vendor_client = VendorClient(vendor, "https://api.acme.test", settings, http=http, sleep=no_sleep)
            with pytest.raises(VendorUnavailable):
                await vendor_client.request("GET", "/things", call="list_things")
            before_refusal = scrape(client)
            with pytest.raises(VendorUnavailable):  # the breaker is open now: refused without a request
                await vendor_client.request("GET", "/things", call="list_things")
            after_refusal = scrape(client)
            refused = "edgeshop_vendor_errors_total"
            assert delta(before_refusal, after_refusal, refused, vendor=vendor, outcome="circuit_open") == 1
            assert after_refusal.value("edgeshop_vendor_breaker_state", vendor=vendor) == 1

    before = scrape(client)
    anyio.run(call)
    after = scrape(client)
    labels = {"vendor": vendor, "call": "list_things"}
    assert delta(before, after, "edgeshop_vendor_errors_total", outcome="http_503", **labels) == 2  # two attempts
    assert delta(before, after, "edgeshop_vendor_request_duration_seconds_count", outcome="http_503", **labels) == 2
    assert before.value("edgeshop_vendor_breaker_state", vendor=vendor) == 0  # no such vendor yet
