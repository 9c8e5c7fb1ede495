"""`wrangler-py deploy`: a project from `wrangler-py init`, shipped to two regions with S3 assets (moto's server on
loopback, conftest), Kubernetes manifests, kubectl (a recording stand-in: no cluster here), an image inspector
(a stand-in, or fake skopeo/crane/docker executables) and a Fastly purge (respx)."""

from __future__ import annotations

import base64
import io
import json
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import respx
import yaml

from wrangler_py import deploy
from wrangler_py.asset_sync import AssetTarget, s3_client
from wrangler_py.build import ASSET_MANIFEST_LABEL
from wrangler_py.cli import main
from wrangler_py.deploy import DeployError, DeployPlan, ImageLabel, execute, inspect_image, plan_deploy
from wrangler_py.init import scaffold
from wrangler_py.secrets import config_without_secrets, open_store

FASTLY_TOKEN = "CANARY-fastly-token-3c3c3c"
SECRET_KEY = "CANARY-secret-key-d00d"
ROTATED_KEY = "CANARY-rotated-key-beef"

pytestmark = pytest.mark.usefixtures("aws_env")


@pytest.fixture(autouse=True)
def no_image_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default inspector finds no tool: the plan warns, and tests that check the label pass their own."""
    monkeypatch.setattr(deploy, "inspect_image", lambda image: ImageLabel(None, None, ("no tool in this test",)))


def labelled(plan_or_digest: DeployPlan | str) -> Any:
    """An inspector for an image that carries the label of a build (or the given digest)."""
    digest = plan_or_digest if isinstance(plan_or_digest, str) else plan_or_digest.build.manifest_sha256
    return lambda image: ImageLabel("fake-registry", digest)


def _project(tmp_path: Path, s3_endpoint: str, bucket: str) -> Path:
    folder = tmp_path / "my shop" / "myshop"  # a space on the way: printed commands must quote it
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
        self.applied: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, args: Sequence[str]) -> int:
        self.calls.append(tuple(args))
        if self.fail_on and self.fail_on in " ".join(args):
            return 1
        if "apply" in args:
            documents = list(yaml.safe_load_all(Path(args[args.index("-f") + 1]).read_text(encoding="utf-8")))
            self.applied.append([doc["kind"] for doc in documents])
            for doc in documents:
                kubernetes_validate.validate(doc, "1.30", strict=True)
        return 0


def store_secrets(project: Path, **values: str) -> None:
    store = open_store(project, "production")
    for name, value in (values or {"EDGESHOP_SECRET_KEY": SECRET_KEY, "FASTLY_TOKEN": FASTLY_TOKEN}).items():
        store.put(name, value)


def state(project: Path, name: str) -> Path:
    return project.parent / ".wrangler" / "deploy" / name


def test_dry_run_prints_the_plan_and_changes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(project), "deploy", "--env", "production", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "deploy myshop-prod (env production), image registry.example/myshop:1.0.0" in out
    assert "to upload to s3://" in out and "immutable" in out and "asset-manifest.json" in out
    # The namespace comes first, then the ConfigMap and the two deployables' four documents each.
    assert "us-east.yaml: 10 documents" in out and "eu-west.yaml: 10 documents" in out and "Namespace" in out
    assert "kubectl --context prod-us apply -f" in out and "kubectl --context prod-eu rollout status" in out
    assert "fastly service SVC123: purge everything (only with --apply" in out
    # The Secret has not been stored yet: the pods would read an operator's Secret, and the purge has no token.
    assert "production.yaml" in out and "EDGESHOP_SECRET_KEY" in out and "secret put NAME --env production" in out
    assert f"image: must carry LABEL {ASSET_MANIFEST_LABEL}=" in out and "(not checked)" in out
    assert "dry run: nothing was uploaded, written, applied or purged" in out
    assert _objects(project) == {}
    assert not (project.parent / "deploy").exists() and not (project.parent / "dist").exists()
    assert not (project.parent / ".wrangler").exists()


@respx.mock
def test_apply_uploads_writes_applies_in_order_then_purges(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_secrets(project)
    purge = respx.post("https://api.fastly.com/service/SVC123/purge_all").mock(
        return_value=httpx.Response(200, json={"status": "ok"})
    )
    plan = plan_deploy(project, "production")
    assert not plan.blockers  # every referenced secret is stored, the purge token too
    kubectl = Kubectl()
    printed = io.StringIO()
    execute(plan, printed, apply=True, runner=kubectl)

    objects = _objects(project)
    manifest = json.loads((project.parent / "dist" / "asset-manifest.json").read_text(encoding="utf-8"))
    css = manifest["assets"]["css/store.css"]["path"]
    assert objects[f"assets/{css}"] == {
        "type": "text/css; charset=utf-8",
        "cache": "public, max-age=31536000, immutable",
    }
    assert objects["assets/asset-manifest.json"]["cache"] != "public, max-age=31536000, immutable"

    secret = str(state(project, "production-secret.yaml"))
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
    assert kubectl.applied[:2] == [["Namespace", "Secret"], ["Namespace", "ConfigMap", *["Deployment", "Service",
                                   "HorizontalPodAutoscaler", "PodDisruptionBudget"] * 2]]  # fmt: skip
    assert purge.call_count == 1
    assert purge.calls.last.request.headers["Fastly-Key"] == FASTLY_TOKEN

    # The pods link the assets where the CDN serves them, and read the Secret deploy rendered, by its name.
    rendered = Path(us).read_text(encoding="utf-8")
    assert 'assets_url = "https://cdn.myshop.example/assets/"' in rendered
    assert SECRET_KEY not in rendered and FASTLY_TOKEN not in rendered
    (applied_secret,) = [d for d in yaml.safe_load_all(Path(secret).read_text()) if d["kind"] == "Secret"]
    assert applied_secret["metadata"]["name"] == plan.secret_name and plan.secret_name.startswith(
        "myshop-prod-secrets-"
    )
    assert applied_secret["metadata"]["namespace"] == "shop" and applied_secret["immutable"] is True
    assert {k: base64.b64decode(v).decode() for k, v in applied_secret["data"].items()} == {
        "EDGESHOP_SECRET_KEY": SECRET_KEY, "FASTLY_TOKEN": FASTLY_TOKEN,
    }  # fmt: skip
    assert stat.S_IMODE(Path(secret).stat().st_mode) == 0o600
    assert f"name: {plan.secret_name}" in rendered and "name: myshop-prod-secrets\n" not in rendered

    # Nothing printed holds a value: what execute wrote, and the terminal's both streams.
    terminal = capsys.readouterr()
    for value in (SECRET_KEY, FASTLY_TOKEN, base64.b64encode(SECRET_KEY.encode()).decode()):
        assert value not in printed.getvalue() and value not in terminal.out + terminal.err
    assert "written to" in printed.getvalue() and "cdn: fastly service SVC123: purged everything" in printed.getvalue()
    # `secret list` names the Secret deploy applied, whatever else the file holds.
    open_store(project, "production").put("UNREFERENCED", "x")
    assert main(["--config", str(project), "secret", "list", "--env", "production"]) == 0
    assert f"applies it as Secret {plan.secret_name} in namespace shop" in capsys.readouterr().out

    # The same content again uploads nothing; the purge done, its id is gone, so a later deploy purges anew.
    assert not state(project, "production-deploy-id").exists()
    again = plan_deploy(project, "production")
    assert again.assets is not None and again.assets.uploads == ()
    assert again.manifests == plan.manifests and again.deploy_id != plan.deploy_id


@respx.mock
def test_a_rotated_secret_reaches_the_pods(project: Path) -> None:
    """`secret put` of a new value, then deploy: a new Secret (the old one stays) and a new pod template."""
    store_secrets(project)
    respx.post("https://api.fastly.com/service/SVC123/purge_all").respond(200, json={"status": "ok"})
    first = plan_deploy(project, "production")
    execute(first, io.StringIO(), apply=True, runner=Kubectl())
    store_secrets(project, EDGESHOP_SECRET_KEY=ROTATED_KEY)

    rotated = plan_deploy(project, "production")

    assert rotated.secret_name != first.secret_name and rotated.manifests != first.manifests
    assert f"name: {rotated.secret_name}" in rotated.manifests["us-east"]
    assert first.secret_name not in rotated.manifests["us-east"]
    kubectl = Kubectl()
    execute(rotated, io.StringIO(), apply=True, runner=kubectl)
    secret = yaml.safe_load_all(state(project, "production-secret.yaml").read_text())
    assert [d["metadata"]["name"] for d in secret if d["kind"] == "Secret"] == [rotated.secret_name]
    assert ROTATED_KEY not in (project.parent / "deploy" / "production" / "us-east.yaml").read_text()


def test_the_secret_goes_where_the_pods_run_whatever_the_file_says(project: Path) -> None:
    """A Secret stored before `namespace = "shop"` still names namespace default: deploy uses only its data."""
    store = open_store(project, "production", namespace="default")
    store.put("EDGESHOP_SECRET_KEY", SECRET_KEY)
    store.put("FASTLY_TOKEN", FASTLY_TOKEN)
    assert store.file_metadata() == ("myshop-prod-secrets", "default")
    plan = plan_deploy(project, "production")
    assert plan.secret is not None
    documents = list(yaml.safe_load_all(plan.secret))
    assert [(d["kind"], d["metadata"].get("namespace")) for d in documents] == [("Namespace", None), ("Secret", "shop")]
    assert documents[0]["metadata"]["name"] == "shop"


def test_a_missing_stored_secret_blocks_apply(project: Path) -> None:
    store_secrets(project, FASTLY_TOKEN=FASTLY_TOKEN)  # but not EDGESHOP_SECRET_KEY
    plan = plan_deploy(project, "production")
    assert any("not in " in b and "EDGESHOP_SECRET_KEY" in b for b in plan.blockers)
    with pytest.raises(DeployError, match=r"nothing was changed: .*EDGESHOP_SECRET_KEY"):
        execute(plan, io.StringIO(), apply=True, runner=Kubectl())
    assert _objects(project) == {}


def test_a_rollback_gets_a_deploy_id_of_its_own_and_a_failed_purge_is_retried_with_the_same(project: Path) -> None:
    """CloudFront's CallerReference is the deploy id: deploy A, B, then A again must purge a third time, while a
    retry of one unfinished purge must reuse its reference (CloudFront then answers with the same invalidation)."""
    store_secrets(project)
    ids: list[str] = []
    with respx.mock as router:
        purge = router.post("https://api.fastly.com/service/SVC123/purge_all")
        purge.respond(200, json={"status": "ok"})
        a = plan_deploy(project, "production")
        execute(a, io.StringIO(), apply=True, runner=Kubectl())
        stylesheet = project.parent / "static" / "css" / "shop.css"
        original = stylesheet.read_bytes()
        stylesheet.write_text(".b { color: blue }\n")
        b = plan_deploy(project, "production")
        execute(b, io.StringIO(), apply=True, runner=Kubectl())
        stylesheet.write_bytes(original)  # roll back to A
        ids += [a.deploy_id, b.deploy_id]

        rollback = plan_deploy(project, "production")
        assert rollback.content_id == a.content_id and rollback.deploy_id != a.deploy_id
        purge.respond(503, json={"msg": "busy"})
        with pytest.raises(DeployError, match="cdn: purging fastly"):
            execute(rollback, io.StringIO(), apply=True, runner=Kubectl())
        kept = json.loads(state(project, "production-deploy-id").read_text())
        assert kept == {"content": rollback.content_id, "id": rollback.deploy_id}
        assert stat.S_IMODE(state(project, "production-deploy-id").stat().st_mode) == 0o600

        retry = plan_deploy(project, "production")
        assert retry.deploy_id == rollback.deploy_id  # the same content, its purge unfinished: the same reference
        purge.respond(200, json={"status": "ok"})
        execute(retry, io.StringIO(), apply=True, runner=Kubectl())
        ids.append(retry.deploy_id)
    assert len(set(ids)) == 3 and not state(project, "production-deploy-id").exists()


def test_a_failing_region_stops_before_the_purge(project: Path) -> None:
    store_secrets(project)
    kubectl = Kubectl(fail_on="eu-west.yaml")
    with respx.mock(assert_all_called=False) as router:
        purge = router.post("https://api.fastly.com/service/SVC123/purge_all")
        with pytest.raises(DeployError, match=r"\[eu-west\] .* failed .* the CDN was not purged"):
            execute(plan_deploy(project, "production"), io.StringIO(), apply=True, runner=kubectl)
        assert not purge.called
    assert [call[2] for call in kubectl.calls] == ["prod-us"] * 4 + ["prod-eu"] * 2


def test_without_apply_it_writes_and_prints_the_commands(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_secrets(project)
    assert main(["--config", str(project), "--env", "production", "deploy"]) == 0
    out = capsys.readouterr().out
    assert "not applied (no --apply); to apply:" in out
    written = sorted(p.name for p in (project.parent / "deploy" / "production").iterdir())
    assert written == ["eu-west.yaml", "us-east.yaml"]
    assert any(key.endswith("asset-manifest.json") for key in _objects(project))
    # Commands to paste into a shell: the folder's space stays inside one argument.
    us = project.parent / "deploy" / "production" / "us-east.yaml"
    assert f"  kubectl --context prod-us apply -f '{us}'\n" in out
    assert f"  kubectl --context prod-us apply -f '{state(project, 'production-secret.yaml')}'\n" in out


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


# The image and its assets ---------------------------------------------------------------------------------------


def test_an_image_with_other_assets_blocks_apply(project: Path) -> None:
    store_secrets(project)
    expected = plan_deploy(project, "production").build.manifest_sha256
    ok = plan_deploy(project, "production", inspect=labelled(expected))
    assert (
        not ok.blockers
        and ok.image_check == f"carries LABEL {ASSET_MANIFEST_LABEL}={expected} (checked with fake-registry)"
    )

    stale = plan_deploy(project, "production", inspect=labelled("0" * 64))
    (blocker,) = stale.blockers
    assert f"carries {ASSET_MANIFEST_LABEL}={'0' * 64} (fake-registry)" in blocker and f"={expected}" in blocker
    with pytest.raises(DeployError, match=r"nothing was changed: image registry\.example/myshop:1\.0\.0 carries"):
        execute(stale, io.StringIO(), apply=True, runner=Kubectl())
    assert _objects(project) == {}

    unlabelled = plan_deploy(project, "production", inspect=lambda image: ImageLabel("docker", None))
    assert any(f"carries no {ASSET_MANIFEST_LABEL} label (docker)" in b for b in unlabelled.blockers)


def test_an_image_nobody_can_inspect_is_a_warning_naming_the_label(project: Path) -> None:
    plan = plan_deploy(project, "production", inspect=lambda image: ImageLabel(None, None, ("skopeo: unauthorized",)))
    expected = f"{ASSET_MANIFEST_LABEL}={plan.build.manifest_sha256}"
    assert any("skopeo: unauthorized" in w and f"must carry the label {expected}" in w for w in plan.warnings)
    assert not [b for b in plan.blockers if ASSET_MANIFEST_LABEL in b]


@pytest.mark.parametrize(
    ("tool", "answer"),
    [
        ("skopeo", {"config": {"Labels": {ASSET_MANIFEST_LABEL: "abc"}}}),
        ("crane", {"config": {"Labels": {ASSET_MANIFEST_LABEL: "abc", "other": "x"}}}),
        ("docker", [{"Config": {"Labels": {ASSET_MANIFEST_LABEL: "abc"}}}]),
    ],
)
def test_the_label_is_read_with_whichever_tool_is_installed(
    tool: str, answer: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / tool
    # PATH holds only the fake: the script names what it runs by its full path.
    script.write_text(
        f"#!/bin/sh\necho \"$@\" > '{tmp_path / 'argv'}'\n/bin/cat <<'JSON'\n{json.dumps(answer)}\nJSON\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert inspect_image("registry.example/shop:1") == ImageLabel(tool, "abc")
    assert "registry.example/shop:1" in (tmp_path / "argv").read_text()


def test_an_inspection_that_fails_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text("#!/bin/sh\necho 'Error: No such image: registry.example/shop:1' >&2\nexit 1\n")
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    found = inspect_image("registry.example/shop:1")
    assert found.tool is None and found.problems == ("docker: Error: No such image: registry.example/shop:1",)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert inspect_image("x").problems == ("none of skopeo, crane or docker is installed",)


# Smaller things -------------------------------------------------------------------------------------------------


def test_a_build_dir_of_its_own_is_no_false_alarm(project: Path) -> None:
    """The build puts the manifest into the image at storefront.asset_manifest, wherever build_dir is."""
    config = project.read_text(encoding="utf-8")
    project.write_text(config.replace('namespace = "shop"\n', 'namespace = "shop"\nbuild_dir = "out/web"\n'))
    plan = plan_deploy(project, "production")
    assert plan.build.out == project.parent / "out" / "web"
    assert not [w for w in plan.warnings if "asset_manifest" in w]


def test_an_assets_url_on_a_cdn_without_a_bucket_is_warned(project: Path) -> None:
    config = project.read_text(encoding="utf-8")
    start = config.index("\n[env.production.deploy.assets]")
    without_bucket = config[:start] + config[config.index("[[env.production.regions]]") :]
    project.write_text(without_bucket.replace("[env.production.storefront]\n",
                       '[env.production.storefront]\nassets_url = "https://cdn.myshop.example/a/"\n'))  # fmt: skip
    (warning,) = [w for w in plan_deploy(project, "production").warnings if w.startswith("storefront.assets_url")]
    assert "'https://cdn.myshop.example/a/' but there is no [env.production.deploy.assets]" in warning
    assert "uploads nothing there" in warning


def test_without_env_the_warning_names_the_configured_secret(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    scaffold(folder)
    config = folder / "wrangler.toml"
    config.write_text(config.read_text() + '\n[deploy]\nimage = "registry.example/shop:1"\n\n[deploy.kubernetes]\n'
                      'secret_name = "shop-env"\n')  # fmt: skip
    config.write_text(config.read_text().replace('# secret_key = "env:EDGESHOP_SECRET_KEY"',
                                                 'secret_key = "env:EDGESHOP_SECRET_KEY"'))  # fmt: skip
    plan = plan_deploy(config, None, build_into=tmp_path / "scratch")
    (warning,) = [w for w in plan.warnings if "EDGESHOP_SECRET_KEY" in w]
    assert "create the Secret shop-env in namespace default yourself" in warning
    assert "edgeshop-secrets" not in warning and "shop-secrets" not in warning


def test_deploy_folders_that_resolve_outside_the_project_are_refused(project: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (project.parent / "deploy").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DeployError, match=r"deploy\.manifests_dir = 'deploy' is .*elsewhere, not a folder inside"):
        plan_deploy(project, "production")
