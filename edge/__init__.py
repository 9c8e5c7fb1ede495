"""The edge node: normalization, geo and markets, the HTTP cache in front of the origins, routing, purge."""

from edge.app import EdgeApp
from edge.geo import GeoSettings
from edge.markets import MarketResolver, MarketRoute
from edge.server import server_config
from edge.settings import EdgeCacheSettings, EdgeSettings, RegionSettings

__all__ = [
    "EdgeApp",
    "EdgeCacheSettings",
    "EdgeSettings",
    "GeoSettings",
    "MarketResolver",
    "MarketRoute",
    "RegionSettings",
    "server_config",
]
