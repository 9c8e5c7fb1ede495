"""`wrangler-py build`: fingerprinted static assets, their manifest, and the image context of both deployables.

What it writes into `--out` (default `dist/` in the project):

    asset-manifest.json               {"version": 1, "assets": {"css/store.css": {"path": "css/store.<hash>.css",
                                       "sha256": …, "size": …, "content_type": …}}}, keys sorted
    assets/<dir>/<stem>.<hash12>.<ext> each static file (the package's under the project's), named by its content;
                                       stylesheets' relative url(…)/@import point at the fingerprinted names
    image/Dockerfile                  one image for the edge and the origin (ENTRYPOINT wrangler-py), labelled with
                                      the sha256 of this build's asset-manifest.json (`deploy` checks the image by it)
    image/requirements.lock           the runtime's dependencies at the versions installed here
    image/edgeshop/                   the edgeshop runtime's source (six packages, pyproject.toml, README.md)
    image/project/                    the project as [deploy.kubernetes] project_dir (/app): wrangler.toml, content,
                                      templates, static, edge handler modules, and this build's manifest and assets
                                      at `storefront.asset_manifest`

The same inputs give the same bytes: walks are sorted, nothing carries a timestamp, every file and folder gets
the mtime SOURCE_DATE_EPOCH (else 0) and mode 0644/0755. The output is built in a folder beside `out` and
swapped in at the end, so a failed build leaves the previous output as it was.

A symbolic link is followed only to a target inside the folder being copied, and never to the project's `.env`,
`.wrangler/` or data_dir: `ln -s ../.env static/site.txt` must not publish the shop's secrets. A link that cannot
be followed (dangling, a loop) fails the build, naming the link.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import posixpath
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from importlib import metadata
from pathlib import Path
from typing import Any

from jinja2 import Environment, TemplateSyntaxError, nodes

from storefront import (
    ASSETS_DIR,
    IMMUTABLE_CACHE,
    MANIFEST_FILE,
    AssetEntry,
    AssetError,
    AssetManifest,
    ThemeSources,
    content_hash,
    content_type,
    css_references,
    logical_name,
    rewrite_css,
    theme_sources,
)
from wrangler_py.config import LoadedConfig
from wrangler_py.deploy_settings import DeploySettings
from wrangler_py.secrets import DOTENV_FILE, SECRETS_DIR, config_without_secrets

IMAGE_DIR = "image"
DEFAULT_OUT = "dist"
BASE_IMAGE = "python:3.11-slim-bookworm"
# The image's label that names the assets it was built with: `deploy` compares it with what it uploads.
ASSET_MANIFEST_LABEL = "edgeshop.asset-manifest-sha256"
LOCAL_STATE_DIR = SECRETS_DIR.parent  # .wrangler: the environments' secrets, deploy's state; never copied
RUNTIME_DISTRIBUTION = "edgeshop"
RUNTIME_PACKAGES = ("cdn", "connectors", "edge", "origin", "storefront", "wrangler_py")
HASH_CHARS = 12
FILE_MODE, DIR_MODE = 0o644, 0o755

# Never copied from the project into assets or the image: version control, caches, local state and secrets.
_NEVER = ("__pycache__", "*.pyc", "*.pyo", "*~")
_SECRETS = ("*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "id_rsa*", "id_ecdsa*", "id_ed25519*",
            "secret_key", "*.secret", "credentials*", "*.kubeconfig", "kubeconfig")  # fmt: skip


class BuildError(Exception):
    """The project cannot be built as it is; the message names the file or key and the fix."""


@dataclass(frozen=True, slots=True)
class BuildResult:
    out: Path
    manifest: AssetManifest
    manifest_path: Path
    dockerfile: Path
    image_dir: Path
    files: int
    total_bytes: int
    warnings: tuple[str, ...] = ()

    @property
    def manifest_sha256(self) -> str:
        """What the image's `edgeshop.asset-manifest-sha256` label says: the sha256 of asset-manifest.json."""
        return hashlib.sha256(self.manifest_path.read_bytes()).hexdigest()


@dataclass(slots=True)
class _Tree:
    """The output as relative POSIX path -> content (bytes, or a file to copy), written in one go."""

    files: dict[str, bytes | Path] = field(default_factory=dict)

    def add(self, relative: str, content: bytes | Path) -> None:
        if relative in self.files:
            raise BuildError(f"two build outputs would both be {relative}; report this as a bug")
        self.files[relative] = content

    def add_folder(self, relative: str, folder: Path, skip: frozenset[Path] = frozenset()) -> None:
        for name, path in _walk(folder, skip):
            self.add(f"{relative}/{name}", path)


# Static assets ---------------------------------------------------------------------------------------------------


def _skipped(name: str) -> bool:
    return name.startswith(".") or any(fnmatch(name, pattern) for pattern in (*_NEVER, *_SECRETS))


def _walk(
    folder: Path, skip: frozenset[Path] = frozenset(), *, _root: Path | None = None, _seen: tuple[Path, ...] = ()
) -> Iterator[tuple[str, Path]]:
    """Files under `folder` as (relative POSIX name, path), sorted, without the never-copied ones or `skip`.

    A symbolic link counts only when its target lies inside `folder` and outside `skip` (resolved paths); any
    other link, and one that cannot be followed, is a BuildError naming it.
    """
    try:
        root = _root or folder.resolve(strict=True)
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except (OSError, RuntimeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise BuildError(f"{folder}: cannot read this folder ({why}); fix its permissions") from exc
    seen = (*_seen, folder.resolve())
    for entry in entries:
        path = Path(entry.path)
        if _skipped(entry.name):
            continue
        try:
            resolved = path.resolve(strict=True)
            is_dir, is_file = entry.is_dir(), entry.is_file()
        except (OSError, RuntimeError) as exc:  # a dangling link, a loop of links (RuntimeError before 3.13)
            why = getattr(exc, "strerror", None) or str(exc)
            raise BuildError(f"{path}: a symbolic link that cannot be followed ({why}); fix it or remove it") from exc
        if entry.is_symlink():
            _check_link(path, resolved, root, skip)
        if any(resolved == other or resolved.is_relative_to(other) for other in skip):
            continue
        if is_dir:
            if resolved in seen:
                raise BuildError(f"{path}: a symbolic link back to {resolved}, a loop; remove it")
            yield from ((f"{entry.name}/{name}", file) for name, file in _walk(path, skip, _root=root, _seen=seen))
        elif is_file:
            yield entry.name, path


def _check_link(path: Path, target: Path, root: Path, skip: frozenset[Path]) -> None:
    if not target.is_relative_to(root):
        raise BuildError(f"{path}: a symbolic link to {target}, outside {root}: a build publishes or ships what "
                         "it copies, so it follows links only within the folder; copy the file in or remove the "
                         "link")  # fmt: skip
    if any(target == other or target.is_relative_to(other) for other in skip):
        raise BuildError(f"{path}: a symbolic link to {target}, which is never published nor shipped (local state, "
                         "secrets or the build output); remove the link")  # fmt: skip


def skipped_secrets(folder: Path) -> list[Path]:
    """Secret-looking files in `folder` that a build leaves out, to warn about: they sit where files are published."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and any(fnmatch(p.name, s) for s in _SECRETS))


def collect_static(folders: Sequence[Path], skip: frozenset[Path] = frozenset()) -> dict[str, Path]:
    """Every static name and the file it comes from: the first folder that has a name wins (project over package)."""
    found: dict[str, Path] = {}
    for folder in reversed(folders):
        if not folder.is_dir():
            raise BuildError(f"{folder}: the static folder is not a readable folder; fix storefront.static_dir")
        found.update(_walk(folder, skip))
    return dict(sorted(found.items()))


def fingerprinted_name(name: str, digest: str) -> str:
    """`css/store.css` -> `css/store.<hash12>.css` (the last suffix stays last, so servers still see the type)."""
    folder, base = posixpath.split(name)
    stem, dot, extension = base.rpartition(".")
    if not stem:  # no suffix (or a dotfile-like name): the hash goes at the end
        stem, dot, extension = base, "", ""
    built = f"{stem}.{digest[:HASH_CHARS]}" + (f".{extension}" if dot else "")
    return posixpath.join(folder, built) if folder else built


def fingerprint(files: Mapping[str, Path]) -> tuple[AssetManifest, dict[str, bytes], list[str]]:
    """The manifest, each built file's bytes (by fingerprinted path) and warnings, for the static `files`.

    A stylesheet is fingerprinted after the files it refers to, since its bytes hold their fingerprinted names.
    """
    entries: dict[str, AssetEntry] = {}
    contents: dict[str, bytes] = {}
    warnings: list[str] = []
    visiting: list[str] = []

    def resolve(name: str) -> str | None:
        if name in entries:
            return entries[name].path
        if name not in files:
            return None
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
            raise BuildError(f"stylesheets refer to each other in a circle ({cycle}); break the circle")
        visiting.append(name)
        data = _read(files[name])
        if name.endswith(".css"):
            text = _css_text(data, files[name])
            for missing in sorted({ref for ref in css_references(text, name) if ref not in files}):
                warnings.append(f"{files[name]}: refers to {missing}, which is not a static file; the link stays as is")
            data = rewrite_css(text, name, resolve).encode()
        visiting.pop()
        digest = content_hash(data)
        path = fingerprinted_name(name, digest)
        entries[name] = AssetEntry(path=path, sha256=digest, size=len(data), content_type=content_type(name))
        contents[path] = data
        return path

    for name in files:
        resolve(name)
    return AssetManifest(assets=dict(sorted(entries.items()))), contents, warnings


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BuildError(f"{path}: cannot read this file ({exc.strerror}); fix its permissions or remove it") from exc


def _css_text(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BuildError(f"{path}: a stylesheet must be UTF-8 (byte {exc.start} is not); save it as UTF-8") from exc


def linked_assets(folders: Sequence[Path]) -> dict[str, set[str]]:
    """Each template file -> the names its `static_url('…')` calls pass.

    Every folder's templates count, the overridden ones too: an override can still extend the package's template
    as `edgeshop/<name>`, which then renders its links.
    """
    templates = [
        path for folder in folders for name, path in _walk(folder) if name.endswith((".html", ".jinja", ".j2"))
    ]
    parser = Environment(autoescape=True)
    linked: dict[str, set[str]] = {}
    for path in templates:
        try:
            tree = parser.parse(_read(path).decode("utf-8"), filename=str(path))
        except (TemplateSyntaxError, UnicodeDecodeError) as exc:
            where = f"line {exc.lineno}: {exc.message}" if isinstance(exc, TemplateSyntaxError) else "not UTF-8"
            raise BuildError(f"{path}: the template does not parse ({where}); fix it") from exc
        names = {
            call.args[0].value
            for call in tree.find_all(nodes.Call)
            if isinstance(call.node, nodes.Name)
            and call.node.name == "static_url"
            and call.args
            and isinstance(call.args[0], nodes.Const)
            and isinstance(call.args[0].value, str)
        }
        if names:
            linked[str(path)] = names
    return linked


# The runtime and its dependencies -------------------------------------------------------------------------------

_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?[^;]*(?:;(?P<marker>.*))?$"
)
_EXTRA_MARKER = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]""")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def runtime_lock(distribution: str = RUNTIME_DISTRIBUTION) -> list[str]:
    """`name==version` of every distribution the runtime needs, as installed here, sorted.

    Recursively the `Requires-Dist` of `distribution` without its own extras (dev, bench), with the extras a
    requirement asks for (`pydantic[email]`). A requirement not installed here is one whose marker is false on
    this platform (`uvloop; sys_platform != "win32"` on Windows) and is left out; the image is Linux, so build
    on Linux or macOS for a complete lock.
    """
    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    queue: list[tuple[str, frozenset[str]]] = [(distribution, frozenset())]
    while queue:
        name, extras = queue.pop()
        if (_normalized(name), extras) in seen:
            continue
        seen.add((_normalized(name), extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            if name == distribution:
                raise BuildError(
                    f"{distribution} is not installed in this Python ({sys.prefix}): pip install it"
                ) from exc
            continue
        if _normalized(name) != _normalized(distribution):
            pins[_normalized(dist.metadata["Name"])] = dist.version
        for requirement in dist.requires or []:
            match = _REQUIREMENT.match(requirement)
            if match is None:
                continue
            wanted = {_normalized(extra) for extra in _EXTRA_MARKER.findall(match["marker"] or "")}
            if wanted and not wanted & extras:
                continue
            asked = frozenset(_normalized(e) for e in (match["extras"] or "").split(",") if e.strip())
            queue.append((match["name"], asked))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def runtime_source() -> tuple[Path, dict[str, Path]]:
    """The source tree edgeshop runs from (a checkout, or an editable install) and its files for the image."""
    roots = set()
    for package in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise BuildError(f"the edgeshop package {package!r} is not importable here; install edgeshop")
        roots.add(Path(spec.origin).resolve().parent.parent)
    if len(roots) != 1:
        raise BuildError(f"the edgeshop packages come from several places ({', '.join(map(str, sorted(roots)))})")
    root = roots.pop()
    if not (root / "pyproject.toml").is_file():
        raise BuildError(
            f"edgeshop is installed at {root} without its pyproject.toml: the image installs the runtime from "
            "source, so install edgeshop from a checkout (pip install -e /path/to/edgeshop) and build again"
        )
    files = {name: root / name for name in ("pyproject.toml", "README.md") if (root / name).is_file()}
    for package in RUNTIME_PACKAGES:
        files.update((f"{package}/{name}", path) for name, path in _walk(root / package))
    return root, dict(sorted(files.items()))


# The image ------------------------------------------------------------------------------------------------------


def dockerfile(loaded: LoadedConfig, settings: DeploySettings | None = None, *, asset_manifest_sha256: str) -> str:
    """The image's Dockerfile: the project at `settings.project_dir`, run as `settings.run_as_user` (default: the
    environment's `[deploy.kubernetes]`, which the manifests read too), labelled with the assets it holds."""
    cfg = loaded.config
    settings = settings or cfg.deploy.kubernetes
    app_dir, user = settings.in_image("."), settings.run_as_user
    data_dir, config_file = settings.in_image(cfg.origin.data_dir), settings.in_image("wrangler.toml")
    return f"""\
# syntax=docker/dockerfile:1
# {cfg.name}: one edgeshop image for both deployables, written by `wrangler-py build` (edit the project, not this).
# Kubernetes runs it as `wrangler-py --config {config_file} origin ...` or `... edge --origin URL ...`,
# as user {user} on a read-only root filesystem; /tmp and {data_dir} are writable mounts there.
#
#   docker build -t registry.example/{cfg.name}:TAG .
#
# The base image is pinned by tag. In production pin its digest as well, so that a rebuild of the same context
# cannot pick up another base: FROM {BASE_IMAGE}@sha256:<digest> (docker buildx imagetools inspect shows it).
ARG PYTHON_IMAGE={BASE_IMAGE}

FROM ${{PYTHON_IMAGE}} AS install
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/edgeshop
# Exactly the versions the runtime was built and tested with; --no-deps: the lock is the whole closure.
COPY requirements.lock /tmp/build/requirements.lock
RUN /opt/edgeshop/bin/pip install --no-deps -r /tmp/build/requirements.lock
COPY edgeshop/ /tmp/build/edgeshop/
RUN /opt/edgeshop/bin/pip install --no-deps /tmp/build/edgeshop

FROM ${{PYTHON_IMAGE}}
# The assets this image serves and links: `wrangler-py deploy` refuses to roll it out with other ones.
LABEL {ASSET_MANIFEST_LABEL}={asset_manifest_sha256}
# Nothing may write next to the code (read-only root filesystem): no bytecode caches at run time.
ENV PATH=/opt/edgeshop/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --gid {user} edgeshop \\
 && useradd --uid {user} --gid {user} --no-create-home --home-dir /nonexistent \\
    --shell /usr/sbin/nologin edgeshop
COPY --from=install /opt/edgeshop /opt/edgeshop
COPY project/ {app_dir}/
# A mount in Kubernetes (emptyDir); owned by the user so that a plain `docker run` can write it as well.
RUN mkdir -p {data_dir} && chown {user}:{user} {data_dir}
WORKDIR {app_dir}
USER {user}:{user}
EXPOSE {cfg.origin.port} {cfg.edge.port}
ENTRYPOINT ["wrangler-py"]
CMD ["--config", "{config_file}", "origin", "--host", "0.0.0.0"]
"""


def _inside(path: str, key: str) -> str:
    """A project-relative path as it sits under /app in the image; one that leaves the project cannot be shipped."""
    normal = posixpath.normpath(Path(path).as_posix())
    if logical_name(normal) is None:
        raise BuildError(f"{key} = {path!r} is outside the project folder: the image holds only the project; "
                         "use a path inside it")  # fmt: skip
    return normal


def never_copied(loaded: LoadedConfig, out: Path) -> frozenset[Path]:
    """What no walk of the build may copy, resolved: the output itself, local state and secrets, the data_dir."""
    project = loaded.project_dir.resolve()
    never = {out.resolve(), project / DOTENV_FILE, project / LOCAL_STATE_DIR}
    if loaded.data_dir != project and loaded.data_dir.is_relative_to(project):  # data_dir = "." leaves nothing out
        never.add(loaded.data_dir)
    return frozenset(never)


def _project_files(
    loaded: LoadedConfig, sources: ThemeSources, never: frozenset[Path], tree: _Tree, warnings: list[str]
) -> None:
    """The project as the image's project_dir: what the deployables read at run time, and nothing local or secret."""
    project = loaded.project_dir.resolve()
    cfg = loaded.config
    tree.add("image/project/wrangler.toml", loaded.path)
    folders = {project / "content"}
    if cfg.connectors.cms.vendor == "builtin":
        folders.add((project / str(getattr(cfg.connectors.cms, "path", "content"))).resolve())
    folders |= {folder for folder in (sources.project_templates, sources.project_static) if folder is not None}
    # An edge handler may be a package folder rather than a module file (`module = "handlers.shop:run"`).
    folders |= {project / h.module.partition(":")[0].split(".")[0] for h in cfg.edge.handlers}
    chosen = sorted(folder for folder in folders if folder.is_dir())
    for folder in chosen:
        if not folder.is_relative_to(project):
            warnings.append(f"{folder} is outside the project folder: the image will not hold it; move it inside")
        elif not any(folder != other and folder.is_relative_to(other) for other in chosen):  # else copied whole
            tree.add_folder(f"image/project/{folder.relative_to(project).as_posix()}", folder, never)
    for module in sorted(project.glob("*.py")):
        if not _skipped(module.name):
            if module.is_symlink():
                _check_link(module, module.resolve(), project, never)
            tree.add(f"image/project/{module.name}", module)


# The build ------------------------------------------------------------------------------------------------------


def _check_out(out: Path, loaded: LoadedConfig, sources: ThemeSources) -> None:
    project = loaded.project_dir.resolve()
    if out == project or project.is_relative_to(out):
        raise BuildError(f"--out {out} would replace the project folder {project}; use a folder inside it (dist)")
    guarded = [(folder, "the static folder") for folder in sources.static] + [
        (folder, "the templates folder") for folder in sources.templates
    ]
    guarded += [(project / "content", "the content folder"), (loaded.data_dir, "origin.data_dir")]
    for folder, what in guarded:
        if out.is_relative_to(folder.resolve()):
            raise BuildError(f"--out {out} is inside {what} {folder}: the build would copy itself; "
                             f"choose a folder outside it (e.g. {project / DEFAULT_OUT})")  # fmt: skip
    if out.exists():
        if not out.is_dir():
            raise BuildError(f"--out {out} is a file; remove it or choose another folder")
        if any(out.iterdir()) and not (out / MANIFEST_FILE).is_file():
            # Only a previous build output is ever replaced: anything else might be someone's files.
            raise BuildError(f"--out {out} holds files but no {MANIFEST_FILE} (not a build output); "
                             "choose another folder, or empty it")  # fmt: skip


def _write(tree: _Tree, root: Path, mtime: int) -> tuple[int, int]:
    """Writes every file under `root` with fixed modes and mtimes; returns (files, bytes)."""
    total = 0
    folders = {root}
    for relative, content in sorted(tree.files.items()):
        target = root / relative
        for parent in reversed(target.relative_to(root).parents[:-1]):
            folders.add(root / parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else _read(content)
        target.write_bytes(data)
        total += len(data)
        os.chmod(target, FILE_MODE)
        os.utime(target, (mtime, mtime))
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):  # children first: mtimes stick
        os.chmod(folder, DIR_MODE)
        os.utime(folder, (mtime, mtime))
    return len(tree.files), total


def _swap_in(staging: Path, out: Path) -> None:
    if not out.exists():
        staging.rename(out)
        return
    old = out.with_name(f".{out.name}-{secrets.token_hex(4)}.old")
    out.rename(old)
    try:
        staging.rename(out)
    except OSError:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def build(loaded: LoadedConfig, out: Path, *, mtime: int = 0) -> BuildResult:
    """Builds the project of `loaded` into `out` (relative: to the project folder), replacing a previous build.

    `mtime` is every output file's modification time (SOURCE_DATE_EPOCH). Raises BuildError, leaving `out` as it
    was, when the project cannot be built; the message names the file or key and the fix.
    """
    project = loaded.project_dir
    out = (project / out).resolve()
    settings = loaded.config.storefront
    try:
        sources = theme_sources(settings, project)
    except AssetError as exc:
        raise BuildError(str(exc)) from exc
    _check_out(out, loaded, sources)
    warnings: list[str] = []
    for folder in sources.static[:-1]:
        warnings += [f"{path}: looks like a secret, left out of the assets" for path in skipped_secrets(folder)]

    never = never_copied(loaded, out)
    manifest, built, css_warnings = fingerprint(collect_static(sources.static, never))
    warnings += css_warnings
    for template, names in linked_assets(sources.templates).items():
        missing = sorted(names - manifest.assets.keys())
        if missing:
            raise BuildError(f"{template}: links {', '.join(map(repr, missing))} with static_url, which no static "
                             "folder has; add the file to the static folder or fix the name")  # fmt: skip

    tree = _Tree()
    manifest_bytes = manifest.to_json()
    tree.add(MANIFEST_FILE, manifest_bytes)
    in_image = _inside(settings.asset_manifest, "storefront.asset_manifest")
    image_assets = posixpath.join(posixpath.dirname(in_image), ASSETS_DIR)
    tree.add(f"{IMAGE_DIR}/project/{in_image}", manifest_bytes)
    for fingerprinted, data in sorted(built.items()):
        tree.add(f"{ASSETS_DIR}/{fingerprinted}", data)
        tree.add(f"{IMAGE_DIR}/project/{image_assets}/{fingerprinted}", data)
    _project_files(loaded, sources, never, tree, warnings)
    label = hashlib.sha256(manifest_bytes).hexdigest()
    tree.add(f"{IMAGE_DIR}/Dockerfile", dockerfile(loaded, asset_manifest_sha256=label).encode())
    tree.add(f"{IMAGE_DIR}/requirements.lock", ("\n".join(runtime_lock()) + "\n").encode())
    _, runtime = runtime_source()
    for name, source in runtime.items():
        tree.add(f"{IMAGE_DIR}/edgeshop/{name}", source)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", suffix=".tmp", dir=out.parent))
    try:
        files, size = _write(tree, staging, mtime)
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildResult(
        out=out,
        manifest=manifest,
        manifest_path=out / MANIFEST_FILE,
        dockerfile=out / IMAGE_DIR / "Dockerfile",
        image_dir=out / IMAGE_DIR,
        files=files,
        total_bytes=size,
        warnings=tuple(warnings),
    )


# The command ----------------------------------------------------------------------------------------------------


def _source_date_epoch(value: str | None) -> int:
    if not value:
        return 0
    if not value.isdigit():
        raise BuildError(
            f"SOURCE_DATE_EPOCH={value!r} is not a count of seconds; unset it or use `git log -1 --format=%ct`"
        )
    return int(value)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    return f"{count / 1024:.1f} KiB" if count < 1024 * 1024 else f"{count / 1024 / 1024:.1f} MiB"


def cmd_build(args: argparse.Namespace) -> int:
    # Nothing built needs a secret's value: an environment's secrets stay in its Secret, never on this laptop.
    loaded = config_without_secrets(Path(args.config), getattr(args, "env", None))
    try:
        # The reproducible-builds convention, read here at the command's edge like argv: build() takes a number.
        epoch = _source_date_epoch(os.environ.get("SOURCE_DATE_EPOCH"))
        result = build(loaded, Path(args.out), mtime=epoch)
    except (BuildError, AssetError) as exc:
        print(f"wrangler-py build: {exc}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    manifest_setting = (loaded.project_dir / loaded.config.storefront.asset_manifest).resolve()
    print(f"built {loaded.config.name} into {result.out}: {result.files} files, {_size(result.total_bytes)}")
    print(f"  {len(result.manifest.assets)} assets, served with Cache-Control: {IMMUTABLE_CACHE}")
    print(f"  manifest:   {result.manifest_path}")
    print(f"  Dockerfile: {result.dockerfile}")
    print(f"  label:      {ASSET_MANIFEST_LABEL}={result.manifest_sha256} (deploy checks the image carries it)")
    if manifest_setting != result.manifest_path:
        print(f"  note: the storefront reads {manifest_setting} (storefront.asset_manifest), not this build's manifest")
    print(f"image: docker build -t registry.example/{loaded.config.name}:TAG {result.image_dir}")
    return 0


def add_build_parser(sub: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """`wrangler-py build`, on the CLI's subparsers (`sub`), with the options every command shares (`parents`)."""
    parser = sub.add_parser(
        "build",
        parents=list(parents),
        help="fingerprinted static assets, their manifest and the image context (Dockerfile) of both deployables",
    )
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help="output folder, relative to the project (default: %(default)s)",
    )
    parser.set_defaults(func=cmd_build)


__all__ = [
    "ASSETS_DIR",
    "ASSET_MANIFEST_LABEL",
    "BASE_IMAGE",
    "DEFAULT_OUT",
    "IMAGE_DIR",
    "MANIFEST_FILE",
    "BuildError",
    "BuildResult",
    "add_build_parser",
    "build",
    "cmd_build",
    "collect_static",
    "content_type",
    "dockerfile",
    "fingerprint",
    "fingerprinted_name",
    "linked_assets",
    "never_copied",
    "runtime_lock",
    "runtime_source",
]
