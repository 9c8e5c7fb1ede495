"""The edge node: normalization, geo and markets, the HTTP cache in front of the origins, routing, purge."""

from edge.app import EdgeApp
from edge.experiments import ExperimentSettings
from edge.geo import GeoSettings
from edge.handlers import EdgeContext, EdgeRequest, Redirect, Respond, Rewrite
from edge.markets import MarketResolver, MarketRoute
from edge.request_context import log_fields
from edge.segments import SEGMENT_SALT, SegmentRule, default_segments
from edge.server import server_config
from edge.settings import EdgeCacheSettings, EdgeSettings, RegionSettings

__all__ = [
    "SEGMENT_SALT",
    "EdgeApp",
    "EdgeCacheSettings",
    "EdgeContext",
    "EdgeRequest",
    "EdgeSettings",
    "ExperimentSettings",
    "GeoSettings",
    "MarketResolver",
    "MarketRoute",
    "Redirect",
    "RegionSettings",
    "Respond",
    "Rewrite",
    "SegmentRule",
    "default_segments",
    "log_fields",
    "server_config",
]
