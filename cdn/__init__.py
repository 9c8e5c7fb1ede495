"""The HTTP caching engine; today the header helpers origins use to talk to shared caches."""

from cdn.headers import PRIVATE_NO_STORE, if_none_match_hits, shared_cache_control, strong_etag, surrogate_keys

__all__ = [
    "PRIVATE_NO_STORE",
    "if_none_match_hits",
    "shared_cache_control",
    "strong_etag",
    "surrogate_keys",
]
