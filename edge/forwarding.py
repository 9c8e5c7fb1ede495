"""Header hygiene between shopper, edge and origin (RFC 9110 §7.6.1, RFC 7239)."""

from __future__ import annotations

from cdn import Headers

# RFC 9110 §7.6.1: connection-specific fields never travel past one hop.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
     "proxy-authenticate", "proxy-authorization"}
)  # fmt: skip
# Fields an origin may trust to describe the original request; only a trusted proxy may set them.
FORWARDING = frozenset(
    {"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "x-forwarded-prefix",
     "forwarded", "x-real-ip", "x-original-url", "x-rewrite-url", "x-original-host", "x-host",
     "x-forwarded-server", "x-http-method-override", "x-http-method", "x-method-override"}
)  # fmt: skip
# Consumed by this cache (Fastly semantics), not passed to browsers.
EDGE_ONLY_RESPONSE = frozenset({"surrogate-control"})


def _connection_tokens(headers: Headers) -> set[str]:
    return {token.strip().lower() for name, value in headers if name == "connection" for token in value.split(",")}


def upstream_headers(headers: Headers, *, client_ip: str, scheme: str, host: str, trusted: bool) -> Headers:
    """What the origin receives: no hop-by-hop fields, forwarding fields only as the edge vouches for them."""
    # Host goes through unchanged (allow-listed before): the origin builds URLs and same-origin checks from it.
    drop = HOP_BY_HOP | _connection_tokens(headers) | {"content-length"}
    if not trusted:
        drop |= FORWARDING
    kept = [(name, value) for name, value in headers if name not in drop]
    prior = ", ".join(value for name, value in headers if name == "x-forwarded-for") if trusted else ""
    kept.append(("x-forwarded-for", f"{prior}, {client_ip}" if prior else client_ip))
    if not (trusted and any(name == "x-forwarded-proto" for name, _ in headers)):
        kept.append(("x-forwarded-proto", scheme))
    if not (trusted and any(name == "x-forwarded-host" for name, _ in headers)):
        kept.append(("x-forwarded-host", host))
    return tuple(kept)


def downstream_headers(headers: Headers) -> Headers:
    drop = HOP_BY_HOP | _connection_tokens(headers) | EDGE_ONLY_RESPONSE | {"content-length", "age"}
    return tuple((name, value) for name, value in headers if name not in drop)
