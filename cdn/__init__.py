"""The HTTP caching engine: RFC 9111 policy, cache keys, stores, coalescing, and header helpers."""

from cdn.cache_control import CacheControl, parse_cache_control
from cdn.coalesce import SingleFlight
from cdn.external import CdnPurgeError, CdnPurger, CloudflarePurger, CloudFrontPurger, FastlyPurger
from cdn.headers import PRIVATE_NO_STORE, if_none_match_hits, shared_cache_control, strong_etag, surrogate_keys
from cdn.keys import normalize_host, normalize_query, primary_key, secondary_key, surrogate_tags
from cdn.messages import Headers, StoredResponse, header, header_lines, without
from cdn.paths import redact_capabilities
from cdn.policy import (
    NotStored,
    Verdict,
    client_not_modified,
    current_age,
    evaluate,
    freshen,
    freshness_lifetime,
    invalidated_urls,
    not_storable,
    response_directives,
    revalidation_headers,
    usable_on_error,
    vary_matches,
    vary_names,
    vary_values,
)
from cdn.purge_bus import Purge, PurgeBus
from cdn.stores.base import CacheRecord, CacheStore
from cdn.stores.memory import MemoryStore
from cdn.stores.redis import RedisStore, connect_redis
from cdn.stores.tiered import TieredStore

__all__ = [
    "PRIVATE_NO_STORE",
    "CacheControl",
    "CacheRecord",
    "CacheStore",
    "CdnPurgeError",
    "CdnPurger",
    "CloudFrontPurger",
    "CloudflarePurger",
    "FastlyPurger",
    "Headers",
    "MemoryStore",
    "NotStored",
    "Purge",
    "PurgeBus",
    "RedisStore",
    "SingleFlight",
    "StoredResponse",
    "TieredStore",
    "Verdict",
    "client_not_modified",
    "connect_redis",
    "current_age",
    "evaluate",
    "freshen",
    "freshness_lifetime",
    "header",
    "header_lines",
    "if_none_match_hits",
    "invalidated_urls",
    "normalize_host",
    "normalize_query",
    "not_storable",
    "parse_cache_control",
    "primary_key",
    "redact_capabilities",
    "response_directives",
    "revalidation_headers",
    "secondary_key",
    "shared_cache_control",
    "strong_etag",
    "surrogate_keys",
    "surrogate_tags",
    "usable_on_error",
    "vary_matches",
    "vary_names",
    "vary_values",
    "without",
]
