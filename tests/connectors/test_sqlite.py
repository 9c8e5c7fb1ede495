"""The SQLite helper shared by the embedded stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import VendorUnavailable
from connectors.sqlite import SqliteDatabase

pytestmark = pytest.mark.anyio


async def test_writes_commit_and_failures_roll_back(tmp_path: Path) -> None:
    db = SqliteDatabase(str(tmp_path / "t.sqlite3"))
    db.conn().execute("CREATE TABLE t (v INTEGER)")
    with db.write() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("boom")
    assert await db.run(lambda: db.conn().execute("SELECT v FROM t").fetchall()) == [(1,)]


async def test_database_failures_become_vendor_unavailable(tmp_path: Path) -> None:
    gone = SqliteDatabase(str(tmp_path / "no-such-folder" / "t.sqlite3"))
    with pytest.raises(VendorUnavailable):
        await gone.run(gone.conn)
    db = SqliteDatabase(str(tmp_path / "t.sqlite3"))
    with pytest.raises(Exception, match="no such table"):  # a bug, not an outage
        await db.run(lambda: db.conn().execute("SELECT * FROM missing_table"))
