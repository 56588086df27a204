"""The SQLite schema: ordered migrations, each applied once in its own transaction.

``MIGRATIONS`` is an ordered list recorded in ``schema_version``; a database newer than this
hub is refused (``SchemaTooNew``) rather than corrupted. These helpers run on the engine's
writer thread (``hub.storage.sqlite``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from hub.storage.errors import SchemaTooNew, StorageError

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE tenants (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    INSERT INTO tenants (name, created_at)
        VALUES ('default', (julianday('now') - 2440587.5) * 86400.0);
    CREATE TABLE advisers (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (tenant_id, name)
    );
    CREATE INDEX advisers_by_name ON advisers(name);
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0,
        UNIQUE (tenant_id, name)
    );
    CREATE TABLE web_sessions (
        id_hash TEXT PRIMARY KEY,
        adviser_id INTEGER NOT NULL REFERENCES advisers(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX web_sessions_by_expiry ON web_sessions(expires_at);
    CREATE TABLE consultations (
        id TEXT PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        device_id INTEGER NOT NULL REFERENCES devices(id),
        adviser_id INTEGER REFERENCES advisers(id),
        queued_at REAL NOT NULL,
        accepted_at REAL,
        ended_at REAL,
        end_reason TEXT
    );
    """,
    # 2: adviser names are login names, so unique across all tenants (see _check_before_2)
    """
    CREATE UNIQUE INDEX advisers_unique_name ON advisers(name);
    DROP INDEX advisers_by_name;
    """,
    # 3: per-tenant file size limit (docs/exchange.md); resume tokens, hashed
    # (docs/reconnection.md): one live token per side of a consultation
    """
    ALTER TABLE tenants ADD COLUMN max_file_bytes INTEGER NOT NULL DEFAULT 26214400;
    CREATE TABLE resume_tokens (
        token_hash TEXT PRIMARY KEY,
        consultation_id TEXT NOT NULL REFERENCES consultations(id),
        role TEXT NOT NULL CHECK (role IN ('kiosk', 'adviser')),
        principal_id INTEGER NOT NULL,
        issued_at REAL NOT NULL,
        UNIQUE (consultation_id, role)
    );
    """,
    # 4: enrolment (docs/enrolment.md): tenant CAs (the key sealed under the hub secret; made
    # at the first start with --secret-file, which a migration cannot read), one-time codes
    # (the secret as an HMAC), device certificates, what devices last reported. A device
    # enrolled with a certificate holds no token: its token_hash is NO_TOKEN_PREFIX + random.
    """
    CREATE TABLE tenant_ca (
        tenant_id INTEGER PRIMARY KEY REFERENCES tenants(id),
        cert_der BLOB NOT NULL,
        key_sealed BLOB NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE enrolment_codes (
        id TEXT PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        device_name TEXT NOT NULL,
        secret_hmac TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        used_at REAL
    );
    CREATE INDEX enrolment_codes_by_device ON enrolment_codes(tenant_id, device_name);
    CREATE TABLE device_certificates (
        serial TEXT PRIMARY KEY,
        device_id INTEGER NOT NULL REFERENCES devices(id),
        spki_sha256 TEXT NOT NULL,
        cert_der BLOB NOT NULL,
        not_before REAL NOT NULL,
        not_after REAL NOT NULL,
        issued_at REAL NOT NULL,
        revoked_at REAL
    );
    CREATE INDEX device_certificates_by_spki ON device_certificates(spki_sha256);
    CREATE INDEX device_certificates_by_device ON device_certificates(device_id);
    ALTER TABLE devices ADD COLUMN last_seen REAL;
    ALTER TABLE devices ADD COLUMN version TEXT;
    """,
    # 5: what kiosks report (docs/enrolment.md, "Reports and relay"): their self-tests and
    # wipes, figures only, a short history per device and kind (sqlite_report_ops)
    """
    CREATE TABLE device_reports (
        id INTEGER PRIMARY KEY,
        device_id INTEGER NOT NULL REFERENCES devices(id),
        kind TEXT NOT NULL CHECK (kind IN ('selftest', 'wipe')),
        at REAL NOT NULL,
        received_at REAL NOT NULL,
        ok INTEGER NOT NULL,
        summary TEXT NOT NULL
    );
    CREATE INDEX device_reports_by_device ON device_reports(device_id, kind, id);
    """,
    # 6: signature at the kiosk (docs/signature.md): per tenant the trustee the biometric
    # evidence is sealed to (certificate DER and the name the customer is shown) and the
    # timestamp authority for PAdES B-T; NULL is off
    """
    ALTER TABLE tenants ADD COLUMN trustee_cert BLOB;
    ALTER TABLE tenants ADD COLUMN trustee_name TEXT;
    ALTER TABLE tenants ADD COLUMN tsa_url TEXT;
    """,
    # 7: administration and data protection (docs/admin.md, docs/storage.md): account roles,
    # branch labels, retention and third-party settings per tenant, conversation references,
    # restriction and wipe audit, the anonymised access log, the audit trail, statistics
    # roll-ups (filled for the ended rows by _fill_after_7, in the same transaction); the
    # sealed archive (docs/archive.md): no foreign key to consultations, since archived items
    # outlive the consultation's row (their own retention, archive_days)
    """
    ALTER TABLE advisers ADD COLUMN role TEXT NOT NULL DEFAULT 'adviser'
        CHECK (role IN ('adviser', 'admin', 'dpo'));
    ALTER TABLE advisers ADD COLUMN disabled_at REAL;
    ALTER TABLE devices ADD COLUMN branch TEXT;
    ALTER TABLE tenants ADD COLUMN retain_consultations_days INTEGER NOT NULL DEFAULT 90;
    ALTER TABLE tenants ADD COLUMN retain_access_log_days INTEGER NOT NULL DEFAULT 7;
    ALTER TABLE tenants ADD COLUMN retain_device_history_days INTEGER NOT NULL DEFAULT 365;
    ALTER TABLE tenants ADD COLUMN retain_audit_days INTEGER NOT NULL DEFAULT 730;
    ALTER TABLE tenants ADD COLUMN stats_min_cell INTEGER NOT NULL DEFAULT 5;
    ALTER TABLE tenants ADD COLUMN turn_enabled INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE consultations ADD COLUMN reference TEXT;
    ALTER TABLE consultations ADD COLUMN branch TEXT;
    ALTER TABLE consultations ADD COLUMN restricted_at REAL;
    ALTER TABLE consultations ADD COLUMN wipe_ok INTEGER;
    UPDATE consultations SET wipe_ok = 2 WHERE ended_at IS NOT NULL;
    CREATE UNIQUE INDEX consultations_by_reference ON consultations(reference)
        WHERE reference IS NOT NULL;
    CREATE INDEX consultations_unended ON consultations(tenant_id, queued_at)
        WHERE ended_at IS NULL;
    CREATE INDEX consultations_unwiped ON consultations(device_id, ended_at)
        WHERE wipe_ok IS NULL;
    CREATE INDEX consultations_wipe_failed ON consultations(device_id) WHERE wipe_ok = 0;
    CREATE INDEX device_reports_by_age ON device_reports(at);
    CREATE TABLE access_log (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        tenant_id INTEGER REFERENCES tenants(id),
        client TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        duration_ms REAL NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        old_value TEXT,
        new_value TEXT
    );
    CREATE INDEX audit_by_tenant ON audit(tenant_id, id);
    CREATE TABLE stats_days (
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        day INTEGER NOT NULL,
        branch TEXT NOT NULL,
        hours BLOB NOT NULL,
        waits BLOB NOT NULL,
        durations BLOB NOT NULL,
        PRIMARY KEY (tenant_id, day, branch)
    ) WITHOUT ROWID;
    ALTER TABLE tenants ADD COLUMN archive_cert BLOB;
    ALTER TABLE tenants ADD COLUMN archive_contracts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tenants ADD COLUMN archive_transcripts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tenants ADD COLUMN retain_archive_days INTEGER NOT NULL DEFAULT 3650;
    CREATE TABLE archives (
        id TEXT PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        consultation_id TEXT NOT NULL,
        reference TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('contract', 'transcript')),
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        data BLOB NOT NULL
    );
    CREATE INDEX archives_by_consultation ON archives(consultation_id);
    CREATE INDEX archives_by_expiry ON archives(expires_at);
    """,
    # 8: who is online, for `kiosk-hub adviser list` in a process of its own: the hub renews
    # the lease while an account's console is connected and clears it on close (a crashed
    # hub's lease just expires; docs/storage.md)
    """
    ALTER TABLE advisers ADD COLUMN online_until REAL;
    """,
)
LATEST_VERSION = len(MIGRATIONS)


class transaction:
    """``with transaction(conn):`` BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")


def current_version(conn: sqlite3.Connection) -> int:
    """The highest migration recorded in ``schema_version`` (0 for a new file)."""
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to ``LATEST_VERSION``, one transaction per migration."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    current = current_version(conn)
    if current > LATEST_VERSION:
        raise SchemaTooNew(
            f"database schema version {current} is newer than this hub supports "
            f"({LATEST_VERSION}); upgrade the hub"
        )
    for version in range(current + 1, LATEST_VERSION + 1):
        with transaction(conn):
            check = _CHECKS_BEFORE.get(version)
            if check is not None:
                check(conn)
            # executescript would COMMIT on its own; run statement by statement instead.
            for statement in _statements(MIGRATIONS[version - 1]):
                conn.execute(statement)
            after = _STEPS_AFTER.get(version)
            if after is not None:
                after(conn)
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, time.time()),
            )


def _check_before_2(conn: sqlite3.Connection) -> None:
    """Refuse to upgrade while an adviser name is used in more than one tenant."""
    rows = conn.execute(
        "SELECT a.name, group_concat(t.name || ' (adviser id ' || a.id || ')', ', ') "
        "FROM advisers a JOIN tenants t ON t.id = a.tenant_id "
        "GROUP BY a.name HAVING count(*) > 1 ORDER BY a.name"
    ).fetchall()
    if rows:
        clashes = "; ".join(f"{name!r} in {where}" for name, where in rows[:10])
        raise StorageError(
            "cannot upgrade the hub database: adviser names are now login names and must be "
            f"unique across tenants, but these are used more than once: {clashes}. Rename all "
            "but one of each in the advisers table (by adviser id, with the sqlite3 shell) and "
            "start the hub again"
        )


def _fill_after_7(conn: sqlite3.Connection) -> None:
    """Fill the statistics roll-ups from the consultations already ended."""
    from hub.storage.sqlite_stats_ops import rebuild_in_transaction  # it imports this module

    rebuild_in_transaction(conn, None)


_CHECKS_BEFORE: dict[int, Callable[[sqlite3.Connection], None]] = {2: _check_before_2}
_STEPS_AFTER: dict[int, Callable[[sqlite3.Connection], None]] = {7: _fill_after_7}


def _statements(script: str) -> list[str]:
    # Our migrations contain no ';' inside literals or triggers, so a plain split is exact.
    return [s.strip() for s in script.split(";") if s.strip()]
