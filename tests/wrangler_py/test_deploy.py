"""`wrangler-py deploy`: a project from `wrangler-py init`, shipped to two regions with S3 assets (moto's server on
loopback), Kubernetes manifests, kubectl (a recording stand-in: no cluster here) and a Fastly purge (respx)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import kubernetes_validate
import pytest
import respx
import yaml
from moto.server import ThreadedMotoServer

from wrangler_py.asset_sync import AssetTarget, s3_client
from wrangler_py.cli import main
from wrangler_py.deploy import DeployError, execute, plan_deploy
from wrangler_py.init import scaffold
from wrangler_py.secrets import config_without_secrets, open_store

FASTLY_TOKEN = "CANARY-fastly-token-3c3c3c"
SECRET_KEY = "CANARY-secret-key-d00d"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _project(tmp_path: Path, s3_endpoint: str, bucket: str) -> Path:
    folder = tmp_path / "myshop"
    scaffold(folder)
    config = folder / "wrangler.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f"""
[env.production]
name = "myshop-prod"

[env.production.origin]
secret_key = "env:EDGESHOP_SECRET_KEY"

[env.production.edge.cdn_purge]
provider = "fastly"
service_id = "SVC123"
token = "env:FASTLY_TOKEN"

[env.production.deploy]
image = "registry.example/myshop:1.0.0"
namespace = "shop"
contexts = {{ us-east = "prod-us", eu-west = "prod-eu" }}

[env.production.deploy.assets]
bucket = "{bucket}"
endpoint_url = "{s3_endpoint}"
region = "us-east-1"
public_url = "https://cdn.myshop.example/assets"

[[env.production.regions]]
name = "us-east"
origins = ["https://origin-us.myshop.example"]

[[env.production.regions]]
name = "eu-west"
origins = ["https://origin-eu.myshop.example"]
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def project(tmp_path: Path, s3_endpoint: str, request: pytest.FixtureRequest) -> Path:
    bucket = f"myshop-assets-{abs(hash(request.node.name)) % 10**8}"
    config = _project(tmp_path, s3_endpoint, bucket)
    s3_client(AssetTarget(bucket=bucket, endpoint_url=s3_endpoint, region="us-east-1")).create_bucket(Bucket=bucket)
    return config


def _objects(config: Path) -> dict[str, dict[str, str]]:
    plan_target = config_without_secrets(config, "production").config.deploy.assets
    assert plan_target is not None
    client = s3_client(plan_target)
    found = {}
    for item in client.list_objects_v2(Bucket=plan_target.bucket).get("Contents", []):
        head = client.head_object(Bucket=plan_target.bucket, Key=item["Key"])
        found[item["Key"]] = {"type": head["ContentType"], "cache": head["CacheControl"]}
    return found


class Kubectl:
    """Stands in for kubectl: records each command and answers as a cluster that accepts everything would."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.fail_on = fail_on

    def __call__(self, args: Sequence[str]) -> int:
        self.calls.append(tuple(args))
        if self.fail_on and self.fail_on in " ".join(args):
            return 1
        if "apply" in args:
            documents = list(yaml.safe_load_all(Path(args[args.index("-f") + 1]).read_text(encoding="utf-8")))
            for doc in documents:
                kubernetes_validate.validate(doc, "1.30", strict=True)
        return 0


def test_dry_run_prints_the_plan_and_changes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(project), "deploy", "--env", "production", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "deploy myshop-prod (env production), image registry.example/myshop:1.0.0" in out
    assert "to upload to s3://" in out and "immutable" in out and "asset-manifest.json" in out
    assert "us-east.yaml: 9 documents" in out and "eu-west.yaml: 9 documents" in out
    assert "kubectl --context prod-us apply -f" in out and "kubectl --context prod-eu rollout status" in out
    assert "fastly service SVC123: purge everything (only with --apply" in out
    assert "not in " in out and "EDGESHOP_SECRET_KEY" in out  # the Secret has not been stored yet
    assert "dry run: nothing was uploaded, written, applied or purged" in out
    assert _objects(project) == {}
    assert not (project.parent / "deploy").exists() and not (project.parent / "dist").exists()


@respx.mock
def test_apply_uploads_writes_applies_in_order_then_purges(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(project, "production")
    store.put("EDGESHOP_SECRET_KEY", SECRET_KEY)
    store.put("FASTLY_TOKEN", FASTLY_TOKEN)
    purge = respx.post("https://api.fastly.com/service/SVC123/purge_all").mock(
        return_value=httpx.Response(200, json={"status": "ok"})
    )
    plan = plan_deploy(project, "production")
    assert plan.warnings == [w for w in plan.warnings if "not in " not in w]  # every referenced secret is stored
    kubectl = Kubectl()
    execute(plan, io.StringIO(), apply=True, runner=kubectl)

    objects = _objects(project)
    manifest = json.loads((project.parent / "dist" / "asset-manifest.json").read_text(encoding="utf-8"))
    css = manifest["assets"]["css/store.css"]["path"]
    assert objects[f"assets/{css}"] == {
        "type": "text/css; charset=utf-8",
        "cache": "public, max-age=31536000, immutable",
    }
    assert objects["assets/asset-manifest.json"]["cache"] != "public, max-age=31536000, immutable"

    secret = str(project.parent / ".wrangler" / "secrets" / "production.yaml")
    us = str(project.parent / "deploy" / "production" / "us-east.yaml")
    assert kubectl.calls[:4] == [
        ("kubectl", "--context", "prod-us", "apply", "-f", secret),
        ("kubectl", "--context", "prod-us", "apply", "-f", us),
        ("kubectl", "--context", "prod-us", "rollout", "status", "deployment/myshop-prod-origin", "--namespace",
         "shop", "--timeout=600s"),
        ("kubectl", "--context", "prod-us", "rollout", "status", "deployment/myshop-prod-edge", "--namespace",
         "shop", "--timeout=600s"),
    ]  # fmt: skip
    assert [call[2] for call in kubectl.calls] == ["prod-us"] * 4 + ["prod-eu"] * 4
    assert purge.call_count == 1
    assert purge.calls.last.request.headers["Fastly-Key"] == FASTLY_TOKEN

    # The pods link the assets where the CDN serves them, and never see a secret's value.
    rendered = Path(us).read_text(encoding="utf-8")
    assert 'assets_url = "https://cdn.myshop.example/assets/"' in rendered
    assert SECRET_KEY not in rendered and FASTLY_TOKEN not in rendered
    assert SECRET_KEY not in capsys.readouterr().out

    # The same deploy again uploads nothing and gets the same deploy id (a retried CDN purge is idempotent).
    again = plan_deploy(project, "production")
    assert again.assets is not None and again.assets.uploads == () and again.deploy_id == plan.deploy_id


def test_a_failing_region_stops_before_the_purge(project: Path) -> None:
    store = open_store(project, "production")
    store.put("EDGESHOP_SECRET_KEY", SECRET_KEY)
    store.put("FASTLY_TOKEN", FASTLY_TOKEN)
    kubectl = Kubectl(fail_on="eu-west.yaml")
    with respx.mock(assert_all_called=False) as router:
        purge = router.post("https://api.fastly.com/service/SVC123/purge_all")
        with pytest.raises(DeployError, match=r"\[eu-west\] .* failed .* the CDN was not purged"):
            execute(plan_deploy(project, "production"), io.StringIO(), apply=True, runner=kubectl)
        assert not purge.called
    assert [call[2] for call in kubectl.calls] == ["prod-us"] * 4 + ["prod-eu"] * 2


def test_without_apply_it_writes_and_prints_the_commands(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(project), "--env", "production", "deploy"]) == 0
    out = capsys.readouterr().out
    assert "not applied (no --apply); to apply:" in out
    written = sorted(p.name for p in (project.parent / "deploy" / "production").iterdir())
    assert written == ["eu-west.yaml", "us-east.yaml"]
    assert any(key.endswith("asset-manifest.json") for key in _objects(project))


def test_apply_checks_what_it_needs_before_changing_anything(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert main(["--config", str(project), "deploy", "--env", "production", "--apply"]) == 1
    err = capsys.readouterr().err
    assert "nothing was changed" in err
    assert "the CDN purge needs FASTLY_TOKEN" in err and "secret put FASTLY_TOKEN --env production" in err
    assert "--apply needs kubectl on PATH" in err
    assert _objects(project) == {}


def test_no_image_names_the_key_and_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scaffold(tmp_path / "shop")
    assert main(["--config", str(tmp_path / "shop" / "wrangler.toml"), "deploy", "--dry-run"]) == 1
    assert 'no image to deploy: set image = "registry.example/shop:1.0.0" in [deploy]' in capsys.readouterr().err


def test_assets_url_must_match_the_bucket_s_public_url(project: Path) -> None:
    config = project.read_text(encoding="utf-8")
    mismatch = '[env.production.storefront]\nassets_url = "https://elsewhere.example/"\n'
    project.write_text(config.replace("[env.production.storefront]\n", mismatch), encoding="utf-8")
    with pytest.raises(DeployError, match="pages would link assets where they are not uploaded"):
        plan_deploy(project, "production")
