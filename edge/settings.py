"""Settings owned by the edge node."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from edge.geo import GeoSettings
from edge.handlers import HandlerSettings
from edge.markets import MarketRoute
from edge.personalize import PersonalizationSettings
from edge.rules import EdgeRule, RewriteRule


class EdgeCacheSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    l1_max_bytes: int = Field(default=256 * 2**20, ge=2**20, description="in-process cache size in bytes")
    max_object_bytes: int = Field(default=8 * 2**20, ge=1024, description="larger responses stream, unstored")
    grace_seconds: float = Field(default=0.0, ge=0, description="serve stale this long when the origin fails")
    coalesce_wait_seconds: float = Field(default=10.0, gt=0, description="how long a coalesced miss waits")
    tracking_params: list[str] = Field(default_factory=lambda: ["gclid", "fbclid", "dclid", "msclkid", "mc_cid"])
    tracking_prefixes: list[str] = Field(default_factory=lambda: ["utm_"])


class CdnPurgeSettings(BaseModel):
    """The CDN in front of the edge, told about every purge so it does not keep what the edge dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Literal["fastly", "cloudflare", "cloudfront"]
    service_id: str = Field(default="", description="fastly: the service id")
    zone_id: str = Field(default="", description="cloudflare: the zone id")
    distribution_id: str = Field(default="", description="cloudfront: the distribution id")
    token: SecretStr | None = Field(default=None, description='fastly/cloudflare API token, as "env:NAME"')

    @model_validator(mode="after")
    def _complete(self) -> CdnPurgeSettings:
        needed = {"fastly": ("service_id", "token"), "cloudflare": ("zone_id", "token"),
                  "cloudfront": ("distribution_id",)}[self.provider]  # fmt: skip
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"{self.provider} needs {', '.join(missing)}")
        return self


RegionName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")]


class RegionSettings(BaseModel):
    """One origin region: where it is, and the origin URLs that serve it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: RegionName
    origins: list[AnyHttpUrl] = Field(min_length=1)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    priority: int = Field(default=0, description="among regions equally near, lower is preferred")

    @property
    def location(self) -> tuple[float, float] | None:
        if self.latitude is None or self.longitude is None:
            return None
        return (self.latitude, self.longitude)


class HealthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(default="/healthz", pattern=r"^/")
    interval_seconds: float = Field(default=2.0, gt=0)
    timeout_seconds: float = Field(default=1.0, gt=0)
    unhealthy_after: int = Field(default=2, ge=1, description="failed probes in a row")
    healthy_after: int = Field(default=2, ge=1, description="passed probes in a row")


class BreakerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    failures: int = Field(default=5, ge=1, description="failed requests in a row that open the breaker")
    open_seconds: float = Field(default=5.0, gt=0, description="how long an open breaker keeps traffic away")


class FragmentSettings(BaseModel):
    """Hole punching (`edge.fragments`): how long a page waits for its fragments, and how many it may have."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_ms: int = Field(default=250, ge=1, le=10_000, description="after this, fragments show their fallback")
    max_includes: int = Field(default=16, ge=1, le=256, description="a page with more is sent unprocessed")
    max_fragment_bytes: int = Field(default=64 * 1024, ge=1024, description="a larger fragment counts as failed")


class ObservabilitySettings(BaseModel):
    """`[edge.observability]`: request metrics, OpenTelemetry traces and the access log of this edge.

    Traces start here, or continue a W3C `traceparent` sent by a trusted proxy (`edge.trusted_proxies`), and go on
    to the origin and its vendors. A sampled request leaves the wire path for the ASGI one, where its spans are
    made: at `sample_ratio = 1.0` no hit is answered below ASGI (docs/benchmarks.md has the cost).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: bool = Field(default=True, description="count requests for /metrics; off only to measure their cost")
    tracing: bool = Field(default=False, description="OpenTelemetry traces; off: no tracing work on any request")
    otlp_endpoint: AnyHttpUrl | None = Field(
        default=None, description='OTLP/HTTP (protobuf) traces endpoint, e.g. "http://collector:4318/v1/traces"'
    )
    sample_ratio: float = Field(
        default=0.01, ge=0, le=1, description="share of traces started here that are recorded (a proxy's flag wins)"
    )
    service_name: str = Field(default="edgeshop-edge", min_length=1, description="service.name of the spans")
    access_log_sample: float = Field(
        default=0.0, ge=0, le=1, description="share of requests logged to edgeshop.access: 0 off, 1 every request"
    )

    @model_validator(mode="after")
    def _exported(self) -> ObservabilitySettings:
        if self.tracing and self.otlp_endpoint is None:
            raise ValueError('tracing needs otlp_endpoint, e.g. "http://collector:4318/v1/traces"')
        return self


class EdgeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=1, le=65535)
    origin: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8788")
    origin_timeout_seconds: float = Field(default=10.0, gt=0)
    max_request_body_bytes: int = Field(
        default=10 * 2**20, ge=0, description="larger request bodies get 413; bodies stream to the origin"
    )
    allowed_hosts: list[str] = Field(default_factory=list, description="Host allow-list; empty allows any")
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(
        default_factory=list,
        description="peers whose X-Forwarded-*, CDN geo, traceparent and X-Request-Id headers are believed",
    )
    redis_url: str | None = Field(default=None, description="shared L2 cache and purge bus; none: L1 only")
    redis_prefix: str = Field(default="", description="namespace for every key and channel in that Redis")
    max_purge_lag_seconds: float = Field(
        default=5.0, gt=0, description="longest a node that lost the purge bus may serve what it cached"
    )
    purge_token: SecretStr | None = Field(default=None, description='bearer token for POST /_edge/purge ("env:NAME")')
    admin_networks: list[IPv4Network | IPv6Network] = Field(
        default_factory=lambda: list[IPv4Network | IPv6Network]([IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")]),
        description="peers that may read /metrics: the connecting address of a scraper that connects directly; "
        "never a trusted proxy's, nor a request with X-Forwarded-For or Forwarded (those need admin_token)",
    )
    admin_token: SecretStr | None = Field(default=None, description='or a bearer token for /metrics ("env:NAME")')
    cache: EdgeCacheSettings = EdgeCacheSettings()
    cdn_purge: CdnPurgeSettings | None = None
    region: RegionName | None = Field(default=None, description="the region this edge runs in")
    regions: list[RegionSettings] = Field(
        default_factory=list, description="origin regions; none: the single `origin` above"
    )
    markets: list[MarketRoute] = Field(
        default_factory=list, description="composed from [[markets]]: countries, URL prefix, domain, home region"
    )
    default_market: str | None = None
    home_paths: list[str] = Field(
        default_factory=lambda: ["/cart", "/checkout", "/orders", "/account", "/_fragments", "/api/carts",
                                 "/api/checkout", "/api/orders"],
        description="reads of these paths go to the market's home region too (carts and orders live there)",
    )  # fmt: skip
    geo: GeoSettings = GeoSettings()
    health: HealthSettings = HealthSettings()
    breaker: BreakerSettings = BreakerSettings()
    retry_budget: int = Field(default=1, ge=0, le=5, description="other regions a failed read may try")
    personalization: PersonalizationSettings = PersonalizationSettings()
    fragments: FragmentSettings = FragmentSettings()
    handlers: list[HandlerSettings] = Field(default_factory=list, description="merchant code, run in order")
    rules: list[EdgeRule] = Field(default_factory=list, description="declarative redirects, blocks, headers…")
    observability: ObservabilitySettings = ObservabilitySettings()

    @field_validator("admin_token", "purge_token")
    @classmethod
    def _not_empty(cls, token: SecretStr | None) -> SecretStr | None:
        # An empty token would match an absent Authorization field: "set" must mean a real secret.
        if token is not None and not token.get_secret_value().strip():
            raise ValueError(
                'is empty (an "env:" variable set to ""?): give it a value, or leave it out to turn it off'
            )
        return token

    @model_validator(mode="after")
    def _known_regions(self) -> EdgeSettings:
        names = [region.name for region in self.regions]
        if len(set(names)) != len(names):
            raise ValueError(f"region names must be unique, got {names}")
        if self.regions and self.region is not None and self.region not in names:
            raise ValueError(f"edge.region {self.region!r} is not one of the regions: {', '.join(names)}")
        unknown = {m.id: m.home_region for m in self.markets if m.home_region and m.home_region not in names}
        if self.regions and unknown:
            raise ValueError(f"markets homed in unknown regions: {unknown}; regions are {', '.join(names)}")
        self.personalization.check_bound(markets=len(self.markets))
        arms = {e.id: {arm.name for arm in e.variants} for e in self.personalization.experiments}
        for rule in self.rules:
            if isinstance(rule, RewriteRule) and rule.arm not in arms.get(rule.experiment, ()):
                raise ValueError(f"rewrite rule names experiment {rule.experiment!r} arm {rule.arm!r}, "
                                 f"which is not configured; experiments: {arms or 'none'}")  # fmt: skip
        return self
