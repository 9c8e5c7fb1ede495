"""Fresh L1 hits as ready-to-write bytes, for the server's HTTP protocol to answer without the ASGI layer.

The ASGI path (`edge.app`) decides everything: host allow-list, key normalization, Vary, freshness, purges.
Each time it serves a fresh record from L1 it remembers the request target exactly as it arrived (Host and
target bytes) together with that record. A later request with the same bytes is answered from here only
while nothing could change the answer:

- the same record object is still in L1: a hard purge removed it, a soft purge or a refresh replaced it;
- the record is fresh (its `Freshness` was worked out at storing time), or within stale-while-revalidate
  while the ASGI path's background refresh of it is running, and no purge-bus gap distrusts it;
- the request carries nothing the ASGI path would treat differently: no Cache-Control or Pragma, no
  conditional or range header, no Authorization, no body, one Host, and the same values for what the
  response varies on.

Anything else goes through ASGI, which answers it and, when the answer is a fresh hit again, re-arms this.

Observability costs nothing here while it is off: with metrics off (`edge.observability.metrics`) no clock is
read; with the access log off no line, id or draw is made. A sampled access line (`WireLog`) gets the request
id it was logged under as an `X-Request-Id` field, spliced into the answer's tail. Requests to be traced never
get here: the server protocol sends them through ASGI (`edge.tracing.EdgeTracing.sampled_on_wire`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from time import perf_counter
from typing import Protocol

from cdn import CacheRecord, Headers, MemoryStore
from edge.forwarding import downstream_headers
from edge.metrics import REQUESTS, ROUTE_HEADER, Cell, RequestStats

# Request fields that make the ASGI path answer differently from a plain fresh hit (RFC 9111 §5.2.1, §4.3.2;
# RFC 9110 §13-14), or that mean a body or a protocol switch follows.
_ASGI_ONLY = frozenset(
    {b"cache-control", b"pragma", b"if-none-match", b"if-modified-since", b"if-match", b"if-unmodified-since",
     b"if-range", b"range", b"authorization", b"content-length", b"transfer-encoding", b"expect", b"upgrade"}
)  # fmt: skip
_HIT_TAIL = b'\r\nx-cache: HIT\r\nserver-timing: edge;desc="l1 wire";dur=0.0\r\n'
_STALE_TAIL = b'\r\nx-cache: STALE\r\nserver-timing: edge;desc="l1 wire";dur=0.0\r\n'
_CLOSE = b"connection: close\r\n"
# RFC 9110 §8.6: no Content-Length on these (a 304's would have to be the full representation's).
BODYLESS = frozenset({204, 304})
_END = b"\r\n"
# Variants of one URL kept side by side (one per market or language, say): more would mean a linear scan.
MAX_VARIANTS = 8
# Longer Host + target bytes are left to the ASGI path: one cached page must not be reachable through an
# unbounded number of remembered spellings (tracking parameters are dropped from the key, not the route).
MAX_ROUTE_BYTES = 2048


@dataclass(slots=True)
class _Ready:
    route: bytes  # Host and target exactly as they arrived
    primary_key: str
    key: str
    record: CacheRecord
    head: bytes  # status line and header lines up to the value of Age
    body: bytes
    fresh_until: float
    age_base: float  # Age = now - age_base (RFC 9111 §4.2.3, with the initial age folded in)
    vary: tuple[tuple[bytes, str], ...]  # (request field, its normalized value when stored)
    vary_names: tuple[str, ...]
    derives: bool  # varies on a field the edge decides (computed per request, only for such variants)
    stale_until: float  # the end of stale-while-revalidate (RFC 5861 §3); fresh_until when none is allowed
    # The end of the header block for the Age last sent: Age changes once a second, not per request.
    age: int = -1
    tail: bytes = b""
    # When L1 is next told this record is in use (once a second is enough for its LRU order).
    touch_at: float = 0.0
    # A page stitched at the edge is ready-made only for shoppers without these cookies (`name=` bytes):
    # for them every include is its fallback; anyone else needs the ASGI path to fetch their fragments.
    unless_cookies: tuple[bytes, ...] = ()
    # Where this entry's answers are counted, bound when it is armed: GET and HEAD, fresh and stale
    # (index 2 * stale + head); none while metrics are off.
    cells: tuple[Cell, ...] = ()
    template: str | None = None  # the origin's route template, for the access log

    @property
    def size(self) -> int:
        return len(self.route) + len(self.head) + len(self.body) + len(self.key) + len(self.primary_key) + 256


def _never() -> bool:
    return False


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


def _normalize(value: str) -> str:
    # The same normalization `cdn.policy.vary_values` applies when storing (RFC 9111 §4.1).
    return ",".join(part.strip() for part in " ".join(value.split()).split(","))


# (host, target, request fields, peer address) -> the values the edge decides for some request fields, or
# None when the request must take the ASGI path (the edge has a cookie to set on it, say)
Derive = Callable[[bytes, bytes, list[tuple[bytes, bytes]], str], dict[str, str] | None]
# (method, host, target, status, seconds, cache label, route template, request fields, peer) -> the request id
# the access line was written with (edge.access_log); called only for a sampled line.
WireLog = Callable[[str, bytes, bytes, int, float, str, str | None, list[tuple[bytes, bytes]], str], str]
# (request fields, peer) -> whether the request is to be traced, and so must take the ASGI path.
TraceGate = Callable[[list[tuple[bytes, bytes]], str], bool]


class CacheState(Protocol):
    """What the wire path asks the cache driver (`edge.cache.EdgeCache`) on every answer."""

    def vary_names(self, primary_key: str) -> tuple[str, ...]: ...

    def revalidating(self, key: str) -> bool: ...

    def trusted_since(self, now: float) -> float: ...


class WireHits:
    """Maps request bytes to ready-to-write fresh hits, bounded by bytes like L1 itself.

    A plain dict, evicting the oldest entries first: a hot page that is evicted comes back after one ASGI
    hit, and a dict lookup is what keeps this path cheap. Bodies are shared with L1, not copied; an entry
    whose record has left L1 keeps its body alive until it is next asked for or displaced, so the edge holds
    at most twice `max_bytes` of bodies.
    """

    def __init__(
        self,
        l1: MemoryStore,
        max_bytes: int,
        cache: CacheState,
        fields: bytes = b"",
        derive: Derive | None = None,
        derived_names: frozenset[str] = frozenset(),
        stats: RequestStats | None = REQUESTS,
        access_sample: float = 0.0,
        sampled: Callable[[], bool] | None = None,
        logged: WireLog | None = None,
        trace_gate: TraceGate | None = None,
    ) -> None:
        self._l1 = l1
        self._stats = stats  # None: metrics are off
        # The access log: the share of answers logged (0.0: off), whether this one is, and what writes the line.
        self._access_sample = access_sample if logged is not None and sampled is not None else 0.0
        self._access_sampled: Callable[[], bool] = sampled or _never
        self._logged = logged
        # Read by the server protocol before it asks for an answer; None while tracing is off.
        self.trace_gate = trace_gate
        # Request fields the edge decides itself (the market): Vary on them is matched on the edge's decision.
        self._derive = derive
        self._derived_names = derived_names
        self._fields = fields  # header lines every answer of this edge carries (X-Edge-Region)
        self._vary_names = cache.vary_names
        self._revalidating = cache.revalidating
        self._ready: dict[bytes, tuple[_Ready, ...]] = {}
        self._bytes = 0
        self._max_bytes = max_bytes
        self._trusted_since = cache.trusted_since

    def __len__(self) -> int:
        return len(self._ready)

    def remember(
        self,
        host: bytes,
        target: bytes,
        primary_key: str,
        key: str,
        record: CacheRecord,
        *,
        as_sent: tuple[Headers, bytes] | None = None,
        unless_cookies: tuple[str, ...] = (),
    ) -> None:
        """Arm the wire path for these request bytes with a record the ASGI path just served as fresh.

        `as_sent`: the headers and body actually sent when they differ from the record's (a page whose
        includes all fell back), valid only for requests without any of `unless_cookies`.
        """
        fresh = record.freshness
        if record.stale or fresh.always_revalidate:
            return  # soft-purged, or no-cache (RFC 9111 §5.2.2.4): every use is the origin's to confirm
        route = host + b" " + target
        if len(route) > MAX_ROUTE_BYTES:
            return
        known = self._ready.get(route, ())
        if any(ready.record is record for ready in known):
            return
        response = record.response
        sent_headers, body = as_sent if as_sent is not None else (response.headers, response.body)
        lines = [_status_line(response.status)]
        lines.extend(
            f"{name}: {value}\r\n".encode("latin-1")
            for name, value in downstream_headers(sent_headers)
            if name != ROUTE_HEADER  # the origin's word to this edge, never the shopper's
        )
        lines.append(self._fields)
        if response.status not in BODYLESS:
            lines.append(b"content-length: %d\r\n" % len(body))
        lines.append(b"age: ")
        names = tuple(name for name, _ in response.vary)
        template = next((v for k, v in response.headers if k == ROUTE_HEADER), None)
        cells: tuple[Cell, ...] = ()
        if self._stats is not None:
            label, cell = self._stats.route(template), self._stats.cell
            cells = tuple(
                cell(label, method, response.status, cache)
                for cache in ("l1_hit", "stale")
                for method in ("GET", "HEAD")
            )
        ready = _Ready(
            route=route,
            primary_key=primary_key,
            key=key,
            record=record,
            head=b"".join(lines),
            body=body,
            fresh_until=fresh.fresh_until,
            age_base=fresh.response_time - fresh.initial_age,
            vary=tuple((name.encode("latin-1"), value) for name, value in response.vary),
            vary_names=names,
            derives=any(name in self._derived_names for name in names),
            stale_until=fresh.fresh_until + (0.0 if fresh.strict else fresh.stale_while_revalidate),
            unless_cookies=tuple(f"{name}=".encode("latin-1") for name in unless_cookies),
            cells=cells,
            template=template,
        )
        if ready.size > self._max_bytes:
            return  # larger than the whole table: the ASGI path keeps answering it
        # Variants stored under other Vary names are what the ASGI path no longer looks up: dropped.
        others = tuple(v for v in known if v.key != key and v.vary_names == names)[: MAX_VARIANTS - 1]
        self._replace(route, (ready, *others))
        while self._bytes > self._max_bytes:
            oldest = next(iter(self._ready))
            self._replace(oldest, ())

    def _replace(self, route: bytes, variants: tuple[_Ready, ...]) -> None:
        self._bytes -= sum(ready.size for ready in self._ready.pop(route, ()))
        if variants:
            self._ready[route] = variants
            self._bytes += sum(ready.size for ready in variants)

    def forget_all(self) -> None:
        self._ready.clear()
        self._bytes = 0

    def answer(
        self, target: bytes, headers: list[tuple[bytes, bytes]], *, head: bool, keep_alive: bool, peer: str = ""
    ) -> list[bytes] | None:
        """The response's bytes for a GET or HEAD, or None when the ASGI path must answer it."""
        started = perf_counter() if self._stats is not None or self._access_sample else 0.0
        host = None
        cookies = b""
        for name, value in headers:
            if name in _ASGI_ONLY:
                return None
            if name == b"host":
                if host is not None:
                    return None  # two Host fields: let the ASGI path (and its allow-list) deal with it
                host = value
            elif name == b"cookie":
                cookies += value
        if host is None:
            return None
        variants = self._ready.get(host + b" " + target)
        if variants is None:
            return None
        derived: dict[str, str] | None = None
        for ready in variants:
            if not ready.vary:
                break
            if ready.derives:
                if self._derive is None:
                    continue
                if derived is None:
                    derived = self._derive(host, target, headers, peer)
                    if derived is None:
                        return None
            if _vary_matches(ready.vary, headers, derived):
                break
        else:
            return None
        if ready.unless_cookies and cookies and any(name in cookies for name in ready.unless_cookies):
            return None  # this shopper has a fragment to fetch
        now = time.time()
        record = ready.record
        stale = now >= ready.fresh_until
        if (
            (stale and now > ready.stale_until)
            or self._l1.peek(ready.key) is not record
            or record.response.response_time < self._trusted_since(now)
            or self._vary_names(ready.primary_key) != ready.vary_names  # the origin changed what it varies on
        ):
            self._replace(ready.route, tuple(variant for variant in variants if variant is not ready))
            return None
        if stale and not self._revalidating(ready.key):
            return None  # the ASGI path answers it and starts the refresh; this entry serves while that runs
        if now >= ready.touch_at:
            self._l1.lookup(ready.key)  # keeps a page that is only ever served from here hot in L1
            ready.touch_at = now + 1.0
        if self._access_sample and self._access_sampled():
            return self._logged_answer(ready, host, target, headers, head, keep_alive, stale, now, started, peer)
        if stale or not keep_alive:
            outcome = _STALE_TAIL if stale else _HIT_TAIL
            tail = b"%d%s%s%s" % (int(now - ready.age_base), outcome, b"" if keep_alive else _CLOSE, _END)
            if ready.cells:
                ready.cells[2 * stale + head].observe(perf_counter() - started)
            return [ready.head, tail] if head else [ready.head, tail, ready.body]
        age = int(now - ready.age_base)
        if age != ready.age:
            ready.age, ready.tail = age, b"%d%s%s" % (age, _HIT_TAIL, _END)
        if ready.cells:
            ready.cells[head].observe(perf_counter() - started)
        return [ready.head, ready.tail] if head else [ready.head, ready.tail, ready.body]

    def _logged_answer(
        self,
        ready: _Ready,
        host: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        head: bool,
        keep_alive: bool,
        stale: bool,
        now: float,
        started: float,
        peer: str,
    ) -> list[bytes]:
        """A sampled answer: counted, logged, and told the request id it was logged under."""
        seconds = perf_counter() - started
        if ready.cells:
            ready.cells[2 * stale + head].observe(seconds)
        status = ready.record.response.status
        cache = "stale" if stale else "l1_hit"
        assert self._logged is not None
        method = "HEAD" if head else "GET"
        request_id = self._logged(method, host, target, status, seconds, cache, ready.template, headers, peer)
        outcome = _STALE_TAIL if stale else _HIT_TAIL
        tail = b"%d%sx-request-id: %s\r\n%s%s" % (
            int(now - ready.age_base),
            outcome,
            request_id.encode("latin-1"),
            b"" if keep_alive else _CLOSE,
            _END,
        )
        return [ready.head, tail] if head else [ready.head, tail, ready.body]


def _vary_matches(
    vary: tuple[tuple[bytes, str], ...], headers: list[tuple[bytes, bytes]], derived: dict[str, str] | None
) -> bool:
    for field, stored in vary:
        decided = derived.get(field.decode("latin-1")) if derived is not None else None
        if decided is not None:
            value = decided
        else:
            value = ", ".join(value.decode("latin-1") for name, value in headers if name == field)
        if _normalize(value) != stored:
            return False
    return True


__all__ = ["WireHits"]
