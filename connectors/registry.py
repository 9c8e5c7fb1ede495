"""Builds connector instances from settings: config in, one adapter per capability out.

Each vendor module exposes `build(settings) -> adapter`; it is imported only when configured, so a store
pays for the vendors it uses. Search and CMS vendors come wrapped in their fallback (`connectors.fallbacks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from connectors.cms.base import ContentProvider
from connectors.cms.builtin import BuiltinContent
from connectors.commerce.base import CommerceBackend
from connectors.commerce.builtin.backend import BuiltinCommerce
from connectors.errors import VendorMisconfigured
from connectors.payments.base import PaymentProvider
from connectors.payments.builtin import BuiltinPayments
from connectors.search.base import SearchProvider
from connectors.search.builtin import BuiltinSearch
from connectors.settings import (
    AdyenSettings,
    AlgoliaSettings,
    BuiltinCommerceSettings,
    BuiltinContentSettings,
    BuiltinPaymentsSettings,
    BuiltinSearchSettings,
    ConnectorsSettings,
    ContentfulSettings,
    MeilisearchSettings,
    StoryblokSettings,
    StripeSettings,
    TypesenseSettings,
    VendorSettings,
    known_vendors,
)


@dataclass(frozen=True, slots=True)
class Connectors:
    commerce: CommerceBackend
    search: SearchProvider
    cms: ContentProvider
    payments: PaymentProvider

    async def aclose(self) -> None:
        """Close the vendors' connection pools (the embedded adapters hold none)."""
        for adapter in (self.search, self.cms, self.payments):
            close = getattr(adapter, "aclose", None)
            if close is not None:
                await close()


def _unknown(capability: str, settings: VendorSettings) -> VendorMisconfigured:
    return VendorMisconfigured(
        f"connectors.{capability}.vendor: unknown vendor {settings.vendor!r}; "
        f"choose one of: {', '.join(known_vendors(capability))}",
        vendor=settings.vendor,
    )


def build_connectors(settings: ConnectorsSettings, *, data_dir: Path, project_dir: Path) -> Connectors:
    """`data_dir` holds the embedded stores' files; `project_dir` anchors relative content paths."""
    data_dir.mkdir(parents=True, exist_ok=True)

    match settings.commerce:
        case BuiltinCommerceSettings(database=database):
            commerce: CommerceBackend = BuiltinCommerce(str(data_dir / database))
        case other:
            raise _unknown("commerce", other)
    match settings.search:
        case BuiltinSearchSettings(database=database):
            search: SearchProvider = BuiltinSearch(str(data_dir / database))
        case MeilisearchSettings() | AlgoliaSettings() | TypesenseSettings() as search_vendor:
            search = _search_vendor(search_vendor, data_dir)
        case other:
            raise _unknown("search", other)
    match settings.cms:
        case BuiltinContentSettings(path=path, default_locale=default_locale):
            cms: ContentProvider = BuiltinContent(project_dir / path, default_locale=default_locale)
        case ContentfulSettings() | StoryblokSettings() as cms_vendor:
            cms = _content_vendor(cms_vendor)
        case other:
            raise _unknown("cms", other)
    match settings.payments:
        case BuiltinPaymentsSettings(database=database):
            payments: PaymentProvider = BuiltinPayments(str(data_dir / database))
        case StripeSettings() as stripe:
            from connectors.payments.stripe import build as build_stripe

            payments = build_stripe(stripe)  # payments never fall back: a shopper is told to try again
        case AdyenSettings() as adyen:
            from connectors.payments.adyen import build as build_adyen

            payments = build_adyen(adyen)
        case other:
            raise _unknown("payments", other)
    return Connectors(commerce=commerce, search=search, cms=cms, payments=payments)


def _search_vendor(
    settings: MeilisearchSettings | AlgoliaSettings | TypesenseSettings, data_dir: Path
) -> SearchProvider:
    from connectors.fallbacks import FallbackSearch

    vendor: SearchProvider
    match settings:
        case MeilisearchSettings():
            from connectors.search.meilisearch import build as build_meilisearch

            vendor = build_meilisearch(settings)
        case AlgoliaSettings():
            from connectors.search.algolia import build as build_algolia

            vendor = build_algolia(settings)
        case TypesenseSettings():
            from connectors.search.typesense import build as build_typesense

            vendor = build_typesense(settings)
    backup = BuiltinSearch(str(data_dir / "search.sqlite3")) if settings.fallback == "builtin" else None
    return FallbackSearch(vendor, backup=backup, remember_results=settings.fallback == "last_result")


def _content_vendor(settings: ContentfulSettings | StoryblokSettings) -> ContentProvider:
    from connectors.fallbacks import LastGoodContent

    vendor: ContentProvider
    match settings:
        case ContentfulSettings():
            from connectors.cms.contentful import build as build_contentful

            vendor = build_contentful(settings)
        case StoryblokSettings():
            from connectors.cms.storyblok import build as build_storyblok

            vendor = build_storyblok(settings)
    return LastGoodContent(vendor) if settings.fallback == "last_good" else vendor
