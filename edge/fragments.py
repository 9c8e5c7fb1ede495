"""Hole punching: per-shopper fragments stitched into a shared cached page while it streams (an ESI subset).

The origin marks a page for processing with `Surrogate-Control: content="ESI/1.0"` (the edge consumes that
header). In such a page the edge understands:

- `<esi:include src="/_fragments/cart-badge"/>`: replaced by the fragment; on failure, by nothing.
- `<esi:include src="/a" alt="/b"/>`: ESI 1.0's alternative source, tried when `src` fails.
- `<esi:include src="/a">fallback</esi:include>`: our extension: on failure the fallback markup is shown.
  Without an edge (the origin served directly) a browser shows the fallback too, so pages degrade well.
- `<esi:remove>…</esi:remove>`: removed by the edge; for markup only an edge-less visitor should get.
- `requires-cookie="es_cart"` on an include (our extension): shoppers without that cookie get the fallback
  without a fetch, so a cart badge costs the origin nothing for visitors who never had a cart.

`<esi:remove>` blocks are processed in pages that have at least one include.

`src` must be a path on the same site (no scheme, no `//host`): fragments are fetched from the origin with
the shopper's own cookies, so an include can never send them elsewhere. Fragments are private: fetched per
request, never stored in a shared cache, never processed for includes themselves (depth one).
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from edge.forwarding import made_private

ESI_CONTROL = re.compile(r'content\s*=\s*"?[^";,]*\bESI/1\.0', re.IGNORECASE)
_TAG = re.compile(rb"<esi:(include|remove)\b([^>]*?)(/?)>", re.IGNORECASE)
_ATTR = re.compile(rb'([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
_CLOSE = {b"include": re.compile(rb"</esi:include\s*>", re.IGNORECASE),
          b"remove": re.compile(rb"</esi:remove\s*>", re.IGNORECASE)}  # fmt: skip

# Validators and length of the shared template describe another body than the stitched one.
_TEMPLATE_ONLY = frozenset({"content-length", "etag", "last-modified"})

Fetch = Callable[[str], Awaitable[bytes | None]]  # a fragment's body, or None when it failed


class TooManyIncludes(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Include:
    src: str
    alt: str | None
    fallback: bytes
    requires_cookie: str | None = None


Part = bytes | Include


def wants_esi(surrogate_control: str | None) -> bool:
    return bool(surrogate_control) and ESI_CONTROL.search(surrogate_control or "") is not None


def _site_path(value: str | None) -> str | None:
    if not value:
        return None
    value = html.unescape(value).strip()
    if not value.startswith("/") or value.startswith(("//", "/\\")) or any(ord(c) < 0x21 for c in value):
        return None
    return value


def parse(body: bytes, *, max_includes: int) -> list[Part]:
    """The page as literal chunks and includes, in order. Malformed markup is left as it is, literally."""
    if b"<esi:" not in body and b"<ESI:" not in body:
        return [body]
    parts: list[Part] = []
    position, includes = 0, 0
    for tag in _TAG.finditer(body):
        if tag.start() < position:
            continue  # inside a fallback or a removed block already consumed
        name, attributes, self_closing = tag.group(1).lower(), tag.group(2), tag.group(3) == b"/"
        end, inner = tag.end(), b""
        if not self_closing:
            closing = _CLOSE[name].search(body, tag.end())
            if closing is None:
                continue  # an open tag without its end: not ours to guess about
            inner, end = body[tag.end() : closing.start()], closing.end()
        parts.append(body[position : tag.start()])
        position = end
        if name == b"remove":
            continue
        values = {m.group(1).lower(): (m.group(2) or m.group(3) or b"").decode("latin-1")
                  for m in _ATTR.finditer(attributes)}  # fmt: skip
        src = _site_path(values.get(b"src"))
        if src is None:
            parts.append(inner)  # no usable source: the fallback is all there is
            continue
        includes += 1
        if includes > max_includes:
            raise TooManyIncludes(f"more than {max_includes} includes in one page")
        needs = values.get(b"requires-cookie") or None
        parts.append(Include(src, _site_path(values.get(b"alt")), inner, needs))
    parts.append(body[position:])
    return [part for part in parts if part != b""]


def for_shopper(parts: list[Part], cookie_names: frozenset[str]) -> list[Part]:
    """The includes this shopper needs fetched; the others are their fallback already."""
    return [
        part.fallback
        if isinstance(part, Include) and part.requires_cookie and part.requires_cookie not in cookie_names
        else part
        for part in parts
    ]


async def stitch(parts: list[Part], fetch: Fetch, *, budget_seconds: float) -> AsyncIterator[bytes]:
    """Yield the page with every include filled, as soon as each piece is known.

    All fragments are fetched at once; the literal markup before the first include goes out immediately, and
    each include is written in page order when its fetch ends, or its fallback when the budget is spent. One
    deadline bounds the whole page, so ten slow fragments cost one budget, not ten.
    """
    tasks: dict[str, asyncio.Task[bytes | None]] = {}
    expired = False

    def started(src: str) -> asyncio.Task[bytes | None]:
        task = tasks.get(src)
        if task is None:
            task = tasks[src] = asyncio.ensure_future(_guarded(fetch, src))
        return task

    def expire() -> None:
        # One timer for the whole page: every fetch still running when the budget is spent shows its fallback.
        nonlocal expired
        expired = True
        for task in tasks.values():
            task.cancel()

    for part in parts:
        if isinstance(part, Include):
            started(part.src)
    timer = asyncio.get_running_loop().call_later(budget_seconds, expire)
    try:
        for part in parts:
            if not isinstance(part, Include):
                yield part
                continue
            body = await _result(tasks[part.src])
            if body is None and part.alt is not None and not expired:
                body = await _result(started(part.alt))
            yield part.fallback if body is None else body
    finally:
        timer.cancel()
        for task in tasks.values():
            task.cancel()


async def _guarded(fetch: Fetch, src: str) -> bytes | None:
    try:
        return await fetch(src)
    except Exception:  # a fragment never fails the page: whatever went wrong, the fallback shows
        return None


async def _result(task: asyncio.Task[bytes | None]) -> bytes | None:
    """The fetch's body, or None when the page's deadline cancelled it. Awaited directly, not through
    `wait_for(shield(...))`: the deadline is one timer for the page, so a wait needs no futures of its own."""
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the page itself is being cancelled (the shopper went away): not a fragment's failure
        return None


def stitched_headers(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """A stitched page holds one shopper's fragments: no cache past the edge may keep it, and validators of
    the shared template would describe a different body."""
    kept = tuple(item for item in headers if item[0] not in _TEMPLATE_ONLY)
    return made_private(kept, "private, no-store")


def includes_in(body: bytes, headers: tuple[tuple[str, str], ...], *, max_includes: int) -> list[Part] | None:
    """The parsed page when the edge should stitch it: asked for by the origin, uncompressed, with includes."""
    control = ", ".join(value for name, value in headers if name == "surrogate-control")
    if not wants_esi(control):
        return None
    if any(name == "content-encoding" and value.strip().lower() != "identity" for name, value in headers):
        return None  # compressed markup cannot be spliced; the browser shows each include's fallback
    try:
        parts = parse(body, max_includes=max_includes)
    except TooManyIncludes:
        return None
    return parts if any(isinstance(part, Include) for part in parts) else None


__all__ = [
    "ESI_CONTROL",
    "Fetch",
    "Include",
    "Part",
    "TooManyIncludes",
    "for_shopper",
    "includes_in",
    "parse",
    "stitch",
    "stitched_headers",
    "wants_esi",
]
