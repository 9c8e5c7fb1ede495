"""Shopper segments: a small named set derived at the edge from a signed cookie and entry signals.

The origin sets the segment cookie (on login or after an order) signed with the shop's secret; the edge
verifies it and ignores a forged or expired one. A landing URL's `utm_campaign` that a rule names puts the
shopper in that rule's segment, and the edge remembers the campaign in a cookie for `campaign_days`. Rules
are tried in order; the first that matches names the segment, so the set of segments is the list of rules
and the cache can vary on it without splitting per shopper.

Cookie format (what an origin in another language must produce): itsdangerous `URLSafeTimedSerializer`
with salt `edgeshop.segment` over a JSON object whose `"s"` is the segment value (`{"s": "vip", "n": 4}`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from itsdangerous import BadData, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, Field

from edge.cookies import cookie_value

SEGMENT_SALT = "edgeshop.segment"
SEGMENT_HEADER = "x-segment"
SEGMENT_COOKIE = "es_seg"  # set by the origin, signed
CAMPAIGN_COOKIE = "es_cmp"  # set by the edge: the landing campaign it remembers
SegmentName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}(:[a-z0-9-]{1,32})?$")]
_CAMPAIGN = re.compile(r"[A-Za-z0-9._-]{1,64}")


class SegmentRule(BaseModel):
    """One `[[segments]]` entry. A rule with no condition matches everyone (put it last, as the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SegmentName
    cookie: list[str] = Field(default_factory=list, description="signed segment cookie values that give it")
    utm_campaign: list[Annotated[str, Field(pattern=_CAMPAIGN.pattern)]] = Field(
        default_factory=list, description="landing campaigns that give it"
    )

    @property
    def default(self) -> bool:
        return not (self.cookie or self.utm_campaign)


def default_segments() -> list[SegmentRule]:
    return [
        SegmentRule(name="vip", cookie=["vip"]),
        SegmentRule(name="returning", cookie=["returning", "vip"]),
        SegmentRule(name="new"),
    ]


def segment_count(rules: list[SegmentRule]) -> int:
    """How many values `X-Segment` can take: each rule's name, and "none" when no rule is a default."""
    return len(rules) + (0 if any(rule.default for rule in rules) else 1)


def segment_serializer(secret: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SEGMENT_SALT)


@dataclass(frozen=True, slots=True)
class SegmentChoice:
    segment: str
    campaign_to_remember: str | None  # set when this request brought a campaign the edge should keep


class SegmentResolver:
    def __init__(
        self,
        rules: list[SegmentRule],
        *,
        secret: bytes | None,
        max_age_seconds: int,
    ) -> None:
        self.rules = tuple(rules)
        self.names = tuple(rule.name for rule in rules)
        self.fallback = next((rule.name for rule in rules if rule.default), "none")
        self._serializer = segment_serializer(secret) if secret else None
        self._max_age = max_age_seconds
        self._campaigns = frozenset(c for rule in rules for c in rule.utm_campaign)

    def resolve(self, cookie_header: str | None, raw_query: str) -> SegmentChoice:
        signed = self._signed_value(cookie_header)
        landing = self._landing_campaign(raw_query)
        campaign = landing or self._remembered_campaign(cookie_header)
        for rule in self.rules:
            if (
                rule.default
                or (signed is not None and signed in rule.cookie)
                or (campaign is not None and campaign in rule.utm_campaign)
            ):
                return SegmentChoice(rule.name, landing)
        return SegmentChoice(self.fallback, landing)

    def _signed_value(self, cookie_header: str | None) -> str | None:
        raw = cookie_value(cookie_header, SEGMENT_COOKIE)
        if raw is None or self._serializer is None:
            return None
        try:
            payload: Any = self._serializer.loads(raw, max_age=self._max_age)
        except BadData:
            return None  # forged, edited or expired: as if there were no cookie
        value = payload.get("s") if isinstance(payload, dict) else None
        return value if isinstance(value, str) else None

    def _landing_campaign(self, raw_query: str) -> str | None:
        if not self._campaigns or "utm_campaign=" not in raw_query:
            return None
        for name, value in parse_qsl(raw_query, keep_blank_values=False):
            if name == "utm_campaign" and value in self._campaigns:
                return value
        return None

    def _remembered_campaign(self, cookie_header: str | None) -> str | None:
        if not self._campaigns:
            return None
        value = cookie_value(cookie_header, CAMPAIGN_COOKIE)
        # Unsigned on purpose: it can only name a configured campaign, as adding ?utm_campaign= would.
        return value if value in self._campaigns and _CAMPAIGN.fullmatch(value or "") else None


__all__ = [
    "CAMPAIGN_COOKIE",
    "SEGMENT_COOKIE",
    "SEGMENT_HEADER",
    "SEGMENT_SALT",
    "SegmentChoice",
    "SegmentResolver",
    "SegmentRule",
    "default_segments",
    "segment_count",
    "segment_serializer",
]
