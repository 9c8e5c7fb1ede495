"""The edge's settings as wrangler-py composes them: segments, experiments and the segment cookie key."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from storefront import segment_key
from wrangler_py.apps import edge_settings, secret_key
from wrangler_py.config import LoadedConfig

EXTRA = """
[[experiments]]
id = "hero"
paths = ["/"]
variants = [{ name = "control" }, { name = "b" }]
"""


def test_the_edge_gets_a_segment_key_never_the_shops_secret(make_config: Callable[..., LoadedConfig]) -> None:
    loaded = make_config(extra=EXTRA)
    settings = edge_settings(loaded)
    given = settings.personalization.secret
    assert given is not None
    assert given.get_secret_value() == segment_key(secret_key(loaded))
    assert given.get_secret_value().encode() != secret_key(loaded)
    assert [e.id for e in settings.personalization.experiments] == ["hero"]


def test_a_standalone_edge_never_invents_a_key(
    make_config: Callable[..., LoadedConfig], caplog: pytest.LogCaptureFixture
) -> None:
    loaded = make_config()
    assert edge_settings(loaded, generate_secret=False).personalization.secret is None
    assert "set origin.secret_key" in caplog.text
    assert not (loaded.data_dir / "secret_key").exists()
