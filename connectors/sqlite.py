"""SQLite plumbing shared by the embedded stores: a connection per thread, WAL, lock waits, async calls.

SQLite calls block, so every public async method of an embedded store runs its work through `run`, in
AnyIO's worker threads; each thread keeps its own connection, which SQLite requires for concurrent use.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread

from connectors.errors import VendorUnavailable

T = TypeVar("T")

# Writers queue behind each other rather than fail: a checkout under load waits its turn for the write lock.
BUSY_TIMEOUT_SECONDS = 30.0
_UNAVAILABLE = ("locked", "busy", "unable to open", "disk", "readonly", "I/O")


def connect(path: str) -> sqlite3.Connection:
    """A connection tuned for one writer and many readers (WAL) that waits for locks instead of failing."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SqliteDatabase:
    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A transaction that takes the write lock up front, so read-check-update sequences cannot interleave."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await anyio.to_thread.run_sync(partial(fn, *args))
        except sqlite3.OperationalError as exc:
            # Locked past the busy timeout, disk full, file gone: the store is unavailable, a retry may work.
            # Anything else (a bad statement) is our bug and stays a plain error.
            if not any(sign in str(exc) for sign in _UNAVAILABLE):
                raise
            raise VendorUnavailable(f"embedded database {self.path} failed: {exc}") from exc
