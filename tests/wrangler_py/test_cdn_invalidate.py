"""The CDN purge a deploy ends with: Fastly and Cloudflare through respx, CloudFront with Stubber and moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import httpx
import pytest
import respx
from botocore.stub import Stubber
from moto import mock_aws
from pydantic import SecretStr

from edge.settings import CdnPurgeSettings
from tests.cdn.fakes import cloudfront_invalidation
from wrangler_py.cdn_invalidate import (
    InvalidationError,
    InvalidationPlan,
    caller_reference,
    plan_invalidation,
    run_invalidation,
)

pytestmark = pytest.mark.anyio

FASTLY = CdnPurgeSettings(provider="fastly", service_id="SVC1", token=SecretStr("fastly-secret"))
CLOUDFLARE = CdnPurgeSettings(provider="cloudflare", zone_id="ZONE1", token=SecretStr("cf-secret"))
CLOUDFRONT = CdnPurgeSettings(provider="cloudfront", distribution_id="E2QWRUHEXAMPLE")


def cloudfront_client() -> Any:
    return boto3.client("cloudfront", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")


def test_the_plan_names_provider_target_and_paths_and_hides_the_token() -> None:
    assert plan_invalidation(None) is None
    fastly = plan_invalidation(FASTLY)
    assert fastly is not None
    assert (fastly.provider, fastly.target_kind, fastly.target_id, fastly.paths) == (
        "fastly",
        "service",
        "SVC1",
        ("/*",),
    )
    assert fastly.describe() == "fastly service SVC1: purge everything"
    assert "fastly-secret" not in repr(fastly) and "fastly-secret" not in fastly.describe()
    cloudflare = plan_invalidation(CLOUDFLARE)
    assert cloudflare is not None and cloudflare.describe() == "cloudflare zone ZONE1: purge everything"
    cloudfront = plan_invalidation(CLOUDFRONT)
    assert cloudfront is not None and cloudfront.describe() == "cloudfront distribution E2QWRUHEXAMPLE: invalidate /*"


def test_the_caller_reference_comes_from_the_deploy_id() -> None:
    assert caller_reference("20260101T000000Z-7f3a") == "edgeshop-deploy-20260101T000000Z-7f3a"
    for bad in ("", "-x", "a b", "x" * 101):
        with pytest.raises(ValueError, match="deploy id"):
            caller_reference(bad)


async def test_fastly_is_purged_with_purge_all() -> None:
    plan = plan_invalidation(FASTLY)
    assert plan is not None
    async with respx.mock(assert_all_called=True) as mock, httpx.AsyncClient() as http:
        route = mock.post("https://api.fastly.com/service/SVC1/purge_all").respond(200, json={"status": "ok"})
        result = await run_invalidation(plan, deploy_id="d1", http=http)
    assert route.calls.last.request.headers["fastly-key"] == "fastly-secret"
    assert result.purge_id is None and result.describe() == "fastly service SVC1: purged everything"


async def test_cloudflare_is_purged_everything_with_a_client_of_its_own() -> None:
    plan = plan_invalidation(CLOUDFLARE)
    assert plan is not None
    async with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://api.cloudflare.com/client/v4/zones/ZONE1/purge_cache").respond(
            200, json={"success": True, "errors": [], "messages": [], "result": {"id": "purge-77"}}
        )
        result = await run_invalidation(plan, deploy_id="d1")
    assert json.loads(route.calls.last.request.content) == {"purge_everything": True}
    assert result.purge_id == "purge-77" and result.describe().endswith("purged everything (purge-77)")


async def test_cloudfront_retries_of_one_deploy_reuse_its_caller_reference() -> None:
    plan = plan_invalidation(CLOUDFRONT)
    assert plan is not None
    client = cloudfront_client()
    with Stubber(client) as stub:
        for deploy in ("deploy-1", "deploy-1", "deploy-2"):
            reference = f"edgeshop-deploy-{deploy}"
            stub.add_response(
                "create_invalidation",
                cloudfront_invalidation(["/*"], reference),
                {"DistributionId": "E2QWRUHEXAMPLE",
                 "InvalidationBatch": {"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": reference}},
            )  # fmt: skip
        first = await run_invalidation(plan, deploy_id="deploy-1", cloudfront=client)
        await run_invalidation(plan, deploy_id="deploy-1", cloudfront=client)  # the same deploy, retried
        await run_invalidation(plan, deploy_id="deploy-2", cloudfront=client)
        stub.assert_no_pending_responses()
    assert first.purge_id == "I2J0I21PCUYOIK"


@pytest.mark.usefixtures("aws_env")
async def test_cloudfront_invalidation_through_its_own_boto3_client() -> None:
    with mock_aws():
        cloudfront = boto3.client("cloudfront")
        distribution = cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": "setup",
                "Comment": "",
                "Enabled": True,
                "Origins": {"Quantity": 1, "Items": [{"Id": "edge", "DomainName": "edge.shop.example",
                            "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443,
                                                   "OriginProtocolPolicy": "https-only"}}]},
                "DefaultCacheBehavior": {"TargetOriginId": "edge", "ViewerProtocolPolicy": "redirect-to-https",
                                         "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
            }
        )["Distribution"]  # fmt: skip
        plan = InvalidationPlan(provider="cloudfront", target_kind="distribution", target_id=distribution["Id"],
                                paths=("/*",))  # fmt: skip

        result = await run_invalidation(plan, deploy_id="deploy-9")

        stored = cloudfront.get_invalidation(DistributionId=distribution["Id"], Id=result.purge_id)["Invalidation"]
    assert stored["InvalidationBatch"] == {"Paths": {"Quantity": 1, "Items": ["/*"]},
                                           "CallerReference": "edgeshop-deploy-deploy-9"}  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "status", "fix"),
    [
        (FASTLY, 403, r"it needs an API token with the purge_all scope for the service \(edge\.cdn_purge\.token\)"),
        (CLOUDFLARE, 404, r"check edge\.cdn_purge\.zone_id \('ZONE1'\)"),
        (FASTLY, 503, r"the provider or the network failed"),
    ],
)
async def test_http_provider_failures_name_provider_failure_and_fix(
    settings: CdnPurgeSettings, status: int, fix: str
) -> None:
    plan = plan_invalidation(settings)
    assert plan is not None
    async with respx.mock() as mock, httpx.AsyncClient() as http:
        mock.post(url__regex=r"https://api\.(fastly|cloudflare)\.com/.*").respond(status, json={"msg": "no"})
        with pytest.raises(InvalidationError, match=rf"purging {settings.provider} .* failed .*HTTP {status}.*{fix}"):
            await run_invalidation(plan, deploy_id="d1", http=http)


async def test_a_network_failure_is_explained() -> None:
    plan = plan_invalidation(CLOUDFLARE)
    assert plan is not None
    async with respx.mock() as mock, httpx.AsyncClient() as http:
        mock.post("https://api.cloudflare.com/client/v4/zones/ZONE1/purge_cache").mock(
            side_effect=httpx.ConnectError("connection refused")
        )
        with pytest.raises(InvalidationError, match=r"ConnectError.*run the deploy again") as caught:
            await run_invalidation(plan, deploy_id="d1", http=http)
    assert caught.value.provider == "cloudflare"


async def test_cloudfront_access_denied_says_which_permission() -> None:
    plan = plan_invalidation(CLOUDFRONT)
    assert plan is not None
    client = cloudfront_client()
    with Stubber(client) as stub:
        stub.add_client_error("create_invalidation", "AccessDenied", "User is not authorized", http_status_code=403)
        with pytest.raises(
            InvalidationError,
            match=r"purging cloudfront distribution E2QWRUHEXAMPLE failed .*AccessDenied.*"
            r"cloudfront:CreateInvalidation on the distribution\. Nothing was rolled back",
        ):
            await run_invalidation(plan, deploy_id="d1", cloudfront=client)
