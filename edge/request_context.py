"""What the request being served is, for every log line written while the edge serves it (`log_fields`), and
whether its trace is recorded (for the origin and fragment clients).

A request id names the request in the edge's logs, the origin's and the response (`X-Request-Id`): a trusted
proxy's (`edge.trusted_proxies`) is kept, so one id follows a request from the CDN's logs on; anyone else's is
replaced by a new one. Hits answered below ASGI (`edge.wire`) write no log line and get no id, unless their
access line is sampled (`edge.access_log`).
"""

from __future__ import annotations

import random
import re
from contextvars import ContextVar
from dataclasses import dataclass

from opentelemetry.context import Context

SERVICE = "edge"
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_FIELD = REQUEST_ID_HEADER.encode()
# What a proxy's request id may look like (UUIDs, CloudFront's base64-ish ids, Heroku's, hex): a longer or
# stranger value is replaced rather than logged, forwarded and echoed.
_VALID_ID = re.compile(rb"[A-Za-z0-9+/=._:-]{1,128}")


@dataclass(slots=True)
class RequestContext:
    """One request at the edge: filled in as it is worked out (market, trace, route, outcome)."""

    request_id: str
    region: str
    trace_id: str | None = None
    span_id: str | None = None
    market: str | None = None
    route: str | None = None
    status: int = 0
    cache: str = ""
    recording: bool = False  # a sampled trace records this request's spans
    # Tracing on and the request not recorded: the trusted proxy's trace context it was in (else empty), for
    # what the edge asks the origin on its behalf (edge.tracing.unsampled).
    parent: Context | None = None


CURRENT: ContextVar[RequestContext | None] = ContextVar("edgeshop_edge_request", default=None)


def log_fields() -> dict[str, str] | None:
    """The running edge request's fields for a log line (`wrangler_py.logs` providers); None outside one."""
    current = CURRENT.get()
    if current is None:
        return None
    fields = {"service": SERVICE, "region": current.region, "request_id": current.request_id}
    if current.trace_id is not None:
        fields["trace_id"] = current.trace_id
    if current.span_id is not None:
        fields["span_id"] = current.span_id
    if current.market:
        fields["market"] = current.market
    if current.route is not None:
        fields["route"] = current.route
    return fields


def new_request_id() -> str:
    """16 hex digits: unique enough to find a request in the logs, and not a secret (no CSPRNG needed)."""
    return f"{random.getrandbits(64):016x}"


def proxy_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The request id a trusted proxy sent, when it is one well-formed value."""
    found = None
    for name, value in headers:
        if name == _REQUEST_ID_FIELD:
            if found is not None:
                return None  # two of them: neither is the request's
            found = value
    if found is None or _VALID_ID.fullmatch(found) is None:
        return None
    return found.decode("ascii")


__all__ = [
    "CURRENT",
    "REQUEST_ID_HEADER",
    "SERVICE",
    "RequestContext",
    "log_fields",
    "new_request_id",
    "proxy_request_id",
]
