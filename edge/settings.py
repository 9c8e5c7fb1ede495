"""Settings owned by the edge node."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator


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
        default_factory=list, description="peers whose X-Forwarded-* headers are believed"
    )
    redis_url: str | None = Field(default=None, description="shared L2 cache and purge bus; none: L1 only")
    redis_prefix: str = Field(default="", description="namespace for every key and channel in that Redis")
    max_purge_lag_seconds: float = Field(
        default=5.0, gt=0, description="longest a node that lost the purge bus may serve what it cached"
    )
    purge_token: SecretStr | None = Field(default=None, description='bearer token for POST /_edge/purge ("env:NAME")')
    cache: EdgeCacheSettings = EdgeCacheSettings()
    cdn_purge: CdnPurgeSettings | None = None
