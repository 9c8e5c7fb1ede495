"""The `[deploy]` table of wrangler.toml: where and how `wrangler-py deploy` ships the store.

Nothing here is secret: cloud credentials come from the usual chains (boto3's, kubectl's kubeconfig), and the
store's own secrets from the Kubernetes Secret that `wrangler-py secret put --env E` writes.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wrangler_py.asset_sync import AssetTarget

_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
# Kubernetes names, the one set of patterns wrangler-py checks them with (the lengths are in the patterns).
DNS_LABEL = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"  # RFC 1035: namespaces, Services
DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"  # RFC 1123, 253 at most: Secrets
LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"


def is_dns_label(value: str) -> bool:
    return re.fullmatch(DNS_LABEL, value) is not None


def is_dns_subdomain(value: str) -> bool:
    return len(value) <= 253 and re.fullmatch(DNS_SUBDOMAIN, value) is not None


def is_label_value(value: str) -> bool:
    return re.fullmatch(LABEL_VALUE, value) is not None


def _project_path(value: str, key: str) -> str:
    """A folder the deploy writes into: relative to the project and inside it."""
    parts = value.replace("\\", "/").split("/")
    if not value or value.startswith("/") or ":" in parts[0] or ".." in parts or value.strip("/.") == "":
        raise ValueError(f"{key} = {value!r} must be a folder inside the project, relative to it (e.g. 'deploy')")
    return value


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_request: str = Field(default="250m", pattern=_QUANTITY)
    memory_request: str = Field(default="512Mi", pattern=_QUANTITY)
    cpu_limit: str | None = Field(default=None, pattern=_QUANTITY, description="none: no CPU throttling")
    memory_limit: str | None = Field(default="1Gi", pattern=_QUANTITY)

    def manifest(self) -> dict[str, dict[str, str]]:
        limits = {"cpu": self.cpu_limit, "memory": self.memory_limit}
        resources = {"requests": {"cpu": self.cpu_request, "memory": self.memory_request}}
        if any(limits.values()):
            resources["limits"] = {key: value for key, value in limits.items() if value}
        return resources


class DeploySettings(BaseModel):
    """How the deployables run on Kubernetes: what wrangler.toml does not say. The defaults suit production."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_replicas: int = Field(default=3, ge=1, description="per deployable and region; the HPA's floor")
    max_replicas: int = Field(default=50, ge=1)
    cpu_target_percent: int = Field(default=60, ge=1, le=100, description="HPA: average CPU of the requests")
    pdb_min_available: int | str = Field(
        default="50%", description="pods a voluntary disruption (a node drain) must leave: a count or a percentage"
    )
    edge_resources: Resources = Resources(cpu_request="500m", memory_request="512Mi", memory_limit="1Gi")
    origin_resources: Resources = Resources()
    prestop_sleep_seconds: int = Field(
        default=5, ge=0, le=60, description="on termination, keep serving while endpoints and load balancers forget us"
    )
    edge_service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    project_dir: str = Field(
        default="/app",
        pattern=r"^/[A-Za-z0-9._/-]*$",
        description="the project folder in the image (the build's Dockerfile copies it there); wrangler.toml is "
        "mounted there",
    )
    secret_name: str | None = Field(
        default=None,
        description="the Kubernetes Secret's name before deploy's content hash (<name>-<hash10>); none: <name>-secrets",
    )
    run_as_user: int = Field(default=10001, ge=1)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    # The edge answers every path by proxying it to an origin: it has no health endpoints of its own, and an HTTP
    # liveness probe would restart every edge when the origins fail. TCP probes until it has; then name them here.
    edge_liveness_path: str | None = Field(default="/_edge/healthz", pattern=r"^/")
    edge_readiness_path: str | None = Field(default="/_edge/readyz", pattern=r"^/")

    @field_validator("secret_name")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        # Room for deploy's "-<hash10>": the whole name is a DNS subdomain of 253 characters at most.
        if value is not None and not (len(value) <= 242 and is_dns_subdomain(value)):
            raise ValueError(f"{value!r}: lowercase letters, digits, '-' and '.', 242 characters at most")
        return value

    def in_image(self, relative: str) -> str:
        """A project-relative path as the image and the pods see it, under project_dir."""
        return posixpath.normpath(posixpath.join(self.project_dir, relative))

    @model_validator(mode="after")
    def _consistent(self) -> DeploySettings:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}")
        floor = self.pdb_min_available
        if isinstance(floor, str):
            if not re.fullmatch(r"\d{1,3}%", floor) or int(floor[:-1]) >= 100:
                raise ValueError(f"pdb_min_available {floor!r}: a count, or a percentage below 100%")
        elif not 0 <= floor < self.min_replicas:
            # A floor at or above the replica count blocks every node drain.
            raise ValueError(f"pdb_min_available {floor} must be below min_replicas {self.min_replicas}")
        return self


class DeployConfig(BaseModel):
    """`[deploy]`: the image, the namespace, the clusters per region, and how the pods run (`[deploy.kubernetes]`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str | None = Field(
        default=None,
        description="the image built from `wrangler-py build`'s context and pushed, e.g. registry.example/shop:1.2.3",
    )
    namespace: str = Field(default="default", pattern=f"^{DNS_LABEL}$")
    manifests_dir: str = Field(default="deploy", description="rendered manifests: <dir>/<env>/<region>.yaml")
    build_dir: str = Field(default="dist", description="where `wrangler-py build` writes; deploy builds into it")
    contexts: dict[str, str] = Field(
        default_factory=dict, description="kubectl context per region name; a region without one: the current context"
    )
    rollout_timeout_seconds: int = Field(default=600, ge=10, description="--apply waits this long per Deployment")
    kubernetes: DeploySettings = DeploySettings()
    assets: AssetTarget | None = Field(default=None, description="the S3 bucket the CDN serves assets from")

    @field_validator("manifests_dir", "build_dir")
    @classmethod
    def _inside_project(cls, value: str, info: Any) -> str:
        return _project_path(value, f"deploy.{info.field_name}")


__all__ = [
    "DNS_LABEL",
    "DNS_SUBDOMAIN",
    "LABEL_VALUE",
    "DeployConfig",
    "DeploySettings",
    "Resources",
    "is_dns_label",
    "is_dns_subdomain",
    "is_label_value",
]
