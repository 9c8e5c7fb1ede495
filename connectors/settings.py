"""Settings of the connector layer: which vendor serves each capability, with that vendor's options.

`[connectors.<capability>]` holds `vendor = "<name>"` and the options of that vendor only. The vendor name
picks the options model from `VENDOR_SETTINGS`, so an unknown vendor or an option another vendor would take
is reported with the valid choices.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from connectors.http import VendorHttpSettings

Capability = Literal["commerce", "search", "cms", "payments"]


class VendorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vendor: str


class BuiltinCommerceSettings(VendorSettings):
    vendor: Literal["builtin"] = "builtin"
    database: str = Field(default="commerce.sqlite3", description="SQLite file, relative to origin.data_dir")


class BuiltinSearchSettings(VendorSettings):
    vendor: Literal["builtin"] = "builtin"
    database: str = Field(default="search.sqlite3", description="SQLite file, relative to origin.data_dir")


class BuiltinContentSettings(VendorSettings):
    vendor: Literal["builtin"] = "builtin"
    path: str = Field(default="content", description="folder of content files, relative to the config file")
    default_locale: str = "en"


class BuiltinPaymentsSettings(VendorSettings):
    vendor: Literal["builtin"] = "builtin"
    database: str = Field(default="payments.sqlite3", description="SQLite file, relative to origin.data_dir")


class RemoteVendorSettings(VendorSettings):
    """A SaaS vendor: reached through `connectors.http.VendorClient` with these timeouts and retries."""

    http: VendorHttpSettings = VendorHttpSettings()


class SearchFallback(VendorSettings):
    # What a shopper's search gets while the vendor is down: the built-in index (kept in sync alongside the
    # vendor's), the last answer to the same query, or an error page.
    fallback: Literal["builtin", "last_result", "none"] = "builtin"


class StripeSettings(RemoteVendorSettings):
    vendor: Literal["stripe"] = "stripe"
    secret_key: SecretStr = Field(description='"env:STRIPE_SECRET_KEY"; sk_test_… or sk_live_…')
    webhook_secret: SecretStr | None = Field(default=None, description='"env:STRIPE_WEBHOOK_SECRET" (whsec_…)')
    webhook_tolerance_seconds: int = Field(default=300, ge=1, description="older Stripe-Signature timestamps fail")
    api_version: str | None = Field(default=None, description="Stripe-Version to pin, e.g. 2026-06-24.dahlia")
    base_url: AnyHttpUrl = AnyHttpUrl("https://api.stripe.com")


class AdyenSettings(RemoteVendorSettings):
    vendor: Literal["adyen"] = "adyen"
    api_key: SecretStr = Field(description='"env:ADYEN_API_KEY"')
    merchant_account: str = Field(min_length=1)
    hmac_key: SecretStr | None = Field(default=None, description='hex HMAC key for notifications, "env:ADYEN_HMAC_KEY"')
    environment: Literal["test", "live"] = "test"
    live_url_prefix: str | None = Field(default=None, description="live only: the company's URL prefix")
    return_url: AnyHttpUrl | None = Field(
        default=None, description="returnUrl for /payments: where a 3-D Secure or redirected shopper comes back"
    )
    base_url: AnyHttpUrl | None = Field(default=None, description="overrides the URL the environment implies")


class MeilisearchSettings(SearchFallback, RemoteVendorSettings):
    vendor: Literal["meilisearch"] = "meilisearch"
    url: AnyHttpUrl
    api_key: SecretStr | None = Field(default=None, description='"env:MEILI_API_KEY"')
    index: str = "products"
    task_timeout_seconds: float = Field(default=30.0, gt=0, description="how long reindexing waits for a task")


class AlgoliaSettings(SearchFallback, RemoteVendorSettings):
    vendor: Literal["algolia"] = "algolia"
    app_id: str = Field(pattern=r"^[A-Z0-9]{1,32}$")
    api_key: SecretStr = Field(description='"env:ALGOLIA_API_KEY" (search-only for reads; admin to reindex)')
    index: str = "products"
    base_url: AnyHttpUrl | None = Field(default=None, description="default https://{app_id}-dsn.algolia.net")
    task_timeout_seconds: float = Field(default=30.0, gt=0)


class TypesenseSettings(SearchFallback, RemoteVendorSettings):
    vendor: Literal["typesense"] = "typesense"
    url: AnyHttpUrl
    api_key: SecretStr = Field(description='"env:TYPESENSE_API_KEY"')
    collection: str = "products"


class ContentFallback(VendorSettings):
    # While the vendor is down, pages show the last content it gave for that entry ("last_good") or fail.
    fallback: Literal["last_good", "none"] = "last_good"


class ContentfulSettings(ContentFallback, RemoteVendorSettings):
    vendor: Literal["contentful"] = "contentful"
    space_id: str = Field(min_length=1)
    environment: str = "master"
    delivery_token: SecretStr = Field(description='"env:CONTENTFUL_DELIVERY_TOKEN"')
    preview_token: SecretStr | None = Field(default=None, description='"env:CONTENTFUL_PREVIEW_TOKEN", for drafts')
    webhook_secret: SecretStr | None = Field(default=None, description="sent by the webhook as X-Webhook-Secret")
    default_locale: str = "en-US"
    delivery_url: AnyHttpUrl = AnyHttpUrl("https://cdn.contentful.com")
    preview_url: AnyHttpUrl = AnyHttpUrl("https://preview.contentful.com")


class StoryblokSettings(ContentFallback, RemoteVendorSettings):
    vendor: Literal["storyblok"] = "storyblok"
    token: SecretStr = Field(description='"env:STORYBLOK_TOKEN", a public token (drafts need preview_token)')
    preview_token: SecretStr | None = None
    folders: dict[str, str] = Field(
        default_factory=dict, description="content type -> Storyblok folder; default: a folder named like the type"
    )
    region: Literal["eu", "us", "ca", "ap", "cn"] = "eu"
    webhook_secret: SecretStr | None = Field(default=None, description="signs webhook-signature (HMAC-SHA1)")
    default_locale: str = "default"
    base_url: AnyHttpUrl | None = Field(default=None, description="overrides the URL the region implies")


# capability -> vendor name -> its settings model
VENDOR_SETTINGS: dict[str, dict[str, type[VendorSettings]]] = {
    "commerce": {"builtin": BuiltinCommerceSettings},
    "search": {
        "builtin": BuiltinSearchSettings,
        "meilisearch": MeilisearchSettings,
        "algolia": AlgoliaSettings,
        "typesense": TypesenseSettings,
    },
    "cms": {"builtin": BuiltinContentSettings, "contentful": ContentfulSettings, "storyblok": StoryblokSettings},
    "payments": {"builtin": BuiltinPaymentsSettings, "stripe": StripeSettings, "adyen": AdyenSettings},
}


def known_vendors(capability: str) -> list[str]:
    return sorted(VENDOR_SETTINGS[capability])


class ConnectorsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    commerce: VendorSettings = BuiltinCommerceSettings()
    search: VendorSettings = BuiltinSearchSettings()
    cms: VendorSettings = BuiltinContentSettings()
    payments: VendorSettings = BuiltinPaymentsSettings()

    @field_validator("commerce", "search", "cms", "payments", mode="before")
    @classmethod
    def _vendor_options(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, VendorSettings):
            return value
        if not isinstance(value, dict):
            raise PydanticCustomError("vendor_table", "expected a table with a `vendor` key")
        capability = info.field_name
        assert capability is not None
        choices = VENDOR_SETTINGS[capability]
        vendor = value.get("vendor", "builtin")
        if vendor not in choices:
            raise PydanticCustomError(
                "unknown_vendor",
                "unknown vendor '{vendor}' for {capability}; choose one of: {choices}",
                {"vendor": vendor, "capability": capability, "choices": ", ".join(sorted(choices))},
            )
        return choices[vendor].model_validate(value)
