"""Segments and experiments through real edges in front of the real store."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from edge import EdgeApp, server_config
from edge.exposure import EXPOSURES
from edge.segments import segment_serializer
from storefront import segment_key
from tests.conftest import LiveOrigin, free_port
from tests.edge.live import serve
from wrangler_py.apps import edge_settings
from wrangler_py.config import load_config

EXPERIMENTS = """
[[segments]]
name = "returning"
cookie = ["returning", "vip"]

[[segments]]
name = "new"

[[experiments]]
id = "hero"
paths = ["/"]
variants = [{ name = "control", weight = 1 }, { name = "b", weight = 1 }]
"""
ARM_B_TITLE = "Weatherproof, tested the hard way"  # content/en/home/home.md, [experiments.hero.b]


def arm_of(page: httpx.Response) -> str:
    return "b" if ARM_B_TITLE in page.text else "control"


def welcomed(page: httpx.Response) -> bool:
    return "Welcome back to" in page.text


@pytest.fixture
def store(live_origin: Callable[..., LiveOrigin]) -> LiveOrigin:
    return live_origin(seed_products=10, extra=EXPERIMENTS)


@pytest.fixture
def second_edge(store: LiveOrigin) -> Iterator[str]:
    """Another edge node (own memory, own process state) in front of the same origin."""
    settings = edge_settings(load_config(store.config_path)).model_copy(update={"origin": store.url})
    port = free_port()
    server, thread = serve(server_config(EdgeApp(settings), host="127.0.0.1", port=port))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


def test_arms_are_sticky_split_the_cache_only_where_a_page_varies_and_agree_across_nodes(
    store: LiveOrigin, second_edge: str
) -> None:
    edge = store.edge_url
    first = httpx.get(edge + "/")
    sid = first.cookies["es_sid"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,64}", sid)
    assert "HttpOnly" in first.headers["set-cookie"] and "SameSite=Lax" in first.headers["set-cookie"]
    arms = {}
    for _ in range(24):  # enough shoppers that both arms show up (1 in 2**24 chance they don't)
        shopper = httpx.get(edge + "/")
        arms[shopper.cookies["es_sid"]] = arm_of(shopper)
    assert set(arms.values()) == {"control", "b"}
    for sticky, arm in list(arms.items())[:6]:
        cookies = {"es_sid": sticky}
        again = httpx.get(edge + "/", cookies=cookies)
        assert arm_of(again) == arm and "set-cookie" not in again.headers  # sticky, nothing new to set
        assert arm_of(httpx.get(second_edge + "/", cookies=cookies)) == arm  # the same on another node
        forged = httpx.get(edge + "/", cookies=cookies, headers={"x-exp-hero": "b" if arm == "control" else "control"})
        assert arm_of(forged) == arm  # the client does not pick its arm
    # Home varies on the arm: the cache holds one copy per arm, so repeat views of either are hits.
    caches = [httpx.get(edge + "/", cookies={"es_sid": s}).headers["x-cache"] for s in list(arms)[:10]]
    assert caches.count("HIT") == len(caches)
    # A product page does not depend on the experiment: shoppers in both arms share one cached copy.
    handle = httpx.get(edge + "/api/products").json()["items"][0]["handle"]
    views = [httpx.get(f"{edge}/p/{handle}", cookies={"es_sid": s}) for s in arms]
    assert [v.headers["x-cache"] for v in views[1:]] == ["HIT"] * (len(views) - 1)


def test_a_signed_segment_cookie_is_honoured_and_a_forged_one_ignored(store: LiveOrigin) -> None:
    edge = store.edge_url
    secret = segment_key((store.data_dir / "secret_key").read_text().strip().encode()).encode()
    signed = segment_serializer(secret).dumps({"s": "returning", "n": 1})
    forged = segment_serializer(b"not-the-shop-secret").dumps({"s": "returning", "n": 1})
    assert welcomed(httpx.get(edge + "/", cookies={"es_seg": signed}))
    assert not welcomed(httpx.get(edge + "/", cookies={"es_seg": forged}))
    assert not welcomed(httpx.get(edge + "/", cookies={"es_seg": "returning"}))
    assert not welcomed(httpx.get(edge + "/", headers={"x-segment": "returning"}))
    assert not welcomed(httpx.get(edge + "/"))


def test_exposure_is_recorded_once_per_shopper_and_only_where_the_page_depends_on_the_arm(
    store: LiveOrigin, second_edge: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="edgeshop.experiments")
    handle = httpx.get(second_edge + "/api/products").json()["items"][0]["handle"]
    assert "set-cookie" not in httpx.get(f"{second_edge}/p/{handle}").headers  # no experiment runs there
    before = sum(EXPOSURES.labels("hero", arm)._value.get() for arm in ("control", "b"))
    sid = httpx.get(second_edge + "/").cookies["es_sid"]  # a new id: not counted until it comes back
    assert sum(EXPOSURES.labels("hero", arm)._value.get() for arm in ("control", "b")) == before
    for _ in range(3):
        httpx.get(second_edge + "/", cookies={"es_sid": sid})  # shown: the home page varies on the arm
        httpx.get(f"{second_edge}/p/{handle}", cookies={"es_sid": sid})
    assert sum(EXPOSURES.labels("hero", arm)._value.get() for arm in ("control", "b")) == before + 1
    lines = [r.getMessage() for r in caplog.records if "experiment_exposure" in r.getMessage()]
    assert len(lines) == 1 and '"experiment": "hero"' in lines[0] and sid not in lines[0]
