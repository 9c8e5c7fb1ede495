"""wrangler.toml: composition, env references, and problems that name the key and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wrangler_py.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]


def problems_of(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("wrangler.toml"), environ or {})
    return [str(p) for p in caught.value.problems]


def test_the_repository_config_is_valid() -> None:
    loaded = load_config(REPO / "wrangler.toml", environ={})
    assert [m.id for m in loaded.config.markets] == ["us", "eu", "uk"]
    assert loaded.config.connectors.search.vendor == "builtin"
    assert loaded.data_dir == (REPO / ".edgeshop").resolve()


def test_empty_file_gives_the_defaults() -> None:
    config = parse_config("", Path("wrangler.toml"), {})
    assert config.default_market == "us" and config.edge.port == 8787 and config.origin.port == 8788


def test_every_problem_is_reported_with_path_and_fix() -> None:
    found = problems_of(
        """
        [origin]
        prot = 8080
        seed_products = "many"
        [connectors.search]
        vendor = "elastic"
        """
    )
    joined = "\n".join(found)
    assert len(found) == 3
    assert "origin.prot: unknown key" in joined and "did you mean 'port'" in joined
    assert "origin.seed_products: " in joined and "integer" in joined
    assert "connectors.search.vendor: unknown vendor 'elastic'" in joined and "builtin" in joined


def test_unknown_vendor_option_lists_that_vendors_keys() -> None:
    [problem] = problems_of('[connectors.cms]\nvendor = "builtin"\npaht = "content"\n')
    assert "connectors.cms.paht: unknown key" in problem and "did you mean 'path'" in problem


def test_env_references_resolve_and_missing_ones_are_named() -> None:
    text = '[origin]\nsecret_key = "env:SHOP_SECRET"\n'
    config = parse_config(text, Path("wrangler.toml"), {"SHOP_SECRET": "s3cr3t-value"})
    assert config.origin.secret_key is not None and config.origin.secret_key.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t" not in repr(config)
    [problem] = problems_of(text)
    assert "origin.secret_key: environment variable SHOP_SECRET is not set" in problem
    assert "export SHOP_SECRET" in problem


def test_a_literal_secret_is_a_problem() -> None:
    [problem] = problems_of('[origin]\nsecret_key = "hunter2hunter2"\n')
    assert "origin.secret_key: secrets must not be written into the file" in problem
    assert "hunter2" not in problem


def test_market_problems() -> None:
    [problem] = problems_of('default_market = "jp"\n')
    assert "'jp' is not one of the markets" in problem
    found = problems_of('[[markets]]\nid = "us"\nname = "US"\ncurrency = "usd"\nprice_list = "usd"\n')
    assert any("markets[0].currency" in p for p in found)


def test_toml_syntax_error_is_reported() -> None:
    [problem] = problems_of("[origin\nport = 1\n")
    assert "not valid TOML" in problem


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wrangler_py.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_check_command_exit_codes(tmp_path: Path) -> None:
    good = run_cli("--config", str(REPO / "wrangler.toml"), "check", cwd=tmp_path)
    assert good.returncode == 0 and "ok" in good.stdout
    bad_file = tmp_path / "wrangler.toml"
    bad_file.write_text('[connectors.payments]\nvendor = "paypal"\n[storefront]\nnmae = "x"\n')
    bad = run_cli("check", cwd=tmp_path)
    assert bad.returncode == 1
    assert str(bad_file) in bad.stderr and "2 problem(s)" in bad.stderr
    assert "connectors.payments.vendor" in bad.stderr and "storefront.nmae" in bad.stderr
    missing = run_cli("--config", "nope.toml", "check", cwd=tmp_path)
    assert missing.returncode == 1 and "no such file" in missing.stderr
