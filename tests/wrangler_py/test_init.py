"""`wrangler-py init`: a new project that checks clean and whose example edge handler runs."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from edge import EdgeApp
from wrangler_py.apps import build_origin_app, edge_settings
from wrangler_py.cli import main
from wrangler_py.config import load_config


def test_init_writes_a_project_that_checks_clean_and_runs_its_handler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "Corner Shop"
    assert main(["init", str(folder), "--title", "The Corner Shop"]) == 0
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert written == [".gitignore", "content/en/home/home.md", "content/en/page/returns.md",
                       "content/en/page/shipping.md", "shop_edge.py", "static/css/shop.css", "templates/home.html",
                       "wrangler.toml"]  # fmt: skip
    assert "cd " in capsys.readouterr().out
    loaded = load_config(folder / "wrangler.toml")
    assert loaded.config.name == "corner-shop" and loaded.config.storefront.name == "The Corner Shop"
    ignored = (folder / ".gitignore").read_text().splitlines()
    assert ".edgeshop/" in ignored and "dist/" in ignored
    assert "The Corner Shop" in (folder / "content/en/home/home.md").read_text()
    assert main(["--config", str(folder / "wrangler.toml"), "check"]) == 0

    async def hello() -> httpx.Response:
        app = EdgeApp(edge_settings(loaded), project_dir=loaded.project_dir)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8787") as client:
            return await client.get("/hello?_geo=DE")

    import anyio

    answer = anyio.run(hello)
    assert answer.status_code == 200
    assert json.loads(answer.text) | {"visits": 0} == {"hello": "from the edge", "country": "DE", "market": "eu",
                                                       "segment": "new", "experiments": {}, "visits": 0}  # fmt: skip


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "notes.txt").write_text("mine")
    assert main(["init", str(tmp_path / "shop")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "shop").iterdir()] == ["notes.txt"]


def test_the_scaffold_overrides_the_home_page_and_adds_a_stylesheet(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    assert main(["init", str(folder), "--title", "The Corner Shop"]) == 0
    config = folder / "wrangler.toml"
    config.write_text(config.read_text().replace("seed_products = 50", "seed_products = 4"))
    with TestClient(build_origin_app(load_config(config))) as client:
        home = client.get("/")
        assert home.status_code == 200
        assert "This note comes from <code>templates/home.html</code>" in home.text  # the override…
        assert 'class="hero"' in home.text  # …around the package's home page (super())
        link = next(line for line in home.text.splitlines() if "css/shop.css" in line)
        href = link.split('href="')[1].split('"')[0]
        stylesheet = client.get(href)
        assert stylesheet.status_code == 200 and ".shop-note" in stylesheet.text
        assert "shop-note" not in client.get("/search").text  # other pages are the package's
