"""Purge clients for a CDN in front of the edge, behind one small interface.

Fastly and Cloudflare purge by surrogate key / cache tag and by URL (httpx); CloudFront only by path
(boto3, run in a thread), so a tag purge there invalidates everything, the only correct answer it allows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import anyio.to_thread
import httpx

FASTLY_API = "https://api.fastly.com"
CLOUDFLARE_API = "https://api.cloudflare.com/client/v4"
# Documented per-request limits: Fastly 256 surrogate keys, Cloudflare 30 tags or files.
FASTLY_KEYS_PER_CALL = 256
CLOUDFLARE_ITEMS_PER_CALL = 30


class CdnPurgeError(Exception):
    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class CdnPurger(Protocol):
    provider: str

    async def purge(self, *, tags: Sequence[str] = (), urls: Sequence[str] = (), soft: bool = False) -> None: ...


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _call(provider: str, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise CdnPurgeError(provider, f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 400:
        raise CdnPurgeError(provider, f"HTTP {response.status_code}: {response.text[:200]}")
    return response


class FastlyPurger:
    provider = "fastly"

    def __init__(self, client: httpx.AsyncClient, *, service_id: str, token: str) -> None:
        self._client = client
        self._service = service_id
        self._token = token

    async def purge(self, *, tags: Sequence[str] = (), urls: Sequence[str] = (), soft: bool = False) -> None:
        headers = {"Fastly-Key": self._token, "Accept": "application/json"}
        if soft:
            headers["Fastly-Soft-Purge"] = "1"
        for keys in _chunks(list(tags), FASTLY_KEYS_PER_CALL):
            await _call(
                self.provider, self._client, "POST", f"{FASTLY_API}/service/{self._service}/purge",
                headers={**headers, "Surrogate-Key": " ".join(keys)},
            )  # fmt: skip
        for url in urls:
            target = url.split("://", 1)[-1]
            await _call(self.provider, self._client, "POST", f"{FASTLY_API}/purge/{target}", headers=headers)


class CloudflarePurger:
    provider = "cloudflare"

    def __init__(self, client: httpx.AsyncClient, *, zone_id: str, token: str) -> None:
        self._client = client
        self._zone = zone_id
        self._token = token

    async def purge(self, *, tags: Sequence[str] = (), urls: Sequence[str] = (), soft: bool = False) -> None:
        # Cloudflare has no soft purge: every purge is hard.
        endpoint = f"{CLOUDFLARE_API}/zones/{self._zone}/purge_cache"
        headers = {"Authorization": f"Bearer {self._token}"}
        for field, items in (("tags", list(tags)), ("files", list(urls))):
            for batch in _chunks(items, CLOUDFLARE_ITEMS_PER_CALL):
                response = await _call(self.provider, self._client, "POST", endpoint, headers=headers,
                                       json={field: list(batch)})  # fmt: skip
                if not response.json().get("success", False):
                    raise CdnPurgeError(self.provider, f"purge refused: {response.text[:200]}")


class CloudFrontPurger:
    provider = "cloudfront"

    def __init__(self, client: Any, *, distribution_id: str) -> None:
        self._client = client  # a boto3 CloudFront client; boto3 is sync, so calls run in a worker thread
        self._distribution = distribution_id

    async def purge(self, *, tags: Sequence[str] = (), urls: Sequence[str] = (), soft: bool = False) -> None:
        paths = ["/*"] if tags else sorted({"/" + url.split("://", 1)[-1].split("/", 1)[-1] for url in urls})
        if not paths:
            return
        batch = {
            "Paths": {"Quantity": len(paths), "Items": paths},
            "CallerReference": f"edgeshop-{uuid.uuid4()}",
        }

        def invalidate() -> None:
            self._client.create_invalidation(DistributionId=self._distribution, InvalidationBatch=batch)

        try:
            await anyio.to_thread.run_sync(invalidate)
        except Exception as exc:  # botocore's ClientError and friends
            raise CdnPurgeError(self.provider, str(exc)) from exc
