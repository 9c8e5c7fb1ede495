"""The edge node: normalization, the HTTP cache in front of the origin, purge; talks to origins over HTTP."""

from edge.app import EdgeApp
from edge.server import server_config
from edge.settings import EdgeCacheSettings, EdgeSettings

__all__ = ["EdgeApp", "EdgeCacheSettings", "EdgeSettings", "server_config"]
