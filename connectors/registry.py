"""Builds connector instances from settings: config in, one adapter per capability out."""

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
    BuiltinCommerceSettings,
    BuiltinContentSettings,
    BuiltinPaymentsSettings,
    BuiltinSearchSettings,
    ConnectorsSettings,
    VendorSettings,
    known_vendors,
)


@dataclass(frozen=True, slots=True)
class Connectors:
    commerce: CommerceBackend
    search: SearchProvider
    cms: ContentProvider
    payments: PaymentProvider


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
        case other:
            raise _unknown("search", other)
    match settings.cms:
        case BuiltinContentSettings(path=path, default_locale=default_locale):
            cms: ContentProvider = BuiltinContent(project_dir / path, default_locale=default_locale)
        case other:
            raise _unknown("cms", other)
    match settings.payments:
        case BuiltinPaymentsSettings(database=database):
            payments: PaymentProvider = BuiltinPayments(str(data_dir / database))
        case other:
            raise _unknown("payments", other)
    return Connectors(commerce=commerce, search=search, cms=cms, payments=payments)
