"""Generated product illustrations: valid, small, pure, and strict about their inputs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from connectors.commerce.builtin.images import PRODUCT_KINDS, render_product_svg

SVG = "{http://www.w3.org/2000/svg}svg"
COLORS = ("2f5d3a", "1c1c1e", "e6dfcf", "ffffff", "000000")


def test_the_seed_kinds_are_all_drawable() -> None:
    assert {
        "jacket",
        "shirt",
        "pants",
        "boot",
        "shoe",
        "pack",
        "tent",
        "sleeping-bag",
        "hat",
        "gloves",
        "bottle",
        "generic",
    } <= PRODUCT_KINDS


@pytest.mark.parametrize("kind", sorted(PRODUCT_KINDS))
@pytest.mark.parametrize("view", [1, 2, 3])
def test_every_kind_renders_small_well_formed_svg(kind: str, view: int) -> None:
    for color in COLORS:
        body = render_product_svg(kind, color, view)
        assert len(body) < 3 * 1024
        root = ET.fromstring(body)
        assert root.tag == SVG
        assert root.get("viewBox") == "0 0 800 800"
        assert f"#{color}" in body.decode()


def test_rendering_is_deterministic_and_varies_by_input() -> None:
    assert render_product_svg("jacket", "2f5d3a", 1) == render_product_svg("jacket", "2f5d3a", 1)
    bodies = {render_product_svg("jacket", "2f5d3a", view) for view in (1, 2, 3)}
    bodies |= {render_product_svg("tent", "2f5d3a", 1), render_product_svg("jacket", "a4472b", 1)}
    assert len(bodies) == 5


@pytest.mark.parametrize(
    ("kind", "color", "view"),
    [
        ("spaceship", "2f5d3a", 1),
        ("", "2f5d3a", 1),
        ("Jacket", "2f5d3a", 1),
        ("jacket", "2F5D3A", 1),
        ("jacket", "#2f5d3a", 1),
        ("jacket", "2f5d3", 1),
        ("jacket", "2f5d3a0", 1),
        ("jacket", "2f5d3g", 1),
        ("jacket", "2f5d3a\n", 1),
        ("jacket", "2f5d3a", 0),
        ("jacket", "2f5d3a", 4),
        ("jacket", "2f5d3a", True),
    ],
)
def test_bad_inputs_raise_value_error(kind: str, color: str, view: int) -> None:
    with pytest.raises(ValueError):
        render_product_svg(kind, color, view)
