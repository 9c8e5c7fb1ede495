"""Programmable edge: merchant code that runs on every request, after geo, market and personalization.

A handler is an async function `handler(request: EdgeRequest, ctx: EdgeContext) -> Action | None`, named in
wrangler.toml as `[[edge.handlers]] module = "shop.edge:handler"`. It can:

- answer itself: `return Respond(200, "pong")` (never stored in the shared cache);
- redirect: `return Redirect("/sale", status=302)`;
- rewrite what the origin is asked for: `return Rewrite(path="/home-b")` (the rewritten URL is the cache key,
  so each rewrite target is cached once), optionally with request headers for the origin;
- pass: `return None`, and the next handler runs, then the cache and the origin.

`ctx.kv` is a key-value binding (Redis when the edge has one, else in-process), `ctx.wait_until(coro)` runs
background work after the response, and `ctx.add_response_header(name, value)` and
`ctx.remove_response_header(name)` decorate the answer. Handlers run in config order. One that raises is
logged and skipped (`on_error = "continue"`, the default) or answers a 503 problem (`on_error = "fail"`);
it never takes the edge down.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal, Protocol

from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field

from edge.geo import Geo

log = logging.getLogger("edgeshop.edge.handlers")


class HandlerSettings(BaseModel):
    """One `[[edge.handlers]]` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    module: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description='"package.module:function"')
    paths: list[str] = Field(default_factory=lambda: ["/*"], description="globs of the paths it runs on")
    on_error: Literal["continue", "fail"] = "continue"
    timeout_ms: int = Field(default=1000, ge=1, le=30_000, description="longer counts as a failure (on_error)")


@dataclass(frozen=True, slots=True)
class EdgeRequest:
    """What a handler sees: read-only facts about the request, decided by the edge before it ran."""

    method: str
    host: str
    path: str  # what the origin will route: percent-decoded, without the market's URL prefix
    query: str  # normalized: tracking parameters gone, keys sorted
    headers: Mapping[str, str]  # lower-case names; the first value of a repeated field
    client_ip: str
    geo: Geo
    market: str
    segment: str
    variant: Mapping[str, str]  # experiment id -> arm, for the experiments running on this request
    url_path: str = ""  # as the shopper asked: raw, with any market prefix
    prefix: str = ""  # the market's URL prefix the shopper came with ("" when none)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Respond:
    status: int = 200
    body: bytes | str = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Redirect:
    location: str
    status: int = 302


@dataclass(frozen=True, slots=True)
class Rewrite:
    path: str  # a path on the origin: starts with "/" (anything else is refused and the request passes)
    query: str | None = None  # None keeps the request's query
    # Added to what the origin receives; responses that depend on them must say so in Vary (as for any
    # request field). Fields only the edge decides (market, segment, arms) cannot be set here.
    headers: Mapping[str, str] = field(default_factory=dict)


Action = Respond | Redirect | Rewrite


class KV(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def put(self, key: str, value: bytes | str, *, ttl_seconds: float | None = None) -> None: ...
    async def delete(self, key: str) -> None: ...


class MemoryKV:
    """The in-process binding: per edge process, bounded, entries expire after at most a day."""

    def __init__(self, max_items: int = 10_000, max_ttl_seconds: float = 86_400) -> None:
        self._items: TTLCache[str, tuple[bytes, float]] = TTLCache(maxsize=max_items, ttl=max_ttl_seconds)

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        value, expires = item
        if expires and time.monotonic() >= expires:
            self._items.pop(key, None)
            return None
        return value

    async def put(self, key: str, value: bytes | str, *, ttl_seconds: float | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        self._items[key] = (data, time.monotonic() + ttl_seconds if ttl_seconds else 0.0)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)


class RedisKV:
    """Shared by every edge node on the same Redis; keys live under the edge's prefix."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = f"{prefix}kv:"

    async def get(self, key: str) -> bytes | None:
        value = await self._client.get(self._prefix + key)
        return bytes(value) if value is not None else None

    async def put(self, key: str, value: bytes | str, *, ttl_seconds: float | None = None) -> None:
        px = int(ttl_seconds * 1000) if ttl_seconds else None
        await self._client.set(self._prefix + key, value, px=px)

    async def delete(self, key: str) -> None:
        await self._client.delete(self._prefix + key)


class EdgeContext:
    __slots__ = ("_background", "kv", "removed_response_headers", "response_headers")

    def __init__(self, kv: KV, background: set[asyncio.Task[Any]]) -> None:
        self.kv = kv
        self.response_headers: list[tuple[str, str]] = []
        self.removed_response_headers: list[str] = []
        self._background = background

    def wait_until(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` after (or while) the response goes out; its failure is logged, never seen by the shopper."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(_finished)
        task.add_done_callback(self._background.discard)

    def add_response_header(self, name: str, value: str) -> None:
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError("header names and values cannot contain line breaks")
        self.response_headers.append((name.lower(), value))

    def remove_response_header(self, name: str) -> None:
        self.removed_response_headers.append(name.lower())


async def drain_tasks(tasks: set[asyncio.Task[Any]], grace_seconds: float) -> None:
    if not tasks:
        return
    _, pending = await asyncio.wait(set(tasks), timeout=grace_seconds)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=1.0)


def _finished(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("edge handler background work failed", exc_info=task.exception())


Handler = Callable[[EdgeRequest, EdgeContext], Awaitable[Action | None]]


class HandlerFailed(Exception):
    """A handler with `on_error = "fail"` raised: the request gets a 503 problem."""


@dataclass(frozen=True, slots=True)
class Registered:
    name: str
    run: Handler
    paths: tuple[str, ...]
    on_error: str
    timeout: float = 1.0  # seconds

    def applies(self, path: str) -> bool:
        return any(fnmatchcase(path, pattern) for pattern in self.paths)


def load_handler(spec: str, project_dir: Path | None = None) -> Handler:
    """Import `package.module:function`; the project folder is importable, as in wrangler's dev server."""
    module_name, _, function_name = spec.partition(":")
    if project_dir is not None:
        if str(project_dir) not in sys.path:
            sys.path.insert(0, str(project_dir))
        _forget_if_elsewhere(module_name.split(".")[0], project_dir)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import edge handler module {module_name!r}: {exc}") from exc
    handler = getattr(module, function_name, None)
    if handler is None or not callable(handler):
        raise ValueError(f"edge handler {spec!r}: {module_name} has no function {function_name!r}")
    if not asyncio.iscoroutinefunction(handler):
        raise ValueError(f"edge handler {spec!r} must be an async function (async def)")
    return handler


def _forget_if_elsewhere(top: str, project_dir: Path) -> None:
    """A module of the same name imported from another project (two edges in one process, as in tests) must
    not stand in for this project's own."""
    if not ((project_dir / f"{top}.py").exists() or (project_dir / top).is_dir()):
        return
    loaded = sys.modules.get(top)
    origin = getattr(loaded, "__file__", None) or ""
    if loaded is not None and not Path(origin).resolve().is_relative_to(project_dir.resolve()):
        for name in [name for name in sys.modules if name == top or name.startswith(top + ".")]:
            del sys.modules[name]


class HandlerChain:
    def __init__(self, handlers: list[Registered], kv: KV) -> None:
        self.handlers = tuple(handlers)
        self.kv = kv
        self.background: set[asyncio.Task[Any]] = set()

    def __bool__(self) -> bool:
        return bool(self.handlers)

    def covers(self, path: str) -> bool:
        """Some handler runs on this path (else the edge need not build a request for them at all)."""
        return any(handler.applies(path) for handler in self.handlers)

    async def run(self, request: EdgeRequest) -> tuple[Action | None, EdgeContext | None]:
        """The first answer or redirect wins; rewrites accumulate (a later handler sees the rewritten path).

        The context is None when no handler runs on this path: then nothing here can change the answer, and
        the edge may serve repeats of it from its fast path.
        """
        ctx: EdgeContext | None = None
        rewrite: Rewrite | None = None
        for handler in self.handlers:
            if not handler.applies(request.path):
                continue
            if ctx is None:
                ctx = EdgeContext(self.kv, self.background)
            try:
                async with asyncio.timeout(handler.timeout):
                    action = await handler.run(request, ctx)
            except Exception as exc:  # TimeoutError included: a hung handler fails like a raising one
                log.exception("edge handler %s failed on %s %s", handler.name, request.method, request.path)
                if handler.on_error == "fail":
                    raise HandlerFailed(handler.name) from exc
                continue
            if isinstance(action, Respond | Redirect):
                return action, ctx
            if isinstance(action, Rewrite):
                rewrite = _merged(rewrite, action)
                request = _rewritten(request, action)
        return rewrite, ctx

    async def drain(self, grace_seconds: float = 5.0) -> None:
        """At shutdown: let `wait_until` work finish, for a bounded time, then cancel what is left."""
        await drain_tasks(self.background, grace_seconds)


def _merged(earlier: Rewrite | None, later: Rewrite) -> Rewrite:
    if earlier is None:
        return later
    query = later.query if later.query is not None else earlier.query
    return Rewrite(later.path, query, {**earlier.headers, **later.headers})


def _rewritten(request: EdgeRequest, rewrite: Rewrite) -> EdgeRequest:
    return replace(request, path=rewrite.path, query=request.query if rewrite.query is None else rewrite.query)


__all__ = [
    "KV",
    "Action",
    "EdgeContext",
    "EdgeRequest",
    "Handler",
    "HandlerChain",
    "HandlerFailed",
    "HandlerSettings",
    "MemoryKV",
    "Redirect",
    "RedisKV",
    "Registered",
    "Respond",
    "Rewrite",
    "drain_tasks",
    "load_handler",
]
