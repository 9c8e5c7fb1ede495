"""Purge clients for a CDN in front of the edge, behind one small interface.

Fastly and Cloudflare purge by surrogate key / cache tag and by URL (httpx); CloudFront only by path
(boto3, run in a thread), so a tag purge there invalidates everything, the only correct answer it allows.
`purge_all` empties the whole CDN cache (after a deploy, when every cached page may link old asset names).
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
    def __init__(self, provider: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status  # the provider's HTTP status, when it answered: callers pick the fix from it


class CdnPurger(Protocol):
    provider: str

    async def purge(self, *, tags: Sequence[str] = (), urls: Sequence[str] = (), soft: bool = False) -> None: ...

    async def purge_all(self, *, reference: str | None = None) -> str | None:
        """Everything, always hard; returns the provider's id for the purge when it gives one.

        `reference` makes a retry of the same purge idempotent where the provider supports it (CloudFront)."""
        ...


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _call(provider: str, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise CdnPurgeError(provider, f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 400:
        raise CdnPurgeError(
            provider, f"HTTP {response.status_code}: {response.text[:200]}", status=response.status_code
        )
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

    async def purge_all(self, *, reference: str | None = None) -> str | None:
        # Fastly's purge_all has no soft mode and answers {"status": "ok"} with no id.
        headers = {"Fastly-Key": self._token, "Accept": "application/json"}
        await _call(self.provider, self._client, "POST", f"{FASTLY_API}/service/{self._service}/purge_all",
                    headers=headers)  # fmt: skip
        return None


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
                self._check(response)

    async def purge_all(self, *, reference: str | None = None) -> str | None:
        response = await _call(self.provider, self._client, "POST",
                               f"{CLOUDFLARE_API}/zones/{self._zone}/purge_cache",
                               headers={"Authorization": f"Bearer {self._token}"},
                               json={"purge_everything": True})  # fmt: skip
        result = self._check(response).get("result")
        return str(result["id"]) if isinstance(result, dict) and result.get("id") else None

    def _check(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("success", False):
            raise CdnPurgeError(self.provider, f"purge refused: {response.text[:200]}", status=response.status_code)
        return body


class CloudFrontPurger:
    provider = "cloudfront"

    def __init__(self, client: Any, *, distribution_id: str) -> None:
        self._client = client  # a boto3 CloudFront client; boto3 is sync, so calls run in a worker thread
        self._distribution = distribution_id

    async def purge(self, *, tags: Sequence[str] = (), urls: Sequence[str] = (), soft: bool = False) -> None:
        paths = ["/*"] if tags else sorted({"/" + url.split("://", 1)[-1].split("/", 1)[-1] for url in urls})
        if paths:
            await self._invalidate(paths, f"edgeshop-{uuid.uuid4()}")

    async def purge_all(self, *, reference: str | None = None) -> str | None:
        # CloudFront returns the invalidation it already has for a CallerReference it has seen with the same paths.
        return await self._invalidate(["/*"], reference or f"edgeshop-{uuid.uuid4()}")

    async def _invalidate(self, paths: list[str], reference: str) -> str:
        batch = {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference}

        def invalidate() -> Any:
            return self._client.create_invalidation(DistributionId=self._distribution, InvalidationBatch=batch)

        try:
            response = await anyio.to_thread.run_sync(invalidate)
        except Exception as exc:  # botocore's ClientError and friends
            answer = getattr(exc, "response", None)
            status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode") if isinstance(answer, dict) else None
            raise CdnPurgeError(self.provider, str(exc), status=status) from exc
        return str(response["Invalidation"]["Id"])
