"""RFC 9111 caching policy for a shared cache, as pure functions over `cdn.messages` types.

No I/O, no clocks (time is an argument), so every rule is a unit test. Where the RFCs leave a choice
(a SHOULD or a MAY), the careful shared-cache reading is taken and the reason is noted next to it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from cdn.cache_control import INVALID, CacheControl, parse_cache_control
from cdn.headers import if_none_match_hits
from cdn.messages import Headers, StoredResponse, header, header_lines

# RFC 9111 §4.2.2: status codes that are heuristically cacheable (RFC 9110 §15.1).
HEURISTICALLY_CACHEABLE = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
# Status codes this cache understands well enough to store (RFC 9111 §3: "the response status code is final
# and understood"). 206 is left out until range requests are implemented (§3.3-3.4).
UNDERSTOOD = frozenset({200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501})
# RFC 9111 §4.2.2 suggests 10% of the time since Last-Modified; a cap keeps a long-unchanged page from being
# served for weeks without a question to the origin.
HEURISTIC_FRACTION = 0.1
HEURISTIC_CAP_SECONDS = 86_400.0
# RFC 9111 §3.2: these describe the stored representation, not the 304, and are kept from the stored response.
_KEEP_ON_FRESHEN = frozenset({"content-length", "content-encoding", "transfer-encoding", "content-range"})


def http_date(value: str | None) -> float | None:
    """An HTTP-date as a timestamp; None when absent or invalid (RFC 9110 §5.6.7)."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


@dataclass(frozen=True, slots=True)
class ResponseDirectives:
    """The directives that govern a response in this cache, parsed once."""

    cache_control: CacheControl
    # RFC 9213 CDN-Cache-Control, else Surrogate-Control (as Fastly and Varnish honour it), else None
    targeted: CacheControl | None


def response_directives(headers: Headers) -> ResponseDirectives:
    cache_control = parse_cache_control(header_lines(headers, "cache-control"))
    for name in ("cdn-cache-control", "surrogate-control"):
        lines = header_lines(headers, name)
        if lines:
            targeted = parse_cache_control(lines)
            if name == "surrogate-control":
                # `content="ESI/1.0"` asks for processing, it says nothing about caching (Edge Architecture
                # Specification): alone, it must not displace Cache-Control and its stale windows.
                targeted = replace(targeted, extensions=tuple(e for e in targeted.extensions if e != "content"))
            # RFC 9213 §2.1: an invalid targeted field is ignored, falling back to Cache-Control.
            if targeted.present:
                return ResponseDirectives(cache_control, targeted)
    return ResponseDirectives(cache_control, None)


class NotStored(enum.Enum):
    """Why a response is not stored; each names the rule."""

    METHOD = "only GET responses are stored"
    STATUS = "status not final or not understood (RFC 9111 §3)"
    NO_STORE = "no-store (RFC 9111 §5.2.1.5, §5.2.2.5)"
    PRIVATE = "private (RFC 9111 §5.2.2.7)"
    SET_COOKIE = "Set-Cookie: per-shopper state is never shared"
    AUTHORIZATION = "request had Authorization (RFC 9111 §3.5)"
    VARY_STAR = "Vary: * can never be matched (RFC 9111 §4.1)"
    NOT_CACHEABLE = "no explicit freshness, validator or heuristic (RFC 9111 §3)"


def not_storable(
    method: str, request_headers: Headers, status: int, response_headers: Headers, directives: ResponseDirectives
) -> NotStored | None:
    """None when a shared cache may store the response, else the reason it may not (RFC 9111 §3)."""
    if method != "GET":
        return NotStored.METHOD
    if status not in UNDERSTOOD:
        return NotStored.STATUS
    request_cc = parse_cache_control(header_lines(request_headers, "cache-control"))
    cc, targeted = directives.cache_control, directives.targeted
    # Cache-Control's no-store and private stay binding even under a targeted field: a page marked private
    # by the application must never be shared because a CDN header said otherwise.
    if request_cc.no_store or cc.no_store or (targeted is not None and targeted.no_store):
        return NotStored.NO_STORE
    if cc.private or (targeted is not None and targeted.private):
        return NotStored.PRIVATE
    if header(response_headers, "set-cookie") is not None:
        return NotStored.SET_COOKIE
    governing = targeted or cc
    if header(request_headers, "authorization") is not None and not (
        governing.public or governing.s_maxage is not None or governing.must_revalidate
    ):
        return NotStored.AUTHORIZATION
    vary = header(response_headers, "vary")
    if vary is not None and "*" in (v.strip() for v in vary.split(",")):
        return NotStored.VARY_STAR
    explicit = (
        governing.public
        or governing.max_age is not None
        or governing.s_maxage is not None
        or (targeted is None and header(response_headers, "expires") is not None)
    )
    if not explicit and status not in HEURISTICALLY_CACHEABLE:
        return NotStored.NOT_CACHEABLE
    return None


def freshness_lifetime(status: int, headers: Headers, directives: ResponseDirectives) -> float:
    """Seconds the response is fresh for a shared cache (RFC 9111 §4.2.1; RFC 9213 §2.1 first)."""
    targeted = directives.targeted
    if targeted is not None:
        # RFC 9213: the targeted field replaces Cache-Control for this cache; s-maxage still beats max-age.
        for value in (targeted.s_maxage, targeted.max_age):
            if value is not None:
                return 0.0 if value == INVALID else float(value)
    cc = directives.cache_control
    for value in (cc.s_maxage, cc.max_age):  # §4.2.1: s-maxage first in a shared cache, then max-age
        if value is not None:
            return 0.0 if value == INVALID else float(value)
    expires_raw = header(headers, "expires")
    if expires_raw is not None:
        expires, date = http_date(expires_raw), http_date(header(headers, "date"))
        # §5.3: an invalid Expires (e.g. "0") means already expired.
        if expires is None or date is None:
            return 0.0
        return max(0.0, expires - date)
    return heuristic_freshness(status, headers, cc)


def heuristic_freshness(status: int, headers: Headers, cc: CacheControl) -> float:
    """RFC 9111 §4.2.2: only for heuristically cacheable statuses (or `public`), from Last-Modified only."""
    if status not in HEURISTICALLY_CACHEABLE and not cc.public:
        return 0.0
    last_modified = http_date(header(headers, "last-modified"))
    date = http_date(header(headers, "date"))
    if last_modified is None or date is None or last_modified >= date:
        return 0.0
    return min((date - last_modified) * HEURISTIC_FRACTION, HEURISTIC_CAP_SECONDS)


def current_age(entry: StoredResponse, now: float) -> float:
    """RFC 9111 §4.2.3, with the clock readings taken when the response was fetched."""
    date = http_date(header(entry.headers, "date"))
    age_raw = header(entry.headers, "age")
    age_value = float(age_raw) if age_raw is not None and age_raw.strip().isdecimal() else 0.0
    apparent_age = max(0.0, entry.response_time - date) if date is not None else 0.0
    response_delay = entry.response_time - entry.request_time
    corrected_initial_age = max(apparent_age, age_value + response_delay)
    return corrected_initial_age + (now - entry.response_time)


def _staleness_windows(directives: ResponseDirectives) -> tuple[float, float]:
    """(stale-while-revalidate, stale-if-error) seconds, from the targeted field else Cache-Control (RFC 5861)."""
    source = directives.targeted or directives.cache_control
    swr = source.stale_while_revalidate
    sie = source.stale_if_error
    return (float(swr) if swr and swr > 0 else 0.0, float(sie) if sie and sie > 0 else 0.0)


@dataclass(frozen=True, slots=True)
class Freshness:
    """What a stored response's own fields say about its freshness, worked out once when it is stored.

    Every input is fixed at storing time (the fields and the two clock readings), so a hit only adds `now`:
    re-parsing Cache-Control and Date on every hit was half the cost of one.
    """

    lifetime: float  # §4.2.1
    initial_age: float  # §4.2.3 corrected_initial_age
    response_time: float
    always_revalidate: bool  # §5.2.2.4 no-cache without field names
    strict: bool  # §4.2.4 with §5.2.2.2/.8/.10: never served stale without validation
    forbids_stale_on_error: bool  # must-revalidate / proxy-revalidate (§5.2.2.2), whatever stale-if-error says
    stale_while_revalidate: float  # RFC 5861 §3
    stale_if_error: float  # RFC 5861 §4

    def age(self, now: float) -> float:
        return self.initial_age + (now - self.response_time)

    @property
    def fresh_until(self) -> float:
        """The wall-clock second at which the response stops being fresh (age reaches lifetime)."""
        return self.response_time + self.lifetime - self.initial_age


def freshness(entry: StoredResponse) -> Freshness:
    directives = response_directives(entry.headers)
    governing = directives.targeted or directives.cache_control
    swr, sie = _staleness_windows(directives)
    # §5.2.2.10 gives s-maxage proxy-revalidate's meaning too; an explicit RFC 5861 window next to it is the
    # origin saying which staleness it does allow, so that window wins.
    implicit_strict = governing.s_maxage is not None and not swr and not sie
    forbids = governing.must_revalidate or governing.proxy_revalidate
    return Freshness(
        lifetime=freshness_lifetime(entry.status, entry.headers, directives),
        initial_age=current_age(entry, entry.response_time),
        response_time=entry.response_time,
        always_revalidate=governing.no_cache and not governing.no_cache_fields,
        strict=forbids or implicit_strict,
        forbids_stale_on_error=forbids,
        stale_while_revalidate=swr,
        stale_if_error=sie,
    )


class Verdict(enum.Enum):
    FRESH = "serve it"
    STALE_WHILE_REVALIDATE = "serve it now, revalidate in the background"
    REVALIDATE = "ask the origin first (conditionally); serve it if the origin fails within stale-if-error"


@dataclass(frozen=True, slots=True)
class Evaluation:
    verdict: Verdict
    age: float
    freshness: float


_NO_REQUEST_DIRECTIVES = parse_cache_control([])


def _request_directives(request_headers: Headers) -> tuple[CacheControl, bool]:
    """The request's Cache-Control, and whether it asks for no-cache (Pragma counts without Cache-Control, §5.4)."""
    lines = header_lines(request_headers, "cache-control")
    request_cc = parse_cache_control(lines) if lines else _NO_REQUEST_DIRECTIVES
    pragma = header(request_headers, "pragma") if not request_cc.present else None
    return request_cc, request_cc.no_cache or (pragma is not None and "no-cache" in pragma)


def evaluate(entry: StoredResponse, request_headers: Headers, now: float, known: Freshness | None = None) -> Evaluation:
    """What to do with a stored response that matched a request (RFC 9111 §4.2, §4.2.4, §5.2.1; RFC 5861 §3).

    `known` is the entry's `freshness()` when the caller kept it; otherwise it is worked out here.
    """
    fresh = known or freshness(entry)
    lifetime = fresh.lifetime
    age = fresh.age(now)
    request_cc, no_cache = _request_directives(request_headers)
    if no_cache:
        return Evaluation(Verdict.REVALIDATE, age, lifetime)  # §5.2.1.4 (and Pragma, §5.4)
    if fresh.always_revalidate:
        return Evaluation(Verdict.REVALIDATE, age, lifetime)  # §5.2.2.4: stored, but always validated
    if request_cc.max_age is not None and age > max(request_cc.max_age, 0):
        return Evaluation(Verdict.REVALIDATE, age, lifetime)  # §5.2.1.1
    if request_cc.max_age == 0 and age > 0:
        return Evaluation(Verdict.REVALIDATE, age, lifetime)
    fresh_for = lifetime - age
    if request_cc.min_fresh is not None and fresh_for < request_cc.min_fresh:
        return Evaluation(Verdict.REVALIDATE, age, lifetime)  # §5.2.1.3
    if fresh_for > 0:
        return Evaluation(Verdict.FRESH, age, lifetime)
    staleness = -fresh_for
    # §4.2.4 with §5.2.2.2/.8: must-revalidate and proxy-revalidate forbid serving stale unvalidated, even to a
    # client that sends max-stale.
    if fresh.strict:
        return Evaluation(Verdict.REVALIDATE, age, lifetime)
    if request_cc.max_stale is not None and staleness <= request_cc.max_stale:
        return Evaluation(Verdict.FRESH, age, lifetime)  # §5.2.1.2: the client accepts it
    if staleness <= fresh.stale_while_revalidate:
        return Evaluation(Verdict.STALE_WHILE_REVALIDATE, age, lifetime)
    return Evaluation(Verdict.REVALIDATE, age, lifetime)


def usable_on_error(entry: StoredResponse, now: float, grace: float = 0.0, known: Freshness | None = None) -> bool:
    """Whether a stale entry may answer when the origin failed (RFC 5861 §4; `grace` is the operator's floor)."""
    fresh = known or freshness(entry)
    if fresh.forbids_stale_on_error:
        return False  # RFC 9111 §5.2.2.2: MUST NOT serve stale, even on error
    staleness = fresh.age(now) - fresh.lifetime
    return staleness <= max(fresh.stale_if_error, grace)


def vary_names(response_headers: Headers) -> tuple[str, ...]:
    vary = header(response_headers, "vary")
    if not vary:
        return ()
    return tuple(sorted({name.strip().lower() for name in vary.split(",") if name.strip()}))


def _normalize(value: str | None) -> str:
    # RFC 9111 §4.1: values may be normalized (whitespace, list syntax) before comparing.
    return "" if value is None else ",".join(part.strip() for part in " ".join(value.split()).split(","))


def vary_values(names: tuple[str, ...], request_headers: Headers) -> Headers:
    return tuple((name, _normalize(header(request_headers, name))) for name in names)


def vary_matches(entry: StoredResponse, request_headers: Headers) -> bool:
    """RFC 9111 §4.1: every header named by Vary has the same (normalized) value as at storing time."""
    return all(_normalize(header(request_headers, name)) == value for name, value in entry.vary)


def revalidation_headers(entry: StoredResponse) -> Headers:
    """Validators for a conditional request to the origin (RFC 9111 §4.3.1)."""
    conditions: list[tuple[str, str]] = []
    etag = header(entry.headers, "etag")
    if etag:
        conditions.append(("if-none-match", etag))
    last_modified = header(entry.headers, "last-modified")
    if last_modified:
        conditions.append(("if-modified-since", last_modified))
    return tuple(conditions)


def freshen(
    entry: StoredResponse, not_modified_headers: Headers, request_time: float, response_time: float
) -> StoredResponse:
    """Update a stored response with a 304's header fields (RFC 9111 §3.2, §4.3.4)."""
    replaced = {name for name, _ in not_modified_headers if name not in _KEEP_ON_FRESHEN}
    kept = tuple((name, value) for name, value in entry.headers if name not in replaced)
    updated = kept + tuple((name, value) for name, value in not_modified_headers if name in replaced)
    return StoredResponse(
        status=entry.status,
        headers=updated,
        body=entry.body,
        request_time=request_time,
        response_time=response_time,
        vary=entry.vary,
    )


def client_not_modified(request_headers: Headers, entry: StoredResponse) -> bool:
    """Answer a client's conditional GET with 304 (RFC 9111 §4.3.2, RFC 9110 §13.2.2: If-None-Match wins)."""
    if_none_match = header(request_headers, "if-none-match")
    if if_none_match is not None:
        etag = header(entry.headers, "etag")
        return etag is not None and if_none_match_hits(if_none_match, etag)
    since = http_date(header(request_headers, "if-modified-since"))
    last_modified = http_date(header(entry.headers, "last-modified"))
    return since is not None and last_modified is not None and last_modified <= since


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def invalidated_urls(method: str, status: int, url: str, response_headers: Headers) -> list[str]:
    """RFC 9111 §4.4: a non-error answer to an unsafe method invalidates the target URI, and Location and
    Content-Location when they are on the same origin (so another host cannot purge ours)."""
    if method not in UNSAFE_METHODS or not 200 <= status < 400:
        return []
    target = urlsplit(url)
    urls = [url]
    for name in ("location", "content-location"):
        value = header(response_headers, name)
        if value:
            absolute = urljoin(url, value)
            parts = urlsplit(absolute)
            if (parts.scheme, parts.netloc) == (target.scheme, target.netloc):
                urls.append(absolute)
    return urls
