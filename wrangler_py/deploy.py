"""`wrangler-py deploy [--env E] [--dry-run] [--apply]`: one command from a project to every region.

In order, so that nothing ever links what is not there yet:

1. build the project (`wrangler-py build`): fingerprinted assets and their manifest;
2. upload the assets that changed to S3 (`[deploy.assets]`), the manifest last; a rerun resumes;
3. render the Kubernetes manifests per region into `<deploy.manifests_dir>/<env>/<region>.yaml`;
4. with `--apply`: per region, `kubectl apply` the environment's Secret (`wrangler-py secret put --env E`) and the
   manifests, then wait for both Deployments to roll out;
5. with `--apply`, after the rollouts: purge the CDN in front of the edges (`[edge.cdn_purge]`), so cached pages that
   link the previous assets go.

`--dry-run` does the reading (the build into a temporary folder, the bucket listing) and prints the plan: what would
be uploaded, applied and purged; it writes nothing and runs no kubectl. Without `--apply`, the manifests are
written and the kubectl commands printed for an operator (or a CD system) to run.

The store's secrets never pass through here: the config is read with stand-ins for its `env:` references, the
ConfigMap keeps the references, and the pods read the values from the environment's Kubernetes Secret.
"""

from __future__ import annotations

import argparse
import hashlib
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
from wrangler_py.build import BuildError, BuildResult, build
from wrangler_py.cdn_invalidate import InvalidationError, InvalidationPlan, plan_invalidation, run_invalidation
from wrangler_py.config import ConfigError, LoadedConfig, WranglerConfig
from wrangler_py.manifests import (
    ManifestError,
    deploy_warnings,
    dump_yaml,
    region_names,
    render_manifests,
    secret_references,
)
from wrangler_py.secrets import (
    KubernetesSecretStore,
    _process_environ,
    config_without_secrets,
    open_store,
    secret_manifest_path,
)

ASSET_MANIFEST = "asset-manifest.json"
JOURNAL_DIR = Path(".wrangler") / "deploy"  # beside the environments' secrets: local state, never committed

Runner = Callable[[Sequence[str]], int]


class DeployError(Exception):
    """A deploy cannot go on; the message says what failed, what was done before it, and the fix."""


@dataclass(frozen=True, slots=True)
class KubectlStep:
    region: str
    args: tuple[str, ...]
    what: str

    def command(self) -> str:
        return " ".join(self.args)


@dataclass(slots=True)
class DeployPlan:
    loaded: LoadedConfig
    env: str | None
    image: str
    deploy_id: str
    build: BuildResult
    assets: SyncPlan | None
    assets_error: str | None
    manifests: dict[str, str]  # region -> YAML
    manifests_dir: Path
    kubectl: list[KubectlStep]
    invalidation: InvalidationPlan | None
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


def _deploy_id(image: str, manifests: dict[str, str], build_result: BuildResult) -> str:
    """The same deploy (image, manifests, assets) gets the same id: a retried CDN purge is not purged twice."""
    digest = hashlib.sha256(image.encode())
    for region in sorted(manifests):
        digest.update(region.encode() + b"\0" + manifests[region].encode())
    digest.update(build_result.manifest_path.read_bytes())
    return digest.hexdigest()[:20]


def plan_deploy(
    config_path: Path, env: str | None, *, image: str | None = None, build_into: Path | None = None
) -> DeployPlan:
    """Everything a deploy would do, found by reading only: the config, a build (into `build_into`, default the
    project's build_dir), the bucket, the manifests in memory."""
    loaded = _with_assets_url(config_without_secrets(config_path, env))
    config = loaded.config
    deploy = config.deploy
    image = image or deploy.image
    where = f"[env.{env}.deploy]" if env else "[deploy]"
    if not image:
        raise DeployError(f"no image to deploy: set image = \"registry.example/{config.name}:1.0.0\" in {where} "
                          "(built from `wrangler-py build`'s image/ folder and pushed), or pass --image")  # fmt: skip
    warnings = deploy_warnings(config, deploy.kubernetes)
    blockers: list[str] = []  # what would make --apply fail half-way: checked before anything changes
    expected_manifest = f"{deploy.build_dir.rstrip('/')}/{ASSET_MANIFEST}"
    if config.storefront.asset_manifest != expected_manifest:
        warnings.append(
            f"storefront.asset_manifest is {config.storefront.asset_manifest!r} but deploy builds into "
            f"{deploy.build_dir!r}: the pods would not find the built assets' manifest; set it to {expected_manifest!r}"
        )
    try:
        built = build(loaded, build_into or Path(deploy.build_dir))
    except BuildError as exc:
        raise DeployError(f"build failed: {exc}") from exc
    warnings += list(built.warnings)

    assets: SyncPlan | None = None
    assets_error: str | None = None
    if deploy.assets is not None:
        try:
            assets = plan_sync(built.out, deploy.assets, s3_client(deploy.assets), journal=_journal(loaded, env))
        except AssetSyncError as exc:
            assets_error = str(exc)
    else:
        warnings.append("no [deploy.assets]: the origin pods serve the assets themselves (no CDN bucket)")

    refs = secret_references(loaded.path.read_text(encoding="utf-8"), env)
    try:
        docs = render_manifests(config, image=image, secret_refs=refs, namespace=deploy.namespace, environment=env,
                                settings=deploy.kubernetes)  # fmt: skip
    except ManifestError as exc:
        raise DeployError(f"the Kubernetes manifests cannot be rendered: {exc}") from exc
    by_region: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_region.setdefault(doc["metadata"]["labels"]["edgeshop/region"], []).append(doc)
    manifests = {region: dump_yaml(by_region[region]) for region in region_names(config)}
    manifests_dir = loaded.project_dir / deploy.manifests_dir / _label(env)

    secret_file: Path | None = None
    if refs:
        if env is None:
            warnings.append(
                f"this config references secrets ({', '.join(sorted(set(refs.values())))}) but no --env names whose "
                f"Kubernetes Secret holds them: create the Secret {config.name}-secrets in the cluster yourself"
            )
        else:
            store = open_store(loaded.path, env)
            assert isinstance(store, KubernetesSecretStore)
            missing = sorted(set(refs.values()) - set(store.names()))
            if store.path.exists():
                secret_file = store.path
            if missing:
                warnings.append(
                    f"not in {store.path}: {', '.join(missing)}; the pods will not start unless the cluster's Secret "
                    f"has them: `wrangler-py secret put NAME --env {env}` for each"
                )
    files = {region: manifests_dir / f"{region}.yaml" for region in manifests}
    invalidation = plan_invalidation(_cdn_purge_settings(config, refs, env, loaded.path))
    if invalidation is not None and invalidation.provider != "cloudfront" and invalidation.token is None:
        name = refs.get("edge.cdn_purge.token", "the token")
        where = f" nor in {secret_manifest_path(loaded.project_dir, env)}" if env else ""
        blockers.append(f"the CDN purge needs {name}: it is not exported{where}; export it or "
                        f"`wrangler-py secret put {name}{f' --env {env}' if env else ''}`")  # fmt: skip
    return DeployPlan(
        loaded=loaded,
        env=env,
        image=image,
        deploy_id=_deploy_id(image, manifests, built),
        build=built,
        assets=assets,
        assets_error=assets_error,
        manifests=manifests,
        manifests_dir=manifests_dir,
        kubectl=_kubectl_steps(config, files, secret_file),
        invalidation=invalidation,
        warnings=warnings,
        blockers=blockers,
    )


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
    return loaded.project_dir / JOURNAL_DIR / f"{_label(env)}-assets.journal"


def print_plan(plan: DeployPlan, out: TextIO, *, apply: bool) -> None:
    config = plan.config
    regions = list(plan.manifests)
    print(f"deploy {config.name} (env {_label(plan.env)}), image {plan.image}, deploy id {plan.deploy_id}", file=out)
    print(f"  build: {plan.build.files} files, {plan.build.total_bytes} bytes", file=out)
    if plan.assets_error:
        print(f"  assets: cannot compare with the bucket: {plan.assets_error}", file=out)
    elif plan.assets is not None:
        print(f"  assets: {plan.assets.summary()}", file=out)
        for line in plan.assets.lines():
            print(f"    {line}", file=out)
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
        try:
            done = anyio.run(lambda: run_invalidation(invalidation, deploy_id=plan.deploy_id))
        except InvalidationError as exc:
            raise DeployError(f"cdn: {exc}") from exc
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
    parser.add_argument("--image", default=None, help="the image to run (default: deploy.image)")
    parser.set_defaults(func=cmd_deploy)


__all__ = ["DeployError", "DeployPlan", "KubectlStep", "add_deploy_parser", "cmd_deploy", "execute", "plan_deploy"]
