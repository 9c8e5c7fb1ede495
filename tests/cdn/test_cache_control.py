"""Cache-Control parsing, RFC 9111 §5.2."""

from __future__ import annotations

from cdn.cache_control import INVALID, MAX_DELTA_SECONDS, parse_cache_control


def test_directives_are_case_insensitive_and_lines_combine() -> None:
    cc = parse_cache_control(["Public, MAX-AGE=60", "s-maxage=120"])
    assert cc.public and cc.max_age == 60 and cc.s_maxage == 120


def test_quoted_arguments_and_field_lists() -> None:
    # §5.2.2.4 / §5.2.2.7: qualified no-cache and private carry field names
    cc = parse_cache_control('private="Set-Cookie, X-Foo", no-cache="set-cookie", max-age="30"')
    assert cc.private_fields == ("set-cookie", "x-foo") and cc.no_cache_fields == ("set-cookie",)
    assert cc.max_age == 30


def test_invalid_and_conflicting_values_mean_stale() -> None:
    # §4.2.1: duplicates that disagree, or unusable values, make the response stale
    assert parse_cache_control("max-age=abc").max_age == INVALID
    assert parse_cache_control(["max-age=10", "max-age=20"]).max_age == INVALID
    assert parse_cache_control("max-age=-5").max_age == INVALID
    assert parse_cache_control(["max-age=10", "max-age=10"]).max_age == 10


def test_overflowing_delta_seconds_saturate() -> None:
    # §1.2.2: too large to represent -> 2^31
    assert parse_cache_control("max-age=99999999999999999999").max_age == MAX_DELTA_SECONDS


def test_max_stale_without_value_accepts_any_staleness() -> None:
    # §5.2.1.2
    assert parse_cache_control("max-stale").max_stale == MAX_DELTA_SECONDS
    assert parse_cache_control("max-stale=5").max_stale == 5


def test_unknown_extensions_are_kept_not_fatal() -> None:
    # §5.2.3: unrecognized directives are ignored
    cc = parse_cache_control("community=UCI, max-age=5")
    assert cc.max_age == 5 and cc.extensions == ("community",)


def test_empty_and_garbage() -> None:
    assert not parse_cache_control(None).present
    assert not parse_cache_control("").present
    assert parse_cache_control(",,, ,").present is False
