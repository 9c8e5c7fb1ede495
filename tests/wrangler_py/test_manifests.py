"""Kubernetes manifests of `wrangler-py deploy`: valid against the Kubernetes OpenAPI schemas, offline, for every
region and environment; secrets only ever as references; the same input, the same bytes."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr

from wrangler_py.config import WranglerConfig, parse_config
from wrangler_py.deploy_settings import DeployConfig
from wrangler_py.manifests import (
    CONFIG_HASH_ANNOTATION,
    REGION_LABEL,
    DeploySettings,
    Manifest,
    ManifestError,
    deploy_warnings,
    dump_yaml,
    kubernetes_secret_name,
    namespace_document,
    render_manifests,
    secret_document,
    secret_references,
    versioned_secret_name,
    write_manifests,
)

REPO = Path(__file__).resolve().parents[2]
IMAGE = "registry.example/summit-trail:1.4.2"
# Recognizable values: none of them may appear in anything rendered.
SECRETS = {
    "EDGESHOP_SECRET_KEY": "CANARY-secret-key-8d1f0c",
    "EDGESHOP_PURGE_TOKEN": "CANARY-purge-token-51ab7e",
    "EDGESHOP_ADMIN_TOKEN": "CANARY-admin-token-c0ffee",
    "EDGESHOP_REDIS_URL": "redis://:CANARY-redis-password-9e2d@redis.prod.internal:6379/0",
    "STRIPE_SECRET_KEY": "sk_live_CANARY-stripe-4a4a4a",
    "STRIPE_WEBHOOK_SECRET": "whsec_CANARY-webhook-7b7b7b",
}
REGIONS = """
[[regions]]
name = "us-east"
origins = ["https://origin-us-east.shop.example"]
latitude = 39.0
longitude = -77.5

[[regions]]
name = "eu-west"
origins = ["https://origin-eu-west.shop.example"]
latitude = 53.3
longitude = -6.3

[[markets]]
id = "us"
name = "United States"
countries = ["US"]
currency = "USD"
price_list = "usd"
home_region = "us-east"

[[markets]]
id = "eu"
name = "Europe"
countries = ["DE", "FR"]
currency = "EUR"
locale = "de_DE"
price_list = "eur"
url_prefix = "/eu"
home_region = "eu-west"
"""
PRODUCTION = f"""
name = "summit-trail"
[storefront]
secure_cookies = true
[edge]
port = 8080
redis_url = "env:EDGESHOP_REDIS_URL"
purge_token = "env:EDGESHOP_PURGE_TOKEN"
[edge.geo]
dev = false
[origin]
port = 8081
secret_key = "env:EDGESHOP_SECRET_KEY"
admin_token = "env:EDGESHOP_ADMIN_TOKEN"
seed_products = 0
[connectors.payments]
vendor = "stripe"
secret_key = "env:STRIPE_SECRET_KEY"
webhook_secret = "env:STRIPE_WEBHOOK_SECRET"
{REGIONS}
"""
STAGING = f"""
name = "summit-trail-staging"
[edge]
purge_token = "env:EDGESHOP_PURGE_TOKEN"
[origin]
secret_key = "env:EDGESHOP_SECRET_KEY"
seed_products = 50
{REGIONS}
"""
ENVIRONMENTS = {"production": PRODUCTION, "staging": STAGING}
# The oldest Kubernetes with the preStop sleep action on by default, a middle one, and the newest schemas shipped.
KUBERNETES_VERSIONS = ["1.30", "1.33", kubernetes_validate.latest_version()]


def config_of(text: str) -> WranglerConfig:
    return parse_config(text, Path("wrangler.toml"), SECRETS)


def render(env: str, **options: Any) -> list[Manifest]:
    text = ENVIRONMENTS[env]
    options.setdefault("namespace", "shop")
    return render_manifests(
        config_of(text), image=IMAGE, secret_refs=secret_references(text), environment=env, **options
    )


def of(docs: list[Manifest], kind: str, region: str, component: str | None = None) -> Manifest:
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and d["metadata"]["labels"][REGION_LABEL] == region
        and d["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, (kind, region, component, len(found))
    return found[0]


def container(deployment: Manifest) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_every_document_validates_against_the_kubernetes_schemas_offline(env: str, version: str) -> None:
    docs = render(env)
    assert {d["metadata"]["labels"][REGION_LABEL] for d in docs} == {"us-east", "eu-west"}
    kinds = sorted(d["kind"] for d in docs)
    per_region = ["ConfigMap", "Deployment", "Deployment", "HorizontalPodAutoscaler", "HorizontalPodAutoscaler",
                  "PodDisruptionBudget", "PodDisruptionBudget", "Service", "Service"]  # fmt: skip
    assert kinds == sorted(per_region * 2)
    # What is validated is what is written: the YAML read back, not the dicts.
    for doc in yaml.safe_load_all(dump_yaml(docs)):
        # strict: a misspelled or unknown field fails too, instead of being dropped by the API server.
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_repository_config_renders_one_default_region_that_validates() -> None:
    text = (REPO / "wrangler.toml").read_text(encoding="utf-8")
    docs = render_manifests(config_of(text), image=IMAGE, secret_refs=secret_references(text), namespace="shop")
    assert {d["metadata"]["labels"][REGION_LABEL] for d in docs} == {"default"}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)
    # Without [[regions]] the ConfigMap does not name a region the config does not have.
    assert "region" not in tomllib.loads(docs[0]["data"]["wrangler.toml"])["edge"]


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_no_secret_value_is_ever_rendered(env: str, tmp_path: Path) -> None:
    written = write_manifests(render(env), tmp_path)
    assert [p.name for p in written] == ["us-east.yaml", "eu-west.yaml"]
    for path in written:
        rendered = path.read_text(encoding="utf-8")
        for value in SECRETS.values():
            assert value not in rendered
        assert "CANARY" not in rendered
    text = ENVIRONMENTS[env]
    referenced = sorted(set(secret_references(text).values()))
    for doc in render(env):
        if doc["kind"] == "ConfigMap":
            config = doc["data"]["wrangler.toml"]
            for name in referenced:
                assert f'"env:{name}"' in config
        if doc["kind"] == "Deployment":
            env_vars = {e["name"]: e for e in container(doc)["env"]}
            for name in referenced:  # every pod loads the whole config: it needs every reference
                assert env_vars[name] == {
                    "name": name,
                    "valueFrom": {
                        "secretKeyRef": {"name": f"{config_of(text).name}-secrets", "key": name, "optional": False}
                    },
                }
            assert not any("value" in e and e["name"] in SECRETS for e in container(doc)["env"])
    assert not any(d["kind"] == "Secret" for d in render(env))  # the operator owns the Secret and its values


def test_a_secret_without_a_reference_is_refused() -> None:
    config = config_of(STAGING)
    origin = config.origin.model_copy(update={"admin_token": SecretStr("typed-into-code")})
    with pytest.raises(ManifestError, match=r"origin\.admin_token"):
        render_manifests(
            config.model_copy(update={"origin": origin}), image=IMAGE, secret_refs=secret_references(STAGING)
        )


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_the_config_map_is_the_resolved_config_and_loads_back(env: str) -> None:
    text = ENVIRONMENTS[env]
    config = config_of(text)
    docs = render(env)
    for region in ("us-east", "eu-west"):
        config_map = of(docs, "ConfigMap", region)
        loaded = parse_config(config_map["data"]["wrangler.toml"], Path("wrangler.toml"), SECRETS)
        assert loaded.edge.region == region
        assert str(loaded.edge.origin) == f"http://{config.name}-origin.shop.svc:{config.origin.port}/"
        assert loaded.edge.host == f"{config.name}-edge.shop.svc"  # where origins send their purges
        assert loaded.markets == config.markets
        assert loaded.connectors == config.connectors
        assert loaded.origin.secret_key == config.origin.secret_key
        assert loaded.origin.model_dump(exclude={"host"}) == config.origin.model_dump(exclude={"host"})
        # Pods roll when their config changes: the template carries its hash.
        for component in ("edge", "origin"):
            template = of(docs, "Deployment", region, component)["spec"]["template"]
            assert len(template["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]) == 64


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_autoscaling_defaults_to_3_to_50_replicas_at_60_percent_cpu(env: str) -> None:
    docs = render(env)
    for region in ("us-east", "eu-west"):
        for component in ("edge", "origin"):
            hpa = of(docs, "HorizontalPodAutoscaler", region, component)
            deployment = of(docs, "Deployment", region, component)
            assert hpa["apiVersion"] == "autoscaling/v2"
            assert hpa["spec"]["scaleTargetRef"] == {
                "apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"],
            }  # fmt: skip
            assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 50)
            (metric,) = hpa["spec"]["metrics"]
            assert metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}
            assert "replicas" not in deployment["spec"]  # the HPA owns the count; re-applying must not reset it
            assert container(deployment)["resources"]["requests"]["cpu"]  # utilization is relative to requests

            pdb = of(docs, "PodDisruptionBudget", region, component)
            assert pdb["apiVersion"] == "policy/v1"
            assert pdb["spec"]["minAvailable"] == "50%"
            assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_deploy_settings_change_the_scaling_and_refuse_a_budget_that_blocks_drains() -> None:
    settings = DeploySettings(min_replicas=2, max_replicas=10, cpu_target_percent=75, pdb_min_available=1)
    docs = render("staging", settings=settings)
    hpa = of(docs, "HorizontalPodAutoscaler", "eu-west", "edge")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"], hpa["metrics"][0]["resource"]["target"]["averageUtilization"]) == (
        2, 10, 75,
    )  # fmt: skip
    assert of(docs, "PodDisruptionBudget", "eu-west", "origin")["spec"]["minAvailable"] == 1
    with pytest.raises(ValueError, match="below min_replicas"):
        DeploySettings(min_replicas=3, pdb_min_available=3)
    with pytest.raises(ValueError, match="below 100%"):
        DeploySettings(pdb_min_available="100%")
    with pytest.raises(ValueError, match="above max_replicas"):
        DeploySettings(min_replicas=5, max_replicas=4)


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_probes_commands_ports_and_graceful_termination(env: str) -> None:
    config = config_of(ENVIRONMENTS[env])
    docs = render(env)
    for region in ("us-east", "eu-west"):
        origin = of(docs, "Deployment", region, "origin")
        served = container(origin)
        assert served["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert served["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert served["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert served["ports"] == [{"name": "http", "containerPort": config.origin.port, "protocol": "TCP"}]
        assert served["command"] == ["wrangler-py"]
        assert served["args"] == ["--config", "/app/wrangler.toml", "origin", "--host", "0.0.0.0",
                                  "--port", str(config.origin.port)]  # fmt: skip

        edge = of(docs, "Deployment", region, "edge")
        proxy = container(edge)
        # The edge's own health paths (its /healthz is an origin's): alive, and ready while an origin can be asked.
        assert proxy["livenessProbe"]["httpGet"]["path"] == "/_edge/healthz"
        assert proxy["readinessProbe"]["httpGet"]["path"] == "/_edge/readyz"
        assert proxy["ports"] == [{"name": "http", "containerPort": config.edge.port, "protocol": "TCP"}]
        assert proxy["args"] == [
            "--config", "/app/wrangler.toml", "edge", "--origin", f"http://{config.name}-origin.shop.svc:"
            f"{config.origin.port}", "--host", "0.0.0.0", "--port", str(config.edge.port),
        ]  # fmt: skip

        for deployment in (origin, edge):
            pod = deployment["spec"]["template"]["spec"]
            (c,) = pod["containers"]
            assert c["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
            assert pod["terminationGracePeriodSeconds"] >= 5 + 20  # the sleep, then uvicorn's graceful shutdown
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

        for component, port in (("origin", config.origin.port), ("edge", config.edge.port)):
            service = of(docs, "Service", region, component)
            assert service["metadata"]["name"] == f"{config.name}-{component}"
            assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
            assert (
                service["spec"]["selector"]
                == of(docs, "Deployment", region, component)["spec"]["selector"]["matchLabels"]
            )


def test_edge_tcp_probes_when_asked_for() -> None:
    settings = DeploySettings(edge_liveness_path=None, edge_readiness_path=None)
    proxy = container(of(render("production", settings=settings), "Deployment", "us-east", "edge"))
    assert proxy["livenessProbe"]["tcpSocket"] == {"port": "http"}
    assert proxy["readinessProbe"]["tcpSocket"] == {"port": "http"}


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_labels_name_the_app_component_region_and_environment(env: str) -> None:
    config = config_of(ENVIRONMENTS[env])
    docs = render(env)
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == config.name
        assert labels["app.kubernetes.io/managed-by"] == "wrangler-py"
        assert labels["edgeshop/environment"] == env
        assert doc["metadata"]["namespace"] == "shop"
    for region in ("us-east", "eu-west"):
        for component in ("edge", "origin"):
            deployment = of(docs, "Deployment", region, component)
            selector = deployment["spec"]["selector"]["matchLabels"]
            assert selector == {
                "app.kubernetes.io/name": config.name, "app.kubernetes.io/component": component, REGION_LABEL: region,
            }  # fmt: skip
            pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= pod_labels.items()


def test_one_region_alone_and_an_unknown_one() -> None:
    docs = render("production", region="eu-west")
    assert {d["metadata"]["labels"][REGION_LABEL] for d in docs} == {"eu-west"}
    assert len(docs) == 9
    with pytest.raises(ManifestError, match="no region 'ap-south'"):
        render("production", region="ap-south")


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_output_is_deterministic(env: str, tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write_manifests(render(env), tmp_path / "a")]
    second = [p.read_bytes() for p in write_manifests(render(env), tmp_path / "b")]
    assert first == second
    assert dump_yaml(render(env)) == dump_yaml(render(env))
    # Keys are sorted at every level, so a reordered dict cannot change the bytes.
    reordered = [dict(reversed(list(doc.items()))) for doc in render(env)]
    assert dump_yaml(reordered) == dump_yaml(render(env))


def test_warnings_for_what_breaks_with_many_pods() -> None:
    demo = config_of((REPO / "wrangler.toml").read_text(encoding="utf-8"))
    said = "\n".join(deploy_warnings(demo))
    for key in ("origin.secret_key", "edge.redis_url", "connectors.commerce", "edge.geo.dev", "secure_cookies"):
        assert key in said
    assert [w for w in deploy_warnings(config_of(PRODUCTION)) if not w.startswith("connectors.commerce")] == []


def test_refuses_names_kubernetes_refuses() -> None:
    config = config_of(STAGING)
    refs = secret_references(STAGING)
    with pytest.raises(ManifestError, match="DNS label"):
        render_manifests(config.model_copy(update={"name": "9shop"}), image=IMAGE, secret_refs=refs)
    with pytest.raises(ManifestError, match="namespace"):
        render_manifests(config, image=IMAGE, secret_refs=refs, namespace="Shop_NS")
    with pytest.raises(ManifestError, match="image"):
        render_manifests(config, image="", secret_refs=refs)


@pytest.mark.skipif(
    "env" not in inspect.signature(parse_config).parameters, reason="this config loader has no [env.NAME] tables"
)
def test_references_follow_the_environment_overlay() -> None:
    text = PRODUCTION + '\n[env.staging.origin]\nsecret_key = "env:STAGING_SECRET_KEY"\n'
    assert secret_references(text)["origin.secret_key"] == "EDGESHOP_SECRET_KEY"
    staged = secret_references(text, env="staging")
    assert staged["origin.secret_key"] == "STAGING_SECRET_KEY"
    environ = {**SECRETS, "STAGING_SECRET_KEY": "CANARY-staging-key-3c3c3c"}
    config = parse_config(text, Path("wrangler.toml"), environ, env="staging")
    docs = render_manifests(config, image=IMAGE, secret_refs=staged, namespace="shop", environment="staging")
    env_names = {e["name"] for e in container(of(docs, "Deployment", "us-east", "edge"))["env"]}
    assert "STAGING_SECRET_KEY" in env_names
    assert "EDGESHOP_SECRET_KEY" not in env_names
    rendered = dump_yaml(docs)
    assert "CANARY" not in rendered
    assert '"env:STAGING_SECRET_KEY"' in rendered
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.usefixtures("no_network")
def test_the_secret_is_named_after_its_content_and_the_pods_reference_that_name() -> None:
    config = config_of(PRODUCTION)
    values = {name: SECRETS[name] for name in sorted(set(secret_references(PRODUCTION).values()))}
    secret = secret_document(config, values, namespace="shop", environment="production")
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(secret, version, strict=True)
    name = secret["metadata"]["name"]
    assert (
        name == versioned_secret_name("summit-trail-secrets", values) and len(name) == len("summit-trail-secrets-") + 10
    )
    assert secret["immutable"] is True and secret["metadata"]["namespace"] == "shop"
    assert REGION_LABEL not in secret["metadata"]["labels"]  # one Secret for every region
    assert versioned_secret_name("summit-trail-secrets", dict(reversed(values.items()))) == name  # order-free
    rotated = {**values, "EDGESHOP_SECRET_KEY": "CANARY-rotated"}
    assert versioned_secret_name("summit-trail-secrets", rotated) != name

    docs = render("production", secret_name=name)
    references = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for doc in docs
        if doc["kind"] == "Deployment"
        for env in container(doc)["env"]
        if "valueFrom" in env
    }
    assert references == {name}
    assert "CANARY" not in dump_yaml(docs)  # the values live in the Secret's own (private) file only
    # A rotation changes the pods' template, so applying it rolls them.
    templates = [of(docs, "Deployment", "us-east", c)["spec"]["template"] for c in ("edge", "origin")]
    rotated_docs = render("production", secret_name=versioned_secret_name("summit-trail-secrets", rotated))
    assert templates != [of(rotated_docs, "Deployment", "us-east", c)["spec"]["template"] for c in ("edge", "origin")]


def test_the_secret_s_name_honours_the_setting() -> None:
    config = config_of(STAGING)
    assert kubernetes_secret_name(config) == "summit-trail-staging-secrets"
    settings = DeploySettings(secret_name="shop-env")
    assert kubernetes_secret_name(config, settings) == "shop-env"
    assert secret_document(config, {"A": "x"}, namespace="shop", settings=settings)["metadata"]["name"].startswith(
        "shop-env-"
    )
    for bad in ("Shop", "a" * 243, "-x"):
        with pytest.raises(ValueError, match="242 characters at most"):
            DeploySettings(secret_name=bad)


@pytest.mark.usefixtures("no_network")
def test_the_namespace_is_a_document_of_its_own_except_the_default() -> None:
    document = namespace_document("shop")
    assert document is not None
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(document, version, strict=True)
    assert document["metadata"] == {"name": "shop", "labels": {"app.kubernetes.io/managed-by": "wrangler-py"}}
    assert namespace_document("default") is None and namespace_document("kube-system") is None
    with pytest.raises(ManifestError, match="DNS label"):
        namespace_document("Shop")


@pytest.mark.parametrize("key", ["manifests_dir", "build_dir"])
@pytest.mark.parametrize("value", ["../elsewhere", "/etc/shop", ".", "a/../../b"])
def test_deploy_folders_stay_inside_the_project(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=rf"deploy\.{key} = .* must be a folder inside the project"):
        DeployConfig.model_validate({key: value})
    assert getattr(DeployConfig.model_validate({key: "out/deploy"}), key) == "out/deploy"


def test_project_dir_is_a_plain_absolute_path() -> None:
    assert DeploySettings(project_dir="/srv/shop").in_image("wrangler.toml") == "/srv/shop/wrangler.toml"
    for bad in ("app", "/app dir", '/app"', "/app\nRUN x"):
        with pytest.raises(ValueError, match="project_dir"):
            DeploySettings(project_dir=bad)
