"""`wrangler-py search reindex`: the built-in index, and a vendor's (Meilisearch through its respx fake)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
import respx

from connectors import BuiltinSearch, SearchQuery
from tests.connectors.search.fakes import FakeMeilisearch
from wrangler_py.apps import build_store_from_config
from wrangler_py.cli import main
from wrangler_py.config import LoadedConfig

PRODUCTS = 23
MEILISEARCH = """
[connectors.search]
vendor = "meilisearch"
url = "http://meili.test"
api_key = "env:EDGESHOP_TEST_MEILI_KEY"
task_timeout_seconds = 5
fallback = "builtin"
"""


@pytest.fixture
def seeded(make_config: Callable[..., LoadedConfig]) -> Callable[..., LoadedConfig]:
    """A store whose built-in catalog holds PRODUCTS products and whose search index is still empty."""

    def make(extra: str = "") -> LoadedConfig:
        loaded = make_config(seed_products=0, extra=extra)
        commerce = build_store_from_config(loaded).connectors.commerce
        commerce.seed(products=PRODUCTS, seed=7)  # type: ignore[attr-defined]
        return loaded

    return make


@pytest.fixture
def meili(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMeilisearch]:
    monkeypatch.setenv("EDGESHOP_TEST_MEILI_KEY", "meili-key")
    fake = FakeMeilisearch(url="http://meili.test")
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        fake.install(router)
        yield fake


def reindex(loaded: LoadedConfig, *more: str) -> int:
    return main(["--config", str(loaded.path), "search", "reindex", *more])


def builtin_total(loaded: LoadedConfig) -> int:
    engine = BuiltinSearch(str(loaded.data_dir / "search.sqlite3"))
    try:
        return anyio.run(lambda: engine.search(SearchQuery(price_list="usd", facets=[]))).total
    finally:
        engine.close()


def test_builtin_reindex_reports_progress_counts_and_time(
    seeded: Callable[..., LoadedConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = seeded()
    assert reindex(loaded, "--batch-size", "10") == 0
    out, err = capsys.readouterr()
    assert re.fullmatch(rf"indexed {PRODUCTS} documents into builtin in \d+\.\ds \(\d+ documents/s\)\n", out)
    assert f"rebuilding the builtin search index: settings, then ~{PRODUCTS} products in batches of 10" in err
    # Not a terminal: one line per tenth of the way, never a carriage return, ending on a full bar.
    bars = [line for line in err.splitlines() if line.startswith("  [")]
    assert "\r" not in err and len(bars) == 3  # batches end at 10, 20 and 23 of 23
    assert bars[-1].startswith(f"  [{'#' * 30}] {PRODUCTS}/{PRODUCTS} 100%")
    assert builtin_total(loaded) == PRODUCTS


def test_on_a_terminal_the_bar_redraws_in_place(
    seeded: Callable[..., LoadedConfig], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = seeded()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert reindex(loaded, "--batch-size", "5") == 0
    err = capsys.readouterr().err
    assert err.count("\r  [") == 5 and err.endswith("\n")  # 5, 10, 15, 20, 23
    assert f"\r  [{'#' * 30}] {PRODUCTS}/{PRODUCTS} 100%" in err


def test_a_bad_batch_size_is_refused(seeded: Callable[..., LoadedConfig], capsys: pytest.CaptureFixture[str]) -> None:
    assert reindex(seeded(), "--batch-size", "0") == 2
    assert "--batch-size must be at least 1" in capsys.readouterr().err


def test_vendor_reindex_applies_settings_then_writes_every_batch(
    seeded: Callable[..., LoadedConfig], meili: FakeMeilisearch, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = seeded(MEILISEARCH)
    assert reindex(loaded, "--batch-size", "10") == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"indexed {PRODUCTS} documents into meilisearch in ")
    assert "rebuilding the meilisearch search index" in err and f"{PRODUCTS}/{PRODUCTS} 100%" in err
    index = meili.indexes["products"]
    assert len(index["docs"]) == PRODUCTS
    settings = index["settings"]
    assert {"amount_usd", "amount_eur", "amount_gbp", "created_at", "title"} == set(settings["sortableAttributes"])
    assert settings["rankingRules"][0] == "sort"
    kinds = [task["type"] for task in meili.tasks.values()]
    # Settings come first; then the index is emptied; then one write per batch; each task was waited for.
    assert kinds[:2] == ["settingsUpdate", "documentDeletion"]
    assert kinds.count("documentAdditionOrUpdate") == 3
    assert all(task.get("outcome", "pending") is None for task in meili.tasks.values())
    assert builtin_total(loaded) == PRODUCTS  # the fallback index is rebuilt alongside


def test_vendor_errors_end_with_status_1_and_say_how_far_it_got(
    seeded: Callable[..., LoadedConfig], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGESHOP_TEST_MEILI_KEY", "meili-key")
    loaded = seeded(MEILISEARCH)
    meili = FakeMeilisearch(url="http://meili.test")
    writes = 0
    add = meili._add

    def fail_the_second_batch(request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        nonlocal writes
        writes += 1
        answer = add(request, match)
        if writes == 2:
            task = meili.tasks[answer.json()["taskUid"]]
            task["apply"] = lambda: {"message": "Document identifier `x` is invalid.", "code": "invalid_document_id"}
        return answer

    meili._add = fail_the_second_batch  # type: ignore[method-assign]
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        meili.install(router)
        assert reindex(loaded, "--batch-size", "10") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "error: reindexing into meilisearch stopped after 10 documents: meilisearch: task" in err
    assert "failed: Document identifier `x` is invalid. (invalid_document_id)" in err
    assert "run the command again" in err


def test_wrong_credentials_are_reported(
    seeded: Callable[..., LoadedConfig],
    meili: FakeMeilisearch,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EDGESHOP_TEST_MEILI_KEY", "wrong")
    assert reindex(seeded(MEILISEARCH)) == 1
    err: Any = capsys.readouterr().err
    assert "stopped after 0 documents: meilisearch: credentials refused (401)" in err
