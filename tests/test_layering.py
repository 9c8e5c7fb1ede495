"""Imports follow DESIGN.md: each package may import only the packages below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OURS = {"cdn", "connectors", "origin", "storefront", "edge", "wrangler_py"}
ALLOWED: dict[str, set[str]] = {
    "cdn": set(),
    "connectors": set(),
    "origin": {"connectors", "cdn"},
    "storefront": {"origin", "connectors", "cdn"},
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


def test_origin_imports_only_cdn_header_helpers() -> None:
    for path in (REPO / "origin").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cdn"):
                assert node.module == "cdn.headers", f"{path} imports {node.module}"
