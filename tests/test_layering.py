"""Imports follow DESIGN.md: each package may import only the packages below it."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OURS = {"cdn", "connectors", "origin", "storefront", "edge", "wrangler_py"}
ALLOWED: dict[str, set[str]] = {
    "cdn": set(),
    "connectors": set(),
    "origin": {"connectors", "cdn"},
    "storefront": {"origin"},
    "edge": {"cdn"},
    "wrangler_py": OURS,
}


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_design_allows(package: str) -> None:
    offenders = []
    for path in sorted((REPO / package).rglob("*.py")):
        for imported in imported_packages(path) - ALLOWED[package] - {package}:
            offenders.append(f"{path.relative_to(REPO)} imports {imported}")
    assert offenders == []


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_other_packages_are_imported_through_their_public_surface(package: str) -> None:
    """`from origin import Store`, never `from origin.store import Store`: each __init__ is the contract."""
    offenders = []
    for path in sorted((REPO / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top = node.module.split(".")[0]
                if top in OURS and top != package and node.module != top:
                    offenders.append(f"{path.relative_to(REPO)}: from {node.module}")
    assert offenders == []


@pytest.mark.parametrize("package", ["cdn", "connectors", "origin", "storefront"])
def test_public_surface_is_sorted_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    for name in exported:
        assert hasattr(module, name), f"{package}.{name}"


def test_origin_uses_only_cdn_header_helpers() -> None:
    """The origin describes responses for caches (header helpers) and logs paths as the edge does (the one
    capability-redaction rule); the caching engine itself is the edge's."""
    import cdn.headers
    import cdn.paths

    for path in (REPO / "origin").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "cdn":
                for alias in node.names:
                    allowed = hasattr(cdn.headers, alias.name) or hasattr(cdn.paths, alias.name)
                    assert allowed, f"{path} uses cdn.{alias.name}"
