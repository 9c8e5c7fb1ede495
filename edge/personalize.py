"""Request step 4: the shopper's segment and experiment arms, as request headers the cache can vary on.

The edge tells the origin `X-Segment: <name>` and `X-Exp-<id>: <arm>` for each experiment running on the
request (and drops any the client sent). A response that depends on one names it in `Vary`, so the variant
key of a page is market × the segment and arms that page uses, never the raw cookies. The sticky id that
arms hash is a first-party cookie the edge sets on the first response when experiments are configured.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from edge.cookies import cookie_value, set_cookie
from edge.experiments import HEADER_PREFIX, Experiment, Experiments, ExperimentSettings, check_variant_bound
from edge.segments import (
    CAMPAIGN_COOKIE,
    SEGMENT_COOKIE,
    SEGMENT_HEADER,
    SegmentResolver,
    SegmentRule,
    default_segments,
    segment_count,
)

# The shopper's first-party sticky id, which experiment arms hash (random; nothing else is derived from it).
STICKY_COOKIE = "es_sid"
_STICKY = re.compile(r"[A-Za-z0-9_-]{16,64}")
YEAR = 365 * 86_400


class PersonalizationSettings(BaseModel):
    """`[edge.personalization]`, with `[[segments]]` and `[[experiments]]` composed in by wrangler-py."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: SecretStr | None = Field(
        default=None, description="verifies the segment cookie; wrangler-py gives it the origin's secret_key"
    )
    segment_max_age_days: int = Field(default=365, ge=1)
    campaign_days: int = Field(default=7, ge=1, description="how long a landing campaign keeps its segment")
    secure_cookies: bool = False
    max_variants_per_route: int = Field(default=64, ge=1, description="config is refused above this")
    segments: list[SegmentRule] = Field(default_factory=default_segments)
    experiments: list[ExperimentSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> PersonalizationSettings:
        ids = [e.id for e in self.experiments]
        if len(set(ids)) != len(ids):
            raise ValueError(f"experiment ids must be unique, got {ids}")
        segments = [rule.name for rule in self.segments]
        if len(set(segments)) != len(segments):
            raise ValueError(f"segment names must be unique, got {segments}")
        unknown = {e.id: s for e in self.experiments for s in e.segments if s not in segments}
        if unknown:
            raise ValueError(f"experiments target unknown segments: {unknown}; segments are {', '.join(segments)}")
        return self

    def check_bound(self, markets: int) -> None:
        check_variant_bound(
            self.experiments,
            markets=max(markets, 1),
            segments=segment_count(self.segments),
            bound=self.max_variants_per_route,
        )


@dataclass(frozen=True, slots=True)
class Personalization:
    segment: str
    arms: list[tuple[Experiment, str]]
    headers: tuple[tuple[str, str], ...]  # what the origin and the cache's Vary see
    set_cookies: tuple[str, ...]  # Set-Cookie values for the shopper's response (never stored)
    sticky_id: str | None
    returning: bool = False  # the sticky id came with the request (it is not one minted just now)


class Personalizer:
    def __init__(self, settings: PersonalizationSettings) -> None:
        self.settings = settings
        secret = settings.secret.get_secret_value().encode() if settings.secret else None
        self.segments = SegmentResolver(
            settings.segments,
            secret=secret,
            max_age_seconds=settings.segment_max_age_days * 86_400,
        )
        self.experiments = Experiments(settings.experiments)
        self._campaign_max_age = settings.campaign_days * 86_400

    @staticmethod
    def decided(name: str) -> bool:
        """Request headers only the edge may set; a client's own are dropped."""
        return name == SEGMENT_HEADER or name.startswith(HEADER_PREFIX)

    def personalize(
        self, path: str, market: str, cookie_header: str | None, raw_query: str, now: datetime | None = None
    ) -> Personalization:
        choice = self.segments.resolve(cookie_header, raw_query)
        set_cookies: list[str] = []
        if choice.campaign_to_remember is not None:
            set_cookies.append(self._cookie(CAMPAIGN_COOKIE, choice.campaign_to_remember, self._campaign_max_age))
        sticky: str | None = None
        returning = False
        arms: list[tuple[Experiment, str]] = []
        if self.experiments:
            sticky = cookie_value(cookie_header, STICKY_COOKIE)
            returning = sticky is not None and _STICKY.fullmatch(sticky) is not None
            if not returning:
                # Minted only where an experiment runs: assets and API calls never carry a Set-Cookie for it.
                sticky = None
                if self.experiments.on_path(path):
                    sticky = secrets.token_urlsafe(16)
                    set_cookies.append(self._cookie(STICKY_COOKIE, sticky, YEAR))
            arms = self.experiments.assign(path, market, choice.segment, sticky, now)
        headers = ((SEGMENT_HEADER, choice.segment), *((e.header, arm) for e, arm in arms))
        return Personalization(choice.segment, arms, headers, tuple(set_cookies), sticky, returning)

    def _cookie(self, name: str, value: str, max_age: int) -> str:
        return set_cookie(name, value, max_age=max_age, secure=self.settings.secure_cookies)


__all__ = ["SEGMENT_COOKIE", "STICKY_COOKIE", "Personalization", "PersonalizationSettings", "Personalizer"]
