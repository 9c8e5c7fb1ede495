"""The uniform adapter layer: one Protocol per capability, vendor adapters, and the registry."""

from connectors.cms.base import ContentEntry, ContentEvent, ContentProvider
from connectors.commerce.base import (
    Address,
    CatalogRecord,
    Category,
    CommerceBackend,
    Order,
    OrderDraft,
    OrderLine,
    OrderStatus,
    Product,
    ProductImage,
    ProductPage,
    ProductSort,
    ProductUpdate,
    Variant,
    VariantQuote,
)
from connectors.commerce.builtin.backend import BuiltinCommerce
from connectors.commerce.builtin.images import render_product_svg
from connectors.errors import (
    ConnectorError,
    IdempotencyConflict,
    NotFound,
    OutOfStock,
    PaymentDeclined,
    VendorMisconfigured,
    VendorRejected,
    VendorTimeout,
    VendorUnavailable,
    WebhookRejected,
)
from connectors.money import Money, minor_unit_exponent
from connectors.payments.base import Payment, PaymentEvent, PaymentProvider, PaymentRequest
from connectors.payments.builtin import TEST_CARDS
from connectors.registry import Connectors, build_connectors
from connectors.search.base import (
    FacetValue,
    IndexSettings,
    SearchDocument,
    SearchHit,
    SearchProvider,
    SearchQuery,
    SearchResult,
)
from connectors.search.builtin import BuiltinSearch
from connectors.settings import VENDOR_SETTINGS, ConnectorsSettings
from connectors.sqlite import SqliteDatabase
from connectors.tracing import current_tracer, trace_fields, with_tracer

__all__ = [
    "TEST_CARDS",
    "VENDOR_SETTINGS",
    "Address",
    "BuiltinCommerce",
    "BuiltinSearch",
    "CatalogRecord",
    "Category",
    "CommerceBackend",
    "ConnectorError",
    "Connectors",
    "ConnectorsSettings",
    "ContentEntry",
    "ContentEvent",
    "ContentProvider",
    "FacetValue",
    "IdempotencyConflict",
    "IndexSettings",
    "Money",
    "NotFound",
    "Order",
    "OrderDraft",
    "OrderLine",
    "OrderStatus",
    "OutOfStock",
    "Payment",
    "PaymentDeclined",
    "PaymentEvent",
    "PaymentProvider",
    "PaymentRequest",
    "Product",
    "ProductImage",
    "ProductPage",
    "ProductSort",
    "ProductUpdate",
    "SearchDocument",
    "SearchHit",
    "SearchProvider",
    "SearchQuery",
    "SearchResult",
    "SqliteDatabase",
    "Variant",
    "VariantQuote",
    "VendorMisconfigured",
    "VendorRejected",
    "VendorTimeout",
    "VendorUnavailable",
    "WebhookRejected",
    "build_connectors",
    "current_tracer",
    "minor_unit_exponent",
    "render_product_svg",
    "trace_fields",
    "with_tracer",
]
