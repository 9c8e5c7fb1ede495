"""Segments and experiments at the edge: signed cookies, deterministic sticky arms, the variant bound."""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from pydantic import ValidationError

from edge.experiments import Experiments, ExperimentSettings, variants_per_route
from edge.personalize import PersonalizationSettings, Personalizer
from edge.segments import SegmentRule, default_segments, segment_serializer

SECRET = "personalization-tests-secret"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def experiment(id: str, **extra: object) -> ExperimentSettings:
    values: dict[str, object] = {"id": id, "variants": [{"name": "control"}, {"name": "b"}], **extra}
    return ExperimentSettings.model_validate(values)


def personalizer(*experiments: ExperimentSettings, segments: list[SegmentRule] | None = None) -> Personalizer:
    return Personalizer(
        PersonalizationSettings(
            secret=SECRET,  # type: ignore[arg-type]
            experiments=list(experiments),
            segments=segments if segments is not None else default_segments(),
        )
    )


def segment_cookie(value: str, secret: str = SECRET) -> str:
    return "es_seg=" + segment_serializer(secret.encode()).dumps({"s": value, "n": 3})


def sticky_ids(n: int) -> list[str]:
    return [secrets.token_urlsafe(16) for _ in range(n)]


def test_arms_are_deterministic_and_follow_the_weights() -> None:
    exp = experiment("hero", variants=[{"name": "control", "weight": 3}, {"name": "b", "weight": 1}])
    experiments = Experiments([exp])
    ids = sticky_ids(20_000)
    first = [experiments.assign("/", "us", "new", sid, NOW) for sid in ids]
    again = [Experiments([exp]).assign("/", "us", "new", sid, NOW) for sid in ids]  # another node, same config
    assert [[arm for _, arm in a] for a in first] == [[arm for _, arm in a] for a in again]
    counts = Counter(arms[0][1] for arms in first)
    assert abs(counts["b"] / len(ids) - 0.25) < 0.015


def test_adding_an_unrelated_experiment_moves_nobody() -> None:
    hero = experiment("hero")
    ids = sticky_ids(2_000)
    before = {sid: dict((e.settings.id, arm) for e, arm in Experiments([hero]).assign("/", "us", "new", sid, NOW))
              for sid in ids}  # fmt: skip
    more = Experiments([experiment("aaa-first"), hero, experiment("price", traffic=0.5)])
    after = {sid: dict((e.settings.id, arm) for e, arm in more.assign("/", "us", "new", sid, NOW)) for sid in ids}
    assert all(after[sid]["hero"] == before[sid]["hero"] for sid in ids)


def test_traffic_share_targeting_dates_and_paths() -> None:
    half = Experiments([experiment("half", traffic=0.5)])
    ids = sticky_ids(10_000)
    share = sum(bool(half.assign("/", "us", "new", sid, NOW)) for sid in ids) / len(ids)
    assert abs(share - 0.5) < 0.02
    targeted = Experiments(
        [experiment("t", markets=["eu"], segments=["vip"], paths=["/p/*"], start=NOW, end=NOW + timedelta(days=1))]
    )
    sid = ids[0]
    assert targeted.assign("/p/tent", "eu", "vip", sid, NOW)
    assert not targeted.assign("/p/tent", "us", "vip", sid, NOW)  # market
    assert not targeted.assign("/p/tent", "eu", "new", sid, NOW)  # segment
    assert not targeted.assign("/c/tents", "eu", "vip", sid, NOW)  # path
    assert not targeted.assign("/p/tent", "eu", "vip", sid, NOW - timedelta(seconds=1))  # not started
    assert not targeted.assign("/p/tent", "eu", "vip", sid, NOW + timedelta(days=1))  # ended
    assert not targeted.assign("/p/tent", "eu", "vip", None, NOW)  # nothing to hash


def test_a_signed_segment_cookie_is_honoured_and_a_forged_one_ignored() -> None:
    edge = personalizer()
    assert edge.personalize("/", "us", segment_cookie("vip"), "").segment == "vip"
    assert edge.personalize("/", "us", segment_cookie("returning"), "").segment == "returning"
    assert edge.personalize("/", "us", None, "").segment == "new"
    assert edge.personalize("/", "us", segment_cookie("vip", secret="guessed"), "").segment == "new"
    tampered = segment_cookie("returning").replace("es_seg=", "es_seg=x")
    assert edge.personalize("/", "us", tampered, "").segment == "new"
    assert edge.personalize("/", "us", "es_seg=vip", "").segment == "new"  # unsigned
    old = URLSafeTimedSerializer(SECRET.encode(), salt="edgeshop.segment")
    stale = "es_seg=" + old.dumps({"s": "vip"})
    expired = Personalizer(PersonalizationSettings(secret=SECRET, segment_max_age_days=1))  # type: ignore[arg-type]
    assert expired.personalize("/", "us", stale, "").segment == "vip"
    later = datetime.now(UTC) + timedelta(days=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("itsdangerous.timed.TimestampSigner.get_timestamp", lambda self: int(later.timestamp()))
        assert expired.personalize("/", "us", stale, "").segment == "new"


def test_a_landing_campaign_gives_its_segment_and_is_remembered() -> None:
    rules = [SegmentRule(name="vip", cookie=["vip"]), SegmentRule(name="campaign:summer", utm_campaign=["summer-24"]),
             SegmentRule(name="new")]  # fmt: skip
    edge = personalizer(segments=rules)
    landing = edge.personalize("/", "us", None, "utm_source=mail&utm_campaign=summer-24")
    assert landing.segment == "campaign:summer"
    assert landing.set_cookies == ("es_cmp=summer-24; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax",)
    assert edge.personalize("/c/tents", "us", "es_cmp=summer-24", "").segment == "campaign:summer"
    assert edge.personalize("/", "us", "es_cmp=made-up", "utm_campaign=other").segment == "new"
    assert edge.personalize("/", "us", segment_cookie("vip") + "; es_cmp=summer-24", "").segment == "vip"  # order


def test_the_sticky_id_is_issued_once_and_only_with_experiments() -> None:
    assert personalizer().personalize("/", "us", None, "").set_cookies == ()
    edge = personalizer(experiment("hero", paths=["/", "/p/*"]))
    assert edge.personalize("/static/app.css", "us", None, "").set_cookies == ()  # no experiment runs there
    first = edge.personalize("/", "us", None, "")
    assert first.sticky_id and first.set_cookies[0].startswith(f"es_sid={first.sticky_id}; Max-Age=31536000;")
    again = edge.personalize("/", "us", f"es_sid={first.sticky_id}", "")
    assert again.set_cookies == () and again.arms == first.arms
    assert dict(again.headers) == {"x-segment": "new", "x-exp-hero": first.arms[0][1]}
    assert edge.personalize("/", "us", "es_sid=<script>", "").sticky_id != "<script>"
    assert Personalizer.decided("x-exp-anything") and Personalizer.decided("x-segment")
    assert not Personalizer.decided("x-market")


def test_the_variant_bound_names_the_experiments_that_multiply() -> None:
    settings = PersonalizationSettings(
        experiments=[
            experiment("hero", paths=["/"]),
            experiment("pdp", paths=["/p/*"], variants=[{"name": n} for n in ("a", "b", "c")]),
            experiment("price", paths=["/p/*", "/c/*"], traffic=0.5),
        ],
        max_variants_per_route=60,
    )
    by_route = {rv.route: rv.count for rv in variants_per_route(settings.experiments, markets=3, segments=3)}
    assert by_route == {"/": 18, "/p/*": 3 * 3 * 3 * 3, "/c/*": 3 * 3 * 3}
    with pytest.raises(ValueError, match=r"'/p/\*'.*81.*experiments multiplying there: pdp, price"):
        settings.check_bound(markets=3)
    settings.model_copy(update={"max_variants_per_route": 81}).check_bound(markets=3)


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValidationError, match="unique"):
        PersonalizationSettings(experiments=[experiment("a"), experiment("a")])
    with pytest.raises(ValidationError, match="unknown segments"):
        PersonalizationSettings(experiments=[experiment("a", segments=["gold"])])
    with pytest.raises(ValidationError, match="at least 2"):
        ExperimentSettings.model_validate({"id": "x", "variants": [{"name": "only"}]})
    with pytest.raises(ValidationError, match="end must come after start"):
        experiment("x", start=NOW, end=NOW)


def test_other_sites_odd_cookies_do_not_hide_the_edges_own() -> None:
    edge = personalizer(experiment("hero"))
    sid = edge.personalize("/", "us", None, "").sticky_id
    messy = f'prefs={{"theme": "dark"}}; x=a b; es_sid={sid}; path=C:\\tmp'
    again = edge.personalize("/", "us", messy, "")
    assert again.sticky_id == sid and again.set_cookies == ()
    assert edge.personalize("/", "us", f'{segment_cookie("vip")}; bad="unterminated', "").segment == "vip"


def test_the_bound_counts_globs_that_meet_and_markets_times_segments_alone() -> None:
    three = [{"name": n} for n in ("a", "b", "c")]
    overlapping = [experiment("pdp", paths=["/p/*"], variants=three), experiment("tent", paths=["/*/tent"],
                   variants=three)]  # fmt: skip
    counts = {rv.route: rv.count for rv in variants_per_route(overlapping, markets=3, segments=4)}
    assert counts == {"/p/*": 3 * 4 * 3 * 3, "/*/tent": 3 * 4 * 3 * 3}  # /p/tent can be in both
    apart = [experiment("pdp", paths=["/p/*"], variants=three), experiment("cat", paths=["/c/*"], variants=three)]
    assert {rv.route: rv.count for rv in variants_per_route(apart, markets=1, segments=1)} == {"/c/*": 3, "/p/*": 3}
    many = PersonalizationSettings(segments=[SegmentRule(name=f"s{i}") for i in range(10)], max_variants_per_route=20)
    with pytest.raises(ValueError, match="no experiments"):
        many.check_bound(markets=3)
