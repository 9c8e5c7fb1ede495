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
async def test_the_origins_own_503s_do_not_make_the_edge_unready(path: str, origin: FakeOrigin) -> None:
    # A payment vendor's outage makes checkouts answer 503: the passive breaker opens, readiness must not follow
    # (every edge pod would leave the Service, and no stale page could be served).
    app = edge_for(origin, breaker={"failures": 1, "open_seconds": 60}, retry_budget=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example") as probe:
        assert (await probe.get(path)).status_code == 200
        origin.failing = True
        assert (await probe.get("/page")).status_code == 503  # the origin's own 503 opens its breaker
        assert app.router.origins[0].breaker.state.value == "open"
        ready = await probe.get(path)
        assert ready.status_code == 200 and ready.headers["cache-control"] == "no-store"
    assert origin.hits["/page"] == 1


@pytest.mark.parametrize("path", ["/readyz", "/_edge/readyz"])
async def test_not_ready_while_no_origin_passes_its_active_probes_but_alive(path: str, origin: FakeOrigin) -> None:
    regions = [{"name": "eu", "origins": ["http://origin-eu"]}, {"name": "us", "origins": ["http://origin-us"]}]
    app = edge_for(origin, regions=regions, region="eu", health={"unhealthy_after": 1, "healthy_after": 1})
    status = {"code": 200}
    probes = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(status["code"])))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example") as probe:
        await app.router.probe_once(probes)
        assert (await probe.get(path)).status_code == 200
        status["code"] = 503
        await app.router.probe_once(probes)
        not_ready = await probe.get(path)
        assert not_ready.status_code == 503 and not_ready.headers["cache-control"] == "no-store"
        assert (await probe.get("/healthz")).status_code == 200  # alive all the same: no restart
        status["code"] = 200
        await app.router.probe_once(probes)
        assert (await probe.get(path)).status_code == 200
    await probes.aclose()
