"""Header hygiene between shopper, edge and origin (RFC 9110 §7.6.1, RFC 7239)."""

from __future__ import annotations

from cdn import Headers, parse_cache_control

# RFC 9110 §7.6.1: connection-specific fields never travel past one hop.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
     "proxy-authenticate", "proxy-authorization"}
)  # fmt: skip
# Fields an origin may trust to describe the original request; only a trusted proxy may set them. The W3C trace
# context too: a client's own would pick the origin's trace (and whether it is recorded).
FORWARDING = frozenset(
    {"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "x-forwarded-prefix",
     "forwarded", "x-real-ip", "x-original-url", "x-rewrite-url", "x-original-host", "x-host",
     "x-forwarded-server", "x-http-method-override", "x-http-method", "x-method-override", "traceparent",
     "tracestate"}
)  # fmt: skip
# The request's id at the edge (edge.request_context): a trusted proxy's, or the edge's own.
REQUEST_ID = "x-request-id"
# Consumed by this cache (Fastly semantics), not passed to browsers.
EDGE_ONLY_RESPONSE = frozenset({"surrogate-control"})
# What a shared cache past the edge (a CDN in front of it) could store a response by: RFC 9213 and the
# vendors' targeted fields outrank Cache-Control there, and surrogate keys only matter to such a cache.
SHARED_CACHE_FIELDS = frozenset(
    {"cache-control", "cdn-cache-control", "cloudflare-cdn-cache-control", "akamai-cache-control",
     "fastly-cache-control", "vercel-cdn-cache-control", "surrogate-control", "surrogate-key", "cache-tag", "expires"}
)  # fmt: skip
# Request fields the edge decides from geo, cookies and hashing, which a cache past it never sees.
_EDGE_DECIDED_PREFIXES = ("x-market", "x-segment", "x-exp-")


def _connection_tokens(headers: Headers) -> set[str]:
    return {token.strip().lower() for name, value in headers if name == "connection" for token in value.split(",")}


def upstream_headers(
    headers: Headers, *, client_ip: str, scheme: str, host: str, trusted: bool, request_id: str | None = None
) -> Headers:
    """What the origin receives: no hop-by-hop fields, forwarding fields only as the edge vouches for them, and
    the request's id."""
    # Host goes through unchanged (allow-listed before): the origin builds URLs and same-origin checks from it.
    drop = HOP_BY_HOP | _connection_tokens(headers) | {"content-length"}
    if not trusted:
        drop |= FORWARDING
    if request_id is not None:
        drop |= {REQUEST_ID}  # the edge's own replaces whatever came
    kept = [(name, value) for name, value in headers if name not in drop]
    if request_id is not None:
        kept.append((REQUEST_ID, request_id))
    prior = ", ".join(value for name, value in headers if name == "x-forwarded-for") if trusted else ""
    kept.append(("x-forwarded-for", f"{prior}, {client_ip}" if prior else client_ip))
    if not (trusted and any(name == "x-forwarded-proto" for name, _ in headers)):
        kept.append(("x-forwarded-proto", scheme))
    if not (trusted and any(name == "x-forwarded-host" for name, _ in headers)):
        kept.append(("x-forwarded-host", host))
    return tuple(kept)


def made_private(headers: Headers, cache_control: str) -> Headers:
    return (
        *((name, value) for name, value in headers if name not in SHARED_CACHE_FIELDS),
        ("cache-control", cache_control),
    )


def for_browser_only(headers: Headers) -> Headers:
    """The same answer for the shopper's browser alone: `private`, with the browser's own freshness kept."""
    directives = parse_cache_control([value for name, value in headers if name == "cache-control"])
    if directives.no_store:
        return made_private(headers, "private, no-store")
    parts = ["private", f"max-age={directives.max_age if isinstance(directives.max_age, int) else 0}"]
    if directives.no_cache:
        parts.append("no-cache")
    if directives.must_revalidate:
        parts.append("must-revalidate")
    return made_private(headers, ", ".join(parts))


def varies_on_edge_decisions(headers: Headers) -> bool:
    """Whether the answer depends on the market, segment or an experiment arm, which only the edge knows."""
    return any(
        part.strip().lower().startswith(_EDGE_DECIDED_PREFIXES)
        for name, value in headers
        if name == "vary"
        for part in value.split(",")
    )


def downstream_headers(headers: Headers) -> Headers:
    """What the shopper gets. A page that varies on the edge's decisions leaves the edge private: a cache in
    front of the edge keys by URL alone and would hand one market's, segment's or arm's page to everyone."""
    drop = HOP_BY_HOP | _connection_tokens(headers) | EDGE_ONLY_RESPONSE | {"content-length", "age"}
    kept = tuple((name, value) for name, value in headers if name not in drop)
    return for_browser_only(kept) if varies_on_edge_decisions(kept) else kept
