"""Where carts live: a small interface with optimistic concurrency, and its SQLite implementation (Redis later)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from typing import Protocol

from connectors import SqliteDatabase
from origin.carts.model import Cart


class CartStore(Protocol):
    """Persistence for carts with optimistic concurrency: `put` succeeds only on the expected version."""

    async def get(self, cart_id: str) -> Cart | None: ...

    async def put(self, cart: Cart, *, expected_version: int) -> Cart | None:
        """Store `cart` as version expected_version + 1; None when someone else wrote first."""
        ...

    async def delete(self, cart_id: str) -> None: ...


class SqliteCartStore:
    def __init__(self, path: str, *, ttl_seconds: int) -> None:
        self._db = SqliteDatabase(path)
        self._ttl = ttl_seconds
        self._db.conn().execute(
            "CREATE TABLE IF NOT EXISTS carts (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL,"
            " expires_at INTEGER NOT NULL)"
        )

    def _get(self, cart_id: str) -> Cart | None:
        row = (
            self._db.conn()
            .execute("SELECT version, data FROM carts WHERE id = ? AND expires_at > ?", (cart_id, int(time.time())))
            .fetchone()
        )
        return Cart.from_json(cart_id, row[0], row[1]) if row else None

    def _put(self, cart: Cart, expected_version: int) -> Cart | None:
        conn = self._db.conn()
        expires = int(time.time()) + self._ttl
        if expected_version == 0:
            try:
                conn.execute(
                    "INSERT INTO carts (id, version, data, expires_at) VALUES (?, 1, ?, ?)",
                    (cart.id, cart.to_json(), expires),
                )
            except sqlite3.IntegrityError:
                return None
        elif not conn.execute(
            "UPDATE carts SET version = version + 1, data = ?, expires_at = ? WHERE id = ? AND version = ?",
            (cart.to_json(), expires, cart.id, expected_version),
        ).rowcount:
            return None
        return replace(cart, version=expected_version + 1)

    def _delete(self, cart_id: str) -> None:
        self._db.conn().execute("DELETE FROM carts WHERE id = ?", (cart_id,))

    async def get(self, cart_id: str) -> Cart | None:
        return await self._db.run(self._get, cart_id)

    async def put(self, cart: Cart, *, expected_version: int) -> Cart | None:
        return await self._db.run(self._put, cart, expected_version)

    async def delete(self, cart_id: str) -> None:
        await self._db.run(self._delete, cart_id)
