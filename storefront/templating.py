"""The one Jinja2 environment of the storefront: package templates, autoescaping, strict undefined variables."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"


@cache
def _asset_version(path: str) -> str:
    # Content hash in the URL: assets can be cached for a long time and still change on deploy.
    try:
        return hashlib.blake2b((STATIC_DIR / path).read_bytes(), digest_size=6).hexdigest()
    except OSError:
        return "0"


def static_url(path: str) -> str:
    return f"/static/{path}?v={_asset_version(path)}"


@cache
def environment() -> Environment:
    """Built once per process; shared state lives here, per-page values come in the render context."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals["static_url"] = static_url
    return env


def render(template: str, context: dict[str, Any]) -> bytes:
    return environment().get_template(template).render(context).encode()
