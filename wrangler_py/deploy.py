"""`wrangler-py deploy [--env E] [--dry-run] [--apply]`: one command from a project to every region.

In order, so that nothing ever links what is not there yet:

1. build the project (`wrangler-py build`): fingerprinted assets and their manifest; the image must carry the
   same manifest (its `edgeshop.asset-manifest-sha256` label, checked with skopeo, crane or docker when one is
   installed);
2. upload the assets that changed to S3 (`[deploy.assets]`), the manifest last; a rerun resumes;
3. render the Kubernetes manifests per region into `<deploy.manifests_dir>/<env>/<region>.yaml` (the namespace
   first), and the environment's Secret, from the values `wrangler-py secret put --env E` stored, into the private
   `.wrangler/deploy/<env>-secret.yaml`: named after its content, so a rotated value rolls the pods;
4. with `--apply`: per region, `kubectl apply` the Secret and the manifests, then wait for both Deployments to
   roll out;
5. with `--apply`, after the rollouts: purge the CDN in front of the edges (`[edge.cdn_purge]`), so cached pages that
   link the previous assets go.

`--dry-run` does the reading (the build into a temporary folder, the bucket listing) and prints the plan: what would
be uploaded, applied and purged; it writes nothing and runs no kubectl. Without `--apply`, the manifests are
written and the kubectl commands printed for an operator (or a CD system) to run.

Each deploy attempt gets an id of its own (its content and a nonce), CloudFront's CallerReference: kept in
`.wrangler/deploy/<env>-deploy-id` from just before the purge until it succeeds, so that only a retry of the same
content reuses it (CloudFront then answers with the invalidation already made), while a later deploy, a rollback
to an earlier build included, always purges.

The store's secrets are never printed: the config is read with stand-ins for its `env:` references, the ConfigMap
keeps the references, the Secret's values go only into its private file, and the pods read them from it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
from pydantic import SecretStr

from wrangler_py.asset_sync import AssetSyncError, ProgressBar, SyncPlan, plan_sync, run_sync, s3_client
from wrangler_py.build import ASSET_MANIFEST_LABEL, BuildError, BuildResult, build
from wrangler_py.cdn_invalidate import InvalidationError, InvalidationPlan, plan_invalidation, run_invalidation
from wrangler_py.config import ConfigError, LoadedConfig, WranglerConfig
from wrangler_py.manifests import (
    Manifest,
    ManifestError,
    deploy_warnings,
    dump_yaml,
    kubernetes_secret_name,
    namespace_document,
    region_names,
    render_manifests,
    secret_document,
    secret_references,
)
from wrangler_py.secrets import (
    SECRETS_DIR,
    KubernetesSecretStore,
    SecretError,
    _process_environ,
    config_without_secrets,
    open_store,
    secret_manifest_path,
    write_private,
)

DEPLOY_STATE_DIR = SECRETS_DIR.parent / "deploy"  # beside the environments' secrets: local state, never committed
INSPECT_TIMEOUT_SECONDS = 30

Runner = Callable[[Sequence[str]], int]


class DeployError(Exception):
    """A deploy cannot go on; the message says what failed, what was done before it, and the fix."""


@dataclass(frozen=True, slots=True)
class KubectlStep:
    region: str
    args: tuple[str, ...]
    what: str

    def command(self) -> str:
        """The command as a shell reads it back: paths with spaces stay one argument."""
        return shlex.join(self.args)


@dataclass(frozen=True, slots=True)
class ImageLabel:
    """What inspecting the image found: `tool` None when no tool could inspect it (`problems` say why)."""

    tool: str | None
    value: str | None  # the label's value; None: the image has no such label, or nobody could tell
    problems: tuple[str, ...] = ()


ImageInspector = Callable[[str], ImageLabel]


@dataclass(slots=True)
class DeployPlan:
    loaded: LoadedConfig
    env: str | None
    image: str
    deploy_id: str
    content_id: str  # what the deploy id's nonce is kept for: the same content retried
    build: BuildResult
    assets: SyncPlan | None
    assets_error: str | None
    manifests: dict[str, str]  # region -> YAML
    manifests_dir: Path
    kubectl: list[KubectlStep]
    invalidation: InvalidationPlan | None
    secret: str | None = field(default=None, repr=False)  # the Secret's YAML, values included: never print it
    secret_name: str | None = None
    secret_file: Path | None = None
    image_check: str = ""
    warnings: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)

    @property
    def config(self) -> WranglerConfig:
        return self.loaded.config


def _label(env: str | None) -> str:
    return env or "default"


def _with_assets_url(loaded: LoadedConfig) -> LoadedConfig:
    """Pages link the assets where the CDN serves them: `[deploy.assets] public_url` becomes the storefront's
    `assets_url`, unless the environment already says the same thing."""
    config = loaded.config
    target = config.deploy.assets
    if target is None or target.public_url is None:
        return loaded
    public = target.public_url if target.public_url.endswith("/") else target.public_url + "/"
    current = config.storefront.assets_url
    if current is not None and current != public:
        raise DeployError(
            f"storefront.assets_url is {current!r} but deploy.assets.public_url is {public!r}: pages would link "
            "assets where they are not uploaded; remove storefront.assets_url (deploy sets it) or make them equal"
        )
    storefront = config.storefront.model_copy(update={"assets_url": public})
    return LoadedConfig(config=config.model_copy(update={"storefront": storefront}), path=loaded.path, env=loaded.env)


def _kubectl_steps(config: WranglerConfig, files: dict[str, Path], secret: Path | None) -> list[KubectlStep]:
    deploy = config.deploy
    steps: list[KubectlStep] = []
    for region, path in files.items():
        context = deploy.contexts.get(region)
        base = ("kubectl", *(("--context", context) if context else ()))
        if secret is not None:
            steps.append(KubectlStep(region, (*base, "apply", "-f", str(secret)), "the environment's Secret"))
        steps.append(KubectlStep(region, (*base, "apply", "-f", str(path)), "the region's manifests"))
        for component in ("origin", "edge"):
            steps.append(
                KubectlStep(
                    region,
                    (*base, "rollout", "status", f"deployment/{config.name}-{component}", "--namespace",
                     deploy.namespace, f"--timeout={deploy.rollout_timeout_seconds}s"),
                    f"wait for the {component} rollout",
                )
            )  # fmt: skip
    return steps


def _content_id(image: str, manifests: dict[str, str], build_result: BuildResult) -> str:
    """The same content (image, manifests, assets) gives the same id. The manifests name the Secret by its
    content hash, so its values count without ever being read here."""
    digest = hashlib.sha256(image.encode())
    for region in sorted(manifests):
        digest.update(region.encode() + b"\0" + manifests[region].encode())
    digest.update(build_result.manifest_path.read_bytes())
    return digest.hexdigest()[:20]


def _deploy_id_file(loaded: LoadedConfig, env: str | None) -> Path:
    return loaded.project_dir / DEPLOY_STATE_DIR / f"{_label(env)}-deploy-id"


def _deploy_id(path: Path, content_id: str) -> str:
    """The id of an unfinished purge of the same content (its retry), else a new one: content and a nonce."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = None
    if isinstance(kept, dict) and kept.get("content") == content_id and isinstance(kept.get("id"), str):
        return str(kept["id"])
    return f"{content_id[:12]}-{secrets.token_hex(4)}"


def _inside_project(loaded: LoadedConfig, relative: str, key: str) -> Path:
    project = loaded.project_dir.resolve()
    folder = (project / relative).resolve()
    if folder == project or not folder.is_relative_to(project):
        raise DeployError(f"{key} = {relative!r} is {folder}, not a folder inside the project {project}: "
                          "deploy writes there; use a folder inside the project")  # fmt: skip
    return folder


def _label_command(tool: str, image: str) -> list[str]:
    if tool == "skopeo":
        return ["skopeo", "inspect", "--config", f"docker://{image}"]
    if tool == "crane":
        return ["crane", "config", image]
    return ["docker", "image", "inspect", image]


def _labels_of(tool: str, output: str) -> dict[str, Any]:
    """The labels in the image configuration `tool` printed (docker: a list of inspections of one image)."""
    data = json.loads(output)
    if tool == "docker":
        config = (data[0] if isinstance(data, list) and data else {}).get("Config") or {}
    else:
        config = data.get("config") or {}
    labels = config.get("Labels") or {}
    return labels if isinstance(labels, dict) else {}


def inspect_image(image: str) -> ImageLabel:
    """The image's `edgeshop.asset-manifest-sha256` label, through the first of skopeo, crane (the registry, as
    the cluster pulls it) or docker (a local image) that is installed and answers. Nothing is required."""
    problems: list[str] = []
    for tool in ("skopeo", "crane", "docker"):
        if shutil.which(tool) is None:
            continue
        try:
            done = subprocess.run(  # noqa: S603 - our own argv, no shell
                _label_command(tool, image), capture_output=True, text=True, timeout=INSPECT_TIMEOUT_SECONDS,
                check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"{tool}: {type(exc).__name__}")
            continue
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            problems.append(f"{tool}: {reason[:200]}")
            continue
        try:
            labels = _labels_of(tool, done.stdout)
        except (ValueError, AttributeError, TypeError):
            problems.append(f"{tool}: an answer that is not an image configuration")
            continue
        value = labels.get(ASSET_MANIFEST_LABEL)
        return ImageLabel(tool, str(value) if value is not None else None)
    return ImageLabel(None, None, tuple(problems) or ("none of skopeo, crane or docker is installed",))


def _check_image(image: str, expected: str, inspect: ImageInspector, warnings: list[str], blockers: list[str]) -> str:
    """Whether the image carries this build's assets; a mismatch blocks --apply. Returns the plan's line."""
    wanted = f"{ASSET_MANIFEST_LABEL}={expected}"
    found = inspect(image)
    if found.tool is None:
        warnings.append(f"could not check that image {image} holds this build's assets ({'; '.join(found.problems)}):"
                        f" it must carry the label {wanted} (build it from this build's image/ folder)")  # fmt: skip
        return f"must carry LABEL {wanted} (not checked)"
    if found.value != expected:
        carries = f"{ASSET_MANIFEST_LABEL}={found.value}" if found.value else f"no {ASSET_MANIFEST_LABEL} label"
        blockers.append(f"image {image} carries {carries} ({found.tool}), but this build's assets need {wanted}: "
                        "the pods would link assets other than the ones uploaded; build the image from this "
                        "build's image/ folder, push it, and deploy it (--image)")  # fmt: skip
        return f"must carry LABEL {wanted}; it does not ({found.tool})"
    return f"carries LABEL {wanted} (checked with {found.tool})"


def plan_deploy(
    config_path: Path,
    env: str | None,
    *,
    image: str | None = None,
    build_into: Path | None = None,
    inspect: ImageInspector | None = None,
) -> DeployPlan:
    """Everything a deploy would do, found by reading only: the config, a build (into `build_into`, default the
    project's build_dir), the bucket, the image's label (`inspect`, default `inspect_image`), the manifests and
    the Secret in memory."""
    loaded = _with_assets_url(config_without_secrets(config_path, env))
    config = loaded.config
    deploy = config.deploy
    image = image or deploy.image
    where = f"[env.{env}.deploy]" if env else "[deploy]"
    if not image:
        raise DeployError(f"no image to deploy: set image = \"registry.example/{config.name}:1.0.0\" in {where} "
                          "(built from `wrangler-py build`'s image/ folder and pushed), or pass --image")  # fmt: skip
    build_dir = _inside_project(loaded, deploy.build_dir, "deploy.build_dir")
    manifests_dir = _inside_project(loaded, deploy.manifests_dir, "deploy.manifests_dir") / _label(env)
    warnings = deploy_warnings(config, deploy.kubernetes)
    blockers: list[str] = []  # what would make --apply fail half-way: checked before anything changes
    try:
        built = build(loaded, build_into or build_dir)
    except BuildError as exc:
        raise DeployError(f"build failed: {exc}") from exc
    warnings += list(built.warnings)
    image_check = _check_image(image, built.manifest_sha256, inspect or inspect_image, warnings, blockers)

    assets: SyncPlan | None = None
    assets_error: str | None = None
    if deploy.assets is not None:
        try:
            assets = plan_sync(built.out, deploy.assets, s3_client(deploy.assets), journal=_journal(loaded, env))
        except AssetSyncError as exc:
            assets_error = str(exc)
    elif (config.storefront.assets_url or "").startswith(("https://", "http://")):
        table = f"[env.{env}.deploy.assets]" if env else "[deploy.assets]"
        warnings.append(f"storefront.assets_url is {config.storefront.assets_url!r} but there is no {table}: this "
                        "deploy uploads nothing there, and pages would link assets it never published; add "
                        f"{table} (bucket, public_url) or upload {built.out}/assets there yourself first")  # fmt: skip
    else:
        warnings.append("no [deploy.assets]: the origin pods serve the assets themselves (no CDN bucket)")

    refs = secret_references(loaded.path.read_text(encoding="utf-8"), env)
    secret, secret_file = _secret(loaded, env, refs, warnings, blockers)
    namespace = namespace_document(deploy.namespace)
    try:
        docs = render_manifests(config, image=image, secret_refs=refs, namespace=deploy.namespace, environment=env,
                                settings=deploy.kubernetes,
                                secret_name=secret["metadata"]["name"] if secret else None)  # fmt: skip
    except ManifestError as exc:
        raise DeployError(f"the Kubernetes manifests cannot be rendered: {exc}") from exc
    by_region: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_region.setdefault(doc["metadata"]["labels"]["edgeshop/region"], []).append(doc)
    first = [namespace] if namespace else []  # the namespace before what goes into it
    manifests = {region: dump_yaml([*first, *by_region[region]]) for region in region_names(config)}
    secret_yaml = dump_yaml([*first, secret]) if secret else None

    files = {region: manifests_dir / f"{region}.yaml" for region in manifests}
    invalidation = plan_invalidation(_cdn_purge_settings(config, refs, env, loaded.path))
    if invalidation is not None and invalidation.provider != "cloudfront" and invalidation.token is None:
        name = refs.get("edge.cdn_purge.token", "the token")
        where = f" nor in {secret_manifest_path(loaded.project_dir, env)}" if env else ""
        blockers.append(f"the CDN purge needs {name}: it is not exported{where}; export it or "
                        f"`wrangler-py secret put {name}{f' --env {env}' if env else ''}`")  # fmt: skip
    content_id = _content_id(image, manifests, built)
    return DeployPlan(
        loaded=loaded,
        env=env,
        image=image,
        deploy_id=_deploy_id(_deploy_id_file(loaded, env), content_id),
        content_id=content_id,
        build=built,
        assets=assets,
        assets_error=assets_error,
        manifests=manifests,
        manifests_dir=manifests_dir,
        kubectl=_kubectl_steps(config, files, secret_file),
        invalidation=invalidation,
        secret=secret_yaml,
        secret_name=secret["metadata"]["name"] if secret else None,
        secret_file=secret_file,
        image_check=image_check,
        warnings=warnings,
        blockers=blockers,
    )


def _secret(
    loaded: LoadedConfig, env: str | None, refs: dict[str, str], warnings: list[str], blockers: list[str]
) -> tuple[Manifest | None, Path | None]:
    """The environment's Secret, rendered from what `secret put --env` stored, and the private file it goes to.

    Only the referenced names go in: they are what the pods read. Without a stored file the pods reference the
    unhashed name, a Secret the operator manages.
    """
    config = loaded.config
    names = sorted(set(refs.values()))
    if not names:
        return None, None
    if env is None:
        warnings.append(f"this config references secrets ({', '.join(names)}) but no --env names whose Kubernetes "
                        f"Secret holds them: create the Secret {kubernetes_secret_name(config)} in namespace "
                        f"{config.deploy.namespace} yourself, keys named as the variables")  # fmt: skip
        return None, None
    try:
        store = open_store(loaded.path, env)
        assert isinstance(store, KubernetesSecretStore)
        values = store.deployed_values(names)  # as `secret put|list` name it
    except SecretError as exc:
        raise DeployError(str(exc)) from exc
    if not store.path.exists():
        warnings.append(f"no {store.path} (`wrangler-py secret put NAME --env {env}`): the pods read "
                        f"{', '.join(names)} from the Secret {store.name} in namespace {config.deploy.namespace}, "
                        "which the cluster must already have")  # fmt: skip
        return None, None
    missing = [name for name in names if name not in values]
    if missing:
        blockers.append(f"not in {store.path}: {', '.join(missing)}; the pods could not start without them: "
                        f"`wrangler-py secret put NAME --env {env}` for each")  # fmt: skip
    document = secret_document(config, values, namespace=config.deploy.namespace, environment=env,
                               settings=config.deploy.kubernetes)  # fmt: skip
    return document, loaded.project_dir / DEPLOY_STATE_DIR / f"{_label(env)}-secret.yaml"


def _cdn_purge_settings(config: WranglerConfig, refs: dict[str, str], env: str | None, path: Path) -> Any:
    """`[edge.cdn_purge]` with its real token: deploy makes the purge call itself, so of all the store's secrets
    it resolves this one, from the shell's environment, else from the environment's Secret file."""
    settings = config.edge.cdn_purge
    name = refs.get("edge.cdn_purge.token")
    if settings is None or name is None:
        return settings
    value = _process_environ().get(name)
    if value is None and env is not None:
        store = open_store(path, env)
        value = store.value(name) if isinstance(store, KubernetesSecretStore) else None
    if value is None:
        # The plan still shows the purge; running it fails with the provider's refusal, naming the variable.
        return settings.model_copy(update={"token": None})
    return settings.model_copy(update={"token": SecretStr(value)})


def _journal(loaded: LoadedConfig, env: str | None) -> Path:
    return loaded.project_dir / DEPLOY_STATE_DIR / f"{_label(env)}-assets.journal"


def _private_state(path: Path) -> None:
    """The deploy state folder exists, readable by its owner only (it holds the rendered Secret)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)


def print_plan(plan: DeployPlan, out: TextIO, *, apply: bool) -> None:
    config = plan.config
    regions = list(plan.manifests)
    print(f"deploy {config.name} (env {_label(plan.env)}), image {plan.image}, deploy id {plan.deploy_id}", file=out)
    print(f"  build: {plan.build.files} files, {plan.build.total_bytes} bytes", file=out)
    print(f"  image: {plan.image_check}", file=out)
    if plan.assets_error:
        print(f"  assets: cannot compare with the bucket: {plan.assets_error}", file=out)
    elif plan.assets is not None:
        print(f"  assets: {plan.assets.summary()}", file=out)
        for line in plan.assets.lines():
            print(f"    {line}", file=out)
    if plan.secret_name is not None:
        print(f"  secret: {plan.secret_name} in namespace {config.deploy.namespace}, rendered from "
              f"{secret_manifest_path(plan.loaded.project_dir, _label(plan.env))} into {plan.secret_file} "
              "(values never printed)", file=out)  # fmt: skip
    print(f"  manifests: {len(regions)} region(s) into {plan.manifests_dir}", file=out)
    for region, text in plan.manifests.items():
        kinds = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("kind: ")]
        print(f"    {region}.yaml: {len(kinds)} documents ({', '.join(sorted(set(kinds)))})", file=out)
    verb = "apply" if apply else "to apply (with --apply, or yourself)"
    print(f"  kubectl, {verb}:", file=out)
    for step in plan.kubectl:
        print(f"    [{step.region}] {step.command()}", file=out)
    if plan.invalidation is None:
        print("  cdn: no [edge.cdn_purge]; nothing to purge", file=out)
    else:
        when = "after the rollouts" if apply else "only with --apply, after the rollouts"
        print(f"  cdn: {plan.invalidation.describe()} ({when})", file=out)
    for warning in plan.warnings:
        print(f"  warning: {warning}", file=out)
    for blocker in plan.blockers:
        print(f"  blocks --apply: {blocker}", file=out)


def _run_kubectl(args: Sequence[str]) -> int:
    return subprocess.run(list(args), check=False).returncode  # noqa: S603 - our own argv, no shell


def execute(plan: DeployPlan, out: TextIO, *, apply: bool, runner: Runner = _run_kubectl) -> None:
    """Upload, write, apply, purge: in that order, stopping at the first failure with what was done."""
    target = plan.config.deploy.assets
    blockers = list(plan.blockers)
    if apply and runner is _run_kubectl and shutil.which("kubectl") is None:
        blockers.append(f"--apply needs kubectl on PATH; install it, or run without --apply and apply "
                        f"{plan.manifests_dir} yourself")  # fmt: skip
    if apply and blockers:
        raise DeployError("nothing was changed: " + "; ".join(blockers))
    if plan.assets_error:
        raise DeployError(f"assets: {plan.assets_error}")
    if plan.assets is not None and target is not None:
        bar = ProgressBar(out)
        try:
            result = run_sync(plan.assets, s3_client(target), progress=bar, journal=_journal(plan.loaded, plan.env))
        except AssetSyncError as exc:
            raise DeployError(f"assets: {exc}") from exc
        finally:
            bar.close()
        print(f"assets: uploaded {len(result.uploaded)}, {result.skipped} unchanged", file=out)
    docs_dir = plan.manifests_dir
    docs_dir.mkdir(parents=True, exist_ok=True)
    for region, text in plan.manifests.items():
        (docs_dir / f"{region}.yaml").write_bytes(text.encode("utf-8"))
    print(f"manifests: written to {docs_dir}", file=out)
    if plan.secret is not None and plan.secret_file is not None:
        _private_state(plan.secret_file)
        write_private(plan.secret_file, plan.secret.encode("utf-8"))
        print(f"secret: {plan.secret_name} written to {plan.secret_file} (0600)", file=out)
    if not apply:
        print("not applied (no --apply); to apply:", file=out)
        for step in plan.kubectl:
            print(f"  {step.command()}", file=out)
        return
    for step in plan.kubectl:
        print(f"[{step.region}] {step.what}: {step.command()}", file=out, flush=True)
        status = runner(step.args)
        if status != 0:
            raise DeployError(
                f"[{step.region}] `{step.command()}` failed (exit {status}); regions before it are applied, the CDN "
                "was not purged; fix the cause and deploy again (it resumes and re-applies idempotently)"
            )
    invalidation = plan.invalidation
    if invalidation is not None:
        # Kept until the purge is known to be done: a retry of this content must reuse CloudFront's reference
        # (it may have made the invalidation before the answer got lost), and nothing else may.
        kept = _deploy_id_file(plan.loaded, plan.env)
        _private_state(kept)
        write_private(kept, json.dumps({"content": plan.content_id, "id": plan.deploy_id}).encode())
        try:
            done = anyio.run(lambda: run_invalidation(invalidation, deploy_id=plan.deploy_id))
        except InvalidationError as exc:
            raise DeployError(f"cdn: {exc}") from exc
        kept.unlink(missing_ok=True)
        print(f"cdn: {done.describe()}", file=out)


def cmd_deploy(args: argparse.Namespace) -> int:
    env: str | None = getattr(args, "env", None)
    out = sys.stdout
    try:
        if args.dry_run:
            with tempfile.TemporaryDirectory(prefix="wrangler-py-deploy-") as scratch:
                plan = plan_deploy(Path(args.config), env, image=args.image, build_into=Path(scratch) / "dist")
                print_plan(plan, out, apply=args.apply)
            print("dry run: nothing was uploaded, written, applied or purged", file=out)
            return 0
        plan = plan_deploy(Path(args.config), env, image=args.image)
        print_plan(plan, out, apply=args.apply)
        execute(plan, out, apply=args.apply)
    except DeployError as exc:
        print(f"wrangler-py deploy: {exc}", file=sys.stderr)
        return 1
    except ConfigError:
        raise  # main() prints every problem
    print(f"deployed {plan.config.name} ({plan.deploy_id})" if args.apply else "done (not applied)", file=out)
    return 0


def add_deploy_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "deploy", parents=parents,
        help="build, upload assets to S3, render Kubernetes manifests per region, apply them (--apply), purge the CDN",
    )  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="print the plan; upload, write, apply and purge nothing")
    parser.add_argument(
        "--apply",
        action="store_true",
        help="kubectl apply per region, wait for the rollouts, purge the CDN",
    )
    parser.add_argument(
        "--image",
        default=None,
        help=f"the image to run (default: deploy.image); it must carry this build's {ASSET_MANIFEST_LABEL} label",
    )
    parser.set_defaults(func=cmd_deploy)


__all__ = [
    "DEPLOY_STATE_DIR",
    "DeployError",
    "DeployPlan",
    "ImageInspector",
    "ImageLabel",
    "KubectlStep",
    "add_deploy_parser",
    "cmd_deploy",
    "execute",
    "inspect_image",
    "plan_deploy",
]
