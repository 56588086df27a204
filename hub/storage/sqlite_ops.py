"""The hub's operations as plain synchronous SQLite code: one function per storage operation.

Each takes the connection first and is one transaction. They run only on the engine's own
threads (``hub.storage.sqlite``); ``bench/storage.py`` also calls them directly, as the
synchronous baseline. Password hashing is not done here: callers pass the hash.
"""

from __future__ import annotations

import secrets
import sqlite3

from hub.storage import sqlite_stats_ops as rollups
from hub.storage.checks import DEVICE_TOKEN_PREFIX, check_max_file_bytes, secret_digest
from hub.storage.errors import DuplicateName, NotFound, StorageError
from hub.storage.records import (
    Adviser,
    AdviserLogin,
    ConsultationRecord,
    Device,
    LiveConsultation,
    Tenant,
    TenantLimits,
    TenantSigning,
    WebSession,
)
from hub.storage.sqlite_rows import _all, _one, tenant_columns
from hub.storage.sqlite_schema import current_version, transaction


def add_audit(
    conn: sqlite3.Connection,
    tenant_id: int,
    actor: str,
    action: str,
    subject: str,
    old: str | None,
    new: str | None,
    now: float,
    *,
    only_if_changed: bool = False,
) -> None:
    """Write one audit entry (inside the caller's transaction, or as its own statement);
    ``only_if_changed``: none when ``old == new`` (a setting saved as it was)."""
    if only_if_changed and old == new:
        return
    conn.execute(
        "INSERT INTO audit (tenant_id, at, actor, action, subject, old_value, new_value) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (tenant_id, now, actor, action, subject, old, new),
    )


def _rowid(cur: sqlite3.Cursor) -> int:
    rowid = cur.lastrowid
    if rowid is None:  # cannot happen after a successful INSERT
        raise StorageError("the database did not return the new row's id")
    return rowid


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest migration applied."""
    return current_version(conn)


# -- tenants --------------------------------------------------------------


def add_tenant(conn: sqlite3.Connection, name: str, now: float, max_file_bytes: int) -> Tenant:
    """Insert a tenant (name and limit already checked)."""
    try:
        cur = conn.execute(
            "INSERT INTO tenants (name, created_at, max_file_bytes) VALUES (?, ?, ?)",
            (name, now, max_file_bytes),
        )
    except sqlite3.IntegrityError:
        raise DuplicateName(f"tenant {name!r} already exists") from None
    return Tenant(_rowid(cur), name)


def set_max_file_bytes(conn: sqlite3.Connection, name: str, max_file_bytes: int) -> None:
    """Change a tenant's per-file limit."""
    check_max_file_bytes(max_file_bytes)
    cur = conn.execute(
        "UPDATE tenants SET max_file_bytes = ? WHERE name = ?", (max_file_bytes, name)
    )
    if cur.rowcount == 0:
        raise NotFound(f"no tenant named {name!r}")


def max_file_bytes(conn: sqlite3.Connection, tenant_id: int) -> int:
    """A tenant's limit for one exchanged file."""
    return int(tenant_columns(conn, tenant_id, "max_file_bytes")[0])


def tenants(conn: sqlite3.Connection) -> list[TenantLimits]:
    """All tenants with their limits and signature settings, by name."""
    rows = _all(
        conn,
        "SELECT id, name, max_file_bytes, trustee_cert, trustee_name, tsa_url "
        "FROM tenants ORDER BY name",
    )
    return [
        TenantLimits(
            Tenant(r[0], r[1]),
            r[2],
            TenantSigning(None if r[3] is None else bytes(r[3]), r[4], r[5]),
        )
        for r in rows
    ]


def tenant(conn: sqlite3.Connection, name: str) -> Tenant:
    """The tenant of that name, or ``NotFound``."""
    row = _one(conn, "SELECT id, name FROM tenants WHERE name = ?", (name,))
    if row is None:
        raise NotFound(f"no tenant named {name!r}")
    return Tenant(row[0], row[1])


# -- advisers -------------------------------------------------------------


def add_adviser(
    conn: sqlite3.Connection, name: str, password_hash: str, now: float, tenant_name: str
) -> Adviser:
    """Insert an adviser (name checked, password already hashed)."""
    t = tenant(conn, tenant_name)
    try:
        cur = conn.execute(
            "INSERT INTO advisers (tenant_id, name, password_hash, created_at) VALUES (?, ?, ?, ?)",
            (t.id, name, password_hash, now),
        )
    except sqlite3.IntegrityError:
        row = _one(
            conn,
            "SELECT t.name FROM advisers a JOIN tenants t ON t.id = a.tenant_id WHERE a.name = ?",
            (name,),
        )
        where = t.name if row is None else row[0]
        raise DuplicateName(
            f"adviser {name!r} already exists in tenant {where!r} "
            "(adviser names are login names: unique across all tenants)"
        ) from None
    return Adviser(_rowid(cur), name, t)


def set_password(conn: sqlite3.Connection, name: str, password_hash: str, tenant_name: str) -> None:
    """Replace an adviser's password hash and end their web sessions, together."""
    t = tenant(conn, tenant_name)
    with transaction(conn):
        cur = conn.execute(
            "UPDATE advisers SET password_hash = ? WHERE tenant_id = ? AND name = ?",
            (password_hash, t.id, name),
        )
        if cur.rowcount == 0:
            raise NotFound(f"no adviser {name!r} in tenant {t.name!r}")
        conn.execute(
            "DELETE FROM web_sessions WHERE adviser_id IN "
            "(SELECT id FROM advisers WHERE tenant_id = ? AND name = ?)",
            (t.id, name),
        )


def advisers(conn: sqlite3.Connection) -> list[Adviser]:
    """All advisers, by tenant then name."""
    rows = _all(
        conn,
        "SELECT a.id, a.name, t.id, t.name FROM advisers a "
        "JOIN tenants t ON t.id = a.tenant_id ORDER BY t.name, a.name",
    )
    return [Adviser(r[0], r[1], Tenant(r[2], r[3])) for r in rows]


def adviser_login(conn: sqlite3.Connection, name: str) -> AdviserLogin | None:
    """The account called ``name`` (checked), its role, its hash and whether it is disabled."""
    row = _one(
        conn,
        "SELECT a.id, a.name, t.id, t.name, a.role, a.password_hash, a.disabled_at "
        "FROM advisers a JOIN tenants t ON t.id = a.tenant_id WHERE a.name = ?",
        (name,),
    )
    if row is None:
        return None
    adviser = Adviser(row[0], row[1], Tenant(row[2], row[3]), row[4])
    return AdviserLogin(adviser, row[5], disabled=row[6] is not None)


# -- devices --------------------------------------------------------------


def add_device(
    conn: sqlite3.Connection, name: str, now: float, tenant_name: str, replace: bool
) -> tuple[Device, str]:
    """Register a kiosk (name checked) with a new token; see ``Storage.add_device``."""
    t = tenant(conn, tenant_name)
    # A fixed prefix: a token never starts with "-" (which a shell command line would take
    # for an option) and secret scanners can recognise it.
    token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = secret_digest(token)
    with transaction(conn):
        row = _one(
            conn,
            "SELECT id, created_at FROM devices WHERE tenant_id = ? AND name = ?",
            (t.id, name),
        )
        if row is not None:
            if not replace:
                raise DuplicateName(
                    f"device {name!r} already exists in tenant {t.name!r} "
                    "(use --replace to issue a new token)"
                )
            conn.execute(
                "UPDATE devices SET token_hash = ?, revoked = 0 WHERE id = ?", (digest, row[0])
            )
            return Device(row[0], name, t, row[1], False), token
        if replace:
            raise NotFound(f"no device named {name!r} in tenant {t.name!r} to replace")
        cur = conn.execute(
            "INSERT INTO devices (tenant_id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
            (t.id, name, digest, now),
        )
        return Device(_rowid(cur), name, t, now, False), token


def revoke_device(
    conn: sqlite3.Connection, name: str, tenant_name: str, now: float, actor: str
) -> None:
    """Stop accepting a device's token and certificates; its unused enrolment codes die.

    Audited (``device.revoke``) in the same transaction.
    """
    t = tenant(conn, tenant_name)
    with transaction(conn):
        row = _one(conn, "SELECT id FROM devices WHERE tenant_id = ? AND name = ?", (t.id, name))
        if row is None:
            raise NotFound(f"no device named {name!r} in tenant {t.name!r}")
        conn.execute("UPDATE devices SET revoked = 1 WHERE id = ?", (row[0],))
        conn.execute(
            "UPDATE device_certificates SET revoked_at = ? "
            "WHERE device_id = ? AND revoked_at IS NULL",
            (now, row[0]),
        )
        conn.execute(
            "UPDATE enrolment_codes SET used_at = ? "
            "WHERE tenant_id = ? AND device_name = ? AND used_at IS NULL",
            (now, t.id, name),
        )
        conn.execute(
            "INSERT INTO audit (tenant_id, at, actor, action, subject) VALUES (?, ?, ?, ?, ?)",
            (t.id, now, actor, "device.revoke", name),
        )


def devices(conn: sqlite3.Connection) -> list[Device]:
    """All devices, by tenant then name."""
    rows = _all(
        conn,
        "SELECT d.id, d.name, t.id, t.name, d.created_at, d.revoked, d.branch FROM devices d "
        "JOIN tenants t ON t.id = d.tenant_id ORDER BY t.name, d.name",
    )
    return [Device(r[0], r[1], Tenant(r[2], r[3]), r[4], bool(r[5]), r[6]) for r in rows]


def device_for_token(conn: sqlite3.Connection, token: str) -> Device | None:
    """The non-revoked device holding ``token``, or None."""
    row = _one(
        conn,
        "SELECT d.id, d.name, t.id, t.name, d.created_at FROM devices d "
        "JOIN tenants t ON t.id = d.tenant_id WHERE d.token_hash = ? AND d.revoked = 0",
        (secret_digest(token),),
    )
    if row is None:
        return None
    return Device(row[0], row[1], Tenant(row[2], row[3]), row[4], False)


def device_token_valid(conn: sqlite3.Connection, device_id: int, token_digest: str) -> bool:
    """Whether a device still holds that token (not revoked, not replaced)."""
    row = _one(
        conn,
        "SELECT 1 FROM devices WHERE id = ? AND token_hash = ? AND revoked = 0",
        (device_id, token_digest),
    )
    return row is not None


# -- web sessions ---------------------------------------------------------


def create_session(
    conn: sqlite3.Connection, adviser: Adviser, now: float, lifetime_s: float
) -> tuple[str, str]:
    """Start a console session; return (session id for the cookie, csrf token)."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO web_sessions (id_hash, adviser_id, csrf, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (secret_digest(session_id), adviser.id, csrf, now, now + lifetime_s),
    )
    return session_id, csrf


def session(conn: sqlite3.Connection, session_id: str, now: float) -> WebSession | None:
    """The live session for a cookie value (with its account's role), or None when unknown,
    expired, or its account is disabled."""
    row = _one(
        conn,
        "SELECT a.id, a.name, t.id, t.name, a.role, s.csrf, s.expires_at FROM web_sessions s "
        "JOIN advisers a ON a.id = s.adviser_id JOIN tenants t ON t.id = a.tenant_id "
        "WHERE s.id_hash = ? AND s.expires_at > ? AND a.disabled_at IS NULL",
        (secret_digest(session_id), now),
    )
    if row is None:
        return None
    adviser = Adviser(row[0], row[1], Tenant(row[2], row[3]), row[4])
    return WebSession(adviser, row[5], row[6])


def session_live(conn: sqlite3.Connection, session_digest: str, now: float) -> bool:
    """Whether the session with that digest of its id exists and has not expired."""
    row = _one(
        conn,
        "SELECT 1 FROM web_sessions WHERE id_hash = ? AND expires_at > ?",
        (session_digest, now),
    )
    return row is not None


def delete_session(conn: sqlite3.Connection, session_id: str) -> None:
    """End a console session (logout)."""
    conn.execute("DELETE FROM web_sessions WHERE id_hash = ?", (secret_digest(session_id),))


def purge_sessions(conn: sqlite3.Connection, now: float) -> int:
    """Delete expired sessions; return how many."""
    return conn.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,)).rowcount


# -- consultations --------------------------------------------------------


def consultation_queued(
    conn: sqlite3.Connection,
    consultation_id: str,
    device: Device,
    now: float,
    reference: str | None = None,
) -> None:
    """Record that a kiosk joined the queue, with its reference and the device's branch now."""
    conn.execute(
        "INSERT INTO consultations (id, tenant_id, device_id, queued_at, reference, branch) "
        "VALUES (?, ?, ?, ?, ?, (SELECT branch FROM devices WHERE id = ?))",
        (consultation_id, device.tenant.id, device.id, now, reference, device.id),
    )


def consultation_accepted(
    conn: sqlite3.Connection, consultation_id: str, adviser: Adviser, now: float
) -> None:
    """Record that an adviser took the consultation."""
    conn.execute(
        "UPDATE consultations SET adviser_id = ?, accepted_at = ? WHERE id = ?",
        (adviser.id, now, consultation_id),
    )


def consultation_ended(
    conn: sqlite3.Connection, consultation_id: str, reason: str, now: float
) -> None:
    """Record the end of a consultation (only the first end counts); its tokens die; the
    statistics roll-ups count it (unless restricted) in the same transaction."""
    with transaction(conn):
        cur = conn.execute(
            "UPDATE consultations SET ended_at = ?, end_reason = ? "
            "WHERE id = ? AND ended_at IS NULL",
            (now, reason, consultation_id),
        )
        if cur.rowcount:
            rollups.apply_consultation(conn, consultation_id, +1)
        conn.execute("DELETE FROM resume_tokens WHERE consultation_id = ?", (consultation_id,))


def live_consultations(conn: sqlite3.Connection) -> list[LiveConsultation]:
    """Consultations accepted and not ended."""
    rows = _all(
        conn,
        "SELECT c.id, t.id, t.name, d.id, d.name, a.id, a.name FROM consultations c "
        "JOIN tenants t ON t.id = c.tenant_id JOIN devices d ON d.id = c.device_id "
        "JOIN advisers a ON a.id = c.adviser_id "
        "WHERE c.accepted_at IS NOT NULL AND c.ended_at IS NULL ORDER BY c.accepted_at",
    )
    return [LiveConsultation(r[0], Tenant(r[1], r[2]), r[3], r[4], r[5], r[6]) for r in rows]


def end_waiting_consultations(conn: sqlite3.Connection, reason: str, now: float) -> int:
    """End the queued, never accepted ones (counted as abandoned in the roll-ups)."""
    with transaction(conn):
        waiting = _all(
            conn,
            "SELECT id FROM consultations WHERE accepted_at IS NULL AND ended_at IS NULL",
        )
        conn.execute(
            "UPDATE consultations SET ended_at = ?, end_reason = ? "
            "WHERE accepted_at IS NULL AND ended_at IS NULL",
            (now, reason),
        )
        for row in waiting:
            rollups.apply_consultation(conn, row[0], +1)
    return len(waiting)


def consultations(conn: sqlite3.Connection) -> list[ConsultationRecord]:
    """The consultation log, oldest first."""
    rows = _all(
        conn,
        "SELECT c.id, t.name, d.name, a.name, c.queued_at, c.accepted_at, c.ended_at, "
        "c.end_reason FROM consultations c JOIN tenants t ON t.id = c.tenant_id "
        "JOIN devices d ON d.id = c.device_id LEFT JOIN advisers a ON a.id = c.adviser_id "
        "ORDER BY c.queued_at, c.rowid",
    )
    return [ConsultationRecord(*r) for r in rows]


# -- resume tokens --------------------------------------------------------


def grant_resume_token(
    conn: sqlite3.Connection,
    consultation_id: str,
    role: str,
    principal_id: int,
    token_digest: str,
    now: float,
) -> None:
    """Store a resume token's hash; it replaces that side's previous token."""
    with transaction(conn):
        conn.execute(
            "DELETE FROM resume_tokens WHERE consultation_id = ? AND role = ?",
            (consultation_id, role),
        )
        conn.execute(
            "INSERT INTO resume_tokens "
            "(token_hash, consultation_id, role, principal_id, issued_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (token_digest, consultation_id, role, principal_id, now),
        )


def take_resume_token(
    conn: sqlite3.Connection, consultation_id: str, role: str, principal_id: int, token_digest: str
) -> bool:
    """Use up a token if it is the one granted to this side and principal (single use)."""
    cur = conn.execute(
        "DELETE FROM resume_tokens WHERE token_hash = ? AND consultation_id = ? "
        "AND role = ? AND principal_id = ?",
        (token_digest, consultation_id, role, principal_id),
    )
    return cur.rowcount == 1
