"""Purge clients for a CDN in front of the edge: Fastly and Cloudflare through respx, CloudFront with Stubber."""

from __future__ import annotations

import json

import boto3
import httpx
import pytest
import respx
from botocore.stub import ANY, Stubber

from cdn.external import CdnPurgeError, CloudflarePurger, CloudFrontPurger, FastlyPurger
from tests.cdn.fakes import cloudfront_invalidation as cloudfront_response

pytestmark = pytest.mark.anyio


async def test_fastly_purges_by_surrogate_key_in_batches_and_softly() -> None:
    async with respx.mock(assert_all_called=True) as mock, httpx.AsyncClient() as client:
        route = mock.post("https://api.fastly.com/service/SVC1/purge").respond(200, json={"status": "ok"})
        url_route = mock.post("https://api.fastly.com/purge/shop.example/p/boot").respond(200, json={"status": "ok"})
        purger = FastlyPurger(client, service_id="SVC1", token="fastly-token")
        await purger.purge(tags=[f"product:{i}" for i in range(300)], urls=["https://shop.example/p/boot"], soft=True)
    assert route.call_count == 2  # 256 keys, then 44
    first = route.calls[0].request
    assert first.headers["fastly-key"] == "fastly-token" and first.headers["fastly-soft-purge"] == "1"
    assert first.headers["surrogate-key"].split()[:2] == ["product:0", "product:1"]
    assert len(first.headers["surrogate-key"].split()) == 256
    assert url_route.called


async def test_fastly_errors_name_the_provider() -> None:
    async with respx.mock() as mock, httpx.AsyncClient() as client:
        mock.post("https://api.fastly.com/service/SVC1/purge").respond(
            401, json={"msg": "Provided credentials are missing or invalid"}
        )
        with pytest.raises(CdnPurgeError, match="fastly: HTTP 401"):
            await FastlyPurger(client, service_id="SVC1", token="bad").purge(tags=["x"])


async def test_cloudflare_purges_tags_and_files_in_batches_of_30() -> None:
    async with respx.mock(assert_all_called=True) as mock, httpx.AsyncClient() as client:
        route = mock.post("https://api.cloudflare.com/client/v4/zones/ZONE/purge_cache").respond(
            200, json={"success": True, "errors": [], "messages": [], "result": {"id": "ZONE"}}
        )
        await CloudflarePurger(client, zone_id="ZONE", token="cf-token").purge(
            tags=[f"t{i}" for i in range(31)], urls=["https://shop.example/p/boot"]
        )
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert [len(b.get("tags", b.get("files", []))) for b in bodies] == [30, 1, 1]
    assert bodies[2] == {"files": ["https://shop.example/p/boot"]}
    assert route.calls[0].request.headers["authorization"] == "Bearer cf-token"


async def test_cloudflare_refusal_is_an_error() -> None:
    async with respx.mock() as mock, httpx.AsyncClient() as client:
        mock.post("https://api.cloudflare.com/client/v4/zones/ZONE/purge_cache").respond(
            200, json={"success": False, "errors": [{"code": 1012, "message": "Request must contain one of..."}]}
        )
        with pytest.raises(CdnPurgeError, match="cloudflare"):
            await CloudflarePurger(client, zone_id="ZONE", token="t").purge(tags=["x"])


async def test_cloudfront_invalidates_paths_and_everything_for_tags() -> None:
    client = boto3.client("cloudfront", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    with Stubber(client) as stub:
        stub.add_response(
            "create_invalidation",
            cloudfront_response(["/p/boot"]),
            {"DistributionId": "E2QWRUHEXAMPLE",
             "InvalidationBatch": {"Paths": {"Quantity": 1, "Items": ["/p/boot"]}, "CallerReference": ANY}},
        )  # fmt: skip
        stub.add_response(
            "create_invalidation",
            cloudfront_response(["/*"]),
            {"DistributionId": "E2QWRUHEXAMPLE",
             "InvalidationBatch": {"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": ANY}},
        )  # fmt: skip
        purger = CloudFrontPurger(client, distribution_id="E2QWRUHEXAMPLE")
        await purger.purge(urls=["https://shop.example/p/boot"])
        await purger.purge(tags=["product:1"])  # CloudFront has no tags: everything, the only correct answer
        stub.assert_no_pending_responses()


async def test_fastly_purges_everything_with_purge_all() -> None:
    async with respx.mock(assert_all_called=True) as mock, httpx.AsyncClient() as client:
        route = mock.post("https://api.fastly.com/service/SVC1/purge_all").respond(200, json={"status": "ok"})
        assert await FastlyPurger(client, service_id="SVC1", token="fastly-token").purge_all() is None
    request = route.calls.last.request
    assert request.headers["fastly-key"] == "fastly-token" and "fastly-soft-purge" not in request.headers


async def test_fastly_purge_all_refused_carries_the_status() -> None:
    async with respx.mock() as mock, httpx.AsyncClient() as client:
        mock.post("https://api.fastly.com/service/SVC1/purge_all").respond(403, json={"msg": "Forbidden"})
        with pytest.raises(CdnPurgeError, match="fastly: HTTP 403") as caught:
            await FastlyPurger(client, service_id="SVC1", token="t").purge_all()
    assert caught.value.status == 403


async def test_cloudflare_purges_everything_and_returns_the_purge_id() -> None:
    async with respx.mock(assert_all_called=True) as mock, httpx.AsyncClient() as client:
        route = mock.post("https://api.cloudflare.com/client/v4/zones/ZONE/purge_cache").respond(
            200,
            json={"success": True, "errors": [], "messages": [], "result": {"id": "9a7806061c88ada191ed06f989cc3dac"}},
        )
        purge_id = await CloudflarePurger(client, zone_id="ZONE", token="cf-token").purge_all()
    assert purge_id == "9a7806061c88ada191ed06f989cc3dac"
    assert json.loads(route.calls.last.request.content) == {"purge_everything": True}
    assert route.calls.last.request.headers["authorization"] == "Bearer cf-token"


async def test_cloudflare_purge_all_refusal_or_garbage_is_an_error() -> None:
    async with respx.mock() as mock, httpx.AsyncClient() as client:
        route = mock.post("https://api.cloudflare.com/client/v4/zones/ZONE/purge_cache")
        route.respond(200, json={"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]})
        with pytest.raises(CdnPurgeError, match=r"cloudflare: purge refused: .*Authentication error"):
            await CloudflarePurger(client, zone_id="ZONE", token="t").purge_all()
        route.respond(200, text="<html>maintenance</html>")
        with pytest.raises(CdnPurgeError, match="cloudflare: purge refused"):
            await CloudflarePurger(client, zone_id="ZONE", token="t").purge_all()


async def test_cloudfront_purge_all_invalidates_everything_under_the_callers_reference() -> None:
    client = boto3.client("cloudfront", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    batch = {"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": "deploy-42"}
    with Stubber(client) as stub:
        stub.add_response("create_invalidation", cloudfront_response(["/*"]),
                          {"DistributionId": "E2QWRUHEXAMPLE", "InvalidationBatch": batch})  # fmt: skip
        stub.add_response(
            "create_invalidation",
            cloudfront_response(["/*"]),
            {"DistributionId": "E2QWRUHEXAMPLE",
             "InvalidationBatch": {"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": ANY}},
        )  # fmt: skip
        purger = CloudFrontPurger(client, distribution_id="E2QWRUHEXAMPLE")
        assert await purger.purge_all(reference="deploy-42") == "I2J0I21PCUYOIK"
        assert await purger.purge_all() == "I2J0I21PCUYOIK"  # a reference of its own when none is given
        stub.assert_no_pending_responses()


async def test_cloudfront_errors_carry_the_status() -> None:
    client = boto3.client("cloudfront", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    with Stubber(client) as stub:
        stub.add_client_error("create_invalidation", "NoSuchDistribution", "The specified distribution does not exist.",
                              http_status_code=404)  # fmt: skip
        with pytest.raises(CdnPurgeError, match=r"cloudfront: .*NoSuchDistribution") as caught:
            await CloudFrontPurger(client, distribution_id="EMISSING").purge_all(reference="deploy-1")
    assert caught.value.status == 404
