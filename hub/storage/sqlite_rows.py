"""Reading rows: the two query helpers every ``sqlite_*_ops`` module uses (in a module of their
own, below all of them, so that none has to import another for them)."""

from __future__ import annotations

import sqlite3
from typing import Any

from hub.storage.errors import NotFound

Row = tuple[Any, ...]


def _one(conn: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()) -> Row | None:
    # Closing the cursor ends the statement, so no read transaction stays open on the reader.
    cur = conn.execute(sql, params)
    try:
        row: Row | None = cur.fetchone()
        return row
    finally:
        cur.close()


def _all(conn: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()) -> list[Row]:
    return conn.execute(sql, params).fetchall()


def tenant_columns(conn: sqlite3.Connection, tenant_id: int, columns: str) -> Row:
    """These columns (named by our code, never by a caller) of the tenant with that id, or
    ``NotFound``."""
    row = _one(conn, f"SELECT {columns} FROM tenants WHERE id = ?", (tenant_id,))  # noqa: S608
    if row is None:
        raise NotFound(f"no tenant with id {tenant_id}")
    return row
