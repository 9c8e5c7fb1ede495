"""The shared-cache policy, rule by rule; each test names its RFC section."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from cdn.messages import Headers, StoredResponse
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

NOW = 1_800_000_000.0


def h(**fields: str) -> Headers:
    return tuple((name.replace("_", "-").lower(), value) for name, value in fields.items())


def date(offset: float = 0.0) -> str:
    return formatdate(NOW + offset, usegmt=True)


def entry(headers: Headers, *, status: int = 200, at: float = NOW, vary: Headers = ()) -> StoredResponse:
    return StoredResponse(
        status=status,
        headers=(("date", date(at - NOW)), *headers),
        body=b"x",
        request_time=at,
        response_time=at,
        vary=vary,
    )


def storable(response: Headers, request: Headers = (), status: int = 200, method: str = "GET") -> NotStored | None:
    return not_storable(method, request, status, response, response_directives(response))


def lifetime(response: Headers, status: int = 200) -> float:
    return freshness_lifetime(status, (("date", date()), *response), response_directives(response))


# -- storing: RFC 9111 §3 -----------------------------------------------------------------------------------


def test_s3_cacheable_response_is_stored() -> None:
    assert storable(h(cache_control="public, s-maxage=60")) is None


@pytest.mark.parametrize(
    ("response", "request_headers", "reason"),
    [
        (h(cache_control="no-store, max-age=60"), (), NotStored.NO_STORE),  # §5.2.2.5
        (h(cache_control="max-age=60"), h(cache_control="no-store"), NotStored.NO_STORE),  # §5.2.1.5
        (h(cache_control="private, max-age=60"), (), NotStored.PRIVATE),  # §5.2.2.7
        (h(cache_control='private="x-user", max-age=60'), (), NotStored.PRIVATE),  # careful: qualified too
        (h(cache_control="public, max-age=60", set_cookie="sid=1"), (), NotStored.SET_COOKIE),
        (h(cache_control="max-age=60"), h(authorization="Bearer t"), NotStored.AUTHORIZATION),  # §3.5
        (h(cache_control="max-age=60", vary="*"), (), NotStored.VARY_STAR),  # §4.1
        (h(), (), None),  # heuristically cacheable 200 with no directives: storable, lifetime decides
    ],
)
def test_s3_what_a_shared_cache_must_not_store(
    response: Headers, request_headers: Headers, reason: NotStored | None
) -> None:
    assert storable(response, request_headers) is reason


@pytest.mark.parametrize("allowing", ["public, max-age=60", "s-maxage=60", "must-revalidate, max-age=60"])
def test_s3_5_authorization_allowed_by_public_s_maxage_must_revalidate(allowing: str) -> None:
    assert storable(h(cache_control=allowing), h(authorization="Bearer t")) is None


def test_s3_status_and_method() -> None:
    assert storable(h(cache_control="max-age=60"), status=206) is NotStored.STATUS  # §3.3: ranges not implemented
    assert storable(h(cache_control="max-age=60"), status=500) is NotStored.STATUS
    assert storable(h(), status=302) is NotStored.NOT_CACHEABLE  # not heuristically cacheable, no freshness
    assert storable(h(cache_control="max-age=60"), method="POST") is NotStored.METHOD


def test_rfc9213_cdn_cache_control_cannot_override_private_or_no_store() -> None:
    assert storable(h(cache_control="private", cdn_cache_control="max-age=600")) is NotStored.PRIVATE
    assert storable(h(cache_control="no-store", cdn_cache_control="max-age=600")) is NotStored.NO_STORE
    assert storable(h(cache_control="max-age=0", cdn_cache_control="max-age=600")) is None


# -- freshness: RFC 9111 §4.2.1, RFC 9213 -------------------------------------------------------------------


def test_s4_2_1_precedence_cdn_cache_control_then_s_maxage_then_max_age_then_expires() -> None:
    assert lifetime(h(cdn_cache_control="max-age=900", cache_control="s-maxage=300, max-age=60")) == 900
    assert lifetime(h(surrogate_control="max-age=700", cache_control="s-maxage=300")) == 700
    assert lifetime(h(cache_control="s-maxage=300, max-age=60")) == 300
    assert lifetime(h(cache_control="max-age=60", expires=date(5000))) == 60
    assert lifetime(h(expires=date(120))) == 120


def test_rfc9213_invalid_targeted_field_falls_back_to_cache_control() -> None:
    assert lifetime(h(cdn_cache_control="", cache_control="max-age=60")) == 60


def test_s5_3_invalid_expires_means_already_expired() -> None:
    assert lifetime(h(expires="0")) == 0


def test_s4_2_2_heuristic_only_from_last_modified_and_capped() -> None:
    assert lifetime(h(last_modified=date(-1000))) == pytest.approx(100)
    assert lifetime(h(last_modified=date(-(10**8)))) == 86_400  # capped
    assert lifetime(h()) == 0  # nothing to base a heuristic on
    assert lifetime(h(last_modified=date(-1000)), status=302) == 0  # not heuristically cacheable


def test_s4_2_3_age_counts_upstream_age_delay_and_residence() -> None:
    stored = StoredResponse(
        status=200, headers=(("date", date(-10)), ("age", "30")), body=b"", request_time=NOW - 2, response_time=NOW
    )
    # corrected initial age = max(apparent 10, 30 + 2 delay) = 32; plus 5 s resident
    assert current_age(stored, NOW + 5) == pytest.approx(37)


# -- using stored responses: RFC 9111 §4.2.4, §5.2.1, RFC 5861 -----------------------------------------------


def verdict(headers: Headers, later: float, request: Headers = ()) -> Verdict:
    return evaluate(entry(headers), request, NOW + later).verdict


def test_fresh_then_stale_while_revalidate_then_revalidate() -> None:
    response = h(cache_control="max-age=60, stale-while-revalidate=30")
    assert verdict(response, 59) is Verdict.FRESH
    assert verdict(response, 80) is Verdict.STALE_WHILE_REVALIDATE  # RFC 5861 §3
    assert verdict(response, 100) is Verdict.REVALIDATE


def test_s5_2_1_request_directives() -> None:
    response = h(cache_control="max-age=600")
    assert verdict(response, 10, h(cache_control="no-cache")) is Verdict.REVALIDATE  # §5.2.1.4
    assert verdict(response, 10, h(pragma="no-cache")) is Verdict.REVALIDATE  # §5.4
    assert verdict(response, 10, h(cache_control="max-age=0")) is Verdict.REVALIDATE  # §5.2.1.1
    assert verdict(response, 10, h(cache_control="max-age=20")) is Verdict.FRESH
    assert verdict(response, 590, h(cache_control="min-fresh=30")) is Verdict.REVALIDATE  # §5.2.1.3
    assert verdict(h(cache_control="max-age=60"), 70, h(cache_control="max-stale=20")) is Verdict.FRESH  # §5.2.1.2


def test_s5_2_2_must_revalidate_beats_max_stale_and_stale_windows() -> None:
    strict = h(cache_control="max-age=60, must-revalidate, stale-while-revalidate=600, stale-if-error=600")
    assert verdict(strict, 70, h(cache_control="max-stale")) is Verdict.REVALIDATE
    assert not usable_on_error(entry(strict), NOW + 70)


def test_s5_2_2_10_s_maxage_alone_forbids_stale_but_an_explicit_window_allows_it() -> None:
    assert verdict(h(cache_control="s-maxage=60"), 70, h(cache_control="max-stale")) is Verdict.REVALIDATE
    swr = h(cache_control="s-maxage=60, stale-while-revalidate=60")
    assert verdict(swr, 70) is Verdict.STALE_WHILE_REVALIDATE


def test_s5_2_2_4_no_cache_response_is_always_validated() -> None:
    assert verdict(h(cache_control="no-cache, max-age=600"), 1) is Verdict.REVALIDATE


def test_rfc5861_s4_stale_if_error_and_grace() -> None:
    response = entry(h(cache_control="max-age=60, stale-if-error=300"))
    assert usable_on_error(response, NOW + 300)
    assert not usable_on_error(response, NOW + 400)
    assert usable_on_error(response, NOW + 400, grace=600)


# -- Vary: RFC 9111 §4.1 ------------------------------------------------------------------------------------


def test_s4_1_vary_matches_normalized_values_only() -> None:
    names = vary_names(h(vary="Accept-Language, X-Market"))
    assert names == ("accept-language", "x-market")
    stored = entry((), vary=vary_values(names, h(accept_language="de,  en", x_market="eu")))
    assert vary_matches(stored, h(accept_language="de, en", x_market="eu"))
    assert not vary_matches(stored, h(accept_language="de, en", x_market="us"))
    assert not vary_matches(stored, h(x_market="eu"))  # absent is a value too


# -- validation: RFC 9111 §4.3 ------------------------------------------------------------------------------


def test_s4_3_1_revalidation_sends_validators() -> None:
    stored = entry(h(etag='"v1"', last_modified=date(-100)))
    assert dict(revalidation_headers(stored)) == {"if-none-match": '"v1"', "if-modified-since": date(-100)}


def test_s4_3_4_freshening_takes_the_304s_fields_but_keeps_the_body_framing() -> None:
    stored = entry(h(etag='"v1"', cache_control="max-age=60", content_length="1"))
    updated = freshen(stored, h(cache_control="max-age=120", content_length="0", etag='"v1"'), NOW + 5, NOW + 6)
    assert dict(updated.headers)["cache-control"] == "max-age=120"
    assert dict(updated.headers)["content-length"] == "1" and updated.body == b"x"
    assert updated.response_time == NOW + 6


def test_s4_3_2_client_conditionals_if_none_match_wins() -> None:
    stored = entry(h(etag='"v1"', last_modified=date(-100)))
    assert client_not_modified(h(if_none_match='W/"v1"'), stored)  # weak comparison
    assert client_not_modified(h(if_none_match="*"), stored)
    assert not client_not_modified(h(if_none_match='"v2"', if_modified_since=date()), stored)
    assert client_not_modified(h(if_modified_since=date()), stored)
    assert not client_not_modified(h(if_modified_since=date(-200)), stored)


# -- invalidation: RFC 9111 §4.4 ----------------------------------------------------------------------------


def test_s4_4_unsafe_methods_invalidate_same_origin_targets_only() -> None:
    url = "https://shop.example/cart"
    assert invalidated_urls("POST", 303, url, h(location="/cart?x=1")) == [url, "https://shop.example/cart?x=1"]
    assert invalidated_urls("POST", 200, url, h(location="https://evil.example/p")) == [url]
    assert invalidated_urls("POST", 500, url, ()) == []
    assert invalidated_urls("GET", 200, url, ()) == []


def test_an_esi_processing_request_is_not_a_caching_directive() -> None:
    # Surrogate-Control: content="ESI/1.0" alone leaves Cache-Control (and its stale windows) in charge.
    page = (
        ("cache-control", "public, s-maxage=1, stale-while-revalidate=60"),
        ("surrogate-control", 'content="ESI/1.0"'),
    )
    assert response_directives(page).targeted is None
    both = (("surrogate-control", 'max-age=30, content="ESI/1.0"'),)
    targeted = response_directives(both).targeted
    assert targeted is not None and targeted.max_age == 30 and targeted.extensions == ()
