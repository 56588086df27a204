"""Administration and data protection as plain synchronous SQLite code (docs/admin.md).

Like ``sqlite_ops``: each function takes the connection first, is one transaction, and runs
only on the engine's own threads. Values are checked before (``hub.storage.sqlite_governance``);
every change an administrator makes writes its audit entry in the same transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from hub.storage import sqlite_archive_ops as archive_ops
from hub.storage.errors import DuplicateName, InvalidSetting, NotFound
from hub.storage.records import (
    WIPE_REPORT_DEADLINE_S,
    AccessLine,
    Account,
    Adviser,
    AuditEntry,
    Conversation,
    DeviceReportRecord,
    NewAccessLine,
    Retention,
    Tenant,
)
from hub.storage.sqlite_ops import _rowid, add_audit
from hub.storage.sqlite_report_ops import device_reports
from hub.storage.sqlite_rows import Row, _all, _one, tenant_columns
from hub.storage.sqlite_schema import transaction
from hub.storage.sqlite_stats_ops import apply_consultation

# Retention field -> tenants column (the names are ours, never a caller's).
RETENTION_COLUMNS = {
    "consultations_days": "retain_consultations_days",
    "access_log_days": "retain_access_log_days",
    "device_history_days": "retain_device_history_days",
    "audit_days": "retain_audit_days",
    "stats_min_cell": "stats_min_cell",
    "archive_days": "retain_archive_days",
}


def _tenant(conn: sqlite3.Connection, tenant_id: int) -> Tenant:
    row = tenant_columns(conn, tenant_id, "id, name")
    return Tenant(row[0], row[1])


def add_audit_entry(
    conn: sqlite3.Connection,
    tenant_id: int,
    actor: str,
    action: str,
    subject: str,
    old: str | None,
    new: str | None,
    now: float,
) -> None:
    """``add_audit`` as a transaction of its own, for a tenant that must exist."""
    with transaction(conn):
        _tenant(conn, tenant_id)
        add_audit(conn, tenant_id, actor, action, subject, old, new, now)


# -- accounts -------------------------------------------------------------


def add_account(
    conn: sqlite3.Connection,
    name: str,
    password_hash: str,
    tenant_name: str,
    role: str,
    actor: str,
    now: float,
) -> Adviser:
    """Insert an account of a role (name checked, password hashed); audited."""
    with transaction(conn):
        row = _one(conn, "SELECT id, name FROM tenants WHERE name = ?", (tenant_name,))
        if row is None:
            raise NotFound(f"no tenant named {tenant_name!r}")
        t = Tenant(row[0], row[1])
        try:
            cur = conn.execute(
                "INSERT INTO advisers (tenant_id, name, password_hash, created_at, role) "
                "VALUES (?, ?, ?, ?, ?)",
                (t.id, name, password_hash, now, role),
            )
        except sqlite3.IntegrityError:
            raise DuplicateName(
                f"an account named {name!r} already exists (account names are login names: "
                "unique across all tenants and roles)"
            ) from None
        add_audit(conn, t.id, actor, "account.add", name, None, role, now)
    return Adviser(_rowid(cur), name, t, role)


def accounts(conn: sqlite3.Connection, tenant_id: int) -> list[Account]:
    """A tenant's accounts of every role, by name."""
    t = _tenant(conn, tenant_id)
    rows = _all(
        conn,
        "SELECT name, role, created_at, disabled_at, online_until FROM advisers "
        "WHERE tenant_id = ? ORDER BY name",
        (tenant_id,),
    )
    return [Account(r[0], r[1], t, r[2], r[3], r[4]) for r in rows]


def set_online(conn: sqlite3.Connection, adviser_id: int, until: float | None) -> None:
    """Renew (or with None clear) the lease of an account's console; gone accounts: nothing."""
    with transaction(conn):
        conn.execute("UPDATE advisers SET online_until = ? WHERE id = ?", (until, adviser_id))


def _account_id(conn: sqlite3.Connection, tenant_id: int, name: str) -> tuple[int, float | None]:
    row = _one(
        conn,
        "SELECT id, disabled_at FROM advisers WHERE tenant_id = ? AND name = ?",
        (tenant_id, name),
    )
    if row is None:
        raise NotFound(f"no account named {name!r} in this tenant")
    return int(row[0]), row[1]


def set_disabled(
    conn: sqlite3.Connection, tenant_id: int, name: str, disabled: bool, actor: str, now: float
) -> None:
    """Disable (ending its web sessions) or enable an account of the tenant; audited."""
    with transaction(conn):
        account_id, disabled_at = _account_id(conn, tenant_id, name)
        if disabled == (disabled_at is not None):
            return  # already so: nothing changed, nothing to audit
        conn.execute(
            "UPDATE advisers SET disabled_at = ? WHERE id = ?",
            (now if disabled else None, account_id),
        )
        if disabled:
            conn.execute("DELETE FROM web_sessions WHERE adviser_id = ?", (account_id,))
        action = "account.disable" if disabled else "account.enable"
        add_audit(conn, tenant_id, actor, action, name, None, None, now)


def reset_password(
    conn: sqlite3.Connection,
    tenant_id: int,
    name: str,
    password_hash: str,
    actor: str,
    now: float,
) -> None:
    """Replace an account's password hash and end its web sessions; audited (no values)."""
    with transaction(conn):
        account_id, _ = _account_id(conn, tenant_id, name)
        conn.execute(
            "UPDATE advisers SET password_hash = ? WHERE id = ?", (password_hash, account_id)
        )
        conn.execute("DELETE FROM web_sessions WHERE adviser_id = ?", (account_id,))
        add_audit(conn, tenant_id, actor, "account.password", name, None, None, now)


# -- devices --------------------------------------------------------------


def _device_id(conn: sqlite3.Connection, tenant_id: int, name: str) -> tuple[int, str | None]:
    row = _one(
        conn, "SELECT id, branch FROM devices WHERE tenant_id = ? AND name = ?", (tenant_id, name)
    )
    if row is None:
        raise NotFound(f"no device named {name!r} in this tenant")
    return int(row[0]), row[1]


def set_branch(
    conn: sqlite3.Connection,
    tenant_id: int,
    device_name: str,
    branch: str | None,
    actor: str,
    now: float,
) -> None:
    """Label a device with a branch (None: none); audited with old and new label."""
    with transaction(conn):
        device_id, old = _device_id(conn, tenant_id, device_name)
        if old == branch:
            return
        conn.execute("UPDATE devices SET branch = ? WHERE id = ?", (branch, device_id))
        add_audit(conn, tenant_id, actor, "device.branch", device_name, old, branch, now)


def wipe_history(
    conn: sqlite3.Connection, tenant_id: int, device_name: str
) -> list[DeviceReportRecord]:
    """A device's stored wipe reports, newest first (``NotFound`` outside the tenant)."""
    device_id, _ = _device_id(conn, tenant_id, device_name)
    return device_reports(conn, device_id, "wipe")


# -- settings -------------------------------------------------------------


def _retention_row(conn: sqlite3.Connection, tenant_id: int) -> Retention:
    columns = ", ".join(RETENTION_COLUMNS.values())
    row = tenant_columns(conn, tenant_id, columns)
    return Retention(**dict(zip(RETENTION_COLUMNS, (int(v) for v in row), strict=True)))


def retention(conn: sqlite3.Connection, tenant_id: int) -> Retention:
    """A tenant's retention settings."""
    return _retention_row(conn, tenant_id)


def set_retention(
    conn: sqlite3.Connection, tenant_id: int, changes: Mapping[str, int], actor: str, now: float
) -> Retention:
    """Apply checked retention changes; one audit entry per value that changed."""
    with transaction(conn):
        before = _retention_row(conn, tenant_id)
        for key, value in sorted(changes.items()):
            old = getattr(before, key)
            if old == value:
                continue
            column = RETENTION_COLUMNS[key]
            conn.execute(f"UPDATE tenants SET {column} = ? WHERE id = ?", (value, tenant_id))  # noqa: S608
            add_audit(conn, tenant_id, actor, f"retention.{key}", key, str(old), str(value), now)
            if key == "archive_days":
                archive_ops.reexpire(conn, tenant_id, value)  # applies to every item kept
        return _retention_row(conn, tenant_id)


def turn_enabled(conn: sqlite3.Connection, tenant_id: int) -> bool:
    """Whether the tenant switched TURN relaying on."""
    return bool(tenant_columns(conn, tenant_id, "turn_enabled")[0])


def set_turn(
    conn: sqlite3.Connection, tenant_id: int, enabled: bool, actor: str, now: float
) -> None:
    """Switch TURN relaying on or off for a tenant; audited when it changes."""
    with transaction(conn):
        old = turn_enabled(conn, tenant_id)
        if old == enabled:
            return
        conn.execute("UPDATE tenants SET turn_enabled = ? WHERE id = ?", (int(enabled), tenant_id))
        add_audit(
            conn, tenant_id, actor, "third_party.turn", "turn", _onoff(old), _onoff(enabled), now
        )


def _onoff(value: bool) -> str:
    return "on" if value else "off"


# -- audit and access log -------------------------------------------------


def audit(
    conn: sqlite3.Connection, tenant_id: int, limit: int, before_id: int | None
) -> list[AuditEntry]:
    """A tenant's audit entries, newest first, older than ``before_id`` if given."""
    columns = "id, at, actor, action, subject, old_value, new_value"
    rows = _newest(conn, columns, "audit", tenant_id, limit, before_id)
    return [AuditEntry(*r) for r in rows]


def _newest(
    conn: sqlite3.Connection,
    columns: str,
    table: str,
    tenant_id: int,
    limit: int,
    before_id: int | None,
) -> list[Row]:
    # One page of a tenant's rows, newest first; columns and table are ours, never a caller's.
    below = 2**63 - 1 if before_id is None else before_id
    return _all(
        conn,
        f"SELECT {columns} FROM {table} WHERE tenant_id = ? AND id < ? "  # noqa: S608
        "ORDER BY id DESC LIMIT ?",
        (tenant_id, below, limit),
    )


def add_access_lines(conn: sqlite3.Connection, lines: Sequence[NewAccessLine]) -> None:
    """Store anonymised access-log lines, all in one transaction."""
    with transaction(conn):
        conn.executemany(
            "INSERT INTO access_log (at, tenant_id, client, method, path, status, bytes, "
            "duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (x.at, x.tenant_id, x.client, x.method, x.path, x.status, x.bytes, x.duration_ms)
                for x in lines
            ],
        )


def access_lines(
    conn: sqlite3.Connection, tenant_id: int, limit: int, before_id: int | None
) -> list[AccessLine]:
    """A tenant's access-log lines, newest first, older than ``before_id`` if given."""
    columns = "id, at, client, method, path, status, bytes, duration_ms"
    rows = _newest(conn, columns, "access_log", tenant_id, limit, before_id)
    return [AccessLine(*r) for r in rows]


# -- conversations --------------------------------------------------------


def _wipe_state(
    wipe_ok: int | None, accepted_at: float | None, ended_at: float | None, now: float
) -> str:
    if wipe_ok == 1:
        return "verified"
    if wipe_ok == 0:
        return "failed"
    if wipe_ok == 2:
        return "not_audited"
    if ended_at is None or ended_at >= now - WIPE_REPORT_DEADLINE_S:
        return "pending"
    return "missing" if accepted_at is not None else "not_audited"


def conversation(
    conn: sqlite3.Connection, tenant_id: int, reference: str, now: float
) -> Conversation | None:
    """The consultation with that reference in the tenant, or None."""
    row = _one(
        conn,
        "SELECT c.reference, t.id, t.name, d.name, c.branch, a.name, c.queued_at, "
        "c.accepted_at, c.ended_at, c.end_reason, c.restricted_at, c.wipe_ok "
        "FROM consultations c JOIN tenants t ON t.id = c.tenant_id "
        "JOIN devices d ON d.id = c.device_id LEFT JOIN advisers a ON a.id = c.adviser_id "
        "WHERE c.reference = ? AND c.tenant_id = ?",
        (reference, tenant_id),
    )
    if row is None:
        return None
    return Conversation(
        reference=row[0],
        tenant=Tenant(row[1], row[2]),
        device=row[3],
        branch=row[4],
        adviser=row[5],
        queued_at=row[6],
        accepted_at=row[7],
        ended_at=row[8],
        end_reason=row[9],
        restricted_at=row[10],
        wipe=_wipe_state(row[11], row[7], row[8], now),
        archives=tuple(archive_ops.archives(conn, tenant_id, reference)),
    )


def _find(
    conn: sqlite3.Connection, tenant_id: int, reference: str
) -> tuple[str, float | None, float | None] | None:
    row = _one(
        conn,
        "SELECT id, ended_at, restricted_at FROM consultations "
        "WHERE reference = ? AND tenant_id = ?",
        (reference, tenant_id),
    )
    return None if row is None else (str(row[0]), row[1], row[2])


def erase_conversation(
    conn: sqlite3.Connection, tenant_id: int, reference: str, actor: str, now: float
) -> bool:
    """Delete an ended consultation and its tokens, out of the roll-ups; audited without
    content. False: no such reference in the tenant."""
    with transaction(conn):
        found = _find(conn, tenant_id, reference)
        if found is None:
            return False
        cid, ended_at, _restricted = found
        if ended_at is None:
            raise InvalidSetting("this conversation has not ended yet; erase it once it has ended")
        apply_consultation(conn, cid, -1)
        conn.execute("DELETE FROM resume_tokens WHERE consultation_id = ?", (cid,))
        conn.execute("DELETE FROM consultations WHERE id = ?", (cid,))
        archive_ops.delete_for_consultation(conn, cid)  # its sealed items go with it
        add_audit(conn, tenant_id, actor, "request.erase", reference, None, None, now)
    return True


def restrict_conversation(
    conn: sqlite3.Connection,
    tenant_id: int,
    reference: str,
    restricted: bool,
    actor: str,
    now: float,
) -> bool:
    """Restrict (kept, out of statistics and purges) or lift; audited. False: not found."""
    with transaction(conn):
        found = _find(conn, tenant_id, reference)
        if found is None:
            return False
        cid, _ended_at, restricted_at = found
        action = "request.restrict" if restricted else "request.lift"
        if restricted != (restricted_at is not None):
            if restricted:
                apply_consultation(conn, cid, -1)  # while it still counts
            conn.execute(
                "UPDATE consultations SET restricted_at = ? WHERE id = ?",
                (now if restricted else None, cid),
            )
            if not restricted:
                apply_consultation(conn, cid, +1)
        add_audit(conn, tenant_id, actor, action, reference, None, None, now)
    return True
