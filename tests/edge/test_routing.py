"""Origin routing: nearest healthy region for reads, the home region for writes, breakers and probes."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from edge.origin_client import OriginClient, OriginError, OriginUnavailable
from edge.routing import Breaker, BreakerState, OriginRouter, distance_km
from edge.settings import EdgeSettings, RegionSettings

pytestmark = pytest.mark.anyio

REGIONS = [
    RegionSettings(name="us-east", origins=["http://us.origin"], latitude=39.0, longitude=-77.5),
    RegionSettings(name="eu-west", origins=["http://eu.origin"], latitude=53.3, longitude=-6.3),
    RegionSettings(name="ap-south", origins=["http://ap.origin"], latitude=19.1, longitude=72.9),
]


def settings(here: str, **extra: object) -> EdgeSettings:
    return EdgeSettings(region=here, regions=REGIONS, **extra)  # type: ignore[arg-type]


def test_distance_is_great_circle() -> None:
    assert distance_km((53.3, -6.3), (39.0, -77.5)) == pytest.approx(5450, rel=0.03)  # Dublin – Virginia
    assert distance_km((1.0, 2.0), (1.0, 2.0)) == 0.0


def test_reads_go_to_this_region_first_then_the_nearest() -> None:
    router = OriginRouter.from_settings(settings("eu-west", retry_budget=2))
    assert [o.region for o in router.for_read(0.0)] == ["eu-west", "us-east", "ap-south"]
    router = OriginRouter.from_settings(settings("ap-south", retry_budget=0))
    assert [o.region for o in router.for_read(0.0)] == ["ap-south"]  # the budget bounds the candidates


def test_an_unhealthy_region_is_skipped_and_writes_wait_for_their_home() -> None:
    router = OriginRouter.from_settings(settings("eu-west"))
    router.by_region["eu-west"][0].healthy = False
    assert [o.region for o in router.for_read(0.0)] == ["us-east", "ap-south"]
    assert router.home("eu-west", 0.0) is None
    assert router.home("us-east", 0.0) is not None


def claim(breaker: Breaker, now: float) -> int:
    ticket = breaker.begin(now)
    assert ticket is not None, "the breaker refused the request"
    return ticket


def test_breaker_opens_after_failures_then_lets_one_trial_through() -> None:
    breaker = Breaker(failures_to_open=3, open_seconds=5.0)
    for _ in range(3):
        breaker.failed(claim(breaker, 0.0), 0.0)
    assert breaker.state is BreakerState.OPEN and breaker.begin(1.0) is None
    assert breaker.allows(5.0) and breaker.allows(5.0)  # asking claims nothing
    trial = claim(breaker, 5.0)
    assert breaker.state is BreakerState.HALF_OPEN  # the trial
    assert breaker.begin(5.1) is None  # only one at a time
    breaker.failed(trial, 5.2)
    assert breaker.state is BreakerState.OPEN and breaker.begin(6.0) is None
    breaker.abandoned(claim(breaker, 10.3))  # the trial's shopper went away: another request may find out
    breaker.succeeded(claim(breaker, 10.4))
    assert breaker.state is BreakerState.CLOSED and breaker.begin(10.5) is not None


def test_only_the_current_trial_or_closed_spell_decides() -> None:
    breaker = Breaker(failures_to_open=1, open_seconds=5.0)
    slow = claim(breaker, 0.0)  # sent while closed; its answer comes much later
    breaker.failed(claim(breaker, 0.0), 0.0)
    breaker.succeeded(slow)  # a success from before the opening ...
    assert breaker.state is BreakerState.OPEN and breaker.begin(1.0) is None  # ... does not cut the wait short
    gone = claim(breaker, 5.0)
    breaker.abandoned(gone)
    trial = claim(breaker, 5.1)
    breaker.abandoned(gone)  # the earlier trial, again: it cannot give away this one
    breaker.succeeded(gone)
    breaker.failed(slow, 5.2)
    assert breaker.state is BreakerState.HALF_OPEN and breaker.begin(5.3) is None  # still this trial's to decide
    breaker.succeeded(trial)
    breaker.failed(slow, 5.4)  # late failures from before do not reopen what the trial closed
    breaker.failed(gone, 5.4)
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 0
    breaker.failed(claim(breaker, 6.0), 6.0)  # while today's failures count
    assert breaker.state is BreakerState.OPEN


def test_settings_refuse_unknown_regions() -> None:
    with pytest.raises(ValueError, match=r"edge\.region 'mars'"):
        settings("mars")
    with pytest.raises(ValueError, match="unknown regions"):
        EdgeSettings(regions=REGIONS, markets=[{"id": "us", "home_region": "moon"}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unique"):
        EdgeSettings(regions=[REGIONS[0], REGIONS[0]])


Behaviour = Callable[[httpx.Request], httpx.Response]


class Body(httpx.AsyncByteStream):
    """A body that arrives as a stream, as from a real origin (MockTransport reads `content=` bodies up front)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


def client_for(behaviour: dict[str, Behaviour], seen: Counter[str]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] += 1
        return behaviour[request.url.host](request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


def down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, stream=Body(f"from {request.url.host}".encode()), headers={"x-origin-region": "forged"})


async def test_a_failed_read_tries_the_next_region_and_says_who_answered() -> None:
    seen: Counter[str] = Counter()
    router = OriginRouter.from_settings(settings("eu-west"))
    client = OriginClient(client_for({"eu.origin": down, "us.origin": ok}, seen), router)
    fetched = await client.fetch("GET", "/p/boot", ())
    assert fetched.body == b"from us.origin" and seen == {"eu.origin": 1, "us.origin": 1}
    assert [v for k, v in fetched.headers if k == "x-origin-region"] == ["us-east"]  # the origin cannot forge it
    unavailable = {"eu.origin": lambda r: httpx.Response(503, stream=Body(b"busy")), "us.origin": ok}
    fetched = await OriginClient(client_for(unavailable, seen), router).fetch("GET", "/p/boot", ())
    assert fetched.body == b"from us.origin"


async def test_writes_never_leave_their_home_region() -> None:
    seen: Counter[str] = Counter()
    router = OriginRouter.from_settings(settings("us-east", breaker={"failures": 1, "open_seconds": 60}))
    client = OriginClient(client_for({"eu.origin": down, "us.origin": ok}, seen), router)
    with pytest.raises(OriginError):  # the connect error itself, on the first attempt
        await client.fetch("POST", "/cart/add", (), b"x=1", home="eu-west")
    with pytest.raises(OriginUnavailable):  # then the open breaker answers at once
        await client.fetch("POST", "/cart/add", (), b"x=1", home="eu-west")
    assert seen == {"eu.origin": 1}  # never sent to us-east


async def test_probes_take_a_region_out_and_bring_it_back() -> None:
    state = {"eu": False}

    def health(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200 if state["eu"] or request.url.host != "eu.origin" else 503)

    router = OriginRouter.from_settings(settings("eu-west", health={"unhealthy_after": 2, "healthy_after": 1}))
    http = httpx.AsyncClient(transport=httpx.MockTransport(health))
    await router.probe_once(http)
    assert router.by_region["eu-west"][0].healthy  # one failure is not enough
    await router.probe_once(http)
    assert not router.by_region["eu-west"][0].healthy
    assert router.for_read(0.0)[0].region == "us-east"
    state["eu"] = True
    await router.probe_once(http)
    assert router.for_read(0.0)[0].region == "eu-west"


async def test_listing_candidates_does_not_claim_a_half_open_trial() -> None:
    seen: Counter[str] = Counter()
    router = OriginRouter.from_settings(settings("eu-west", retry_budget=1))
    us = router.by_region["us-east"][0]
    for _ in range(5):
        us.breaker.failed(claim(us.breaker, 0.0), 0.0)  # open since t=0; its open time has long passed by now
    client = OriginClient(client_for({"eu.origin": ok, "us.origin": ok}, seen), router)
    await client.fetch("GET", "/p/boot", ())  # served by eu-west; us-east was only a candidate
    assert seen == {"eu.origin": 1} and us.breaker.begin(10.0) is not None  # its trial is still there to be taken


class Gated:
    """An origin whose `/slow` answers only when released; `/down` refuses, anything else is a 200."""

    def __init__(self, slow_status: int) -> None:
        self.slow_status = slow_status
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/down":
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/slow":
            self.entered.set()
            await self.release.wait()
            return httpx.Response(self.slow_status, stream=Body(b"late"))
        return httpx.Response(200, stream=Body(b"ok"))


def one_region(origin: Gated) -> tuple[OriginClient, Breaker]:
    region = RegionSettings(name="eu-west", origins=["http://eu.origin"])
    router = OriginRouter.from_settings(
        EdgeSettings(region="eu-west", regions=[region], retry_budget=0, breaker={"failures": 1, "open_seconds": 60})
    )
    return OriginClient(httpx.AsyncClient(transport=httpx.MockTransport(origin)), router), router.origins[0].breaker


async def test_a_late_failure_from_before_the_outage_does_not_reopen_a_recovered_origin() -> None:
    origin = Gated(slow_status=503)
    client, breaker = one_region(origin)
    slow = asyncio.create_task(client.fetch("GET", "/slow", ()))  # sent while all was well
    await origin.entered.wait()
    with pytest.raises(OriginError):
        await client.fetch("GET", "/down", ())
    assert breaker.state is BreakerState.OPEN
    breaker.opened_at -= 60  # its open time is over
    await client.fetch("GET", "/p/boot", ())  # the trial: the origin is back
    assert breaker.state is BreakerState.CLOSED
    origin.release.set()
    assert (await slow).status == 503  # the shopper still gets what the origin said ...
    assert breaker.state is BreakerState.CLOSED  # ... but the trial's verdict stands
    assert (await client.fetch("GET", "/p/boot", ())).status == 200


async def test_a_late_success_from_before_the_outage_does_not_close_an_open_breaker() -> None:
    origin = Gated(slow_status=200)
    client, breaker = one_region(origin)
    slow = asyncio.create_task(client.fetch("GET", "/slow", ()))
    await origin.entered.wait()
    with pytest.raises(OriginError):
        await client.fetch("GET", "/down", ())
    origin.release.set()
    assert (await slow).status == 200
    assert breaker.state is BreakerState.OPEN  # it stays open for its whole open time
    with pytest.raises(OriginUnavailable):
        await client.fetch("GET", "/p/boot", ())
