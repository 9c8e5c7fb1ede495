"""The built-in CMS: Markdown + TOML front matter per locale, with fallback, drafts and safe slugs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connectors.cms.builtin import BuiltinContent, locale_chain
from connectors.errors import NotFound, VendorMisconfigured

pytestmark = pytest.mark.anyio
REPO_CONTENT = Path(__file__).resolve().parents[3] / "content"


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path, "en/page/shipping.md", '+++\ntitle = "Shipping"\nposition = 2\n+++\n# Fast\n\n- one\n- two\n')
    write(tmp_path, "en/page/about.md", '+++\ntitle = "About"\nposition = 1\n+++\nHello <script>x</script>\n')
    write(tmp_path, "de/page/shipping.md", '+++\ntitle = "Versand"\n+++\nSchnell.\n')
    write(tmp_path, "_drafts/en/page/shipping.md", '+++\ntitle = "Shipping (draft)"\n+++\nSoon.\n')
    return tmp_path


def test_locale_chain() -> None:
    assert locale_chain("de_DE", "en") == ["de-DE", "de", "en"]
    assert locale_chain("de-de", "en") == ["de-DE", "de", "en"]
    assert locale_chain("zh_hant_tw", "en") == ["zh-Hant-TW", "zh-Hant", "zh", "en"]
    assert locale_chain("en", "en") == ["en"]


@pytest.mark.parametrize("locale", ["..", "../../etc", "en/../..", "/tmp", "", "de DE", "e"])
def test_locale_chain_refuses_what_is_not_a_locale_tag(locale: str) -> None:
    assert locale_chain(locale, "en") == ["en"]


async def test_a_hostile_locale_falls_back_to_the_default(tmp_path: Path) -> None:
    write(tmp_path, "outside/page/shipping.md", '+++\ntitle = "Outside"\n+++\n')
    write(tmp_path, "content/en/page/shipping.md", '+++\ntitle = "Shipping"\n+++\n')
    entry = await BuiltinContent(tmp_path / "content").get_entry("page", "shipping", locale="../outside")
    assert entry.title == "Shipping" and entry.locale == "en"


async def test_region_folders_are_found_by_canonical_case(root: Path) -> None:
    write(root, "de-CH/page/shipping.md", '+++\ntitle = "Versand (Schweiz)"\n+++\n')
    entry = await BuiltinContent(root).get_entry("page", "shipping", locale="de_ch")
    assert entry.title == "Versand (Schweiz)" and entry.locale == "de-CH"


async def test_front_matter_and_markdown(root: Path) -> None:
    entry = await BuiltinContent(root).get_entry("page", "shipping", locale="en")
    assert entry.title == "Shipping" and entry.fields == {"position": 2} and entry.id == "page/shipping"
    assert "<h1>Fast</h1>" in entry.body_html and "<li>two</li>" in entry.body_html


async def test_raw_html_is_escaped(root: Path) -> None:
    entry = await BuiltinContent(root).get_entry("page", "about", locale="en")
    assert "<script>" not in entry.body_html and "&lt;script&gt;" in entry.body_html


async def test_locale_fallback(root: Path) -> None:
    cms = BuiltinContent(root)
    assert (await cms.get_entry("page", "shipping", locale="de_DE")).title == "Versand"
    about = await cms.get_entry("page", "about", locale="de_DE")
    assert about.title == "About" and about.locale == "en"


@pytest.mark.parametrize("slug", ["missing", "../en/page/about", "..", "a/b", "Shipping", ""])
async def test_unknown_and_hostile_slugs_are_not_found(root: Path, slug: str) -> None:
    with pytest.raises(NotFound):
        await BuiltinContent(root).get_entry("page", slug, locale="en")
    with pytest.raises(NotFound):
        await BuiltinContent(root).get_entry("../page", "shipping", locale="en")


async def test_drafts_only_in_preview(root: Path) -> None:
    cms = BuiltinContent(root)
    assert (await cms.get_entry("page", "shipping", locale="en")).title == "Shipping"
    assert (await cms.get_entry("page", "shipping", locale="en", preview=True)).title == "Shipping (draft)"


async def test_list_is_ordered_by_position(root: Path) -> None:
    entries = await BuiltinContent(root).list_entries("page", locale="en")
    assert [e.slug for e in entries] == ["about", "shipping"]


async def test_edits_are_picked_up(root: Path) -> None:
    cms = BuiltinContent(root)
    assert (await cms.get_entry("page", "about", locale="en")).title == "About"
    path = write(root, "en/page/about.md", '+++\ntitle = "About us"\n+++\nNew.\n')
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert (await cms.get_entry("page", "about", locale="en")).title == "About us"


async def test_broken_front_matter_is_a_configuration_error(root: Path) -> None:
    write(root, "en/page/broken.md", "+++\ntitle = \n+++\n")
    with pytest.raises(VendorMisconfigured):
        await BuiltinContent(root).get_entry("page", "broken", locale="en")


async def test_missing_root_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(VendorMisconfigured):
        BuiltinContent(tmp_path / "nope")


async def test_all_demo_content_parses() -> None:
    cms = BuiltinContent(REPO_CONTENT)
    for locale in ("en", "de", "fr"):
        home = await cms.get_entry("home", "home", locale=locale)
        assert home.fields["hero_title"] and home.fields["banners"]
        assert len(await cms.list_entries("page", locale=locale)) >= 4
