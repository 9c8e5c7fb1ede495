"""Kubernetes manifests for `wrangler-py deploy`: per region, the edge and the origin as Deployments behind Services.

`render_manifests` is pure: a resolved config in, plain dicts out, the same bytes for the same input. Per region:

- a ConfigMap holding the resolved wrangler.toml (every default spelled out, the environment already laid over
  it) in which every `"env:NAME"` reference stays a reference: secret values never leave the process;
- for the origin and the edge each: a Deployment, a Service, a HorizontalPodAutoscaler (autoscaling/v2) and a
  PodDisruptionBudget (policy/v1).

Secrets reach the pods as environment variables from one Kubernetes Secret (keys = the variable names); the pod's
`wrangler-py` resolves the ConfigMap's references from them exactly as on a laptop. The ConfigMap is checked to
load back into the same config before it is returned, so what the pods run is what was rendered.

The Secret is named after its content, as kustomize's secretGenerator names it: `secret_document` renders the
values `wrangler-py secret put --env E` stored as `<name>-secrets-<hash10>` (immutable), and the pods reference
that name, so a rotated value changes the pod template and rolls the pods; the previous Secret stays for a
rollback. Without stored values the pods reference `<name>-secrets` (`kubernetes_secret_name`), which the operator
creates. `namespace_document` is the namespace itself, applied first.

Each region's documents go to their own file (`write_manifests`): apply each to that region's cluster (or to a
namespace of its own: resource names do not carry the region).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import tomli_w
import yaml
from pydantic import SecretStr

from wrangler_py.config import ENV_PREFIX, ConfigError, WranglerConfig, parse_config
from wrangler_py.deploy_settings import DeploySettings, Resources, is_dns_label, is_label_value

Manifest = dict[str, Any]

DEFAULT_REGION = "default"  # the one region of a config without [[regions]]
CONFIG_FILE = "wrangler.toml"  # the ConfigMap's key, and the file name in the pod's project folder
REGION_LABEL = "edgeshop/region"
ENVIRONMENT_LABEL = "edgeshop/environment"
CONFIG_HASH_ANNOTATION = "edgeshop/config-sha256"  # changes with the ConfigMap: pods roll when the config does
# `wrangler-py edge` waits this long for in-flight requests on SIGTERM (edge/server.py, timeout_graceful_shutdown).
EDGE_SHUTDOWN_GRACE_SECONDS = 20
# Both deployables are Python: nothing is written outside these mounts (the root filesystem is read-only).
_PYTHON_ENV = (("PYTHONDONTWRITEBYTECODE", "1"), ("PYTHONUNBUFFERED", "1"))
SECRET_HASH_CHARS = 10  # as kustomize's secretGenerator: <name>-<hash10>
# Namespaces a deploy never creates nor labels: they exist in every cluster.
_SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class ManifestError(ValueError):
    """The config cannot be deployed as asked (a secret without a reference, a name Kubernetes refuses, …)."""


# Secret references -----------------------------------------------------------------------------------------------


def secret_references(text: str, env: str | None = None) -> dict[str, str]:
    """Every `"env:NAME"` of a wrangler.toml (with `[env.<env>]` laid over it): key path -> variable name.

    The paths are spelled as the config loader spells them ("connectors.payments.secret_key", "a.b[0].c").
    """
    from wrangler_py import config as config_module

    raw = tomllib.loads(text)
    overlay = getattr(config_module, "_with_environment", None)  # environments: [env.NAME] over the top level
    if overlay is not None:
        raw = overlay(raw, env, Path(CONFIG_FILE))
    elif env is not None:
        raise ManifestError(f"this config loader knows no environments (asked for {env!r})")
    found: dict[str, str] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        elif isinstance(node, str) and node.startswith(ENV_PREFIX) and node[len(ENV_PREFIX) :].isidentifier():
            found[path] = node[len(ENV_PREFIX) :]

    walk(raw, "")
    return found


def _parts(path: str) -> list[str | int]:
    return [key if key else int(index) for key, index in _PATH_PART.findall(path)]


def _lookup(node: Any, path: str) -> Any:
    try:
        for part in _parts(path):
            node = node[part]
    except (KeyError, IndexError, TypeError):
        raise KeyError(path) from None
    return node


def _assign(node: Any, path: str, value: Any) -> None:
    *parents, last = _parts(path)
    for part in parents:
        node = node[part]
    node[last] = value


def _secret_paths(node: Any, path: str = "") -> Iterable[str]:
    if isinstance(node, SecretStr):
        yield path
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _secret_paths(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _secret_paths(value, f"{path}[{i}]")


# The resolved wrangler.toml --------------------------------------------------------------------------------------


def _config_text(config: WranglerConfig, secret_refs: Mapping[str, str], overrides: Mapping[str, Any]) -> str:
    """The config as TOML with every default written out, `overrides` applied and secrets as env references.

    Raises ManifestError when a secret has no reference, or when the text would not load back into the config.
    """
    values = config.model_dump(mode="python", by_alias=True, exclude_none=True, serialize_as_any=True)
    unreferenced = sorted(set(_secret_paths(values)) - set(secret_refs))
    if unreferenced:
        raise ManifestError(
            f"{', '.join(unreferenced)}: a secret without an env: reference cannot be deployed; "
            'write "env:NAME" in wrangler.toml'
        )
    environ: dict[str, str] = {}
    for path, name in sorted(secret_refs.items()):
        try:
            value = _lookup(values, path)
        except KeyError:
            raise ManifestError(f"{path} (env:{name}) is not in this config: pass the references of its file") from None
        environ[name] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    data = config.model_dump(mode="json", by_alias=True, exclude_none=True, serialize_as_any=True)
    for path, value in overrides.items():
        _assign(data, path, value)
    expected = copy.deepcopy(data)  # as the loaded config dumps: secrets masked, other references resolved
    for path, name in secret_refs.items():
        _assign(data, path, ENV_PREFIX + name)
    text = tomli_w.dumps(data)
    try:
        loaded = parse_config(text, Path(CONFIG_FILE), environ)
    except ConfigError as exc:
        raise ManifestError(f"the rendered {CONFIG_FILE} does not load: {exc}") from exc
    if loaded.model_dump(mode="json", by_alias=True, exclude_none=True, serialize_as_any=True) != expected:
        raise ManifestError(f"the rendered {CONFIG_FILE} loads into a different config; report this as a bug")
    header = "# Rendered by `wrangler-py deploy`: the resolved config. Secrets are env: references, never values.\n"
    return header + text


# The documents ---------------------------------------------------------------------------------------------------


def _labels(
    config: WranglerConfig, region: str | None, environment: str | None, component: str | None
) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": config.name,
        "app.kubernetes.io/part-of": "edgeshop",
        "app.kubernetes.io/managed-by": "wrangler-py",
    }
    if region is not None:
        labels[REGION_LABEL] = region
    if component:
        labels["app.kubernetes.io/component"] = component
    if environment:
        labels[ENVIRONMENT_LABEL] = environment
    return labels


def _selector(config: WranglerConfig, region: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": config.name, "app.kubernetes.io/component": component, REGION_LABEL: region}


def _metadata(name: str, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": dict(labels)}


def _http_probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _tcp_probe(*, period: int, failures: int) -> dict[str, Any]:
    return {"tcpSocket": {"port": "http"}, "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": failures}


class _Component:
    """What differs between the edge and the origin deployable."""

    def __init__(
        self,
        name: str,
        port: int,
        args: list[str],
        resources: Resources,
        probes: dict[str, dict[str, Any]],
        shutdown_grace: float,
        writable: Sequence[tuple[str, str]],
        service_type: str,
    ) -> None:
        self.name, self.port, self.args, self.resources, self.probes = name, port, args, resources, probes
        self.shutdown_grace, self.writable, self.service_type = shutdown_grace, writable, service_type


def _workload(
    component: _Component,
    *,
    config: WranglerConfig,
    region: str,
    namespace: str,
    environment: str | None,
    image: str,
    settings: DeploySettings,
    config_map: str,
    config_hash: str,
    secret_name: str,
    secret_env: Sequence[str],
) -> list[Manifest]:
    resource = f"{config.name}-{component.name}"
    labels = _labels(config, region, environment, component.name)
    selector = _selector(config, region, component.name)
    env: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in _PYTHON_ENV]
    env += [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": name, "optional": False}}}
        for name in secret_env
    ]
    mounts = [
        {
            "name": "config",
            "mountPath": settings.in_image(CONFIG_FILE),
            "subPath": CONFIG_FILE,
            "readOnly": True,
        },
        *({"name": volume, "mountPath": path} for volume, path in component.writable),
    ]
    volumes = [
        {"name": "config", "configMap": {"name": config_map, "items": [{"key": CONFIG_FILE, "path": CONFIG_FILE}]}},
        *({"name": volume, "emptyDir": {}} for volume, _ in component.writable),
    ]
    container = {
        "name": component.name,
        "image": image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["wrangler-py"],
        "args": ["--config", settings.in_image(CONFIG_FILE), *component.args],
        "workingDir": settings.in_image("."),
        "env": env,
        "ports": [{"name": "http", "containerPort": component.port, "protocol": "TCP"}],
        "resources": component.resources.manifest(),
        **component.probes,
        # Deregistration from Service endpoints and load balancers lags the SIGTERM: keep serving meanwhile.
        "lifecycle": {"preStop": {"sleep": {"seconds": settings.prestop_sleep_seconds}}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]
    grace = settings.prestop_sleep_seconds + math.ceil(component.shutdown_grace) + 5
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(resource, namespace, labels),
        "spec": {
            # No `replicas`: the HPA owns the count, and applying the manifest again must not reset it.
            "selector": {"matchLabels": dict(selector)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": {CONFIG_HASH_ANNOTATION: config_hash}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": grace,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": settings.run_as_user,
                        "runAsGroup": settings.run_as_user,
                        "fsGroup": settings.run_as_user,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "topologySpreadConstraints": spread,
                    "volumes": volumes,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(resource, namespace, labels),
        "spec": {
            "type": component.service_type,
            "selector": dict(selector),
            "ports": [{"name": "http", "port": component.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(resource, namespace, labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": resource},
            "minReplicas": settings.min_replicas,
            "maxReplicas": settings.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": settings.cpu_target_percent},
                    },
                }
            ],
        },
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(resource, namespace, labels),
        "spec": {
            "minAvailable": settings.pdb_min_available,
            "selector": {"matchLabels": dict(selector)},
            # A pod that never became ready protects nothing: a drain may evict it.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
    return [deployment, service, hpa, pdb]


def _check_names(config: WranglerConfig, namespace: str, environment: str | None, image: str) -> None:
    for component in ("edge", "origin"):
        name = f"{config.name}-{component}"
        if not is_dns_label(name):
            raise ManifestError(f"Service name {name!r} is not a DNS label (a letter first, 63 characters at most)")
    if not is_dns_label(namespace):
        raise ManifestError(f"namespace {namespace!r} is not a DNS label")
    if environment is not None and not is_label_value(environment):
        raise ManifestError(f"environment {environment!r} is not a Kubernetes label value")
    if not image or any(c.isspace() for c in image):
        raise ManifestError(f"image {image!r}: name one image, e.g. registry.example/edgeshop:1.2.3")


def kubernetes_secret_name(config: WranglerConfig, settings: DeploySettings | None = None) -> str:
    """The Secret's name before its content hash: `[deploy.kubernetes] secret_name`, else `<name>-secrets`."""
    settings = settings or config.deploy.kubernetes
    return settings.secret_name or f"{config.name}-secrets"


def _secret_data(values: Mapping[str, str]) -> dict[str, str]:
    return {name: base64.b64encode(values[name].encode("utf-8")).decode("ascii") for name in sorted(values)}


def versioned_secret_name(base: str, values: Mapping[str, str]) -> str:
    """`<base>-<hash10>`: a hash of the Secret's content (type and data), so new values make a new Secret."""
    canonical = json.dumps({"type": "Opaque", "data": _secret_data(values)}, sort_keys=True, separators=(",", ":"))
    return f"{base}-{hashlib.sha256(canonical.encode()).hexdigest()[:SECRET_HASH_CHARS]}"


def secret_document(
    config: WranglerConfig,
    values: Mapping[str, str],
    *,
    namespace: str,
    environment: str | None = None,
    settings: DeploySettings | None = None,
) -> Manifest:
    """The Secret the pods read, named after its content (`versioned_secret_name`), holding `values`.

    Immutable: its name is its content, so it never changes once created (and the kubelet need not watch it).
    Values are base64, never printed: write it to a private file, apply it, never log it.
    """
    if not is_dns_label(namespace):
        raise ManifestError(f"namespace {namespace!r} is not a DNS label")
    if environment is not None and not is_label_value(environment):
        raise ManifestError(f"environment {environment!r} is not a Kubernetes label value")
    labels = _labels(config, None, environment, None)  # one Secret for every region of the environment
    name = versioned_secret_name(kubernetes_secret_name(config, settings), values)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(name, namespace, labels),
        "type": "Opaque",
        "immutable": True,
        "data": _secret_data(values),
    }


def namespace_document(namespace: str) -> Manifest | None:
    """The namespace the documents go into, to apply before them; None for one every cluster has (`default`).

    Labelled only as managed by wrangler-py: several stores or environments may share it.
    """
    if not is_dns_label(namespace):
        raise ManifestError(f"namespace {namespace!r} is not a DNS label")
    if namespace in _SYSTEM_NAMESPACES:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {"app.kubernetes.io/managed-by": "wrangler-py"}},
    }


def region_names(config: WranglerConfig) -> list[str]:
    """The regions a deploy renders: the configured [[regions]], else the one default region."""
    return [r.name for r in config.regions] or [DEFAULT_REGION]


def render_manifests(
    config: WranglerConfig,
    *,
    image: str,
    secret_refs: Mapping[str, str],
    region: str | None = None,
    namespace: str = "default",
    environment: str | None = None,
    settings: DeploySettings | None = None,
    secret_name: str | None = None,
) -> list[Manifest]:
    """The Kubernetes documents of `region` (None: every region, in the config's order), as plain dicts.

    `secret_refs` names where each secret of the config came from (key path -> variable name, as
    `secret_references` reads them from the file); every SecretStr of the config must have one. Values of
    referenced fields never appear in the output: the pods read them from the Secret's keys of the same names,
    in the Secret `secret_name` (that of `secret_document`; default: `kubernetes_secret_name`).
    """
    settings = settings or DeploySettings()
    _check_names(config, namespace, environment, image)
    names = region_names(config)
    if region is not None and region not in names:
        raise ManifestError(f"no region {region!r} in this config; regions: {', '.join(names)}")
    secret_name = secret_name or kubernetes_secret_name(config, settings)
    secret_env = sorted(set(secret_refs.values()))
    origin_url = f"http://{config.name}-origin.{namespace}.svc:{config.origin.port}"
    edge_host = f"{config.name}-edge.{namespace}.svc"
    data_dir = settings.in_image(config.origin.data_dir)
    docs: list[Manifest] = []
    for name in [region] if region is not None else names:
        overrides: dict[str, Any] = {
            # Where origins send purges and `wrangler-py purge` finds an edge; the edge itself binds 0.0.0.0.
            "edge.host": edge_host,
            "edge.origin": origin_url + "/",
        }
        if config.regions:
            overrides["edge.region"] = name
        text = _config_text(config, secret_refs, overrides)
        config_hash = hashlib.sha256(text.encode()).hexdigest()
        config_map = f"{config.name}-config"
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _metadata(config_map, namespace, _labels(config, name, environment, None)),
                "data": {CONFIG_FILE: text},
            }
        )
        origin = _Component(
            "origin",
            config.origin.port,
            ["origin", "--host", "0.0.0.0", "--port", str(config.origin.port)],  # noqa: S104 - a pod's interfaces
            settings.origin_resources,
            {
                # The first start may seed and index the demo catalog: liveness waits until it answers at all.
                "startupProbe": _http_probe("/healthz", period=5, failures=60),
                "livenessProbe": _http_probe("/healthz", period=10, failures=3),
                "readinessProbe": _http_probe("/readyz", period=5, failures=3),
            },
            float(getattr(config.origin, "shutdown_grace_seconds", EDGE_SHUTDOWN_GRACE_SECONDS)),
            [("data", data_dir), ("tmp", "/tmp")],  # noqa: S108 - an emptyDir of the pod's own
            "ClusterIP",
        )
        edge_probes = {
            "livenessProbe": (
                _http_probe(settings.edge_liveness_path, period=10, failures=3)
                if settings.edge_liveness_path
                else _tcp_probe(period=10, failures=3)
            ),
            "readinessProbe": (
                _http_probe(settings.edge_readiness_path, period=5, failures=3)
                if settings.edge_readiness_path
                else _tcp_probe(period=5, failures=3)
            ),
        }
        edge = _Component(
            "edge",
            config.edge.port,
            ["edge", "--origin", origin_url, "--host", "0.0.0.0", "--port", str(config.edge.port)],  # noqa: S104
            settings.edge_resources,
            edge_probes,
            EDGE_SHUTDOWN_GRACE_SECONDS,
            [("tmp", "/tmp")],  # noqa: S108
            settings.edge_service_type,
        )
        for component in (origin, edge):
            docs += _workload(
                component,
                config=config,
                region=name,
                namespace=namespace,
                environment=environment,
                image=image,
                settings=settings,
                config_map=config_map,
                config_hash=config_hash,
                secret_name=secret_name,
                secret_env=secret_env,
            )
    return docs


def deploy_warnings(config: WranglerConfig, settings: DeploySettings | None = None) -> list[str]:
    """What would work on one laptop but not behind a load balancer of many pods: for `deploy` to print."""
    settings = settings or DeploySettings()
    found = []
    if config.origin.secret_key is None:
        found.append(
            "origin.secret_key is not set: each origin pod would generate its own, so a cookie signed by one is "
            'refused by the others and by every edge; set it to "env:NAME"'
        )
    if config.edge.redis_url is None and settings.max_replicas > 1:
        found.append(
            "edge.redis_url is not set: each edge pod caches alone, and a purge reaches only the pod it lands on"
        )
    if config.connectors.commerce.vendor == "builtin":
        found.append(
            "connectors.commerce is builtin: each origin pod keeps its own SQLite catalog, carts and orders in an "
            "emptyDir, lost when the pod goes; use a commerce vendor for more than a demo"
        )
    if config.edge.geo.dev:
        found.append("edge.geo.dev is true: any shopper can pick a country with ?_geo=; set it to false")
    if not config.storefront.secure_cookies:
        found.append("storefront.secure_cookies is false: cookies travel over plain HTTP too; set it to true")
    return found


# Files -----------------------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, multi-line strings (the ConfigMap's TOML) as literal blocks, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(docs: Iterable[Manifest]) -> str:
    """Documents as one multi-document YAML stream, keys sorted: the same documents, the same bytes."""
    return yaml.dump_all(
        list(docs),
        Dumper=_Dumper,
        sort_keys=True,
        explicit_start=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
    )


def write_manifests(docs: Sequence[Manifest], folder: Path | str) -> list[Path]:
    """One `<region>.yaml` per region in `folder` (created), documents in rendering order; the files written."""
    folder = Path(folder)
    by_region: dict[str, list[Manifest]] = {}
    for doc in docs:
        region = doc["metadata"]["labels"][REGION_LABEL]
        by_region.setdefault(region, []).append(doc)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for region, group in by_region.items():
        path = folder / f"{region}.yaml"
        path.write_bytes(dump_yaml(group).encode("utf-8"))
        written.append(path)
    return written


__all__ = [
    "DEFAULT_REGION",
    "SECRET_HASH_CHARS",
    "DeploySettings",
    "Manifest",
    "ManifestError",
    "Resources",
    "deploy_warnings",
    "dump_yaml",
    "kubernetes_secret_name",
    "namespace_document",
    "region_names",
    "render_manifests",
    "secret_document",
    "secret_references",
    "versioned_secret_name",
    "write_manifests",
]
