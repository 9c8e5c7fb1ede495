"""The storefront: server-rendered HTML pages of the shop, rendered from the origin's domain services."""

from storefront.app import storefront_exception_handlers, storefront_routes
from storefront.cookies import segment_key
from storefront.settings import StorefrontSettings

__all__ = ["StorefrontSettings", "segment_key", "storefront_exception_handlers", "storefront_routes"]
