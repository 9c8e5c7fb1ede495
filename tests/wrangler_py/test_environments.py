"""Environments as in wrangler: [env.NAME] tables laid over the top-level keys, chosen with --env."""

from __future__ import annotations

from pathlib import Path

import pytest

from wrangler_py.cli import main
from wrangler_py.config import ConfigError, load_config

CONFIG = """
name = "corner-shop"

[storefront]
name = "Corner Shop"

[edge]
port = 8787

[edge.cache]
grace_seconds = 0

[env.staging.edge]
port = 9787

[env.production]
name = "corner-shop-live"

[env.production.edge.cache]
grace_seconds = 30

[env.production.connectors.payments]
vendor = "stripe"
secret_key = "env:CORNER_STRIPE_KEY"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "wrangler.toml"
    path.write_text(CONFIG)
    return path


def test_an_environment_overrides_only_what_it_names(config: Path) -> None:
    base = load_config(config, environ={})
    staging = load_config(config, environ={}, env="staging")
    assert (base.config.edge.port, staging.config.edge.port) == (8787, 9787)
    assert staging.config.name == "corner-shop-staging"  # its own name, as wrangler gives it
    assert staging.config.storefront.name == "Corner Shop"  # the rest is the top level's
    live = load_config(config, environ={"CORNER_STRIPE_KEY": "sk_live_x"}, env="production")
    assert live.config.name == "corner-shop-live" and live.env == "production"
    assert live.config.edge.cache.grace_seconds == 30 and live.config.edge.port == 8787  # tables merge key by key
    assert live.config.connectors.payments.vendor == "stripe" and base.config.connectors.payments.vendor == "builtin"


def test_an_unknown_environment_names_the_defined_ones(config: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={}, env="prod")
    problem = caught.value.problems[0]
    assert problem.path == "env.prod" and "production, staging" in problem.message


def test_check_validates_every_environment_or_the_one_asked_for(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CORNER_STRIPE_KEY", raising=False)
    assert main(["--config", str(config), "check"]) == 1  # production's secret is not set
    out, err = capsys.readouterr()
    assert "[env staging: corner-shop-staging]: ok" in out and "CORNER_STRIPE_KEY" in err and "production" in err
    assert main(["--config", str(config), "check", "--env", "staging"]) == 0
    monkeypatch.setenv("CORNER_STRIPE_KEY", "sk_test_x")
    assert main(["--config", str(config), "--env", "production", "check"]) == 0
    assert "corner-shop-live" in capsys.readouterr().out


def test_an_environment_can_switch_a_vendor_without_inheriting_its_options(tmp_path: Path) -> None:
    path = tmp_path / "wrangler.toml"
    path.write_text(
        '[connectors.payments]\nvendor = "stripe"\nsecret_key = "env:SK"\n\n'
        '[env.dev.connectors.payments]\nvendor = "builtin"\n'
    )
    assert load_config(path, environ={"SK": "sk_test"}).config.connectors.payments.vendor == "stripe"
    assert load_config(path, environ={}, env="dev").config.connectors.payments.vendor == "builtin"
