"""Flat SVG product illustrations for the demo catalog, drawn from (kind, colour, view) alone.

Seeded products point at `/media/products/{kind}/{color_hex}/{view}.svg`; the origin renders that URL with
`render_product_svg`, so a 100k-product catalog needs no image files. Invalid parts raise ValueError (a 404).
"""

from __future__ import annotations

import re

# Classes: c = product colour, d = darker shade, l = lighter shade, s = dark stroke, t = light stroke.
_SHAPES: dict[str, str] = {
    "jacket": (
        '<path class="c" d="M305 175Q300 95 400 90Q500 95 495 175Z"/>'
        '<path class="c" d="M310 170L250 190Q200 210 185 270L140 520L205 535L250 340V640H550V340L595 535L660 520'
        'L615 270Q600 210 550 190L490 170Z"/>'
        '<path class="d" d="M340 175Q345 125 400 122Q455 125 460 175Q430 205 400 205Q370 205 340 175Z'
        'M140 520L205 535L200 562L135 547ZM660 520L595 535L600 562L665 547Z"/>'
        '<rect class="d" x="250" y="618" width="300" height="24"/>'
        '<path class="s" d="M400 205V618M455 280L520 270M280 450H340"/>'
    ),
    "shirt": (
        '<path class="c" d="M320 160L210 200L140 300L215 345L255 300V640H545V300L585 345L660 300L590 200L480 160'
        'Q400 205 320 160Z"/>'
        '<path class="d" d="M320 160Q400 230 480 160Q400 195 320 160Z"/>'
        '<rect class="l" x="440" y="250" width="60" height="70" rx="8"/>'
        '<path class="s" d="M150 293L218 334M650 293L582 334M262 618H538"/>'
    ),
    "pants": (
        '<path class="c" d="M275 150H525L570 650H445L400 310L355 650H230Z"/>'
        '<rect class="d" x="275" y="150" width="250" height="40"/>'
        '<path class="d" d="M233 622H358L355 650H230ZM442 622H567L570 650H445Z"/>'
        '<path class="s" d="M400 190V305M292 200Q320 250 362 196M508 200Q480 250 438 196"/>'
        '<path class="t" d="M300 150V190M500 150V190"/>'
    ),
    "boot": (
        '<path class="c" d="M290 200H465L472 400Q560 410 620 450Q665 480 665 530V575H255V520Q270 450 280 330Z"/>'
        '<path class="l" d="M560 428Q640 458 665 530V575H600Q605 490 560 428Z"/>'
        '<rect class="d" x="280" y="170" width="195" height="50" rx="22"/>'
        '<path class="d" d="M258 450H305V575H255ZM245 570H675V612Q675 630 657 630H263Q245 630 245 612Z"/>'
        '<path class="t" d="M440 250H495M445 300H505M450 350H515M460 400H530"/>'
        '<path class="s" d="M275 630V645M340 630V645M405 630V645M470 630V645M535 630V645M600 630V645"/>'
    ),
    "shoe": (
        '<path class="c" d="M190 530Q185 430 250 400L330 380Q380 440 450 445Q530 445 570 460Q650 485 670 540H190Z"/>'
        '<path class="d" d="M250 400Q300 355 345 380Q330 405 290 412ZM300 505Q420 470 545 468L565 492Q430 495'
        ' 315 528Z"/>'
        '<path class="l" d="M180 530H680Q690 560 670 578H190Q175 560 180 530Z"/>'
        '<path class="d" d="M190 578H670L658 605H202Z"/>'
        '<path class="t" d="M360 410L395 395M385 428L420 412M410 440L445 425"/>'
    ),
    "pack": (
        '<path class="s" d="M360 185Q400 130 440 185"/>'
        '<rect class="d" x="228" y="370" width="34" height="210" rx="14"/>'
        '<rect class="d" x="538" y="370" width="34" height="210" rx="14"/>'
        '<rect class="c" x="250" y="180" width="300" height="470" rx="70"/>'
        '<path class="d" d="M250 265Q250 180 330 180H470Q550 180 550 265V290Q400 335 250 290Z"/>'
        '<rect class="l" x="300" y="420" width="200" height="180" rx="40"/>'
        '<path class="s" d="M330 455H470M370 330V400M430 330V400"/>'
    ),
    "tent": (
        '<path class="t" d="M210 430L90 630M590 430L710 630"/>'
        '<path class="c" d="M130 620Q250 300 400 210Q550 300 670 620Z"/>'
        '<path class="d" d="M400 290Q330 450 300 620H500Q470 450 400 290Z"/>'
        '<path class="l" d="M400 290Q372 450 362 620H400Z"/>'
        '<path class="s" d="M130 620Q250 300 400 210Q550 300 670 620"/>'
        '<rect class="d" x="110" y="612" width="580" height="16" rx="8"/>'
    ),
    "sleeping-bag": (
        '<path class="c" d="M310 200Q400 120 490 200Q540 300 525 440Q510 580 470 660H330Q290 580 275 440'
        'Q260 300 310 200Z"/>'
        '<ellipse class="d" cx="400" cy="230" rx="72" ry="56"/>'
        '<path class="s" d="M290 330Q400 355 510 330M282 410Q400 435 518 410M285 490Q400 515 515 490M300 570'
        'Q400 595 500 570"/>'
        '<path class="t" d="M462 285Q488 450 455 640"/>'
    ),
    "sleeping-pad": (
        '<rect class="c" x="240" y="330" width="360" height="210"/>'
        '<ellipse class="c" cx="600" cy="435" rx="52" ry="105"/>'
        '<ellipse class="d" cx="240" cy="435" rx="52" ry="105"/>'
        '<path class="t" d="M240 435a10 20 0 1 1 20 0a20 40 0 1 1-40 0a30 60 0 1 1 60 0"/>'
        '<rect class="d" x="330" y="322" width="28" height="226" rx="6"/>'
        '<rect class="d" x="482" y="322" width="28" height="226" rx="6"/>'
        '<rect class="l" x="380" y="350" width="80" height="16" rx="8"/>'
    ),
    "hat": (
        '<circle class="d" cx="400" cy="210" r="50"/>'
        '<path class="c" d="M220 520Q215 240 400 235Q585 240 580 520Z"/>'
        '<path class="s" d="M300 505Q295 330 345 265M400 505V245M500 505Q505 330 455 265"/>'
        '<rect class="d" x="200" y="480" width="400" height="130" rx="30"/>'
        '<path class="t" d="M250 500V590M300 500V590M350 500V590M450 500V590M500 500V590M550 500V590"/>'
        '<rect class="l" x="365" y="525" width="70" height="40" rx="6"/>'
    ),
    "gloves": (
        '<rect class="c" x="242" y="372" width="62" height="180" rx="31" transform="rotate(-35 273 462)"/>'
        '<rect class="c" x="300" y="232" width="56" height="220" rx="28"/>'
        '<rect class="c" x="362" y="200" width="56" height="250" rx="28"/>'
        '<rect class="c" x="424" y="218" width="56" height="232" rx="28"/>'
        '<rect class="c" x="486" y="262" width="50" height="190" rx="25"/>'
        '<path class="c" d="M300 360H536V520Q536 590 470 590H360Q300 590 300 520Z"/>'
        '<path class="l" d="M300 360H536V400H300Z"/>'
        '<rect class="d" x="316" y="560" width="204" height="110" rx="18"/>'
        '<path class="t" d="M340 590V645M380 590V645M420 590V645M460 590V645M500 590V645"/>'
    ),
    "bottle": (
        '<circle class="s" cx="400" cy="138" r="26"/>'
        '<rect class="d" x="350" y="150" width="100" height="72" rx="14"/>'
        '<path class="c" d="M360 215H440Q445 260 490 290Q510 305 510 340V625Q510 660 475 660H325Q290 660 290 625'
        'V340Q290 305 310 290Q355 260 360 215Z"/>'
        '<rect class="l" x="290" y="410" width="220" height="130"/>'
        '<rect fill="#fff" opacity=".25" x="318" y="330" width="22" height="290" rx="11"/>'
    ),
    "socks": (
        '<path class="c" d="M320 150H470V440Q470 480 510 505L620 570Q680 610 650 665Q620 715 560 685L370 580'
        'Q320 550 320 490Z"/>'
        '<rect class="d" x="320" y="150" width="150" height="80"/>'
        '<path class="t" d="M345 160V220M370 160V220M395 160V220M420 160V220M445 160V220"/>'
        '<path class="d" d="M320 470Q322 556 372 581L402 528Q352 505 350 460ZM592 552L620 570Q680 610 650 665'
        'Q620 715 560 685L538 673Q602 640 592 552Z"/>'
    ),
    "generic": (
        '<g transform="rotate(-18 400 400)">'
        '<path class="c" d="M250 270H470L610 400L470 530H250Q220 530 220 500V300Q220 270 250 270Z"/>'
        '<circle class="l" cx="490" cy="400" r="24"/>'
        '<path class="t" d="M270 340H410M270 400H390M270 460H430"/>'
        "</g>"
        '<path class="s" d="M540 355Q600 270 660 260"/>'
    ),
}

PRODUCT_KINDS: frozenset[str] = frozenset(_SHAPES)

_HEX = re.compile(r"[0-9a-f]{6}")
# Per view: background gradient, tint of its two stops (percent of white), and how the product is posed.
_VIEWS: dict[int, tuple[str, int, int, str]] = {
    1: ('<linearGradient id="b" x1="0" y1="0" x2="0" y2="1">', 92, 78, ""),
    2: ('<linearGradient id="b" x1="0" y1="0" x2="1" y2="1">', 86, 70, "rotate(-6 400 400) matrix(-1 0 0 1 800 0)"),
    3: ('<radialGradient id="b" cx=".5" cy=".42" r=".75">', 96, 74, "matrix(1.16 0 0 1.16 -64 -70)"),
}


def _mix(rgb: tuple[int, int, int], target: int, percent: int) -> str:
    """Move each channel `percent` of the way towards `target` (0 black, 255 white), as hex."""
    return "".join(f"{c + (target - c) * percent // 100:02x}" for c in rgb)


def render_product_svg(kind: str, color_hex: str, view: int) -> bytes:
    """An 800x800 flat illustration of `kind` in `#color_hex`; pure, so it caches forever at the edge."""
    shape = _SHAPES.get(kind)
    if shape is None:
        raise ValueError(f"unknown product kind {kind!r}")
    if not isinstance(color_hex, str) or not _HEX.fullmatch(color_hex):
        raise ValueError(f"colour must be 6 lowercase hex digits, got {color_hex!r}")
    if type(view) is not int or view not in _VIEWS:
        raise ValueError(f"view must be 1, 2 or 3, got {view!r}")
    rgb = (int(color_hex[0:2], 16), int(color_hex[2:4], 16), int(color_hex[4:6], 16))
    gradient, top, bottom, pose = _VIEWS[view]
    closing = "</radialGradient>" if view == 3 else "</linearGradient>"
    dark, light = _mix(rgb, 0, 38), _mix(rgb, 255, 40)
    transform = f' transform="{pose}"' if pose else ""
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 800 800" width="800" height="800">'
        f'<defs>{gradient}<stop offset="0" stop-color="#{_mix(rgb, 255, top)}"/>'
        f'<stop offset="1" stop-color="#{_mix(rgb, 255, bottom)}"/>{closing}</defs>'
        f"<style>.c{{fill:#{color_hex}}}.d{{fill:#{dark}}}.l{{fill:#{light}}}"
        f".s,.t{{fill:none;stroke-linecap:round;stroke-linejoin:round}}.s{{stroke:#{dark};stroke-width:10}}"
        f".t{{stroke:#{light};stroke-width:7}}</style>"
        '<rect width="800" height="800" fill="url(#b)"/>'
        '<ellipse cx="400" cy="680" rx="250" ry="24" fill="#000" opacity=".08"/>'
        f"<g{transform}>{shape}</g></svg>"
    )
    return svg.encode()
