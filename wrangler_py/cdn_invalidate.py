"""After a deploy, the CDN in front of the edges lets go of what it cached.

Cached HTML links the previous build's fingerprinted asset names. Those objects stay in the bucket (asset_sync
never deletes), so old pages keep working; the purge is so that shoppers get the new pages now rather than when
s-maxage runs out. Fingerprinted assets themselves never need one, but no provider can purge "all HTML" without a
tag every page carries, so the whole cache goes: a refetch of an immutable asset costs one origin hit.
The CDN is the one `[edge.cdn_purge]` names, through the purge clients the edge uses (`cdn.external`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio.to_thread
import httpx
from pydantic import SecretStr

from cdn import CdnPurgeError, CdnPurger, CloudflarePurger, CloudFrontPurger, FastlyPurger

PURGE_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_DEPLOY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
# Which setting holds each provider's target, and what that target is called.
_TARGETS = {"fastly": ("service_id", "service"), "cloudflare": ("zone_id", "zone"),
            "cloudfront": ("distribution_id", "distribution")}  # fmt: skip
_PERMISSIONS = {
    "fastly": "an API token with the purge_all scope for the service (edge.cdn_purge.token)",
    "cloudflare": "an API token with the Zone > Cache Purge permission on the zone (edge.cdn_purge.token)",
    "cloudfront": "AWS credentials allowed cloudfront:CreateInvalidation on the distribution",
}


class CdnPurgeTarget(Protocol):
    """What is read of `[edge.cdn_purge]` (edge's CdnPurgeSettings, which the edge does not export)."""

    @property
    def provider(self) -> str: ...
    @property
    def service_id(self) -> str: ...
    @property
    def zone_id(self) -> str: ...
    @property
    def distribution_id(self) -> str: ...
    @property
    def token(self) -> SecretStr | None: ...


class InvalidationError(Exception):
    """The CDN purge failed; the message names the provider, what failed and the fix."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(message)
        self.provider = provider


@dataclass(frozen=True, slots=True)
class InvalidationPlan:
    """What a deploy would purge (`deploy --dry-run` prints `describe()`); holds no secret in its repr."""

    provider: str
    target_kind: str
    """service (fastly), zone (cloudflare) or distribution (cloudfront)."""
    target_id: str
    paths: tuple[str, ...]
    """What goes: ("/*",), everything, for every provider."""
    token: SecretStr | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        how = "invalidate " + " ".join(self.paths) if self.provider == "cloudfront" else "purge everything"
        return f"{self.provider} {self.target_kind} {self.target_id}: {how}"


@dataclass(frozen=True, slots=True)
class InvalidationResult:
    provider: str
    target_id: str
    purge_id: str | None
    """CloudFront's invalidation id, Cloudflare's purge id; Fastly gives none."""

    def describe(self) -> str:
        done = f"{self.provider} {_TARGETS[self.provider][1]} {self.target_id}: purged everything"
        return f"{done} ({self.purge_id})" if self.purge_id else done


def caller_reference(deploy_id: str) -> str:
    """CloudFront's CallerReference for a deploy: new per deploy, the same when that deploy is retried."""
    if not _DEPLOY_ID.match(deploy_id):
        raise ValueError(f"deploy id {deploy_id!r}: use 1-100 letters, digits and . _ : - (starting alphanumeric)")
    return f"edgeshop-deploy-{deploy_id}"


def plan_invalidation(cdn_settings: CdnPurgeTarget | None) -> InvalidationPlan | None:
    """The purge a deploy ends with, or None when no CDN is configured in front of the edges."""
    if cdn_settings is None:
        return None
    if cdn_settings.provider not in _TARGETS:
        raise ValueError(f"edge.cdn_purge.provider {cdn_settings.provider!r}: use one of {', '.join(_TARGETS)}")
    setting, kind = _TARGETS[cdn_settings.provider]
    return InvalidationPlan(
        provider=cdn_settings.provider,
        target_kind=kind,
        target_id=str(getattr(cdn_settings, setting)),
        paths=("/*",),
        token=cdn_settings.token,
    )


async def run_invalidation(
    plan: InvalidationPlan,
    *,
    deploy_id: str,
    http: httpx.AsyncClient | None = None,
    cloudfront: Any | None = None,
) -> InvalidationResult:
    """Purge everything the plan names. `http` (Fastly, Cloudflare) and `cloudfront` (a boto3 client) are made
    here when not given; a retry with the same `deploy_id` reuses CloudFront's invalidation instead of adding one."""
    reference = caller_reference(deploy_id)
    try:
        if plan.provider == "cloudfront":
            client = cloudfront if cloudfront is not None else await anyio.to_thread.run_sync(_cloudfront_client)
            purge_id = await CloudFrontPurger(client, distribution_id=plan.target_id).purge_all(reference=reference)
        elif http is not None:
            purge_id = await _purger(plan, http).purge_all(reference=reference)
        else:
            async with httpx.AsyncClient(timeout=PURGE_TIMEOUT) as owned:
                purge_id = await _purger(plan, owned).purge_all(reference=reference)
    except CdnPurgeError as exc:
        raise InvalidationError(plan.provider, _explain(plan, exc)) from exc
    return InvalidationResult(provider=plan.provider, target_id=plan.target_id, purge_id=purge_id)


def _purger(plan: InvalidationPlan, http: httpx.AsyncClient) -> CdnPurger:
    token = plan.token.get_secret_value() if plan.token else ""
    if plan.provider == "fastly":
        return FastlyPurger(http, service_id=plan.target_id, token=token)
    return CloudflarePurger(http, zone_id=plan.target_id, token=token)


def _cloudfront_client() -> Any:
    import boto3
    from botocore.config import Config

    # CloudFront is a global service: no region; boto3 finds credentials itself (env, profile, attached role).
    config = Config(retries={"mode": "standard", "max_attempts": 5})
    return boto3.session.Session().client("cloudfront", config=config)


def _explain(plan: InvalidationPlan, exc: CdnPurgeError) -> str:
    what = f"purging {plan.provider} {plan.target_kind} {plan.target_id} failed ({exc})"
    setting = _TARGETS[plan.provider][0]
    if exc.status in (401, 403) or "credentials" in str(exc).lower():
        fix = f"it needs {_PERMISSIONS[plan.provider]}"
    elif exc.status == 404:
        fix = f"check edge.cdn_purge.{setting} ({plan.target_id!r})"
    else:
        fix = "the provider or the network failed; it may pass"
    return (
        f"{what}: {fix}. Nothing was rolled back: fix it and run the deploy again "
        "(unchanged assets are skipped, and the purge is retried)."
    )
