"""The built-in CMS publishes by editing files: watch them, and purge the pages of what changed.

Vendors (Contentful, Storyblok) announce a publish with a webhook; the built-in CMS has files instead, so the
origin looks at their modification stamps every `origin.content_poll_seconds` and treats a difference as a
publish. Polling, not inotify: it works the same on every filesystem (including the volumes containers mount),
and a stat of a few hundred files every two seconds costs nothing worth saving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

log = logging.getLogger("edgeshop.origin")

# (content_type, slug, locale) -> a stamp that changes when the entry does
Versions = dict[tuple[str, str, str], tuple[int, int]]


@runtime_checkable
class VersionedContent(Protocol):
    async def published_versions(self) -> Versions: ...


def changed_entries(before: Versions, after: Versions) -> set[tuple[str, str]]:
    """(content_type, slug) of every entry edited, added or removed in any locale."""
    return {(content_type, slug) for content_type, slug, locale in before.keys() | after.keys()
            if before.get((content_type, slug, locale)) != after.get((content_type, slug, locale))}  # fmt: skip


class ContentWatcher:
    def __init__(
        self,
        content: VersionedContent,
        on_change: Callable[[set[tuple[str, str]]], Awaitable[None]],
        *,
        interval: float,
    ) -> None:
        self._content = content
        self._on_change = on_change
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        known = await self._content.published_versions()
        self._task = asyncio.create_task(self._watch(known))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self, known: Versions) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                current = await self._content.published_versions()
                changed = changed_entries(known, current)
                if changed:
                    await self._on_change(changed)
                known = current
            except Exception:
                # A failed look is retried at the next interval: the watcher must outlive a bad moment.
                log.warning("content watch failed", exc_info=True)
