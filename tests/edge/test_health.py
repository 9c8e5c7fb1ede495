"""The edge's own /healthz and /readyz (and their /_edge/ names): answered before anything else, never passed
to an origin or cached, and ready only while some origin region can be asked."""

from __future__ import annotations

import httpx
import pytest

from edge import EdgeApp, EdgeSettings
from tests.edge.conftest import FakeOrigin
from tests.spans import Recorder

pytestmark = pytest.mark.anyio

PROBES = ("/healthz", "/readyz", "/_edge/healthz", "/_edge/readyz")


def edge_for(origin: FakeOrigin, **settings: object) -> EdgeApp:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=origin.app()), base_url="http://origin")
    settings = {"observability": {"sample_ratio": 1.0}, **settings}
    return EdgeApp(EdgeSettings.model_validate(settings), http=http, tracer_provider=Recorder().provider)


@pytest.mark.parametrize("path", PROBES)
async def test_probes_are_the_edges_own_answers(path: str, origin: FakeOrigin) -> None:
    app = edge_for(origin, allowed_hosts=["shop.example"])
    # A Kubernetes probe names the pod's address, which the host allow-list does not hold.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://10.1.2.3:8787") as probe:
        first, second = await probe.get(path), await probe.get(path)
    for answer in (first, second):
        assert answer.status_code == 200 and answer.json() == {"status": "ok", "region": "default"}
        assert answer.headers["cache-control"] == "no-store" and answer.headers["x-cache"] == "PASS"
    assert sum(origin.hits.values()) == 0 and origin.seen_headers == []


async def test_probes_make_no_spans(origin: FakeOrigin) -> None:
    recorder = Recorder()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=origin.app()), base_url="http://origin")
    settings = EdgeSettings.model_validate({"observability": {"sample_ratio": 1.0}})
    app = EdgeApp(settings, http=http, tracer_provider=recorder.provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example") as probe:
        for path in PROBES:
            await probe.get(path)
        await probe.get("/page")
    assert [span.name for span in recorder.spans()] == ["cache lookup", "origin fetch", "GET"]


@pytest.mark.parametrize("path", ["/readyz", "/_edge/readyz"])
async def test_not_ready_while_no_origin_can_be_asked_but_alive(path: str, origin: FakeOrigin) -> None:
    app = edge_for(origin, breaker={"failures": 1, "open_seconds": 60}, retry_budget=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example") as probe:
        assert (await probe.get(path)).status_code == 200
        origin.failing = True
        assert (await probe.get("/page")).status_code == 503  # the origin's own 503 opens its breaker
        not_ready = await probe.get(path)
        assert not_ready.status_code == 503 and not_ready.headers["cache-control"] == "no-store"
        assert (await probe.get("/healthz")).status_code == 200  # alive all the same: no restart
    assert origin.hits["/page"] == 1
