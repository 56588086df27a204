"""Migration 7 (administration and data protection) on a database at version 6 with rows in it,
and what its schema refuses."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hub.storage import (
    LATEST_VERSION,
    MIGRATIONS,
    SqliteStorage,
    histogram,
)

NOW = 1_800_000_000.0
DAY_S = 86_400.0
DAY = int(NOW // 86400)
HOUR = int(NOW // 3600)
PASSWORD = "correct horse battery"


def version_6(path: Path) -> None:
    """A database as a hub of migration 6 left it, with a tenant, a device, consultations."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
        for version, script in enumerate(MIGRATIONS[:6], start=1):
            for statement in (s for s in script.split(";") if s.strip()):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, 0)", (version,))
        conn.execute(
            "INSERT INTO devices (tenant_id, name, token_hash, created_at) VALUES (1, 'k', 'h', 0)"
        )
        conn.execute(
            "INSERT INTO advisers (tenant_id, name, password_hash, created_at) "
            "VALUES (1, 'alice', 'x', 0)"
        )
        rows = [
            ("c-1", 1, NOW, NOW + 20.7, NOW + 80.2, "hangup"),
            ("c-2", None, NOW + 10, None, NOW + 70, "left"),
            ("c-3", 1, NOW + 3600, NOW + 3605, None, None),  # live: not counted yet
        ]
        for cid, adviser, queued, accepted, ended, reason in rows:
            conn.execute(
                "INSERT INTO consultations (id, tenant_id, device_id, adviser_id, queued_at, "
                "accepted_at, ended_at, end_reason) VALUES (?, 1, 1, ?, ?, ?, ?, ?)",
                (cid, adviser, queued, accepted, ended, reason),
            )
    finally:
        conn.close()


async def test_migration_7_fills_the_roll_ups_and_marks_old_rows_not_audited(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.sqlite3"
    version_6(path)
    storage = await SqliteStorage.open(path)
    try:
        assert await storage.schema_version() == LATEST_VERSION >= 7  # 8: online leases
        gov = storage.governance
        rows = await gov.stats_rows(1, from_day=DAY, to_day=DAY)
        assert rows.hours == [(HOUR, "", 2, 1, 1)]
        ((day, branch, _hours, waits, durations),) = rows.days
        assert (day, branch) == (DAY, "")
        assert histogram.decode(waits) == {20: 1}
        assert histogram.decode(durations) == {59: 1}
        conn = sqlite3.connect(path)
        try:
            wipes = conn.execute("SELECT id, wipe_ok FROM consultations ORDER BY id").fetchall()
            roles = conn.execute("SELECT role, disabled_at FROM advisers").fetchall()
            settings = conn.execute(
                "SELECT retain_consultations_days, retain_access_log_days, "
                "retain_device_history_days, retain_audit_days, stats_min_cell, turn_enabled "
                "FROM tenants"
            ).fetchall()
        finally:
            conn.close()
        assert wipes == [("c-1", 2), ("c-2", 2), ("c-3", None)]
        assert roles == [("adviser", None)]
        assert settings == [(90, 7, 365, 730, 5, 0)]
        # the live one ends after the upgrade: counted then, and audited for its wipe
        await storage.consultation_ended("c-3", "hangup", now=NOW + 3700)
        hours = (await gov.stats_rows(1, from_day=DAY, to_day=DAY)).hours
        assert hours == [(HOUR, "", 2, 1, 1), (HOUR + 1, "", 1, 1, 0)]
    finally:
        await storage.close()


async def test_a_role_outside_the_three_is_refused_by_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    await (await SqliteStorage.open(path)).close()
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO advisers (tenant_id, name, password_hash, created_at, role) "
                "VALUES (1, 'x', 'h', 0, 'root')"
            )
    finally:
        conn.close()
