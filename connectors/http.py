"""The one HTTP client every vendor adapter talks through: timeouts, retries, 429s, a breaker, metrics.

Policy, the same for every vendor:

- **Timeouts** per vendor (connect and read). A read timeout is retried only when the call is idempotent:
  GET/HEAD/PUT/DELETE, or a POST that carries an idempotency key (a payment is never retried without one).
  A connection that was never made sent nothing, so it is retried for any call.
- **Retries** with exponential backoff and full jitter, at most `retries` more attempts, on timeouts,
  transport errors and 500/502/503/504 (idempotent calls) and on 429 (any call: the vendor refused it
  unprocessed). A 429's `Retry-After` (seconds or an HTTP date) is honoured up to `max_retry_after_seconds`;
  a longer wait is not made on a shopper's request: it fails as unavailable, safe to retry later.
- **Circuit breaker** per vendor client: `breaker_failures` failures in a row open it for `breaker_open_seconds`,
  then one trial call decides (half-open). While open, calls fail at once with VendorUnavailable.
- **Errors** are normalized (`connectors.errors`), naming the vendor and whether a retry is safe: 401/403
  → VendorMisconfigured, exhausted 429/5xx → VendorUnavailable, timeouts → VendorTimeout. Other answers,
  4xx included, go back to the adapter, which knows the vendor's error bodies.
- **Metrics** (Prometheus), labelled `vendor` (the adapter's name), `call` (the adapter's fixed name for the
  operation) and `outcome` (`ok`, `timeout`, `connect_error`, `transport_error`, `rate_limited`, `http_<status>`
  for the statuses worth telling apart (`OUTCOME_STATUSES`), `http_4xx`/`http_5xx`/`http_other` for any other a
  vendor sends, and for errors also `circuit_open`), so every value comes from a small fixed set:
  `edgeshop_vendor_request_duration_seconds` (histogram; vendor, call, outcome) per attempt;
  `edgeshop_vendor_errors_total` (counter; vendor, call, outcome) per failed attempt or refused call;
  `edgeshop_vendor_breaker_state` (gauge; vendor): 0 closed, 1 open, 2 half-open, read when scraped: the worst
  breaker of the vendor's live clients (Algolia reads and writes, Contentful delivers and previews, through
  separate clients, each with its own breaker), so a read outage shows while writes are fine.
  Logs never carry the request's headers, body or query values (tokens and card data live there).
- **Traces**: within a traced request (`connectors.tracing`), each attempt is a client span `{vendor} {call}`
  (`edgeshop.vendor`, `edgeshop.vendor.call`, `edgeshop.vendor.attempt`, `edgeshop.vendor.outcome`,
  `http.request.method`, `server.address`, `http.response.status_code`; an error status unless the outcome is
  `ok`), and the vendor gets its `traceparent`. Never the URL's query, a header or a body.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field

from connectors.errors import ConnectorError, VendorMisconfigured, VendorTimeout, VendorUnavailable
from connectors.tracing import current_tracer, trace_fields

log = logging.getLogger("edgeshop.connectors")

VENDOR_SECONDS = Histogram(
    "edgeshop_vendor_request_duration_seconds",
    "Vendor API call latency, per attempt",
    ["vendor", "call", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
VENDOR_ERRORS = Counter(
    "edgeshop_vendor_errors",
    "Vendor API attempts that failed and calls refused, by outcome",
    ["vendor", "call", "outcome"],
)
_BREAKER_VALUES = {"closed": 0.0, "open": 1.0, "half-open": 2.0}
_BREAKER_SEVERITY = {"closed": 0, "half-open": 1, "open": 2}  # the gauge shows a vendor's worst breaker
# vendor -> the breakers of its live clients (weak: a closed client's breaker drops out; tests make many)
_BREAKERS: dict[str, weakref.WeakSet[CircuitBreaker]] = {}
_BREAKERS_LOCK = threading.Lock()  # a scrape may run on another thread than the one making a client
# Statuses whose own outcome label is worth its series; any other folds into its class (vendors send ~900).
OUTCOME_STATUSES = frozenset({400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504})


def status_outcome(status: int) -> str:
    """The `outcome` label of a vendor's answer that is not a success: bounded whatever the vendor sends."""
    if status in OUTCOME_STATUSES:
        return f"http_{status}"
    if 400 <= status < 500:
        return "http_4xx"
    if 500 <= status < 600:
        return "http_5xx"
    return "http_other"


class _BreakerStates(Collector):
    """Read when scraped: an open breaker turns half-open by the clock alone, with no call to notice it."""

    def collect(self) -> list[Metric]:
        family = GaugeMetricFamily(
            "edgeshop_vendor_breaker_state", "Vendor circuit breaker: 0 closed, 1 open, 2 half-open", labels=["vendor"]
        )
        with _BREAKERS_LOCK:
            live = sorted(((vendor, list(breakers)) for vendor, breakers in _BREAKERS.items()), key=lambda vb: vb[0])
        for vendor, breakers in live:
            states = [breaker.state for breaker in breakers]
            if states:
                family.add_metric([vendor], _BREAKER_VALUES[max(states, key=_BREAKER_SEVERITY.__getitem__)])
        return [family]

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily("edgeshop_vendor_breaker_state", "")]


REGISTRY.register(_BreakerStates())


class _QueryRedactor(logging.Filter):
    """httpx logs every request's full URL at INFO; vendors put tokens in query strings (Storyblok's token=).
    Query values are replaced before any handler sees the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, httpx.URL) and arg.query for arg in record.args):
            record.args = tuple(
                arg.copy_with(query=b"redacted") if isinstance(arg, httpx.URL) and arg.query else arg
                for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_QueryRedactor())

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_RETRY_STATUSES = frozenset({500, 502, 503, 504})


class VendorHttpSettings(BaseModel):
    """`[connectors.<capability>.http]`: how patient to be with this vendor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connect_timeout_seconds: float = Field(default=2.0, gt=0)
    read_timeout_seconds: float = Field(default=5.0, gt=0)
    retries: int = Field(default=2, ge=0, le=5, description="more attempts after the first, when safe")
    backoff_seconds: float = Field(default=0.2, ge=0, description="first backoff; doubles per attempt")
    max_retry_after_seconds: float = Field(default=5.0, ge=0, description="longest 429 Retry-After waited for")
    breaker_failures: int = Field(default=5, ge=1)
    breaker_open_seconds: float = Field(default=30.0, gt=0)


@dataclass(slots=True, weakref_slot=True, eq=False)  # hashed by identity: kept in a WeakSet
class CircuitBreaker:
    """closed → open after `failures` failures in a row → half-open after `open_seconds` (one trial)."""

    vendor: str
    failures_to_open: int
    open_seconds: float
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    trial_running: bool = False

    def __post_init__(self) -> None:
        with _BREAKERS_LOCK:
            _BREAKERS.setdefault(self.vendor, weakref.WeakSet()).add(self)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.open_seconds else "open"

    def begin(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self.trial_running:
            return False
        self.trial_running = True  # half-open: this call finds out
        return True

    def succeeded(self) -> None:
        if self.opened_at is not None:
            log.warning("vendor %s answers again: circuit closed", self.vendor)
        self.failures, self.opened_at, self.trial_running = 0, None, False

    def failed(self) -> None:
        self.failures += 1
        if self.trial_running or (self.opened_at is None and self.failures >= self.failures_to_open):
            if self.opened_at is None:
                log.warning("vendor %s failing: circuit open for %.0f s", self.vendor, self.open_seconds)
            self.opened_at, self.trial_running = self.clock(), False

    def abandoned(self) -> None:
        self.trial_running = False


@contextmanager
def vendor_answers(vendor: str, call: str) -> Iterator[None]:
    """An answer that is not the documented shape is the vendor misbehaving, not our caller's mistake."""
    try:
        yield
    except ConnectorError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise VendorUnavailable(f"{vendor}: unexpected answer to {call} ({exc!r})", vendor=vendor) from exc


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdecimal():  # str.isdigit() also takes "²", which float() refuses
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


@dataclass(slots=True)
class VendorClient:
    vendor: str
    base_url: str
    settings: VendorHttpSettings = field(default_factory=VendorHttpSettings)
    headers: Mapping[str, str] = field(default_factory=dict)  # authentication, version pins
    http: httpx.AsyncClient | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # Where a 429 says how long to wait, in the order to look (Contentful adds its own reset header).
    retry_after_headers: tuple[str, ...] = ("retry-after",)
    breaker: CircuitBreaker = field(init=False)
    _own_http: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.breaker = CircuitBreaker(self.vendor, self.settings.breaker_failures, self.settings.breaker_open_seconds)
        if self.http is None:
            timeout = httpx.Timeout(self.settings.read_timeout_seconds, connect=self.settings.connect_timeout_seconds)
            self.http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
            self._own_http = True

    async def aclose(self) -> None:
        if self._own_http and self.http is not None:
            await self.http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        call: str,
        params: Any = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        idempotency_header: str = "Idempotency-Key",
        retry_safe: bool = False,
    ) -> httpx.Response:
        """The vendor's answer (2xx-4xx but 401/403/429), or a normalized ConnectorError.

        `retry_safe`: the adapter knows a repeat changes nothing (a search sent as POST, a write keyed by
        document id), so it may be retried like an idempotent method."""
        method = method.upper()
        idempotent = method in _IDEMPOTENT_METHODS or idempotency_key is not None or retry_safe
        sent = {**self.headers, **(headers or {})}
        if idempotency_key is not None:
            sent[idempotency_header] = idempotency_key
        url = self.base_url.rstrip("/") + path
        attempts = 1 + self.settings.retries
        tracer = current_tracer()
        for attempt in range(attempts):
            if not self.breaker.begin():
                VENDOR_ERRORS.labels(self.vendor, call, "circuit_open").inc()
                raise VendorUnavailable(f"{self.vendor}: circuit open after repeated failures", vendor=self.vendor)
            last = attempt == attempts - 1
            span = None
            if tracer is not None:
                attributes: dict[str, str | int] = {
                    "edgeshop.vendor": self.vendor,
                    "edgeshop.vendor.call": call,
                    "edgeshop.vendor.attempt": attempt + 1,
                    "http.request.method": method,
                    "server.address": httpx.URL(url).host,
                }
                span = tracer.start_span(f"{self.vendor} {call}", kind=SpanKind.CLIENT, attributes=attributes)
            started = time.perf_counter()
            try:
                assert self.http is not None
                response = await self.http.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    content=content,
                    headers=sent if span is None else {**sent, **trace_fields(span)},
                )
            except httpx.ConnectError as exc:  # nothing was sent: safe to try again for any call
                self._observe(call, "connect_error", started, span)
                self.breaker.failed()
                if last:
                    raise VendorUnavailable(f"{self.vendor}: cannot connect ({exc})", vendor=self.vendor) from exc
            except httpx.TimeoutException as exc:
                self._observe(call, "timeout", started, span)
                self.breaker.failed()
                if last or not idempotent:
                    late = VendorTimeout(f"{self.vendor}: no answer in time to {call}", vendor=self.vendor)
                    late.retryable = idempotent
                    raise late from exc
            except httpx.TransportError as exc:
                self._observe(call, "transport_error", started, span)
                self.breaker.failed()
                if last or not idempotent:
                    broken = VendorUnavailable(f"{self.vendor}: connection failed during {call}", vendor=self.vendor)
                    broken.retryable = idempotent
                    raise broken from exc
            except BaseException:
                self.breaker.abandoned()
                if span is not None:
                    span.end()
                raise
            else:
                if span is not None:
                    span.set_attribute("http.response.status_code", response.status_code)
                outcome = self._judge(response, call, started, attempt, idempotent, span)
                if outcome is None:
                    return response
                wait_hint, refusal = outcome
                if last or (response.status_code != 429 and not idempotent) or wait_hint is None:
                    raise refusal
                await self.sleep(wait_hint)
                continue
            await self.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")  # every path above returns, raises or continues

    def _judge(
        self, response: httpx.Response, call: str, started: float, attempt: int, idempotent: bool, span: Span | None
    ) -> tuple[float | None, ConnectorError] | None:
        """None: hand the answer to the adapter. Else (seconds to wait before a retry or None, the error)."""
        status = response.status_code
        if status in (401, 403):
            self._observe(call, status_outcome(status), started, span)
            self.breaker.succeeded()  # the vendor answered; our credentials are the problem
            return None, VendorMisconfigured(
                f"{self.vendor}: credentials refused ({status}); check the API key in connectors settings",
                vendor=self.vendor,
            )
        if status == 429:
            self._observe(call, "rate_limited", started, span)
            self.breaker.succeeded()
            wait = next(
                (seconds for name in self.retry_after_headers
                 if (seconds := retry_after_seconds(response.headers.get(name))) is not None),
                None,
            )  # fmt: skip
            wait = self.settings.backoff_seconds if wait is None else wait
            hint = wait if wait <= self.settings.max_retry_after_seconds else None
            return hint, VendorUnavailable(f"{self.vendor}: rate limited during {call}", vendor=self.vendor)
        if status in _RETRY_STATUSES:
            self._observe(call, status_outcome(status), started, span)
            self.breaker.failed()
            error = VendorUnavailable(f"{self.vendor}: answered {status} to {call}", vendor=self.vendor)
            error.retryable = idempotent  # a 500 to a non-idempotent call may have done its work
            return self._backoff(attempt), error
        self._observe(call, "ok" if status < 400 else status_outcome(status), started, span)
        self.breaker.succeeded()
        return None

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): spreads the retries of many callers instead of syncing them.
        return random.uniform(0, self.settings.backoff_seconds * 2**attempt)

    def _observe(self, call: str, outcome: str, started: float, span: Span | None = None) -> None:
        VENDOR_SECONDS.labels(self.vendor, call, outcome).observe(time.perf_counter() - started)
        if outcome != "ok":
            VENDOR_ERRORS.labels(self.vendor, call, outcome).inc()
            log.info("vendor %s %s: %s", self.vendor, call, outcome)
        if span is not None:
            span.set_attribute("edgeshop.vendor.outcome", outcome)
            if outcome != "ok":
                span.set_status(Status(StatusCode.ERROR, outcome))
            span.end()


__all__ = [
    "OUTCOME_STATUSES",
    "CircuitBreaker",
    "VendorClient",
    "VendorHttpSettings",
    "retry_after_seconds",
    "status_outcome",
    "vendor_answers",
]
