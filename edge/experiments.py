"""A/B experiments at the edge: deterministic, sticky arm assignment, and the bound on cache variants.

An arm is a pure function of the experiment's id and the shopper's sticky id (SHA-256 of both), so every
node in every region gives a shopper the same arm without sharing state, and adding, removing or editing
another experiment changes nobody's arm in this one. The origin sees the arm in `X-Exp-<id>` and names
that header in `Vary` when a page depends on it; pages that do not are never split by the experiment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

ExperimentId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
HEADER_PREFIX = "x-exp-"
_SCALE = float(2**32)


class Arm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    weight: int = Field(default=1, ge=0, description="relative share among the arms")


class ExperimentSettings(BaseModel):
    """One `[[experiments]]` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ExperimentId
    variants: list[Arm] = Field(min_length=2, description="the arms, e.g. control and b, with weights")
    traffic: float = Field(default=1.0, gt=0, le=1, description="share of eligible shoppers in the experiment")
    paths: list[str] = Field(
        default_factory=lambda: ["/*"], min_length=1, description='routes it runs on, globs like "/p/*"'
    )
    markets: list[str] = Field(default_factory=list, description="only these markets; empty: all")
    segments: list[str] = Field(default_factory=list, description="only these segments; empty: all")
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSettings:
        names = [arm.name for arm in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.id!r}: variant names must be unique, got {names}")
        if not any(arm.weight for arm in self.variants):
            raise ValueError(f"experiment {self.id!r}: at least one variant needs a weight above 0")
        if self.start and self.end and self.end <= self.start:
            raise ValueError(f"experiment {self.id!r}: end must come after start")
        bad = [p for p in self.paths if not p.startswith("/")]
        if bad:
            raise ValueError(f"experiment {self.id!r}: paths must start with '/', got {bad}")
        return self

    @property
    def header(self) -> str:
        return HEADER_PREFIX + self.id

    @property
    def always_on(self) -> bool:
        """Every eligible request gets an arm: no one on its routes sees the page without the experiment."""
        return self.traffic >= 1 and not (self.markets or self.segments or self.start or self.end)


def hash_positions(experiment_id: str, sticky_id: str) -> tuple[float, float]:
    """Two independent uniform positions in [0, 1): one for the traffic share, one for the arm."""
    digest = hashlib.sha256(f"{experiment_id}\x00{sticky_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / _SCALE, int.from_bytes(digest[4:8], "big") / _SCALE


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment ready for the hot path: cumulative weights worked out once."""

    settings: ExperimentSettings
    header: str
    _bounds: tuple[tuple[float, str], ...]

    @classmethod
    def build(cls, settings: ExperimentSettings) -> Experiment:
        total = sum(arm.weight for arm in settings.variants)
        running, bounds = 0, []
        for arm in settings.variants:
            if arm.weight:
                running += arm.weight
                bounds.append((running / total, arm.name))
        return cls(settings, settings.header, tuple(bounds))

    def runs_on(self, path: str) -> bool:
        return any(fnmatchcase(path, pattern) for pattern in self.settings.paths)

    def eligible(self, market: str, segment: str, now: datetime) -> bool:
        s = self.settings
        return (
            (not s.markets or market in s.markets)
            and (not s.segments or segment in s.segments)
            and (s.start is None or now >= s.start)
            and (s.end is None or now < s.end)
        )

    def arm(self, sticky_id: str) -> str | None:
        """The shopper's arm, or None when the traffic share leaves them out (they see the default page)."""
        in_traffic, position = hash_positions(self.settings.id, sticky_id)
        if in_traffic >= self.settings.traffic:
            return None
        for bound, name in self._bounds:
            if position < bound:
                return name
        return self._bounds[-1][1]  # float rounding at the very top


class Experiments:
    def __init__(self, settings: Iterable[ExperimentSettings]) -> None:
        self.all = tuple(Experiment.build(s) for s in settings)
        self.headers = frozenset(e.header for e in self.all)

    def __bool__(self) -> bool:
        return bool(self.all)

    def on_path(self, path: str) -> bool:
        """Some experiment runs on this path (for someone): a shopper here needs a sticky id."""
        return any(experiment.runs_on(path) for experiment in self.all)

    def assign(
        self, path: str, market: str, segment: str, sticky_id: str | None, now: datetime | None = None
    ) -> list[tuple[Experiment, str]]:
        """The arms of the experiments running on this request; none without a sticky id to hash."""
        if not self.all or sticky_id is None:
            return []
        now = now or datetime.now(UTC)
        chosen = []
        for experiment in self.all:
            if experiment.runs_on(path) and experiment.eligible(market, segment, now):
                arm = experiment.arm(sticky_id)
                if arm is not None:
                    chosen.append((experiment, arm))
        return chosen


@dataclass(frozen=True, slots=True)
class RouteVariants:
    route: str
    count: int
    factors: tuple[tuple[str, int], ...]  # (what multiplies, by how much)

    def explain(self) -> str:
        return " × ".join(f"{what} ({n})" for what, n in self.factors) + f" = {self.count}"


def _literal(pattern: str) -> str:
    cut = min((i for i, c in enumerate(pattern) if c in "*?["), default=len(pattern))
    return pattern[:cut]


def _overlap(a: str, b: str) -> bool:
    """Whether some path could match both globs (erring towards yes: the bound must not be underestimated)."""
    if a == _literal(a):
        return fnmatchcase(a, b)
    if b == _literal(b):
        return fnmatchcase(b, a)
    first, second = _literal(a), _literal(b)
    return first.startswith(second) or second.startswith(first)


def variants_per_route(experiments: Sequence[ExperimentSettings], markets: int, segments: int) -> list[RouteVariants]:
    """The most cached copies one URL of each experiment route can have: markets × segments × arms.

    The worst case: it assumes a page varies on the segment and on every experiment that may run on it. An
    experiment that not everyone gets (traffic share, targeting, dates) adds the page without it as one more
    variant. Routes are the experiments' own path patterns (`/*` when there are none); two patterns are taken
    to meet unless their literal beginnings part (`/p/*` and `/*/tent` meet, `/p/*` and `/c/*` do not).
    """
    routes = sorted({pattern for e in experiments for pattern in e.paths}) or ["/*"]
    found = []
    for route in routes:
        factors: list[tuple[str, int]] = [("markets", markets), ("segments", segments)]
        for e in experiments:
            if any(_overlap(route, p) for p in e.paths):
                arms = sum(1 for arm in e.variants if arm.weight) + (0 if e.always_on else 1)
                factors.append((f"experiment {e.id}", arms))
        count = 1
        for _, n in factors:
            count *= n
        found.append(RouteVariants(route, count, tuple(factors)))
    return found


def check_variant_bound(experiments: Sequence[ExperimentSettings], *, markets: int, segments: int, bound: int) -> None:
    """Raises ValueError naming the route and the experiments that multiply past the bound."""
    over = [rv for rv in variants_per_route(experiments, markets, segments) if rv.count > bound]
    if over:
        worst = max(over, key=lambda rv: rv.count)
        multiplying = [what.removeprefix("experiment ") for what, _ in worst.factors if what.startswith("experiment ")]
        there = f"experiments multiplying there: {', '.join(multiplying)}" if multiplying else "no experiments"
        raise ValueError(
            f"route {worst.route!r} could be cached in {worst.explain()} variants, above the bound of {bound} "
            f"(edge.personalization.max_variants_per_route); {there}. Narrow their paths, targeting or arms, "
            f"use fewer markets or segments, or raise the bound."
        )


__all__ = [
    "HEADER_PREFIX",
    "Arm",
    "Experiment",
    "ExperimentSettings",
    "Experiments",
    "RouteVariants",
    "check_variant_bound",
    "hash_positions",
    "variants_per_route",
]
