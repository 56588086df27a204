"""What kiosks report (self-tests, wipes) as plain synchronous SQLite code.

Like ``sqlite_ops``: each function takes the connection first, is one transaction, and runs
only on the engine's own threads. Each device keeps its newest ``REPORT_HISTORY`` reports of
each kind; older ones go in the same transaction as the new one arrives.
"""

from __future__ import annotations

import sqlite3

from hub.storage.errors import NotFound
from hub.storage.records import REPORT_HISTORY, REPORT_KINDS, DeviceReportRecord
from hub.storage.sqlite_ops import Row, _all, _one
from hub.storage.sqlite_schema import transaction

_COLUMNS = "SELECT kind, at, received_at, ok, summary FROM device_reports "


def _record(row: Row) -> DeviceReportRecord:
    return DeviceReportRecord(row[0], row[1], row[2], bool(row[3]), row[4])


def add_device_report(
    conn: sqlite3.Connection,
    device_id: int,
    kind: str,
    ok: bool,
    summary: str,
    at: float,
    now: float,
) -> None:
    """Store one report of a device; keep its newest ``REPORT_HISTORY`` of that kind."""
    if kind not in REPORT_KINDS:
        raise ValueError(f"unknown report kind {kind!r}")
    with transaction(conn):
        if _one(conn, "SELECT 1 FROM devices WHERE id = ?", (device_id,)) is None:
            raise NotFound(f"no device with id {device_id}")
        conn.execute(
            "INSERT INTO device_reports (device_id, kind, at, received_at, ok, summary) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (device_id, kind, at, now, int(ok), summary),
        )
        conn.execute(
            "DELETE FROM device_reports WHERE device_id = ? AND kind = ? AND id NOT IN "
            "(SELECT id FROM device_reports WHERE device_id = ? AND kind = ? "
            "ORDER BY id DESC LIMIT ?)",
            (device_id, kind, device_id, kind, REPORT_HISTORY),
        )


def device_reports(
    conn: sqlite3.Connection, device_id: int, kind: str | None
) -> list[DeviceReportRecord]:
    """A device's stored reports (of one kind, or all), newest first."""
    if kind is None:
        rows = _all(conn, _COLUMNS + "WHERE device_id = ? ORDER BY id DESC", (device_id,))
    else:
        rows = _all(
            conn,
            _COLUMNS + "WHERE device_id = ? AND kind = ? ORDER BY id DESC",
            (device_id, kind),
        )
    return [_record(r) for r in rows]


def latest_reports(conn: sqlite3.Connection) -> dict[tuple[int, str], DeviceReportRecord]:
    """Every device's newest report of each kind, by (device id, kind)."""
    rows = _all(
        conn,
        "SELECT device_id, kind, at, received_at, ok, summary FROM device_reports "
        "WHERE id IN (SELECT MAX(id) FROM device_reports GROUP BY device_id, kind)",
    )
    return {(r[0], r[1]): _record(r[1:]) for r in rows}
