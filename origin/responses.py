"""Responses with the caching headers our rules require: shared pages vs. per-shopper answers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cdn import PRIVATE_NO_STORE, if_none_match_hits, shared_cache_control, strong_etag, surrogate_keys
from origin.markets import MARKET_HEADER
from origin.settings import CacheHeaderSettings

JSON = "application/json"


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


ESI = 'content="ESI/1.0"'


class ResponseFactory:
    def __init__(self, cache: CacheHeaderSettings) -> None:
        self._cache_control = shared_cache_control(
            s_maxage=cache.s_maxage,
            stale_while_revalidate=cache.stale_while_revalidate,
            stale_if_error=cache.stale_if_error,
            max_age=cache.browser_max_age,
        )

    def shared(
        self,
        request: Request,
        body: bytes,
        *,
        media_type: str,
        keys: Iterable[str],
        status_code: int = 200,
        vary_market: bool = True,
        esi: bool = False,
        vary: tuple[str, ...] = (),
    ) -> Response:
        """A response every shopper of a market may get from a shared cache; answers 304 to a matching validator.

        `esi`: the body has `<esi:include>` holes for the edge to fill per shopper (Surrogate-Control, which
        the edge consumes: nothing past it sees the header). `vary`: the other edge-decided request fields the
        body depends on (`X-Segment`, `X-Exp-<id>`), so only pages that use one are cached per value."""
        etag = strong_etag(body)
        headers = {
            "Cache-Control": self._cache_control,
            "ETag": etag,
            "Surrogate-Key": surrogate_keys(keys),
        }
        varies = ("X-Market",) * vary_market + vary
        if varies:
            headers["Vary"] = ", ".join(varies)
        if esi:
            headers["Surrogate-Control"] = ESI
        if status_code == 200 and if_none_match_hits(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        return Response(body, status_code=status_code, media_type=media_type, headers=headers)

    def shared_json(self, request: Request, payload: Any, *, keys: Iterable[str]) -> Response:
        return self.shared(request, dumps(payload), media_type=JSON, keys=keys)

    @staticmethod
    def private(body: bytes | str, *, media_type: str, status_code: int = 200, esi: bool = False) -> Response:
        headers = {"Cache-Control": PRIVATE_NO_STORE}
        if esi:
            headers["Surrogate-Control"] = ESI
        return Response(body, status_code=status_code, media_type=media_type, headers=headers)

    @classmethod
    def private_json(cls, payload: Any, *, status_code: int = 200) -> Response:
        return cls.private(dumps(payload), media_type=JSON, status_code=status_code)


__all__ = ["JSON", "MARKET_HEADER", "ResponseFactory", "dumps"]
