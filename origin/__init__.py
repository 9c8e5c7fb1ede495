"""The origin: commerce domain services, the JSON API, and the domain types pages render from."""

from cdn import PRIVATE_NO_STORE
from connectors import (
    TEST_CARDS,
    ConnectorError,
    ContentEntry,
    FacetValue,
    Money,
    NotFound,
    Product,
    SearchHit,
    SearchQuery,
    SearchResult,
    Variant,
    current_tracer,
    minor_unit_exponent,
)
from origin.api import Api, api_problem_handlers
from origin.carts import MAX_QUANTITY, Cart, PricedCart, SqliteCartStore
from origin.catalog import CategoryNode
from origin.checkout import MAX_PAYMENT_TOKEN, AlreadyOrdered, CheckoutBody, luhn_valid
from origin.content_watch import ContentWatcher, VersionedContent
from origin.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidRequest,
    OutOfStockConflict,
    PaymentFailed,
    ResourceNotFound,
    TryAgain,
)
from origin.events import cms_tag
from origin.health import health_routes
from origin.indexing import reindex
from origin.markets import MARKET_COOKIE, MARKET_HEADER, MarketResolver
from origin.media import media_routes
from origin.metrics import RouteMetrics
from origin.observability import RequestObservability, build_tracer_provider, log_fields, traced
from origin.pricing import compute_totals, shipping_price
from origin.problems import problem
from origin.purging import EdgePurger, NoPurger, Purger
from origin.settings import Market, ObservabilitySettings, OriginSettings, check_markets, default_markets
from origin.store import Store, build_store
from origin.webhooks import PAYMENT_TRANSITIONS, WebhookInbox, Webhooks

__all__ = [
    "MARKET_COOKIE",
    "MARKET_HEADER",
    "MAX_PAYMENT_TOKEN",
    "MAX_QUANTITY",
    "PAYMENT_TRANSITIONS",
    "PRIVATE_NO_STORE",
    "TEST_CARDS",
    "AlreadyOrdered",
    "Api",
    "Cart",
    "CategoryNode",
    "CheckoutBody",
    "Conflict",
    "ConnectorError",
    "ContentEntry",
    "ContentWatcher",
    "DomainError",
    "EdgePurger",
    "FacetValue",
    "Forbidden",
    "InvalidRequest",
    "Market",
    "MarketResolver",
    "Money",
    "NoPurger",
    "NotFound",
    "ObservabilitySettings",
    "OriginSettings",
    "OutOfStockConflict",
    "PaymentFailed",
    "PricedCart",
    "Product",
    "Purger",
    "RequestObservability",
    "ResourceNotFound",
    "RouteMetrics",
    "SearchHit",
    "SearchQuery",
    "SearchResult",
    "SqliteCartStore",
    "Store",
    "TryAgain",
    "Variant",
    "VersionedContent",
    "WebhookInbox",
    "Webhooks",
    "api_problem_handlers",
    "build_store",
    "build_tracer_provider",
    "check_markets",
    "cms_tag",
    "compute_totals",
    "current_tracer",
    "default_markets",
    "health_routes",
    "log_fields",
    "luhn_valid",
    "media_routes",
    "minor_unit_exponent",
    "problem",
    "reindex",
    "shipping_price",
    "traced",
]
