"""A purge at the edge also reaches the CDN in front of it."""

from __future__ import annotations

import httpx
import pytest
import respx
from pydantic import ValidationError

from edge.app import EdgeApp
from edge.settings import CdnPurgeSettings, EdgeSettings

pytestmark = pytest.mark.anyio


def test_each_provider_says_what_it_needs() -> None:
    with pytest.raises(ValidationError, match="fastly needs service_id, token"):
        CdnPurgeSettings(provider="fastly")
    with pytest.raises(ValidationError, match="cloudfront needs distribution_id"):
        CdnPurgeSettings(provider="cloudfront")


async def test_tags_and_urls_are_forwarded_to_fastly() -> None:
    settings = EdgeSettings(
        origin="http://origin.test",
        purge_token="s3cret",
        cdn_purge=CdnPurgeSettings(provider="fastly", service_id="SVC", token="fastly-token"),
    )
    async with respx.mock(assert_all_called=True) as mock:
        keys = mock.post("https://api.fastly.com/service/SVC/purge").respond(200, json={"status": "ok"})
        url = mock.post("https://api.fastly.com/purge/shop.example/p/boot").respond(200, json={"status": "ok"})
        app = EdgeApp(settings)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example") as edge:
            answer = await edge.post(
                "/_edge/purge",
                json={"tags": ["product:1"], "urls": ["/p/boot"], "soft": True},
                headers={"authorization": "Bearer s3cret"},
            )
        assert answer.status_code == 200
        assert keys.calls[0].request.headers["surrogate-key"] == "product:1"
        assert keys.calls[0].request.headers["fastly-soft-purge"] == "1"
        assert url.called
        await app.stop()


async def test_a_failed_cdn_purge_is_reported() -> None:
    settings = EdgeSettings(
        origin="http://origin.test",
        purge_token="s3cret",
        cdn_purge=CdnPurgeSettings(provider="cloudflare", zone_id="Z", token="t"),
    )
    async with respx.mock() as mock:
        mock.post("https://api.cloudflare.com/client/v4/zones/Z/purge_cache").respond(403, json={"success": False})
        app = EdgeApp(settings)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.example") as edge:
            answer = await edge.post("/_edge/purge", json={"tags": ["x"]}, headers={"authorization": "Bearer s3cret"})
        assert answer.status_code == 502 and "cloudflare" in answer.json()["detail"]
        await app.stop()
