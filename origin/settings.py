"""Settings owned by the origin: server, data, markets, shipping, tax and cache headers."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaxSettings(_Settings):
    rate_bps: int = Field(default=0, ge=0, le=10_000, description="tax rate in basis points: 2000 = 20%")
    inclusive: bool = Field(default=False, description="prices already include the tax (VAT markets)")
    label: str = "Tax"


class Market(_Settings):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,15}$")]
    name: str
    countries: list[CountryCode] = Field(default_factory=list)
    currency: CurrencyCode
    locale: str = Field(default="en_US", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    price_list: str
    tax: TaxSettings = TaxSettings()
    url_prefix: str | None = Field(
        default=None,
        pattern=r"^/[a-z]{2}(-[a-z]{2})?$",
        description='path prefix that picks this market, e.g. "/de-de"',
    )
    domain: str | None = Field(default=None, description="a host name that always means this market")
    home_region: str | None = Field(default=None, description="the region where this market's carts and orders live")


class ShippingMethod(_Settings):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    label: str
    description: str = ""
    # currency -> price in minor units; a method without a price for a currency is not offered there
    prices: dict[CurrencyCode, Annotated[int, Field(ge=0)]]
    free_over: dict[CurrencyCode, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)


class CacheHeaderSettings(_Settings):
    """What shared pages and catalog API responses tell caches (RFC 9111, RFC 5861)."""

    s_maxage: int = Field(default=300, ge=0, description="seconds a shared cache may serve without asking")
    stale_while_revalidate: int = Field(default=86_400, ge=0)
    stale_if_error: int = Field(default=86_400, ge=0)
    browser_max_age: int = Field(default=0, ge=0, description="max-age for browsers; 0 makes them revalidate")


def default_markets() -> list[Market]:
    return [
        Market(id="us", name="United States", countries=["US"], currency="USD", locale="en_US", price_list="usd"),
        Market(
            id="eu",
            name="Europe",
            countries=["DE", "FR", "NL", "AT", "IE", "ES", "IT", "BE"],
            currency="EUR",
            locale="de_DE",
            price_list="eur",
            tax=TaxSettings(rate_bps=1900, inclusive=True, label="VAT"),
            url_prefix="/eu",
        ),
        Market(
            id="uk",
            name="United Kingdom",
            countries=["GB"],
            currency="GBP",
            locale="en_GB",
            price_list="gbp",
            tax=TaxSettings(rate_bps=2000, inclusive=True, label="VAT"),
            url_prefix="/uk",
        ),
    ]


def _default_shipping() -> list[ShippingMethod]:
    return [
        ShippingMethod(
            id="standard",
            label="Standard",
            description="3–5 business days",
            prices={"USD": 599, "EUR": 595, "GBP": 495},
            free_over={"USD": 7500, "EUR": 7500, "GBP": 6000},
        ),
        ShippingMethod(
            id="express",
            label="Express",
            description="1–2 business days",
            prices={"USD": 1999, "EUR": 1795, "GBP": 1495},
        ),
    ]


class ObservabilitySettings(_Settings):
    """`[origin.observability]`: OpenTelemetry traces and the access log of the origin.

    The origin continues the trace of the edge that sent the request (its `traceparent`) and passes it on to
    every vendor call; the edge is the one that decides whether a trace is recorded (a `traceparent` that arrives
    is followed: recorded when its sampled flag says so, never otherwise), so `sample_ratio` only applies to traces
    that start here (a request that did not come through an edge, or an edge with tracing off). 0.01 by default:
    at 1.0 every request of an edge that does not trace would be a recorded root trace.
    """

    tracing: bool = Field(default=False, description="OpenTelemetry traces; off: no tracing work on any request")
    otlp_endpoint: AnyHttpUrl | None = Field(
        default=None, description='OTLP/HTTP (protobuf) traces endpoint, e.g. "http://collector:4318/v1/traces"'
    )
    sample_ratio: float = Field(
        default=0.01, ge=0, le=1, description="share of traces started here that are recorded (an edge's flag wins)"
    )
    service_name: str = Field(default="edgeshop-origin", min_length=1, description="service.name of the spans")
    trusted_peers: list[IPv4Network | IPv6Network] | None = Field(
        default=None,
        description="peers whose traceparent and X-Request-Id are continued; none: every peer (the origin is "
        "reached only through its edges)",
    )
    access_log: bool = Field(default=False, description="one edgeshop.access line per request")

    @model_validator(mode="after")
    def _exported(self) -> ObservabilitySettings:
        if self.tracing and self.otlp_endpoint is None:
            raise ValueError('tracing needs otlp_endpoint, e.g. "http://collector:4318/v1/traces"')
        return self


class OriginSettings(_Settings):
    host: str = "127.0.0.1"
    port: int = Field(default=8788, ge=1, le=65535)
    admin_networks: list[IPv4Network | IPv6Network] = Field(
        default_factory=lambda: list[IPv4Network | IPv6Network]([IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")]),
        description="peers that may read /metrics: the connecting address of a scraper that connects directly; a "
        "request through an edge or any proxy (forwarding fields, X-Request-Id) needs admin_token",
    )
    shutdown_grace_seconds: float = Field(
        default=20.0, gt=0, description="on SIGTERM: how long in-flight requests may take to finish"
    )
    data_dir: str = Field(default=".edgeshop", description="embedded stores' files, relative to the config file")
    secret_key: SecretStr | None = Field(
        default=None,
        description='signs cookies; reference it as "env:NAME". When unset, a key is generated into data_dir.',
    )
    shipping_methods: list[ShippingMethod] = Field(default_factory=_default_shipping)
    cache: CacheHeaderSettings = CacheHeaderSettings()
    admin_token: SecretStr | None = Field(
        default=None,
        description='bearer token of the admin API (/api/admin/...) and /metrics, as "env:NAME"; unset: no admin API',
    )
    seed_products: int = Field(default=200, ge=0, description="catalog size seeded on first start when empty")
    cart_ttl_days: int = Field(default=30, ge=1)
    content_poll_seconds: float = Field(
        default=2.0, ge=0, description="built-in CMS: how often edited content files are looked for (0: never)"
    )
    observability: ObservabilitySettings = ObservabilitySettings()

    @field_validator("admin_token")
    @classmethod
    def _not_empty(cls, token: SecretStr | None) -> SecretStr | None:
        # An empty token would match an absent Authorization field: "set" must mean a real secret.
        if token is not None and not token.get_secret_value().strip():
            raise ValueError(
                'is empty (an "env:" variable set to ""?): give it a value, or leave it out to turn it off'
            )
        return token


def check_markets(markets: list[Market], default_market: str) -> None:
    """Raises ValueError naming the problem; shared by config validation and tests that build settings."""
    ids = [m.id for m in markets]
    if not ids:
        raise ValueError("at least one [[markets]] entry is needed")
    if len(set(ids)) != len(ids):
        raise ValueError(f"market ids must be unique, got {ids}")
    if default_market not in ids:
        raise ValueError(f"default_market {default_market!r} is not one of the markets: {', '.join(ids)}")
    for market in markets:
        if market.url_prefix and market.domain:
            # On its domain every path already means the market; a prefix there would be a second URL.
            raise ValueError(f"market {market.id!r} has both url_prefix and domain: give it one of them")
    for what in ("url_prefix", "domain"):
        values = [str(getattr(m, what)).lower() for m in markets if getattr(m, what)]
        if len(set(values)) != len(values):
            raise ValueError(f"two markets have the same {what}: {sorted(values)}")
