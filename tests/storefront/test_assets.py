"""A project's templates and static files over the package's, and the fingerprinted assets of a build's manifest."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.testclient import TestClient

from origin.store import Store
from storefront import (
    IMMUTABLE_CACHE,
    SOURCE_CACHE,
    AssetEntry,
    AssetError,
    AssetManifest,
    StorefrontSettings,
    UnknownAsset,
    content_type,
    css_references,
    load_theme,
    rewrite_css,
    storefront_exception_handlers,
    storefront_routes,
)
from storefront.templating import STATIC_DIR

PACKAGE_CSS = (STATIC_DIR / "css/store.css").read_bytes()
AppFactory = Callable[..., TestClient]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def static_links(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="([^"]*(?:/static/|/assets/)[^"]*)"', html)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    folder.mkdir()
    return folder


@pytest.fixture
def make_app(store: Store, project: Path, client_for: Callable[..., TestClient]) -> AppFactory:
    """A storefront app over `project` with the given settings: one theme for its routes and its 404s."""

    def make(**settings: object) -> TestClient:
        config = StorefrontSettings.model_validate(settings)
        theme = load_theme(config, project)
        app = Starlette(
            routes=storefront_routes(store, config, theme=theme),
            exception_handlers=storefront_exception_handlers(store, config, theme=theme),
        )
        return client_for(app)

    return make


def build_by_hand(project: Path, files: dict[str, bytes], folder: str = "dist") -> AssetManifest:
    """What `wrangler-py build` writes (tests/wrangler_py/test_build.py checks the real thing)."""
    assets = {}
    for name, data in files.items():
        stem, _, ext = name.rpartition(".")
        path = f"{stem}.{sha(data)[:12]}.{ext}"
        target = project / folder / "assets" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        assets[name] = AssetEntry(path=path, sha256=sha(data), size=len(data), content_type="text/plain")
    manifest = AssetManifest(assets=assets)
    (project / folder / "asset-manifest.json").write_bytes(manifest.to_json())
    return manifest


PACKAGE_ASSETS = {name: (STATIC_DIR / name).read_bytes() for name in ("css/store.css", "img/logo.svg", "js/store.js")}


# Overrides -------------------------------------------------------------------------------------------------------


def test_without_project_folders_the_package_templates_and_static_files_serve(make_app: AppFactory) -> None:
    client = make_app()
    page = client.get("/")
    assert page.status_code == 200
    assert f"/static/css/store.css?v={sha(PACKAGE_CSS)[:12]}" in static_links(page.text)
    css = client.get("/static/css/store.css")
    assert css.content == PACKAGE_CSS and css.headers["cache-control"] == SOURCE_CACHE


def test_a_project_template_replaces_the_package_one_and_the_rest_still_resolve(
    make_app: AppFactory, project: Path
) -> None:
    # An override that extends the package's own template under the edgeshop/ prefix and changes one block…
    write(project / "templates/home.html", '{% extends "edgeshop/home.html" %}{% block main %}'
          '<p id="note">project home</p>{{ super() }}{% endblock %}')  # fmt: skip
    # …a base.html that every page (the package's too) extends through the overrides…
    write(project / "templates/base.html", '{% extends "edgeshop/base.html" %}'
          '{% block scripts %}<script id="x-project"></script>{% endblock %}')  # fmt: skip
    # …and a template replaced whole.
    write(project / "templates/not_found.html", "<h1>Lost at {{ shop.name }}</h1>")
    client = make_app(name="Corner Shop")
    home = client.get("/").text
    assert '<p id="note">project home</p>' in home and 'class="hero"' in home  # super(): the package's block
    assert '<script id="x-project"></script>' in home
    search = client.get("/search?q=tent").text  # the package's search.html, extending the project's base.html
    assert '<script id="x-project"></script>' in search and "project home" not in search
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and missing.text == "<h1>Lost at Corner Shop</h1>"


def test_a_project_static_file_replaces_or_adds_and_links_by_its_own_hash(make_app: AppFactory, project: Path) -> None:
    mine = b"body { color: rebeccapurple }\n"
    (project / "static/css").mkdir(parents=True)
    (project / "static/css/store.css").write_bytes(mine)
    write(project / "static/img/extra.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>")
    write(project / "templates/home.html", """{% extends "edgeshop/home.html" %}"""
          """{% block head %}<link rel="icon" href="{{ static_url('img/extra.svg') }}">{% endblock %}""")  # fmt: skip
    client = make_app()
    links = static_links(client.get("/").text)
    assert f"/static/css/store.css?v={sha(mine)[:12]}" in links
    assert any(link.startswith("/static/img/extra.svg?v=") for link in links)
    assert client.get("/static/css/store.css").content == mine
    assert client.get("/static/img/extra.svg").status_code == 200
    assert client.get("/static/js/store.js").content == (STATIC_DIR / "js/store.js").read_bytes()  # not overridden
    assert client.get("/static/../settings.py").status_code == 404


def test_validators_come_from_the_content_not_the_mtime(make_app: AppFactory, project: Path) -> None:
    """Every file of an image has one mtime (reproducible builds): a same-size edit must still change the ETag,
    or a revalidation answers 304 and keeps the old file; and no Last-Modified of 1970 to compare dates with."""
    path = write(project / "static/css/note.css", "a{color:red}")
    os.utime(path, (0, 0))
    first_pod = make_app()
    old = first_pod.get("/static/css/note.css")
    assert old.status_code == 200 and old.headers["etag"] and "last-modified" not in old.headers
    path.write_text("a{color:tan}", encoding="utf-8")  # the same size, the same mtime
    os.utime(path, (0, 0))
    for pod in (make_app(), first_pod):  # a pod of the new image, and a process that saw the old content
        again = pod.get("/static/css/note.css", headers={"if-none-match": old.headers["etag"]})
        assert again.status_code == 200 and again.text == "a{color:tan}"
        assert again.headers["etag"] != old.headers["etag"]
        dated = pod.get("/static/css/note.css", headers={"if-modified-since": "Thu, 01 Jan 2026 00:00:00 GMT"})
        assert dated.status_code == 200
        assert pod.get("/static/css/note.css", headers={"if-none-match": again.headers["etag"]}).status_code == 304


def test_static_files_are_served_with_the_manifest_s_content_types(make_app: AppFactory) -> None:
    client = make_app()
    for name in ("img/logo.svg", "css/store.css", "js/store.js"):
        assert client.get(f"/static/{name}").headers["content-type"] == content_type(name)


def test_folders_in_other_places_are_named_in_the_settings(make_app: AppFactory, project: Path) -> None:
    write(project / "look/pages/home.html", "<p>from look/pages</p>")
    assert make_app(templates_dir="look/pages").get("/").text == "<p>from look/pages</p>"


def test_a_static_dir_that_is_a_file_is_refused_by_name(project: Path) -> None:
    write(project / "static", "not a folder")
    with pytest.raises(AssetError, match=r"storefront\.static_dir: .*static is not a folder"):
        load_theme(StorefrontSettings(), project)


def test_an_unknown_asset_fails_the_render_instead_of_linking_a_404(make_app: AppFactory, project: Path) -> None:
    write(project / "templates/home.html", "<link href=\"{{ static_url('css/typo.css') }}\">")
    with pytest.raises(UnknownAsset, match=r"static_url\('css/typo.css'\): no such file"):
        make_app().get("/")
    theme = load_theme(StorefrontSettings(), project)
    with pytest.raises(UnknownAsset):
        theme.assets.url("../settings.py")


# The manifest of a build -----------------------------------------------------------------------------------------


def test_with_a_manifest_pages_link_fingerprinted_names_on_the_origin_which_serves_them_immutable(
    make_app: AppFactory, project: Path
) -> None:
    manifest = build_by_hand(project, PACKAGE_ASSETS)
    client = make_app()
    links = static_links(client.get("/").text)
    css = manifest.assets["css/store.css"].path
    assert css == f"css/store.{sha(PACKAGE_CSS)[:12]}.css"
    assert f"/static/{css}" in links and f"/static/{manifest.assets['js/store.js'].path}" in links
    built = client.get(f"/static/{css}")
    assert built.status_code == 200 and built.content == PACKAGE_CSS
    assert built.headers["cache-control"] == IMMUTABLE_CACHE
    revalidated = client.get(f"/static/{css}", headers={"if-none-match": built.headers["etag"]})
    assert revalidated.status_code == 304 and revalidated.headers["cache-control"] == IMMUTABLE_CACHE
    source = client.get("/static/css/store.css")  # un-fingerprinted names keep working, briefly cached
    assert source.status_code == 200 and source.headers["cache-control"] == SOURCE_CACHE


def test_with_assets_url_pages_link_the_cdn(make_app: AppFactory, project: Path) -> None:
    manifest = build_by_hand(project, PACKAGE_ASSETS)
    links = static_links(make_app(assets_url="https://cdn.example/assets").get("/").text)
    assert f"https://cdn.example/assets/{manifest.assets['css/store.css'].path}" in links
    assert f"https://cdn.example/assets/{manifest.assets['img/logo.svg'].path}" in links
    assert not [link for link in links if link.startswith("/static/")]


def test_an_asset_missing_from_the_manifest_fails_loudly(make_app: AppFactory, project: Path) -> None:
    build_by_hand(project, {"css/store.css": PACKAGE_CSS})  # no img/logo.svg, which base.html links
    with pytest.raises(UnknownAsset, match=r"'img/logo.svg'\): no such asset .* run `wrangler-py build` again"):
        make_app().get("/")


def test_a_manifest_elsewhere_is_found_through_the_setting(make_app: AppFactory, project: Path) -> None:
    manifest = build_by_hand(project, PACKAGE_ASSETS, folder="build/web")
    client = make_app(asset_manifest="build/web/asset-manifest.json")
    assert f"/static/{manifest.assets['css/store.css'].path}" in static_links(client.get("/").text)


def test_a_broken_manifest_stops_the_app_at_start_naming_the_file(project: Path) -> None:
    write(project / "dist/asset-manifest.json", '{"version": 2, "assets": {}}')
    with pytest.raises(AssetError, match=r"asset-manifest.json: not an asset manifest of this version"):
        load_theme(StorefrontSettings(), project)


def test_a_manifest_older_than_its_sources_is_reported(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    build_by_hand(project, PACKAGE_ASSETS)
    with caplog.at_level(logging.WARNING):
        load_theme(StorefrontSettings(), project)
    assert not caplog.records
    write(project / "static/css/store.css", "body { color: red }")
    with caplog.at_level(logging.WARNING):
        load_theme(StorefrontSettings(), project)
    assert "css/store.css" in caplog.text and "run `wrangler-py build` again" in caplog.text


def test_assets_url_is_a_url_or_a_path_and_ends_in_a_slash() -> None:
    assert StorefrontSettings(assets_url="https://cdn.example/a").assets_url == "https://cdn.example/a/"
    assert StorefrontSettings(assets_url="/assets/").assets_url == "/assets/"
    for bad in ("cdn.example/assets/", "//cdn.example/", "https://cdn example/"):
        with pytest.raises(ValidationError, match="absolute URL"):
            StorefrontSettings(assets_url=bad)


# Stylesheet references -------------------------------------------------------------------------------------------


def test_css_relative_references_point_at_fingerprinted_names() -> None:
    built = {"img/bg.png": "img/bg.0123456789ab.png", "fonts/a b.woff2": "fonts/a b.ba9876543210.woff2",
             "css/base.css": "css/base.feedfacecafe.css", "css/icons.svg": "css/icons.111111111111.svg"}  # fmt: skip
    css = (
        "@import 'base.css';\n"
        '@import url("base.css") screen;\n'
        ".a { background: url(../img/bg.png) }\n"
        ".b { background: url( '../img/bg.png?v=1#x' ) }\n"
        '@font-face { src: url("../fonts/a%20b.woff2?#iefix") format("woff2") }\n'
        ".c { mask: url(icons.svg#star) }\n"
        ".d { background: url(data:image/png;base64,AAAA) }\n"
        ".e { background: url(https://cdn.other/x.png), url(//cdn.other/y.png), url(/img/bg.png) }\n"
        ".f { filter: url(#shadow) }\n"
        ".g { background: url(../../outside.png) url(../img/missing.png) }\n"
        "/* url(../img/bg.png) in a comment stays */\n"
    )
    out = rewrite_css(css, "css/site.css", built.get)
    assert "@import 'base.feedfacecafe.css';" in out
    assert '@import url("base.feedfacecafe.css") screen;' in out
    assert ".a { background: url(../img/bg.0123456789ab.png) }" in out
    assert ".b { background: url( '../img/bg.0123456789ab.png?v=1#x' ) }" in out
    assert 'url("../fonts/a%20b.ba9876543210.woff2?#iefix")' in out
    assert ".c { mask: url(icons.111111111111.svg#star) }" in out
    for untouched in ("url(data:image/png;base64,AAAA)", "url(https://cdn.other/x.png)", "url(//cdn.other/y.png)",
                      "url(/img/bg.png)", "url(#shadow)", "url(../../outside.png)", "url(../img/missing.png)",
                      "/* url(../img/bg.png) in a comment stays */"):  # fmt: skip
        assert untouched in out
    found = ["css/base.css", "css/base.css", "img/bg.png", "img/bg.png", "fonts/a b.woff2", "css/icons.svg",
             "img/missing.png"]  # fmt: skip
    assert sorted(css_references(css, "css/site.css")) == sorted(found)
