"""Header values an origin sends so shared caches (our edge, a CDN) can do their job.

Pure helpers: no I/O, importable by the origin without pulling in the caching engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

PRIVATE_NO_STORE = "private, no-store"


def shared_cache_control(*, s_maxage: int, stale_while_revalidate: int, stale_if_error: int, max_age: int = 0) -> str:
    """`public` with a browser lifetime and a longer shared-cache lifetime (RFC 9111 §5.2.2.10, RFC 5861)."""
    return (
        f"public, max-age={max_age}, s-maxage={s_maxage}, "
        f"stale-while-revalidate={stale_while_revalidate}, stale-if-error={stale_if_error}"
    )


def strong_etag(body: bytes) -> str:
    """A strong validator derived from the representation's bytes (RFC 9110 §8.8.3)."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def if_none_match_hits(if_none_match: str | None, etag: str) -> bool:
    """True when If-None-Match names this ETag, using the weak comparison RFC 9110 §13.1.2 requires."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == opaque for candidate in if_none_match.split(","))


def surrogate_keys(keys: Iterable[str]) -> str:
    """Space-separated tags for `Surrogate-Key` (Fastly) / `Cache-Tag` style purging, de-duplicated in order."""
    return " ".join(dict.fromkeys(keys))
