"""Telling the edge what changed: surrogate-key purges over HTTP to an edge node, which fans them out."""

from __future__ import annotations

import logging
from typing import Protocol

import httpx

log = logging.getLogger("edgeshop.origin")


class Purger(Protocol):
    async def purge(self, tags: list[str]) -> None: ...

    async def aclose(self) -> None:
        """Release connections at shutdown."""


class NoPurger:
    """No edge in front (or none configured): nothing to tell."""

    async def purge(self, tags: list[str]) -> None:
        return None

    async def aclose(self) -> None:
        return None


class EdgePurger:
    def __init__(self, client: httpx.AsyncClient, url: str, token: str) -> None:
        self._client = client
        self._url = url
        self._token = token

    async def purge(self, tags: list[str]) -> None:
        # A failed purge must not fail the merchant's write: the cache still expires by itself (s-maxage),
        # and the failure is logged for the operator.
        try:
            response = await self._client.post(
                self._url, json={"tags": tags}, headers={"authorization": f"Bearer {self._token}"}, timeout=5.0
            )
            if response.status_code != 200:
                log.warning("edge purge of %s answered %s", tags, response.status_code)
        except httpx.HTTPError as exc:
            log.warning("edge purge of %s failed: %s", tags, exc)

    async def aclose(self) -> None:
        await self._client.aclose()
