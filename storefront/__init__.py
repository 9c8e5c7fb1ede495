"""The storefront: server-rendered HTML pages of the shop, rendered from the origin's domain services."""

from storefront.app import storefront_exception_handlers, storefront_routes
from storefront.assets import (
    ASSETS_DIR,
    IMMUTABLE_CACHE,
    MANIFEST_FILE,
    SOURCE_CACHE,
    AssetEntry,
    AssetError,
    AssetManifest,
    UnknownAsset,
    assets_folder,
    content_hash,
    content_type,
    css_references,
    logical_name,
    rewrite_css,
)
from storefront.cookies import segment_key
from storefront.settings import StorefrontSettings
from storefront.templating import Theme, ThemeSources, load_theme, theme_sources

__all__ = [
    "ASSETS_DIR",
    "IMMUTABLE_CACHE",
    "MANIFEST_FILE",
    "SOURCE_CACHE",
    "AssetEntry",
    "AssetError",
    "AssetManifest",
    "StorefrontSettings",
    "Theme",
    "ThemeSources",
    "UnknownAsset",
    "assets_folder",
    "content_hash",
    "content_type",
    "css_references",
    "load_theme",
    "logical_name",
    "rewrite_css",
    "segment_key",
    "storefront_exception_handlers",
    "storefront_routes",
    "theme_sources",
]
