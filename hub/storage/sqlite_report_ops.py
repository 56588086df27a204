"""What kiosks report (self-tests, wipes) as plain synchronous SQLite code.

Like ``sqlite_ops``: each function takes the connection first, is one transaction, and runs
only on the engine's own threads. Reports are kept by time (the tenant's
``device_history_days``, ``sqlite_purge_ops``); beyond that each device keeps at most its newest
``REPORT_HISTORY`` of each kind (a bound on a hostile kiosk), trimmed as a new one arrives. A
wipe report settles the wipe audit of the device's consultations that ended before it.
"""

from __future__ import annotations

import sqlite3

from hub.storage.errors import NotFound
from hub.storage.records import (
    REPORT_HISTORY,
    REPORT_KINDS,
    WIPE_MATCH_SLACK_S,
    DeviceReportRecord,
)
from hub.storage.sqlite_rows import Row, _all, _one
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
    cap: int = REPORT_HISTORY,
) -> None:
    """Store one report of a device (at most its newest ``cap`` of that kind are kept).

    A wipe report marks the device's ended consultations not yet audited (``wipe_ok`` NULL)
    that ended by ``at + WIPE_MATCH_SLACK_S``: verified (1) or failed (0).
    """
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
        # the cap-th newest id and everything older than it beyond: found by the index
        conn.execute(
            "DELETE FROM device_reports WHERE device_id = ? AND kind = ? AND id < "
            "(SELECT id FROM device_reports WHERE device_id = ? AND kind = ? "
            "ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (device_id, kind, device_id, kind, cap - 1),
        )
        if kind == "wipe":
            conn.execute(
                "UPDATE consultations SET wipe_ok = ? WHERE device_id = ? AND wipe_ok IS NULL "
                "AND ended_at IS NOT NULL AND ended_at <= ?",
                (int(ok), device_id, at + WIPE_MATCH_SLACK_S),
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
