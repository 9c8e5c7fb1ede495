"""The edge's access log: off by default, a sampled share of requests when on, hits below ASGI included.

One line per sampled request on the `edgeshop.access` logger at INFO: method, path (never the query: tokens
and e-mail addresses travel there; cart and order ids redacted by `cdn.redact_capabilities`, the rule the
origin's lines and both deployables' spans follow too: `/api/carts/{id}/lines`), status, duration_ms, cache
(the metrics' label: `l1_hit`, `miss`, …), route (the origin's template), market, region, request_id and
trace_id. The sample is drawn first and the logger's level checked next, so an unsampled request costs one
comparison and nothing is formatted for it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from cdn import redact_capabilities

ACCESS_LOGGER = "edgeshop.access"
log = logging.getLogger(ACCESS_LOGGER)


class AccessLog:
    def __init__(self, sample: float, *, draw: Callable[[], float] = random.random) -> None:
        self.sample = sample  # 0.0 when off: callers test this before anything else
        self._draw = draw

    def sampled(self) -> bool:
        """Whether this request gets a line: the sample hits and the logger would write it."""
        return (self.sample >= 1.0 or self._draw() < self.sample) and log.isEnabledFor(logging.INFO)

    def write(
        self,
        *,
        method: str,
        path: str,
        status: int,
        seconds: float,
        cache: str,
        route: str | None,
        market: str | None,
        region: str,
        request_id: str,
        trace_id: str | None,
    ) -> None:
        duration_ms = round(seconds * 1000, 3)
        path = redact_capabilities(path)  # a cart id is a bearer capability: never in a log
        # `service` too: a hit answered below ASGI has no request context to say it, and `dev` runs both apps.
        fields = {"service": "edge", "method": method, "path": path, "status": status, "duration_ms": duration_ms,
                  "cache": cache, "route": route, "market": market or None, "region": region, "request_id": request_id,
                  "trace_id": trace_id}  # fmt: skip
        log.info("%s %s %d %s %.1fms", method, path, status, cache, duration_ms, extra=fields)


__all__ = ["ACCESS_LOGGER", "AccessLog"]
