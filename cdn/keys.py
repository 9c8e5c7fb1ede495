"""Cache keys: one pure function from a request's identity to a short, namespaced key.

The path is taken raw (still percent-encoded, exactly as the origin receives it), so two URLs the origin could
answer differently never share a key: `/account;x.css` and `/account/..%2fstatic/x.css` stay distinct from
`/account` and from each other. The only merges are ones the origin cannot tell apart: query parameters
reordered (a stable sort, so repeated names keep their order) and tracking parameters, which the edge also
strips before forwarding, so the origin never sees them either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlencode

from cdn.messages import Headers

DEFAULT_TRACKING_PARAMS = frozenset({"gclid", "fbclid", "dclid", "msclkid", "mc_cid", "mc_eid", "_ga", "igshid"})
DEFAULT_TRACKING_PREFIXES = ("utm_",)
NAMESPACE = "es"


def is_tracking(name: str, names: frozenset[str], prefixes: tuple[str, ...]) -> bool:
    lowered = name.lower()
    return lowered in names or lowered.startswith(prefixes)


def normalize_query(
    query: str,
    *,
    tracking: frozenset[str] = DEFAULT_TRACKING_PARAMS,
    tracking_prefixes: tuple[str, ...] = DEFAULT_TRACKING_PREFIXES,
) -> str:
    """Tracking parameters dropped, the rest sorted by name (stable), re-encoded canonically."""
    if not query:
        return ""
    pairs = [
        (name, value)
        for name, value in parse_qsl(query, keep_blank_values=True)
        if not is_tracking(name, tracking, tracking_prefixes)
    ]
    pairs.sort(key=lambda pair: pair[0])
    return urlencode(pairs, quote_via=quote)


def normalize_host(host: str, scheme: str = "https") -> str:
    host = host.strip().lower().rstrip(".")
    default = ":443" if scheme == "https" else ":80"
    return host.removesuffix(default)


def primary_key(method: str, host: str, raw_path: str, query: str, market: str = "", variant: str = "") -> str:
    """The entry's identity without Vary: a HEAD is answered from the GET entry (RFC 9110 §9.3.2)."""
    method = "GET" if method == "HEAD" else method
    material = "\x00".join((method, host, raw_path, query, market, variant))
    return (
        f"{NAMESPACE}:entry:" + hashlib.blake2b(material.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    )


def secondary_key(primary: str, vary: Headers) -> str:
    """The key of one variant of `primary`, from the request's values of the headers its Vary names."""
    if not vary:
        return primary
    material = "\x00".join(f"{name}={value}" for name, value in vary)
    return primary + ":" + hashlib.blake2b(material.encode(), digest_size=8).hexdigest()


def tag_key(tag: str) -> str:
    return f"{NAMESPACE}:tag:{tag}"


def surrogate_tags(values: Iterable[str]) -> list[str]:
    """Tags from Surrogate-Key (space separated) and Cache-Tag (comma separated) lines, de-duplicated."""
    tags: dict[str, None] = {}
    for line in values:
        for tag in line.replace(",", " ").split():
            tags.setdefault(tag, None)
    return list(tags)
