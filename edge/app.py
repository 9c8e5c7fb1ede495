"""The edge node as a pure ASGI app: normalize, cache (GET/HEAD) or pass through, purge endpoint."""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
import posixpath
import random
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from http.cookiejar import CookieJar
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send

from cdn import (
    CacheRecord,
    CacheStore,
    CdnPurgeError,
    CdnPurger,
    CloudflarePurger,
    CloudFrontPurger,
    FastlyPurger,
    Headers,
    MemoryStore,
    Purge,
    PurgeBus,
    RedisStore,
    TieredStore,
    connect_redis,
    header,
    header_lines,
    invalidated_urls,
    normalize_host,
    normalize_query,
    primary_key,
    redact_capabilities,
    vary_names,
)
from edge.access_log import AccessLog
from edge.cache import Answer, CacheRequest, EdgeCache, home_unavailable, problem_answer, url_tag
from edge.cookies import cookie_header, cookie_names
from edge.exposure import ExposureLog
from edge.forwarding import downstream_headers, for_browser_only, upstream_headers
from edge.fragment_client import FragmentClient
from edge.fragments import Include, Part, for_shopper, includes_in, stitch, stitched_headers
from edge.geo import Geo, GeoResolver, client_ip
from edge.handlers import (
    KV,
    EdgeContext,
    EdgeRequest,
    HandlerChain,
    HandlerFailed,
    MemoryKV,
    Redirect,
    RedisKV,
    Registered,
    Respond,
    Rewrite,
    load_handler,
)
from edge.markets import MARKET_HEADER, MarketResolver
from edge.metrics import CACHE_RESULTS, HANDLER_ROUTE, ORIGIN_STATES, REQUESTS, ROUTE_HEADER, observe_purge_lag
from edge.origin_client import OriginClient, OriginError, OriginTimeout, OriginUnavailable, relay_buffer_limit
from edge.personalize import Personalization, Personalizer
from edge.relay import BodyTooLarge, ClientGone, read_body, relay, request_body
from edge.request_context import CURRENT, REQUEST_ID_HEADER, RequestContext, new_request_id, proxy_request_id
from edge.routing import OriginRouter
from edge.rules import compile_rules
from edge.segments import SEGMENT_HEADER
from edge.settings import CdnPurgeSettings, EdgeSettings
from edge.tracing import TRACE_FIELDS, EdgeTracing, end_server_span, failed, trace_ids
from edge.wire import BODYLESS, WireHits

PURGE_PATH = "/_edge/purge"
# The edge's own health, for load balancers and Kubernetes probes: alive, and able to serve (its config is
# loaded, and some origin passes its active health probes: never the passive breaker, see `_health`). Answered
# before anything else (the host allow-list included: a probe names the pod's address), never cached, never
# passed to an origin, and not traced.
HEALTH_PATH = "/_edge/healthz"
READY_PATH = "/_edge/readyz"
_PROBES = {HEALTH_PATH: False, "/healthz": False, READY_PATH: True, "/readyz": True}  # path -> readiness?
# Prometheus metrics, for admin networks or the admin token only: to anyone else the path does not exist.
METRICS_PATH = "/metrics"
# Paths of the origin's own endpoints, which the edge never passes on however they are spelled (`/eu/metrics`,
# `/%6detrics`, a handler's rewrite): an origin that takes the edge's address for an admin's would serve its
# metrics to shoppers, and its readiness checks are not for the public. The edge answers them itself.
_ORIGIN_OWN = frozenset({METRICS_PATH, "/healthz", "/readyz"})
# Requests that came through a proxy: its connecting address is the proxy's, never an admin's.
_FORWARDED_FIELDS = frozenset({"x-forwarded-for", "forwarded", "x-real-ip"})
# The edge's own endpoints are labelled by their path in the request metrics (`edge.metrics`).
_OWN_ROUTES = {path: REQUESTS.own_route(path) for path in (PURGE_PATH, *_PROBES, METRICS_PATH)}
_UNTRACED = frozenset(_PROBES) | {METRICS_PATH}
REQUESTS.own_route(HANDLER_ROUTE)
# Where the request came from, which market and segment it is for, and its experiment arms are the edge's to
# say, never the client's: the origin varies shared pages on them.
MARKET_PREFIX_HEADER = "x-market-prefix"
_EDGE_DECIDED = frozenset({MARKET_HEADER, MARKET_PREFIX_HEADER, SEGMENT_HEADER})
_EXPERIMENT_PREFIX = "x-exp-"
# Fields a fragment request must not carry over from the page request: they were about the page.
_NOT_FOR_FRAGMENTS = frozenset({"if-none-match", "if-modified-since", "range", "if-range", "accept-encoding",
                                "cache-control", "pragma"})  # fmt: skip
MAX_PURGE_BODY = 2**20
_HEX = re.compile(rb"[0-9a-f]+")
# Parsed pages kept for stitching: bodies are shared with L1, so this costs little beyond the parts.
_MEMO_PAGES = 256
_MEMO_BODY_BYTES = 512 * 1024

log = logging.getLogger("edgeshop.edge")


def external_purger(settings: CdnPurgeSettings, http: httpx.AsyncClient) -> CdnPurger:
    token = settings.token.get_secret_value() if settings.token else ""
    match settings.provider:
        case "fastly":
            return FastlyPurger(http, service_id=settings.service_id, token=token)
        case "cloudflare":
            return CloudflarePurger(http, zone_id=settings.zone_id, token=token)
        case "cloudfront":
            import boto3  # only operators on CloudFront pay for importing it

            return CloudFrontPurger(boto3.client("cloudfront"), distribution_id=settings.distribution_id)


def _always_trusted(now: float) -> float:
    return 0.0


_PRIVATE = (("cache-control", "private, no-store"),)
_HANDLED = (ROUTE_HEADER, HANDLER_ROUTE)


def _responded(action: Respond) -> Answer:
    """A handler's own answer: private unless it says otherwise, and never stored by this edge."""
    body = action.body.encode() if isinstance(action.body, str) else action.body
    fields = {"content-type": action.content_type, "cache-control": "private, no-store"}
    for name, value in action.headers.items():
        if "\r" not in name + value and "\n" not in name + value:
            fields[name.lower()] = value
    fields[ROUTE_HEADER] = HANDLER_ROUTE
    return Answer(action.status, tuple(fields.items()), body, "PASS")


def _own(answer: Answer, path: str) -> Answer:
    """An answer of the edge's own endpoint at `path`, labelled as such for the metrics."""
    return replace(answer, headers=(*answer.headers, (ROUTE_HEADER, _OWN_ROUTES[path])))


_UNSETTABLE = _EDGE_DECIDED | TRACE_FIELDS | {"host", "content-length", "transfer-encoding", "connection", "cookie",
                                              REQUEST_ID_HEADER}  # fmt: skip


def _own_endpoint(path: str) -> str | None:
    """The origin endpoint of `_ORIGIN_OWN` that `path` (raw, as it would be sent) reaches there, or None: decoded
    once (as the origin's server does), dot segments and repeated or trailing slashes removed, as the client or
    origin server may do, so that no spelling of one slips through."""
    if "metrics" not in path and "z" not in path and "%" not in path:
        return None  # most paths: one scan
    canonical = "/" + posixpath.normpath(unquote(path)).lstrip("/")
    return canonical if canonical in _ORIGIN_OWN else None


def _origin_path(path: str) -> str | None:
    """A handler's rewrite as a path on the origin, or None: anything that could reach another host (no leading
    "/", "//host", "@host" after the base URL) is refused and logged."""
    if not path.startswith("/") or path.startswith(("//", "/\\")):
        log.warning("edge handler rewrite to %r refused: a path on the origin starts with a single '/'", path)
        return None
    return quote(path, safe="/%-._~!$&'()*+,;=:@")


def _rewrite_fields(fields: Mapping[str, str]) -> Headers:
    kept = []
    for name, value in fields.items():
        lowered = name.lower()
        if lowered in _UNSETTABLE or lowered.startswith(_EXPERIMENT_PREFIX) or any(c in name + value for c in "\r\n"):
            log.warning("edge handler rewrite header %r refused", name)
            continue
        kept.append((lowered, value))
    return tuple(kept)


class _Located:
    """Where the shopper is: worked out at most once per request, and only when something asks."""

    __slots__ = ("_app", "_geo", "_headers", "_ip", "_peer", "_query")

    def __init__(self, app: EdgeApp, headers: Headers, peer: str, query: str) -> None:
        self._app, self._headers, self._peer, self._query = app, headers, peer, query
        self._geo: Geo | None = None
        self._ip: str | None = None

    def shopper_ip(self) -> str:
        if self._ip is None:
            trusted = self._app.trusted(self._peer)
            forwarded_for = header_lines(self._headers, "x-forwarded-for")
            self._ip = client_ip(self._peer, forwarded_for, self._app.trusted) if trusted else self._peer
        return self._ip

    def geo(self) -> Geo:
        if self._geo is None:
            self._geo = self._app.geo.resolve(
                self._headers,
                peer_trusted=self._app.trusted(self._peer),
                client_ip=self.shopper_ip(),
                query=self._query,
            )
        return self._geo

    def country(self) -> str | None:
        return self.geo().country


class _NoCookies(CookieJar):
    """A jar that keeps nothing (httpx uses a CookieJar given to it as is)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Any) -> None:
        return None


class EdgeApp:
    def __init__(
        self,
        settings: EdgeSettings,
        *,
        http: httpx.AsyncClient | None = None,
        node_id: str | None = None,
        project_dir: Path | None = None,
        tracer_provider: TracerProvider | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """`tracer_provider`: spans go there (tests: an in-memory exporter) instead of to the provider built from
        `settings.observability`, which only a tracing edge builds; the caller shuts a given one down.
        `rng`: what access-log and trace sampling draw from (tests: a seeded one)."""
        self.settings = settings
        observability = settings.observability
        node_id = node_id or secrets.token_hex(6)
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.origin_timeout_seconds, connect=2.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=False,
        )
        # A proxy must not have a cookie jar: one shopper's Set-Cookie would ride along on every later request.
        self._http.cookies = _NoCookies()  # type: ignore[assignment]
        self.l1 = MemoryStore(settings.cache.l1_max_bytes)
        store: CacheStore = self.l1
        self.bus: PurgeBus | None = None
        self._redis: list[Redis] = []
        kv: KV = MemoryKV()
        if settings.redis_url:
            l2_client = connect_redis(settings.redis_url)
            store = TieredStore(self.l1, RedisStore(l2_client, prefix=settings.redis_prefix))
            self.bus = PurgeBus(
                redis=Redis.from_url(settings.redis_url, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0)),
                node=node_id,
                apply_locally=self._purge_l1,
                prefix=settings.redis_prefix,
                max_lag=settings.max_purge_lag_seconds,
            )
            self._redis = [l2_client, self.bus.redis]
            kv = RedisKV(l2_client, settings.redis_prefix)
        trusted_since = self.bus.trusted_since if self.bus else _always_trusted
        self.router = OriginRouter.from_settings(settings)
        # The same few proxy and shopper addresses come back all the time; parsing and CIDR scans add up.
        self.trusted: Callable[[str], bool] = functools.lru_cache(maxsize=4096)(self._trusted_peer)
        draw = (rng or random.Random()).random
        self._own_provider = False
        self.tracing: EdgeTracing | None = None
        if tracer_provider is None and observability.tracing:
            from edge.telemetry import tracer_provider as build_provider  # the SDK loads only for tracing edges

            tracer_provider, self._own_provider = build_provider(observability, region=self.router.here,
                                                                 node_id=node_id), True  # fmt: skip
        if tracer_provider is not None:
            self.tracing = EdgeTracing(
                tracer_provider, sample_ratio=observability.sample_ratio, trusted=self.trusted, draw=draw
            )
        tracer = self.tracing.tracer if self.tracing is not None else None
        self.access = AccessLog(observability.access_log_sample, draw=draw)
        self._metrics = observability.metrics
        self.origin = OriginClient(self._http, self.router, tracer=tracer)
        self.fragments = FragmentClient(self.router, max_bytes=settings.fragments.max_fragment_bytes, tracer=tracer)
        self._region = self.router.here
        self._edge_region = [(b"x-edge-region", self._region.encode())]
        self._home_paths = tuple(settings.home_paths)
        self.markets = MarketResolver(settings.markets, settings.default_market)
        self.geo = GeoResolver(settings.geo)
        self.cache = EdgeCache(
            store,
            self.origin,
            grace=settings.cache.grace_seconds,
            coalesce_wait=settings.cache.coalesce_wait_seconds,
            max_object_bytes=settings.cache.max_object_bytes,
            trusted_since=trusted_since,
            l1=self.l1 if store is not self.l1 else None,
            tracer=tracer,
        )
        ORIGIN_STATES.watch(self.router)
        self._parsed: dict[int, tuple[bytes, list[Part]]] = {}
        self.personalizer = Personalizer(settings.personalization)
        self.exposures = ExposureLog(self._redis[0] if self._redis else None, settings.redis_prefix)
        experiment_headers = self.personalizer.experiments.headers
        # The wire path compares Vary on these with the edge's decision: an unassigned experiment is "".
        self._undecided = dict.fromkeys((*_EDGE_DECIDED, *experiment_headers), "")
        registered = [
            Registered(h.module, load_handler(h.module, project_dir), tuple(h.paths), h.on_error, h.timeout_ms / 1000)
            for h in settings.handlers
        ]
        self.handlers = HandlerChain([*compile_rules(settings.rules), *registered], kv)
        # Fresh L1 hits as bytes, for `edge.server.WireHitProtocol`; unused when served by another ASGI server.
        self.wire = WireHits(
            self.l1,
            settings.cache.l1_max_bytes,
            self.cache,
            fields=b"".join(b"%s: %s\r\n" % f for f in self._edge_region),
            derive=self.derived_fields,
            derived_names=frozenset(self._undecided),
            stats=REQUESTS if self._metrics else None,
            access_sample=self.access.sample,
            sampled=self.access.sampled,
            logged=self._wire_logged,
            trace_gate=self.tracing.sampled_on_wire if self.tracing is not None else None,
        )
        self._allowed_hosts = frozenset(normalize_host(h) for h in settings.allowed_hosts)
        self._tracking = frozenset(p.lower() for p in settings.cache.tracking_params)
        self._tracking_prefixes = tuple(p.lower() for p in settings.cache.tracking_prefixes)
        self.cdn = external_purger(settings.cdn_purge, self._http) if settings.cdn_purge else None
        token = settings.purge_token.get_secret_value() if settings.purge_token else ""
        self._purge_token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets are not proxied (yet)
        started = time.perf_counter()
        peer = (scope.get("client") or ("", 0))[0]
        request_id = (proxy_request_id(scope["headers"]) if self.trusted(peer) else None) or new_request_id()
        observed = RequestContext(request_id, self._region)
        token = CURRENT.set(observed)
        try:
            if self.tracing is not None and scope["path"] not in _UNTRACED:
                recorded, observed.parent = self.tracing.decide(scope, peer)
                if recorded:
                    await self._traced(self.tracing, scope, receive, send, started, peer, observed)
                    return
            answer = await self._answer(scope, receive, peer, observed)
            await self._send(send, receive, answer, started, scope, observed)
        finally:
            CURRENT.reset(token)

    async def _traced(
        self,
        tracing: EdgeTracing,
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
        peer: str,
        observed: RequestContext,
    ) -> None:
        """A recorded request, within its server span (edge.tracing), which is current while it is served."""
        # The route template (`http.route`) is set when the origin names it; the path only with its capabilities
        # (cart and order ids) redacted, as the access log has it.
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        attributes = {"http.request.method": scope["method"], "url.path": redact_capabilities(raw_path),
                      "url.scheme": scope.get("scheme", "http"), "edgeshop.region": self._region}  # fmt: skip
        parent = observed.parent if observed.parent is not None else Context()
        span, current = tracing.start(scope["method"], parent, attributes)
        observed.recording = True
        if (ids := trace_ids(span)) is not None:
            observed.trace_id, observed.span_id = ids
        token = attach(current)
        try:
            answer = await self._answer(scope, receive, peer, observed)
            await self._send(send, receive, answer, started, scope, observed)
        except BaseException as exc:
            failed(span, type(exc).__name__)
            raise
        finally:
            detach(token)
            end_server_span(span, scope["method"], observed.route, observed.status, observed.cache, observed.market)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        if self.bus is not None:
            self.bus.start()
        self.router.start(self._http)

    async def stop(self) -> None:
        """Stop listening for purges, finish background refreshes, close every connection pool, send the last
        spans."""
        if self.bus is not None:
            await self.bus.stop()
        await self.router.stop()
        self.geo.close()
        await self.cache.drain()
        await self.handlers.drain()
        await self.exposures.drain()
        await self.fragments.aclose()
        await self._http.aclose()
        for client in self._redis:
            await client.aclose()
        if self._own_provider and self.tracing is not None:
            shutdown = getattr(self.tracing.provider, "shutdown", None)
            if shutdown is not None:
                await asyncio.to_thread(shutdown)  # flushes to the collector: not on the event loop

    async def _purge_l1(self, purge: Purge) -> None:
        observe_purge_lag(purge.published_at, time.time())
        if purge.everything:
            await self.l1.clear()
            self.wire.forget_all()
        else:
            await self.l1.purge_tags(purge.tags, soft=purge.soft)

    def _trusted_peer(self, peer: str) -> bool:
        try:
            address = ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.settings.trusted_proxies)

    async def _answer(self, scope: Scope, receive: Receive, peer: str, observed: RequestContext) -> Answer:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        probe = _PROBES.get(path)
        if probe is not None:
            return _own(self._health(ready=probe), path)
        # What only the edge decides is dropped from the client's fields while they are decoded anyway, with
        # markets and experiments configured or not: the origin varies shared pages on them, so a client's own
        # values would split the cache without bound.
        headers: Headers = tuple(
            (name, v.decode("latin-1"))
            for k, v in scope["headers"]
            if (name := k.decode("latin-1").lower()) not in _EDGE_DECIDED and not name.startswith(_EXPERIMENT_PREFIX)
        )
        scheme = scope.get("scheme", "http")
        host = normalize_host(header(headers, "host") or "", scheme)
        if self._allowed_hosts and host not in self._allowed_hosts:
            return problem_answer(421, "Misdirected request", "this host is not served here")
        method = scope["method"]
        if path == PURGE_PATH:
            return _own(await self._purge(method, headers, receive, host, scheme), path)
        if (endpoint := _own_endpoint(path)) is not None:
            return self._own_endpoint(endpoint, peer, headers)
        raw_query = scope.get("query_string", b"").decode("latin-1")
        query = normalize_query(raw_query, tracking=self._tracking, tracking_prefixes=self._tracking_prefixes)
        located = _Located(self, headers, peer, raw_query)
        cookie = cookie_header(headers)  # read once: nothing below may change it (rewrites cannot set cookies)
        origin_path, market, prefix = path, "", ""
        if self.markets:
            choice = self.markets.resolve(host, path, cookie, located.country)
            origin_path, market, prefix = choice.path, choice.market, choice.prefix
            observed.market = market
            if prefix and (endpoint := _own_endpoint(origin_path)) is not None:
                return self._own_endpoint(endpoint, peer, headers)
            headers = (*headers, (MARKET_HEADER, market), *(((MARKET_PREFIX_HEADER, prefix),) if prefix else ()))
        personal = self.personalizer.personalize(origin_path, market, cookie, raw_query)
        headers += personal.headers
        context: EdgeContext | None = None
        if self.handlers and self.handlers.covers(routed := unquote(origin_path)):
            request = EdgeRequest(method, host, routed, query, dict(reversed(headers)),
                                  located.shopper_ip(), located.geo(), market, personal.segment,
                                  {e.settings.id: arm for e, arm in personal.arms}, path, prefix)  # fmt: skip
            try:
                action, context = await self.handlers.run(request)
            except HandlerFailed:
                failed = problem_answer(503, "This page is unavailable", "please try again in a moment")
                return replace(failed, headers=(*failed.headers, _HANDLED))
            if isinstance(action, Respond):
                return self._decorated(_responded(action), personal, context)
            if isinstance(action, Redirect):
                redirect = Answer(action.status, (("location", action.location), *_PRIVATE, _HANDLED), b"", "PASS")
                return self._decorated(redirect, personal, context)
            if isinstance(action, Rewrite) and (rewritten := _origin_path(action.path)) is not None:
                origin_path = rewritten
                path = prefix + rewritten if prefix else rewritten  # the cache key is the rewritten URL
                query = query if action.query is None else normalize_query(action.query)
                headers += _rewrite_fields(action.headers)
                if (endpoint := _own_endpoint(origin_path)) is not None:
                    return self._own_endpoint(endpoint, peer, headers)
        home = None
        if (
            self.markets
            and self.settings.regions
            and (method not in ("GET", "HEAD") or self._is_home_path(origin_path))
        ):
            home = self.markets.home_region.get(market)
        target = origin_path + ("?" + query if query else "")

        def forwarded() -> Headers:
            return upstream_headers(headers, client_ip=peer, scheme=scheme, host=host, trusted=self.trusted(peer),
                                    request_id=observed.request_id)  # fmt: skip

        if method not in ("GET", "HEAD"):
            answer = await self._pass(method, host, target, headers, forwarded(), receive, home, prefix)
            return self._decorated(answer, personal, context)
        cache_request = CacheRequest(
            method=method,
            primary_key=primary_key("GET", host, path, query),
            target=target,
            headers=headers,
            upstream=forwarded,
            home=home,
            traced=observed.recording,
        )
        answer = await self.cache.handle(cache_request)
        parts = self._includes(answer) if answer.status == 200 and answer.rest is None else None
        if parts is not None:
            stitched = self._stitched(answer, parts, forwarded, market, cookie)
            # Every include fell back for want of a cookie: the same bytes for every shopper without one.
            cached = answer.cached if stitched.rest is None else None
            if cached is not None and self._wire_may_answer(answer, context, personal, origin_path):
                needs = sorted({p.requires_cookie for p in parts if isinstance(p, Include) and p.requires_cookie})
                sent = (stitched.headers, stitched.body)
                self._remember_wire(scope, cache_request.primary_key, cached, sent, tuple(needs))
            answer = stitched
        elif answer.cached is not None and self._wire_may_answer(answer, context, personal, origin_path):
            self._remember_wire(scope, cache_request.primary_key, answer.cached)
        if personal.arms:
            self._expose(personal, answer.headers, market)
        return self._decorated(answer, personal, context)

    def _wire_may_answer(
        self, answer: Answer, context: EdgeContext | None, personal: Personalization, path: str
    ) -> bool:
        """Whether repeats of this request can be answered below ASGI: no handler runs on it, no cookie is
        due, and the page does not depend on an experiment (its exposures are recorded on this path)."""
        if context is not None or personal.set_cookies:
            return False
        names = vary_names(answer.headers)
        if any(name.startswith(_EXPERIMENT_PREFIX) for name in names):
            return False
        # Where an experiment runs, a shopper without a sticky id must get one: the wire path only notices
        # that when it works out the edge-decided fields, which it does for pages that vary on one of them.
        return not self.personalizer.experiments.on_path(path) or any(name in self._undecided for name in names)

    def _includes(self, answer: Answer) -> list[Part] | None:
        """The page's parts when it is to be stitched. A cached page's body is the same object hit after hit,
        so its parse is kept (bounded) instead of scanning the markup on every request."""
        body = answer.body
        memo = self._parsed.get(id(body))
        if memo is not None and memo[0] is body:
            return memo[1]
        parts = includes_in(body, answer.headers, max_includes=self.settings.fragments.max_includes)
        if parts is not None and len(body) <= _MEMO_BODY_BYTES:
            if len(self._parsed) >= _MEMO_PAGES:
                self._parsed.pop(next(iter(self._parsed)))
            self._parsed[id(body)] = (body, parts)
        return parts

    def _stitched(
        self, answer: Answer, parts: list[Part], forwarded: Callable[[], Headers], market: str, cookie: str | None
    ) -> Answer:
        """The shared page with this shopper's fragments in it: private from here on, and streamed."""
        headers = stitched_headers(answer.headers)
        parts = for_shopper(parts, cookie_names(cookie))
        if not any(isinstance(part, Include) for part in parts):
            body = b"".join(part for part in parts if isinstance(part, bytes))
            return replace(answer, headers=headers, body=body, cached=None)
        home = self.markets.home_region.get(market) if self.markets and self.settings.regions else None
        budget = self.settings.fragments.timeout_ms / 1000

        async def fetch(src: str) -> bytes | None:
            upstream = tuple(item for item in forwarded() if item[0] not in _NOT_FOR_FRAGMENTS)
            region = home if self._is_home_path(src.split("?", 1)[0]) else None
            return await self.fragments.fetch(
                src, (*upstream, ("accept-encoding", "identity")), home=region, budget_seconds=budget
            )

        return replace(answer, headers=headers, body=b"", cached=None, rest=stitch(parts, fetch, budget_seconds=budget))

    def _expose(self, personal: Personalization, response_headers: Headers, market: str) -> None:
        """An arm counts as seen when the response depends on it (names its header in Vary)."""
        names = vary_names(response_headers)
        if not names or personal.sticky_id is None or not personal.returning:
            # A sticky id minted just now is not counted: clients that never return cookies (bots, most
            # scripts) would otherwise be a new exposure, and a remembered key, on every request.
            return
        for experiment, arm in personal.arms:
            if experiment.header in names:
                self.exposures.exposed(personal.sticky_id, experiment.settings.id, arm, market, personal.segment)

    @staticmethod
    def _decorated(answer: Answer, personal: Personalization, context: EdgeContext | None) -> Answer:
        """The shopper's own Set-Cookie fields and the handlers' header changes, on this answer only."""
        if not personal.set_cookies and (context is None or not (context.response_headers or
                                                                  context.removed_response_headers)):  # fmt: skip
            return answer
        headers = answer.headers
        if context is not None:
            removed = frozenset(context.removed_response_headers)
            headers = (*(item for item in headers if item[0] not in removed), *context.response_headers)
        if personal.set_cookies:
            # A cookie for one shopper: no cache past the edge may keep this answer for others.
            headers = for_browser_only(headers) + tuple(("set-cookie", value) for value in personal.set_cookies)
        return replace(answer, headers=headers, cached=None)

    def _is_home_path(self, path: str) -> bool:
        """Whole segments of the decoded path (`/%63art` is `/cart`, `/cartoons` is not), as the origin routes."""
        decoded = unquote(path)
        return any(decoded == home or decoded.startswith(home + "/") for home in self._home_paths)

    def derived_fields(
        self, host: bytes, target: bytes, raw: list[tuple[bytes, bytes]], peer: str
    ) -> dict[str, str] | None:
        """The request fields the edge decides itself, for the wire path to match Vary on them as ASGI would;
        None when this request needs the ASGI path (it gets a cookie of its own, say)."""
        headers = tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in raw)
        cookie = cookie_header(headers)
        path, _, query = target.decode("latin-1").partition("?")
        decided = dict(self._undecided)
        market = ""
        if self.markets:
            located = _Located(self, headers, peer, query)
            choice = self.markets.resolve(normalize_host(host.decode("latin-1")), path, cookie, located.country)
            path, market = choice.path, choice.market
            decided[MARKET_HEADER], decided[MARKET_PREFIX_HEADER] = market, choice.prefix
        personal = self.personalizer.personalize(path, market, cookie, query)
        if personal.set_cookies:
            return None
        decided.update(personal.headers)
        return decided

    def _wire_logged(
        self,
        method: str,
        host: bytes,
        target: bytes,
        status: int,
        seconds: float,
        cache: str,
        route: str | None,
        raw: list[tuple[bytes, bytes]],
        peer: str,
    ) -> str:
        """The access line of a sampled wire hit (`edge.wire`), with what ASGI would have known; its request id."""
        trusted = self.trusted(peer)
        request_id = (proxy_request_id(raw) if trusted else None) or new_request_id()
        trace_id = None
        if trusted:
            parent = next((value for name, value in raw if name == b"traceparent"), b"")
            if len(parent) >= 55 and _HEX.fullmatch(parent[3:35]):
                trace_id = parent[3:35].decode("ascii")  # the proxy's trace: recorded there, if it sampled it
        path, _, query = target.decode("latin-1").partition("?")
        market = None
        if self.markets:
            headers = tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in raw)
            located = _Located(self, headers, peer, query)
            market = self.markets.resolve(normalize_host(host.decode("latin-1")), path, cookie_header(headers),
                                          located.country).market  # fmt: skip
        self.access.write(method=method, path=path, status=status, seconds=seconds, cache=cache, route=route,
                          market=market, region=self._region, request_id=request_id, trace_id=trace_id)  # fmt: skip
        return request_id

    def _remember_wire(
        self,
        scope: Scope,
        primary: str,
        cached: tuple[str, CacheRecord],
        as_sent: tuple[Headers, bytes] | None = None,
        unless_cookies: tuple[str, ...] = (),
    ) -> None:
        hosts = [value for name, value in scope["headers"] if name == b"host"]
        if len(hosts) == 1:
            raw_path, query = scope.get("raw_path") or scope["path"].encode(), scope.get("query_string", b"")
            target = raw_path + b"?" + query if query else raw_path
            self.wire.remember(hosts[0], target, primary, *cached, as_sent=as_sent, unless_cookies=unless_cookies)

    async def _pass(
        self,
        method: str,
        host: str,
        target: str,
        headers: Headers,
        forwarded: Headers,
        receive: Receive,
        home: str | None,
        prefix: str = "",
    ) -> Answer:
        limit = self.settings.max_request_body_bytes
        too_large = problem_answer(413, "Request body too large", f"at most {limit} bytes")
        declared = (header(headers, "content-length") or "").strip()
        if declared.isdecimal() and int(declared) > limit:
            return too_large  # said up front: refused before a byte is read or sent on
        try:
            body = await request_body(receive, limit)
            if not isinstance(body, bytes) and declared.isdecimal():
                forwarded += (("content-length", declared),)  # streamed on with its length, not re-chunked
            fetched = await self.origin.fetch(
                method, target, forwarded, body, buffer_limit=relay_buffer_limit, home=home
            )
        except BodyTooLarge:
            return too_large
        except ClientGone:
            return problem_answer(400, "Request incomplete", "the client went away before its body arrived")
        except OriginError as exc:
            # Carts and orders live in one region: while it is down they wait, rather than land elsewhere. A
            # timeout may have been processed, so it stays a 504-like answer; a refused connection sent nothing.
            if isinstance(exc, OriginUnavailable) or (home is not None and not isinstance(exc, OriginTimeout)):
                return home_unavailable()
            if isinstance(exc, OriginTimeout):
                return problem_answer(504, "The store did not answer in time", "please check before trying again")
            return problem_answer(502, "The store is not answering", "please try again in a moment")
        # RFC 9111 §4.4: an unsafe request that succeeded invalidates what we hold for its URL (and Location).
        # The keys are the shopper's URLs: with a market prefix put back where the origin saw none.
        for url in invalidated_urls(method, fetched.status, f"http://{host}{target}", fetched.headers):
            stale_path, _, stale_query = url.split(host, 1)[1].partition("?")
            if prefix and not (stale_path == prefix or stale_path.startswith(prefix + "/")):
                stale_path = prefix + stale_path if stale_path != "/" else prefix
            key = primary_key("GET", host, stale_path, normalize_query(stale_query))
            await self.cache.store.purge_tags([url_tag(key)], soft=False)
        return Answer(
            fetched.status, fetched.headers, fetched.body, "PASS", None, fetched.duration_ms, rest=fetched.rest
        )

    async def _purge(self, method: str, headers: Headers, receive: Receive, host: str, scheme: str) -> Answer:
        if method != "POST":
            return problem_answer(405, "Method not allowed", "POST a JSON body")
        supplied = (header(headers, "authorization") or "").removeprefix("Bearer ").strip().encode()
        if not self._purge_token or not hmac.compare_digest(supplied, self._purge_token):
            return problem_answer(401, "Unauthorized", "a valid bearer token is required")
        try:
            raw = await read_body(receive, MAX_PURGE_BODY)
        except BodyTooLarge:
            return problem_answer(413, "Purge order too large", f"at most {MAX_PURGE_BODY} bytes; split it")
        except ClientGone:
            return problem_answer(400, "Request incomplete", "the client went away before its body arrived")
        try:
            order = json.loads(raw or b"{}")
            tags = [str(t) for t in order.get("tags", [])]
            urls = [str(u) for u in order.get("urls", [])]
            soft = bool(order.get("soft", False))
        except (ValueError, AttributeError, TypeError):
            return problem_answer(400, "Bad purge request", 'send {"tags": [...], "urls": [...], "soft": false}')
        everything = bool(order.get("all"))
        for url in urls:
            path, _, query = url.partition("?")
            tags.append(url_tag(primary_key("GET", host, path, normalize_query(query))))
        try:
            if everything:
                await self.cache.store.clear()
                self.wire.forget_all()
                count = -1
            else:
                count = await self.cache.store.purge_tags(tags, soft=soft) if tags else 0
            if self.bus is not None:
                await self.bus.publish(Purge(tuple(tags), soft, everything))
        except RedisError:
            # This node is purged; the others may not be. Say so, so the caller retries.
            return problem_answer(503, "Purge not announced", "purged on this node only; Redis is unavailable, retry")
        if self.cdn is not None:
            try:
                absolute = [f"{scheme}://{host}{url}" if url.startswith("/") else url for url in urls]
                await self.cdn.purge(tags=[t for t in tags if not t.startswith("url:")], urls=absolute, soft=soft)
            except CdnPurgeError as exc:
                return problem_answer(502, "CDN purge failed", f"the edge is purged; {exc}")
        return self._purged({"all": True} if everything else {"purged": count, "soft": soft})

    def _own_endpoint(self, endpoint: str, peer: str, headers: Headers) -> Answer:
        """`/metrics`, `/healthz` or `/readyz`, however the request spelled it: this edge's, never the origin's."""
        if endpoint != METRICS_PATH:
            return _own(self._health(ready=_PROBES[endpoint]), endpoint)
        if not self._admin(peer, headers):
            # Not passed on either: an origin next to this edge would take the edge for an admin peer.
            return _own(problem_answer(404, "Not found", "no such page"), endpoint)
        return Answer(200, (("content-type", CONTENT_TYPE_LATEST), ("cache-control", "no-store"),
                            (ROUTE_HEADER, _OWN_ROUTES[endpoint])), generate_latest(), "PASS")  # fmt: skip

    def _admin(self, peer: str, headers: Headers) -> bool:
        """The admin token, or a connecting address on an admin network that is not a proxy's: a request from a
        trusted proxy, or one with forwarding fields, comes from someone else (scrapers connect directly)."""
        if not self.trusted(peer) and not any(name in _FORWARDED_FIELDS for name, _ in headers):
            try:
                if any(ip_address(peer) in network for network in self.settings.admin_networks):
                    return True
            except ValueError:
                pass
        token = self.settings.admin_token.get_secret_value() if self.settings.admin_token else ""
        supplied = (header(headers, "authorization") or "").removeprefix("Bearer ").strip().encode()
        return bool(token) and hmac.compare_digest(supplied, token.encode())

    def _health(self, *, ready: bool) -> Answer:
        region = self.router.here
        # Readiness follows the active probes only (`edge.routing`), never the passive breaker: that counts the
        # origin's 502/503/504 answers (a payment vendor's outage at checkout), and every edge pod going unready
        # on them would take the Service's endpoints away just when stale pages should be served. With a single
        # origin (no probes) a loaded config is ready: the breaker still keeps traffic from a failing origin.
        if ready and not any(origin.healthy for origin in self.router.origins):
            return problem_answer(503, "Not ready", f"edge in {region}: no origin region answers its health probes")
        body = {"status": "ok", "region": region}
        return Answer(200, (("content-type", "application/json"), ("cache-control", "no-store")),
                      json.dumps(body).encode(), "PASS")  # fmt: skip

    @staticmethod
    def _purged(result: dict[str, Any]) -> Answer:
        return Answer(
            200,
            (("content-type", "application/json"), ("cache-control", "no-store")),
            json.dumps(result).encode(),
            "PASS",
        )

    async def _send(
        self, send: Send, receive: Receive, answer: Answer, started: float, scope: Scope, observed: RequestContext
    ) -> None:
        """Send the answer, count it and log it (before sending: a shopper who left was answered all the same)."""
        method = scope["method"]
        head = method == "HEAD"
        route = None
        headers: list[tuple[bytes, bytes]] = []
        for name, value in downstream_headers(answer.headers):
            if name == ROUTE_HEADER:
                route = value  # the origin's word to this edge, never the shopper's
            else:
                headers.append((name.encode("latin-1"), value.encode("latin-1")))
        if answer.status in BODYLESS:
            pass  # RFC 9110 §8.6: none on a 204, and a 304's would have to be the full representation's
        elif answer.rest is None:
            headers.append((b"content-length", str(len(answer.body)).encode()))
        elif (declared := header(answer.headers, "content-length")) is not None:
            headers.append((b"content-length", declared.encode("latin-1")))  # else: chunked, as it streams
        headers.append((b"x-cache", answer.x_cache.encode()))
        headers.extend(self._edge_region)
        headers.append((b"x-request-id", observed.request_id.encode("latin-1")))
        if answer.age is not None:
            headers.append((b"age", str(answer.age).encode()))
        elapsed = time.perf_counter() - started
        timing = f"edge;dur={elapsed * 1000:.1f}"
        if answer.origin_ms is not None:
            timing += f", origin;dur={answer.origin_ms:.1f}"
        headers.append((b"server-timing", timing.encode()))
        cache = answer.result or CACHE_RESULTS.get(answer.x_cache, "pass")
        observed.route, observed.status, observed.cache = route, answer.status, cache
        if self._metrics:
            REQUESTS.observe(route, method, answer.status, cache, elapsed)
        if self.access.sample and self.access.sampled():
            path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
            self.access.write(method=method, path=path, status=answer.status, seconds=elapsed, cache=cache,
                              route=route, market=observed.market, region=self._region,
                              request_id=observed.request_id, trace_id=observed.trace_id)  # fmt: skip
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        if answer.rest is not None and not head:
            await relay(send, receive, answer.body, answer.rest)
            return
        await answer.discard()
        # HEAD: the same headers as GET, Content-Length included (RFC 9110 §9.3.2), and no body.
        await send({"type": "http.response.body", "body": b"" if head else answer.body})
