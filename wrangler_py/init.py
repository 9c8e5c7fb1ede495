"""`wrangler-py init DIR`: a new store project that `wrangler-py dev` serves at once.

It writes wrangler.toml (commented), starter content, an example edge handler and a .gitignore from the
files in `wrangler_py/scaffold/`. It never overwrites: a folder that already has files is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

SCAFFOLD = files("wrangler_py") / "scaffold"
_RENAMED = {"gitignore": ".gitignore", "wrangler.toml.tmpl": "wrangler.toml"}


class InitError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Project:
    folder: Path
    name: str
    written: list[Path]


def project_name(folder: Path) -> str:
    """wrangler.toml's `name`: lower-case letters, digits and dashes, from the folder's name."""
    slug = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-")[:63]
    return slug if slug and slug[0].isalnum() else f"shop-{slug}".strip("-")


def scaffold(folder: Path, *, title: str | None = None) -> Project:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InitError(f"{folder} already exists and is not empty: choose a new folder (nothing was written)")
    name = project_name(folder)
    values = {"name": name, "title": title or name.replace("-", " ").title()}
    written: list[Path] = []
    for source, relative in _walk(SCAFFOLD, Path()):
        target = folder / relative.with_name(_RENAMED.get(relative.name, relative.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(source.read_text(encoding="utf-8")).safe_substitute(values), encoding="utf-8")
        written.append(target)
    return Project(folder, name, written)


def _walk(node: Traversable, relative: Path) -> list[tuple[Traversable, Path]]:
    found: list[tuple[Traversable, Path]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            found.extend(_walk(child, relative / child.name))
        else:
            found.append((child, relative / child.name))
    return found


__all__ = ["InitError", "Project", "project_name", "scaffold"]
