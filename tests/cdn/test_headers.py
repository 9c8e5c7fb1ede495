from __future__ import annotations

from cdn.headers import if_none_match_hits, shared_cache_control, strong_etag, surrogate_keys


def test_shared_cache_control_lets_shared_caches_keep_and_serve_stale() -> None:
    value = shared_cache_control(s_maxage=300, stale_while_revalidate=60, stale_if_error=600)
    assert value == "public, max-age=0, s-maxage=300, stale-while-revalidate=60, stale-if-error=600"


def test_etag_is_strong_and_content_derived() -> None:
    assert strong_etag(b"a") == strong_etag(b"a") != strong_etag(b"b")
    assert strong_etag(b"a").startswith('"') and not strong_etag(b"a").startswith("W/")


def test_if_none_match_uses_weak_comparison() -> None:
    etag = strong_etag(b"page")
    assert if_none_match_hits(etag, etag)
    assert if_none_match_hits(f'"other", W/{etag}', etag)
    assert if_none_match_hits("*", etag)
    assert not if_none_match_hits('"other"', etag) and not if_none_match_hits(None, etag)


def test_surrogate_keys_are_deduplicated_in_order() -> None:
    assert surrogate_keys(["product:1", "category:2", "product:1"]) == "product:1 category:2"
