"""Built-in CMS edits are publishes: the origin notices changed files and purges the pages that show them."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from connectors.cms.builtin import BuiltinContent
from origin import ContentWatcher
from origin.content_watch import changed_entries
from tests.conftest import REPO

pytestmark = pytest.mark.anyio


def test_changed_entries_reports_edits_additions_and_removals_in_any_locale() -> None:
    before = {("page", "about", "en"): (1, 5), ("page", "shipping", "de"): (1, 5), ("home", "home", "en"): (1, 5)}
    after = {("page", "about", "en"): (1, 5), ("page", "shipping", "de"): (1, 6), ("page", "faq", "fr"): (1, 5)}
    assert changed_entries(before, after) == {("page", "shipping"), ("page", "faq"), ("home", "home")}
    assert changed_entries(after, after) == set()


@pytest.fixture
def content(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(REPO / "content", root)
    return root


async def test_the_watcher_reports_published_changes_and_ignores_drafts(content: Path) -> None:
    seen: list[set[tuple[str, str]]] = []

    async def record(changed: set[tuple[str, str]]) -> None:
        seen.append(changed)

    watcher = ContentWatcher(BuiltinContent(content), record, interval=0.05)
    await watcher.start()
    try:
        (content / "_drafts" / "en" / "page").mkdir(parents=True)
        (content / "_drafts" / "en" / "page" / "about.md").write_text('+++\ntitle = "Draft"\n+++\nnot yet')
        await asyncio.sleep(0.3)
        assert seen == []  # a draft is not a publish
        shipping = content / "de" / "page" / "shipping.md"
        shipping.write_text(shipping.read_text(encoding="utf-8") + "\nNeu: Expressversand.\n", encoding="utf-8")
        (content / "en" / "page" / "faq.md").write_text('+++\ntitle = "FAQ"\n+++\nAnswers.', encoding="utf-8")
        (content / "en" / "page" / "contact.md").unlink()
        for _ in range(40):
            if seen:
                break
            await asyncio.sleep(0.05)
        assert set().union(*seen) == {("page", "shipping"), ("page", "faq"), ("page", "contact")}
    finally:
        await watcher.stop()
