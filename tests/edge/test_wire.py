"""`edge.wire.WireHits`: ready-to-write hits, and every reason to hand a request back to the ASGI path."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from cdn import CacheRecord, MemoryStore, StoredResponse
from edge.wire import WireHits

HOST = b"shop.example"


@dataclass
class FakeCache:
    """The three questions WireHits asks the cache driver, with set answers."""

    names: tuple[str, ...] = ()
    refreshing: frozenset[str] = frozenset()
    trusted_from: float = 0.0

    def vary_names(self, primary_key: str) -> tuple[str, ...]:
        return self.names

    def revalidating(self, key: str) -> bool:
        return key in self.refreshing

    def trusted_since(self, now: float) -> float:
        return self.trusted_from


PLAIN = [(b"host", HOST), (b"user-agent", b"test"), (b"accept", b"*/*")]


def record(
    *,
    max_age: int = 60,
    age_at_store: float = 0.0,
    vary: tuple[tuple[str, str], ...] = (),
    cache_control: str = "",
) -> CacheRecord:
    now = time.time()
    cache_control = cache_control or f"public, s-maxage={max_age}"
    headers = (("content-type", "text/html"), ("cache-control", cache_control), ("etag", '"v1"'))
    response = StoredResponse(200, headers, b"<p>page</p>", now - age_at_store, now - age_at_store, vary)
    return CacheRecord(response, ("url:/p", "product:1"), now + 3600)


def wire_with(stored: CacheRecord, cache: FakeCache | None = None) -> tuple[WireHits, MemoryStore]:
    l1 = MemoryStore(2**20)
    asyncio.run(l1.set("k", stored, time.time()))
    wire = WireHits(l1, 2**20, cache or FakeCache())
    wire.remember(HOST, b"/p", "p", "k", stored)
    return wire, l1


def test_a_remembered_fresh_hit_is_the_whole_response() -> None:
    wire, _ = wire_with(record(age_at_store=3))
    parts = wire.answer(b"/p", PLAIN, head=False, keep_alive=True)
    assert parts is not None
    raw = b"".join(parts)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK" and body == b"<p>page</p>"
    fields = dict(line.split(": ", 1) for line in lines[1:])
    assert fields["content-length"] == "11" and fields["x-cache"] == "HIT" and fields["etag"] == '"v1"'
    assert fields["age"] in ("3", "4")  # RFC 9111 §4.2.3, counted from when it was fetched
    assert "connection" not in fields


def test_head_gets_the_same_fields_without_a_body_and_close_says_so() -> None:
    wire, _ = wire_with(record())
    head = b"".join(wire.answer(b"/p", PLAIN, head=True, keep_alive=True) or [])
    assert head.endswith(b"\r\n\r\n") and b"content-length: 11\r\n" in head
    closing = b"".join(wire.answer(b"/p", PLAIN, head=False, keep_alive=False) or [])
    assert b"\r\nconnection: close\r\n" in closing and closing.endswith(b"<p>page</p>")
    head_closing = b"".join(wire.answer(b"/p", PLAIN, head=True, keep_alive=False) or [])
    assert b"\r\nconnection: close\r\n" in head_closing and head_closing.endswith(b"\r\n\r\n")  # RFC 9110 §9.3.2


@pytest.mark.parametrize(
    "extra",
    [
        (b"cache-control", b"no-cache"),  # RFC 9111 §5.2.1.4
        (b"pragma", b"no-cache"),  # §5.4
        (b"if-none-match", b'"v1"'),  # a 304 is the ASGI path's job (§4.3.2)
        (b"if-modified-since", b"Tue, 01 Jan 2030 00:00:00 GMT"),
        (b"range", b"bytes=0-1"),
        (b"authorization", b"Bearer x"),
        (b"content-length", b"3"),
        (b"host", b"other.example"),  # a second Host
    ],
)
def test_anything_the_asgi_path_treats_differently_goes_there(extra: tuple[bytes, bytes]) -> None:
    wire, _ = wire_with(record())
    assert wire.answer(b"/p", [*PLAIN, extra], head=False, keep_alive=True) is None


def test_only_the_exact_target_and_host_are_answered() -> None:
    wire, _ = wire_with(record())
    assert wire.answer(b"/p?utm_source=x", PLAIN, head=False, keep_alive=True) is None
    assert wire.answer(b"/p", [(b"host", b"SHOP.example")], head=False, keep_alive=True) is None
    assert wire.answer(b"/p", [(b"user-agent", b"no host")], head=False, keep_alive=True) is None


def test_a_purge_or_a_replacement_in_l1_ends_it() -> None:
    stored = record()
    wire, l1 = wire_with(stored)
    asyncio.run(l1.purge_tags(["product:1"], soft=True))  # soft: the record is replaced by a stale copy
    assert wire.answer(b"/p", PLAIN, head=False, keep_alive=True) is None
    wire.remember(HOST, b"/p", "p", "k", stored)
    asyncio.run(l1.purge_tags(["product:1"], soft=False))
    assert wire.answer(b"/p", PLAIN, head=False, keep_alive=True) is None
    assert len(wire) == 0


def test_a_record_past_its_freshness_is_not_answered() -> None:
    wire, _ = wire_with(record(max_age=60, age_at_store=61))
    assert wire.answer(b"/p", PLAIN, head=False, keep_alive=True) is None


def test_a_purge_bus_gap_distrusts_what_was_fetched_before_it() -> None:
    wire, _ = wire_with(record(), FakeCache(trusted_from=time.time() + 1))
    assert wire.answer(b"/p", PLAIN, head=False, keep_alive=True) is None


def test_variants_are_kept_side_by_side_and_matched_on_their_vary_values() -> None:
    english, german = record(vary=(("accept-language", "en"),)), record(vary=(("accept-language", "de"),))
    l1 = MemoryStore(2**20)
    asyncio.run(l1.set("k-en", english, time.time()))
    asyncio.run(l1.set("k-de", german, time.time()))
    wire = WireHits(l1, 2**20, FakeCache(names=("accept-language",)))
    wire.remember(HOST, b"/p", "p", "k-en", english)
    wire.remember(HOST, b"/p", "p", "k-de", german)
    assert wire.answer(b"/p", [*PLAIN, (b"accept-language", b"en")], head=False, keep_alive=True) is not None
    assert wire.answer(b"/p", [*PLAIN, (b"accept-language", b"de")], head=False, keep_alive=True) is not None
    assert wire.answer(b"/p", [*PLAIN, (b"accept-language", b"fr")], head=False, keep_alive=True) is None
    assert wire.answer(b"/p", PLAIN, head=False, keep_alive=True) is None  # absent is a value of its own


def test_the_table_is_bounded_by_bytes_and_drops_the_oldest_first() -> None:
    l1 = MemoryStore(2**20)
    wire = WireHits(l1, 4096, FakeCache())
    for n in range(40):
        stored = record()
        asyncio.run(l1.set(f"k{n}", stored, time.time()))
        wire.remember(HOST, f"/p{n}".encode(), f"p{n}", f"k{n}", stored)
    assert 0 < len(wire) < 40
    assert wire.answer(b"/p39", PLAIN, head=False, keep_alive=True) is not None
    assert wire.answer(b"/p0", PLAIN, head=False, keep_alive=True) is None


def test_no_cache_and_soft_purged_records_are_never_armed() -> None:
    wire, _ = wire_with(record(cache_control="public, no-cache, s-maxage=60"))  # RFC 9111 §5.2.2.4
    assert wire.answer(b"/p", PLAIN, head=False, keep_alive=True) is None
    wire, _ = wire_with(record().soft_purged())
    assert wire.answer(b"/p", PLAIN, head=False, keep_alive=True) is None


def test_a_variant_stored_under_other_vary_names_than_the_cache_now_uses_is_not_answered() -> None:
    old = record()  # stored before the origin started to send Vary: X-Market
    wire, _ = wire_with(old, FakeCache(names=("x-market",)))
    assert wire.answer(b"/p", PLAIN, head=False, keep_alive=True) is None


def test_long_routes_are_left_to_the_asgi_path_and_routes_count_towards_the_bound() -> None:
    stored = record()
    l1 = MemoryStore(2**20)
    asyncio.run(l1.set("k", stored, time.time()))
    wire = WireHits(l1, 2**20, FakeCache())
    long_target = b"/p?utm_x=" + b"a" * 4096  # tracking parameters: one key, endless spellings
    wire.remember(HOST, long_target, "p", "k", stored)
    assert len(wire) == 0
    small = WireHits(l1, 8192, FakeCache())
    for n in range(50):
        small.remember(HOST, b"/p?utm_x=%d&pad=%s" % (n, b"b" * 1500), "p", "k", stored)
    assert 0 < len(small) < 8  # each ~1.5 KB route is counted, though the body is one shared object


def test_within_stale_while_revalidate_it_answers_stale_only_while_a_refresh_runs() -> None:
    swr = record(cache_control="public, s-maxage=10, stale-while-revalidate=60", age_at_store=20)
    idle = FakeCache()
    wire, _ = wire_with(swr, idle)
    assert wire.answer(b"/p", PLAIN, head=False, keep_alive=True) is None  # the ASGI path starts the refresh
    refreshing = FakeCache(refreshing=frozenset({"k"}))
    wire, _ = wire_with(swr, refreshing)
    stale = b"".join(wire.answer(b"/p", PLAIN, head=False, keep_alive=True) or [])
    assert b"\r\nx-cache: STALE\r\n" in stale and stale.endswith(b"<p>page</p>")  # RFC 5861 §3
    too_old = record(cache_control="public, s-maxage=10, stale-while-revalidate=60", age_at_store=80)
    wire, _ = wire_with(too_old, refreshing)
    assert wire.answer(b"/p", PLAIN, head=False, keep_alive=True) is None
    strict = record(cache_control="public, s-maxage=10, must-revalidate, stale-while-revalidate=60", age_at_store=20)
    wire, _ = wire_with(strict, refreshing)
    assert wire.answer(b"/p", PLAIN, head=False, keep_alive=True) is None  # RFC 9111 §5.2.2.2


def test_with_metrics_off_a_hit_is_answered_the_same_and_counted_nowhere() -> None:
    stored = record()
    l1 = MemoryStore(2**20)
    asyncio.run(l1.set("k", stored, time.time()))
    counted, silent = WireHits(l1, 2**20, FakeCache()), WireHits(l1, 2**20, FakeCache(), stats=None)
    for wire in (counted, silent):
        wire.remember(HOST, b"/p", "p", "k", stored)
    answers = [wire.answer(b"/p", PLAIN, head=False, keep_alive=True) for wire in (counted, silent)]
    assert answers[0] == answers[1] and answers[0] is not None
    assert silent._ready[HOST + b" /p"][0].cells == ()


def test_a_sampled_access_line_is_written_and_its_request_id_sent() -> None:
    stored = record()
    l1 = MemoryStore(2**20)
    asyncio.run(l1.set("k", stored, time.time()))
    logged: list[tuple[object, ...]] = []

    def log(*line: object) -> str:
        logged.append(line)
        return "req-7"

    draws = iter([True, False])
    wire = WireHits(l1, 2**20, FakeCache(), access_sample=0.5, sampled=lambda: next(draws), logged=log)
    wire.remember(HOST, b"/p", "p", "k", stored)
    sampled = wire.answer(b"/p?q=1", PLAIN, head=False, keep_alive=True)
    assert sampled is None  # another target: not this entry, and nothing logged for it
    sampled = wire.answer(b"/p", PLAIN, head=True, keep_alive=True)
    unsampled = wire.answer(b"/p", PLAIN, head=False, keep_alive=True)
    assert sampled is not None and unsampled is not None
    assert b"x-request-id: req-7\r\n" in b"".join(sampled) and b"x-request-id" not in b"".join(unsampled)
    assert b"".join(sampled).endswith(b"\r\n\r\n")  # HEAD: the fields and no body
    [(method, host, target, status, _seconds, cache, route, headers, _peer)] = logged
    assert (method, host, target, status, cache, route, headers) == ("HEAD", HOST, b"/p", 200, "l1_hit", None, PLAIN)
