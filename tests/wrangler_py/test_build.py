"""`wrangler-py build`: fingerprinted assets and their manifest, the image context, reproducible and atomic output."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import stat
from importlib import metadata
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from storefront import IMMUTABLE_CACHE
from storefront.templating import STATIC_DIR
from wrangler_py.apps import build_origin_app
from wrangler_py.build import (
    ASSET_MANIFEST_LABEL,
    BASE_IMAGE,
    BuildError,
    add_build_parser,
    build,
    fingerprinted_name,
    runtime_lock,
)
from wrangler_py.config import LoadedConfig, load_config
from wrangler_py.init import scaffold
from wrangler_py.manifests import render_manifests

LOGO = (STATIC_DIR / "img/logo.svg").read_bytes()
SITE_CSS = """@import "base.css";
.hero { background: url('../img/hero.png?v=2') }
.logo { background: url(../img/logo.svg) }
.x { background: url(data:image/gif;base64,R0lGOD) url(https://cdn.other/a.png) url(/elsewhere.png) }
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A store made by `wrangler-py init`, with a few static files of its own and things a build must leave out."""
    folder = tmp_path / "shop"
    scaffold(folder, title="Corner Shop")
    config = folder / "wrangler.toml"
    config.write_text(config.read_text().replace("seed_products = 50", "seed_products = 4"))
    write(folder / "static/css/site.css", SITE_CSS)
    write(folder / "static/css/base.css", "body { margin: 0 }\n")
    write(folder / "static/img/hero.png", b"\x89PNG\r\n\x1a\n" + bytes(range(64)))
    write(folder / "static/server.pem", "-----BEGIN PRIVATE KEY-----\n")
    write(folder / "static/.DS_Store", b"\0")
    write(folder / "templates/__pycache__/x.pyc", b"\0")
    write(folder / ".env", "EDGESHOP_SECRET_KEY=not-for-the-image\n")
    write(folder / ".git/config", "[core]\n")
    write(folder / ".edgeshop/secret_key", "generated\n")
    write(folder / "content/en/page/.notes.md.swp", b"\0")
    write(folder / "notes/todo.txt", "not part of the store\n")
    return folder


def loaded(project: Path, env: str | None = None) -> LoadedConfig:
    return load_config(project / "wrangler.toml", environ={}, env=env)


def tree(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file and folder under root: relative path -> (content hash, mode, mtime)."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest = sha(path.read_bytes()) if path.is_file() else "dir"
        found[path.relative_to(root).as_posix()] = (digest, stat.S_IMODE(info.st_mode), int(info.st_mtime))
    return found


def test_static_files_are_fingerprinted_with_a_sorted_manifest(project: Path) -> None:
    result = build(loaded(project), Path("dist"))
    out = project / "dist"
    assert result.out == out and result.manifest_path == out / "asset-manifest.json"
    raw = json.loads((out / "asset-manifest.json").read_text())
    assert raw["version"] == 1
    names = list(raw["assets"])
    assert names == sorted(names)
    # The package's files, with the project's added (its own css/shop.css from the scaffold among them).
    assert {"css/store.css", "js/store.js", "js/checkout.js", "img/logo.svg", "css/shop.css", "css/site.css",
            "css/base.css", "img/hero.png"} == set(names)  # fmt: skip
    logo = raw["assets"]["img/logo.svg"]
    assert logo == {"path": f"img/logo.{sha(LOGO)[:12]}.svg", "sha256": sha(LOGO), "size": len(LOGO),
                    "content_type": "image/svg+xml"}  # fmt: skip
    assert raw["assets"]["css/site.css"]["content_type"] == "text/css; charset=utf-8"
    assert raw["assets"]["js/store.js"]["content_type"] == "text/javascript; charset=utf-8"
    assert raw["assets"]["img/hero.png"]["content_type"] == "image/png"
    for entry in raw["assets"].values():
        data = (out / "assets" / entry["path"]).read_bytes()
        assert sha(data) == entry["sha256"] and len(data) == entry["size"]
        assert re.search(rf"\.{entry['sha256'][:12]}(\.[a-z0-9]+)?$", entry["path"])
    # Secrets, dotfiles and caches never become public assets.
    assert not [p for p in (out / "assets").rglob("*") if p.name.startswith((".", "server")) or p.suffix == ".pem"]
    assert any("server.pem" in warning for warning in result.warnings)


def test_stylesheets_point_at_the_fingerprinted_names(project: Path) -> None:
    manifest = build(loaded(project), Path("dist")).manifest
    paths = {name: entry.path for name, entry in manifest.assets.items()}
    site = (project / "dist/assets" / paths["css/site.css"]).read_text()
    assert f'@import "{paths["css/base.css"].removeprefix("css/")}";' in site
    assert f"url('../{paths['img/hero.png']}?v=2')" in site
    assert f"url(../{paths['img/logo.svg']})" in site
    for untouched in ("url(data:image/gif;base64,R0lGOD)", "url(https://cdn.other/a.png)", "url(/elsewhere.png)"):
        assert untouched in site
    # Its name hashes what was written (with the new references), not the source.
    assert manifest.assets["css/site.css"].sha256 == sha(site.encode())


def test_a_css_reference_to_a_missing_file_is_a_warning_and_a_circle_an_error(project: Path) -> None:
    write(project / "static/css/site.css", ".a { background: url(../img/gone.png) }\n")
    result = build(loaded(project), Path("dist"))
    assert any("site.css: refers to img/gone.png" in warning for warning in result.warnings)
    write(project / "static/css/base.css", '@import "site.css";\n')
    write(project / "static/css/site.css", '@import "base.css";\n')
    with pytest.raises(BuildError, match=r"in a circle \(css/base.css -> css/site.css -> css/base.css\)"):
        build(loaded(project), Path("dist"))


def test_fingerprinted_names_keep_the_last_suffix() -> None:
    digest = "0123456789abcdef" * 4
    assert fingerprinted_name("css/store.css", digest) == "css/store.0123456789ab.css"
    assert fingerprinted_name("js/vendor.min.js", digest) == "js/vendor.min.0123456789ab.js"
    assert fingerprinted_name("LICENSE", digest) == "LICENSE.0123456789ab"


def test_the_origin_serves_the_built_assets_immutable_and_pages_link_them(project: Path) -> None:
    manifest = build(loaded(project), Path("dist")).manifest
    css = manifest.assets["css/store.css"].path
    with TestClient(build_origin_app(loaded(project))) as client:
        home = client.get("/")
        assert home.status_code == 200 and "shop-note" in home.text  # the scaffold's template override
        assert f'href="/static/{css}"' in home.text
        assert f'href="/static/{manifest.assets["css/shop.css"].path}"' in home.text  # the override's own file
        built = client.get(f"/static/{css}")
        assert built.status_code == 200 and built.headers["cache-control"] == IMMUTABLE_CACHE
        assert built.content == (STATIC_DIR / "css/store.css").read_bytes()
        source = client.get("/static/css/store.css")  # development names keep working, with a short cache
        assert source.status_code == 200 and "immutable" not in source.headers["cache-control"]


def test_with_assets_url_pages_link_the_cdn(project: Path) -> None:
    config = project / "wrangler.toml"
    config.write_text(
        config.read_text().replace("[storefront]\n", '[storefront]\nassets_url = "https://cdn.example/a/"\n')
    )
    manifest = build(loaded(project), Path("dist")).manifest
    with TestClient(build_origin_app(loaded(project))) as client:
        page = client.get("/").text
    for name in ("css/store.css", "js/store.js", "img/logo.svg", "css/shop.css"):
        assert f'"https://cdn.example/a/{manifest.assets[name].path}"' in page
    assert "/static/" not in page


def test_the_same_inputs_build_the_same_bytes(project: Path, tmp_path: Path) -> None:
    one = build(loaded(project), tmp_path / "one", mtime=1_700_000_000)
    write(project / "static/css/site.css", SITE_CSS)  # rewritten: a new mtime on the source changes nothing
    two = build(loaded(project), tmp_path / "two", mtime=1_700_000_000)
    first, second = tree(one.out), tree(two.out)
    assert first == second and len(first) > 50
    assert {mode for _, mode, _ in first.values()} == {0o644, 0o755}
    assert {mtime for _, _, mtime in first.values()} == {1_700_000_000}
    assert stat.S_IMODE(one.out.stat().st_mode) == 0o755 and int(one.out.stat().st_mtime) == 1_700_000_000


def test_a_failed_build_leaves_the_previous_output_as_it_was(project: Path) -> None:
    build(loaded(project), Path("dist"))
    before = tree(project / "dist")
    write(project / "templates/product.html", "<link href=\"{{ static_url('css/typo.css') }}\">")
    with pytest.raises(BuildError, match=r"templates/product.html: links 'css/typo.css' with static_url"):
        build(loaded(project), Path("dist"))
    assert tree(project / "dist") == before
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".dist")) == []  # no staging left over


def test_a_rebuild_replaces_the_output_whole(project: Path) -> None:
    build(loaded(project), Path("dist"))
    (project / "static/css/base.css").unlink()
    write(project / "static/css/site.css", "body { color: red }\n")
    build(loaded(project), Path("dist"))
    assert not list((project / "dist/assets/css").glob("base.*.css"))
    assert len(list((project / "dist/assets/css").glob("site.*.css"))) == 1


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("static/dist", r"--out .*static/dist is inside the static folder"),
        ("templates/out", r"is inside the templates folder"),
        (".", r"would replace the project folder"),
        ("..", r"would replace the project folder"),
        ("notes", r"holds files but no asset-manifest.json \(not a build output\)"),
    ],
)
def test_an_output_folder_that_would_clobber_the_project_is_refused(project: Path, out: str, message: str) -> None:
    before = tree(project)
    with pytest.raises(BuildError, match=message):
        build(loaded(project), Path(out))
    assert tree(project) == before


def test_a_static_dir_that_is_not_a_folder_is_named_with_the_fix(project: Path) -> None:
    config = project / "wrangler.toml"
    config.write_text(config.read_text().replace("[storefront]\n", '[storefront]\nstatic_dir = "wrangler.toml"\n'))
    with pytest.raises(BuildError, match=r"storefront.static_dir: .*wrangler.toml is not a folder; point static_dir"):
        build(loaded(project), Path("dist"))


def test_a_link_to_a_secret_is_refused_not_published(project: Path) -> None:
    """`ln -s ../.env static/site.txt` once published the shop's secrets as /static/site.<hash>.txt."""
    (project / "static/site.txt").symlink_to("../.env")
    with pytest.raises(BuildError, match=r"static/site\.txt: a symbolic link to .*\.env, outside .*static"):
        build(loaded(project), Path("dist"))
    assert not (project / "dist").exists()


@pytest.mark.parametrize("where", ["static/img/outside.png", "content/en/page/outside.md", "templates/outside.html"])
def test_a_link_out_of_a_copied_folder_is_refused(project: Path, tmp_path: Path, where: str) -> None:
    elsewhere = write(tmp_path / "elsewhere" / "private.txt", "not part of the store\n")
    (project / where).symlink_to(elsewhere)
    with pytest.raises(BuildError, match=rf"{re.escape(where)}: a symbolic link to .*private\.txt, outside"):
        build(loaded(project), Path("dist"))


def test_a_link_into_local_state_is_refused_even_inside_the_folder(project: Path) -> None:
    config = project / "wrangler.toml"
    config.write_text(config.read_text().replace('data_dir = ".edgeshop"', 'data_dir = "static/state"'))
    write(project / "static/state/carts.sqlite3", b"SQLite format 3\0")
    (project / "static/carts.txt").symlink_to("state/carts.sqlite3")
    with pytest.raises(BuildError, match=r"static/carts\.txt: a symbolic link to .*carts\.sqlite3, which is never"):
        build(loaded(project), Path("dist"))
    (project / "static/carts.txt").unlink()
    manifest = build(loaded(project), Path("dist")).manifest  # the data_dir itself is left out, silently
    assert not [name for name in manifest.assets if name.startswith("state/")]


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ({"static/loop": "."}, r"static/loop: a symbolic link back to .*, a loop"),
        ({"static/a.css": "b.css", "static/b.css": "a.css"}, r"static/a\.css: a symbolic link that cannot be followed"),
        ({"static/gone.css": "nowhere.css"}, r"static/gone\.css: a symbolic link that cannot be followed"),
    ],
    ids=["folder-loop", "link-loop", "dangling"],
)
def test_a_link_that_cannot_be_followed_names_the_link(project: Path, links: dict[str, str], message: str) -> None:
    for link, target in links.items():
        (project / link).symlink_to(target)
    with pytest.raises(BuildError, match=message):
        build(loaded(project), Path("dist"))


def test_a_link_inside_the_static_folder_is_followed(project: Path) -> None:
    (project / "static/css/alias.css").symlink_to("base.css")
    manifest = build(loaded(project), Path("dist")).manifest
    assert manifest.assets["css/alias.css"].sha256 == manifest.assets["css/base.css"].sha256


def test_a_broken_project_template_is_named(project: Path) -> None:
    write(project / "templates/cart.html", "{% if %}")
    with pytest.raises(BuildError, match=r"templates/cart.html: the template does not parse \(line 1"):
        build(loaded(project), Path("dist"))


# The image context -----------------------------------------------------------------------------------------------


def test_the_image_context_holds_the_runtime_the_lock_and_the_project(project: Path) -> None:
    result = build(loaded(project), Path("dist"))
    image = result.image_dir
    dockerfile = result.dockerfile.read_text()
    assert f"ARG PYTHON_IMAGE={BASE_IMAGE}" in dockerfile and "@sha256" in dockerfile  # pin-the-digest advice
    assert BASE_IMAGE == "python:3.11-slim-bookworm"
    for line in ('ENTRYPOINT ["wrangler-py"]', "WORKDIR /app", "USER 10001:10001", "PYTHONDONTWRITEBYTECODE=1",
                 "COPY project/ /app/", "pip install --no-deps -r /tmp/build/requirements.lock",
                 "mkdir -p /app/.edgeshop && chown 10001:10001 /app/.edgeshop"):  # fmt: skip
        assert line in dockerfile
    files = {p.relative_to(image).as_posix() for p in image.rglob("*") if p.is_file()}
    for runtime in ("edgeshop/pyproject.toml", "edgeshop/README.md", "edgeshop/wrangler_py/build.py",
                    "edgeshop/storefront/templates/base.html", "edgeshop/storefront/static/css/store.css",
                    "edgeshop/cdn/__init__.py", "edgeshop/connectors/__init__.py", "edgeshop/edge/__init__.py",
                    "edgeshop/origin/__init__.py"):  # fmt: skip
        assert runtime in files
    assert not [f for f in files if f.startswith("edgeshop/tests/") or "__pycache__" in f or f.endswith(".pyc")]
    project_files = sorted(f.removeprefix("project/") for f in files if f.startswith("project/"))
    manifest_path = "dist/asset-manifest.json"
    assert manifest_path in project_files
    assert (image / "project" / manifest_path).read_bytes() == result.manifest_path.read_bytes()
    for entry in result.manifest.assets.values():
        assert f"dist/assets/{entry.path}" in project_files
    for wanted in ("wrangler.toml", "shop_edge.py", "templates/home.html", "static/css/shop.css",
                   "content/en/home/home.md"):  # fmt: skip
        assert wanted in project_files
    assert (image / "project/wrangler.toml").read_bytes() == (project / "wrangler.toml").read_bytes()
    leaked = [
        f for f in project_files if f.startswith((".", "notes/", "dist/image")) or "/." in f or f.endswith(".pem")
    ]
    assert leaked == []
    assert not [f for f in project_files if "__pycache__" in f or ".git" in f or ".edgeshop" in f]


def test_the_image_is_labelled_with_its_asset_manifest(project: Path) -> None:
    result = build(loaded(project), Path("dist"))
    digest = hashlib.sha256(result.manifest_path.read_bytes()).hexdigest()
    assert result.manifest_sha256 == digest
    assert f"LABEL {ASSET_MANIFEST_LABEL}={digest}\n" in result.dockerfile.read_text()
    write(project / "static/css/base.css", "body { margin: 1px }\n")  # other assets, another label
    assert f"={digest}" not in build(loaded(project), Path("dist")).dockerfile.read_text()


def test_the_dockerfile_and_the_manifests_agree_on_project_dir_and_user(project: Path) -> None:
    """[deploy.kubernetes] project_dir and run_as_user once reached the manifests but not the image."""
    config = project / "wrangler.toml"
    config.write_text(config.read_text() + '\n[deploy.kubernetes]\nproject_dir = "/srv/shop"\nrun_as_user = 20002\n')
    cfg = loaded(project).config
    dockerfile = build(loaded(project), Path("dist")).dockerfile.read_text()
    for line in ("COPY project/ /srv/shop/", "WORKDIR /srv/shop", "USER 20002:20002",
                 "mkdir -p /srv/shop/.edgeshop && chown 20002:20002 /srv/shop/.edgeshop",
                 'CMD ["--config", "/srv/shop/wrangler.toml", "origin"'):  # fmt: skip
        assert line in dockerfile
    assert "/app" not in dockerfile and "10001" not in dockerfile
    docs = render_manifests(cfg, image="registry.example/shop:1", secret_refs={}, settings=cfg.deploy.kubernetes)
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (20002, 20002)
        assert container["workingDir"] == "/srv/shop" and container["args"][:2] == [
            "--config",
            "/srv/shop/wrangler.toml",
        ]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["config"] == "/srv/shop/wrangler.toml"
        if deployment["metadata"]["name"].endswith("-origin"):
            assert mounts["data"] == "/srv/shop/.edgeshop"  # the folder the image made writable for the user


def test_content_outside_the_project_is_named_and_a_handler_package_comes_along(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared-content"
    write(elsewhere / "en/page/about.md", "+++\ntitle = 'About'\n+++\nHi\n")
    write(project / "handlers/__init__.py", "")
    write(project / "handlers/geo.py", "async def handler(request, ctx):\n    return None\n")
    config = project / "wrangler.toml"
    text = config.read_text().replace('path = "content"', f'path = "{elsewhere.as_posix()}"')
    config.write_text(text + '\n[[edge.handlers]]\nmodule = "handlers.geo:handler"\n')
    result = build(loaded(project), Path("dist"))
    assert any(f"{elsewhere} is outside the project folder" in warning for warning in result.warnings)
    assert (result.image_dir / "project/handlers/geo.py").is_file()
    assert not (result.image_dir / "project/en").exists()


def test_the_lock_pins_the_installed_runtime_closure_without_dev_extras() -> None:
    pins = dict(line.split("==") for line in runtime_lock())
    assert list(pins) == sorted(pins)
    for name in ("starlette", "jinja2", "pydantic", "pydantic-core", "uvicorn", "httpx", "tomli-w"):
        assert pins[name] == metadata.version(name)
    assert pins["email-validator"] == metadata.version("email-validator")  # pydantic[email]: a requested extra
    assert "anyio" in pins and "markupsafe" in pins  # transitive
    for dev_only in ("pytest", "ruff", "mypy", "respx", "playwright", "edgeshop"):
        assert dev_only not in pins


def test_the_image_project_runs_with_its_built_assets(project: Path) -> None:
    """The storefront finds the manifest inside the image as it does in the project: at storefront.asset_manifest."""
    result = build(loaded(project), Path("dist"))
    inside = load_config(result.image_dir / "project/wrangler.toml", environ={})
    css = result.manifest.assets["css/store.css"].path
    with TestClient(build_origin_app(inside)) as client:
        assert f'href="/static/{css}"' in client.get("/").text
        assert client.get(f"/static/{css}").headers["cache-control"] == IMMUTABLE_CACHE


# The command -----------------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    """The CLI's shape: global --config/--env, and the shared --env after the command."""
    root = argparse.ArgumentParser(prog="wrangler-py")
    root.add_argument("--config", default="wrangler.toml")
    root.add_argument("--env", default=None)
    with_env = argparse.ArgumentParser(add_help=False)
    with_env.add_argument("--env", default=argparse.SUPPRESS)
    add_build_parser(root.add_subparsers(dest="command", required=True), [with_env])
    return root


def test_the_command_builds_and_prints_a_summary(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    args = parser().parse_args(["--config", str(project / "wrangler.toml"), "build", "--env", "production"])
    assert args.out == "dist" and args.env == "production"
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"built shop-production into {project / 'dist'}" in out
    assert str(project / "dist/asset-manifest.json") in out and str(project / "dist/image/Dockerfile") in out
    assert f"docker build -t registry.example/shop-production:TAG {project / 'dist/image'}" in out
    assert int((project / "dist/image/Dockerfile").stat().st_mtime) == 1_700_000_000


def test_the_command_needs_no_secret_values(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An environment's secrets live in its Secret: building it must not ask for them on the laptop."""
    monkeypatch.delenv("ES_TEST_UNSET_SECRET", raising=False)
    config = project / "wrangler.toml"
    config.write_text(config.read_text() + '\n[env.production.origin]\nsecret_key = "env:ES_TEST_UNSET_SECRET"\n')
    args = parser().parse_args(["--config", str(config), "build", "--env", "production"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"label:      {ASSET_MANIFEST_LABEL}=" in out
    assert "wrangler-py-placeholder" not in (project / "dist/image/project/wrangler.toml").read_text()


def test_the_command_names_what_is_wrong(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["--config", str(project / "wrangler.toml"), "build", "--out", "static/x"])
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "wrangler-py build: --out" in err and "inside the static folder" in err and "choose a folder" in err
