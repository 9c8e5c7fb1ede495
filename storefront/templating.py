"""The storefront's look, resolved once per app: its Jinja2 environment and its static assets.

A project (the folder of wrangler.toml) may override the package file by file: a template in its
`storefront.templates_dir` replaces the package's template of the same name, and everything it does not replace
still comes from the package, so `{% extends "base.html" %}` and `{% import "macros.html" %}` keep working. The
package's own template is always there as `edgeshop/<name>`, so an override can extend the template it replaces
and change one block (`{% extends "edgeshop/home.html" %}`). Its `storefront.static_dir` replaces or adds static
files the same way. `load_theme` builds all of it at app
construction: rendering a page looks nothing up on disk that Jinja has not already compiled and cached.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined

from storefront.assets import AssetError, Assets, assets_folder, read_manifest
from storefront.settings import StorefrontSettings

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
PACKAGE_PREFIX = "edgeshop"  # `{% extends "edgeshop/home.html" %}`: the package's template, never an override

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ThemeSources:
    """Where one storefront's templates and static files come from, each tuple in precedence order."""

    templates: tuple[Path, ...]
    static: tuple[Path, ...]
    manifest: Path | None  # the asset manifest of `wrangler-py build`, when configured and present

    @property
    def project_templates(self) -> Path | None:
        return self.templates[0] if len(self.templates) > 1 else None

    @property
    def project_static(self) -> Path | None:
        return self.static[0] if len(self.static) > 1 else None


def _project_folder(project_dir: Path, relative: str, key: str) -> Path | None:
    folder = project_dir / relative
    if not folder.exists():
        return None
    if not folder.is_dir():
        raise AssetError(f"storefront.{key}: {folder} is not a folder; point {key} at a folder, or remove the file")
    return folder.resolve()


def theme_sources(settings: StorefrontSettings, project_dir: Path | None = None) -> ThemeSources:
    """The package's templates and static files, under the project's own where its folders exist."""
    if project_dir is None:
        return ThemeSources((TEMPLATES_DIR,), (STATIC_DIR,), None)
    templates = _project_folder(project_dir, settings.templates_dir, "templates_dir")
    static = _project_folder(project_dir, settings.static_dir, "static_dir")
    manifest = project_dir / settings.asset_manifest
    if manifest.exists() and not manifest.is_file():
        raise AssetError(f"storefront.asset_manifest: {manifest} is not a file; point it at asset-manifest.json")
    return ThemeSources(
        templates=(*([templates] if templates else []), TEMPLATES_DIR),
        static=(*([static] if static else []), STATIC_DIR),
        manifest=manifest.resolve() if manifest.is_file() else None,
    )


class Theme:
    """One storefront app's templates and assets; shared state lives here, per-page values in the render context."""

    __slots__ = ("assets", "environment", "sources")

    def __init__(self, sources: ThemeSources, assets: Assets) -> None:
        self.sources = sources
        self.assets = assets
        loaders: list[BaseLoader] = [PrefixLoader({PACKAGE_PREFIX: FileSystemLoader(TEMPLATES_DIR)})]
        # Project first, package second: an override replaces one file, and the rest still resolve.
        loaders += [FileSystemLoader(folder) for folder in sources.templates]
        self.environment = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.environment.globals["static_url"] = assets.url

    def render(self, template: str, context: dict[str, Any]) -> bytes:
        return self.environment.get_template(template).render(context).encode()


def load_theme(settings: StorefrontSettings, project_dir: Path | None = None) -> Theme:
    """The theme of a storefront app: call once when the app is built. Raises AssetError for a broken setup."""
    sources = theme_sources(settings, project_dir)
    manifest = read_manifest(sources.manifest) if sources.manifest is not None else None
    assets = Assets(
        sources.static,
        manifest,
        assets_dir=assets_folder(sources.manifest) if sources.manifest is not None else None,
        assets_url=settings.assets_url,
    )
    if manifest is not None:
        stale = assets.stale()
        if stale:
            # A build left in the project (dist/) wins over the static folders: say so when they have moved on.
            shown = ", ".join(stale[:5]) + (" …" if len(stale) > 5 else "")
            log.warning(
                "%s is older than the static files it was built from (%s): pages link the built copies; "
                "run `wrangler-py build` again, or delete it while you edit",
                sources.manifest,
                shown,
            )
    return Theme(sources, assets)
