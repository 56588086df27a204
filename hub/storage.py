"""The hub's persistent state in SQLite: tenants, advisers, devices, web sessions, consultations.

The schema is versioned: ``MIGRATIONS`` is an ordered list, each applied once in its own
transaction and recorded in ``schema_version``. Secrets are never stored in the clear: device
tokens and session ids as SHA-256, passwords as argon2id. Consultation rows hold ids and times
only, nothing about the customer.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sqlite3
import stat
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

DEFAULT_TENANT = "default"
NAME_MAX = 64  # the protocol's limit for names shown to the other side
PASSWORD_MIN = 10
PASSWORD_MAX = 1024


DEVICE_TOKEN_PREFIX = "bkd_"  # noqa: S105 - a public prefix, not a secret
MIB = 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 25 * MIB  # the migration's column default says the same
MAX_FILE_BYTES_LIMIT = 1024 * MIB  # protocol.messages.MAX_FILE_BYTES_LIMIT
# The database holds password hashes and CSRF tokens: owner only.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
JOURNAL_SUFFIXES = ("-wal", "-shm", "-journal")

log = logging.getLogger(__name__)


class StorageError(Exception):
    """The hub's database refused an operation; the message says what to fix."""


class DuplicateName(StorageError):
    """A tenant, adviser or device of that name already exists."""


class NotFound(StorageError):
    """No tenant, adviser or device of that name."""


class InvalidName(StorageError):
    """A name that is empty, too long or contains control characters."""


class WeakPassword(StorageError):
    """A password too short (or absurdly long) to accept."""


class InvalidLimit(StorageError):
    """A size limit out of the allowed range."""


class SchemaTooNew(StorageError):
    """The database was written by a newer hub; refuse rather than corrupt it."""


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
)
LATEST_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Tenant:
    """A bank (or branch network) whose advisers serve only its own kiosks."""

    id: int
    name: str


@dataclass(frozen=True)
class Adviser:
    """A person who logs into the console."""

    id: int
    name: str
    tenant: Tenant


@dataclass(frozen=True)
class AdviserLogin:
    """An adviser and the stored argon2 hash to check a password against."""

    adviser: Adviser
    password_hash: str


@dataclass(frozen=True)
class Device:
    """A kiosk registered with the hub."""

    id: int
    name: str
    tenant: Tenant
    created_at: float
    revoked: bool


@dataclass(frozen=True)
class WebSession:
    """A logged-in console session."""

    adviser: Adviser
    csrf: str
    expires_at: float


@dataclass(frozen=True)
class TenantLimits:
    """A tenant with its settings, for ``kiosk-hub tenant list``."""

    tenant: Tenant
    max_file_bytes: int


@dataclass(frozen=True)
class LiveConsultation:
    """A consultation that was accepted and has not ended: the hub restores it after a restart."""

    id: str
    tenant: Tenant
    device_id: int
    device: str
    adviser_id: int
    adviser: str


@dataclass(frozen=True)
class ConsultationRecord:
    """One row of the consultation log (no personal data)."""

    id: str
    tenant: str
    device: str
    adviser: str | None
    queued_at: float
    accepted_at: float | None
    ended_at: float | None
    end_reason: str | None


def secret_digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (token, session id): safe to store and look up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_name(name: str, what: str) -> str:
    """Validate a display name; raise ``InvalidName`` with a message a technician can act on."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise InvalidName(f"{what} name must not be empty")
    if len(name) > NAME_MAX:
        raise InvalidName(f"{what} name must be at most {NAME_MAX} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name):
        raise InvalidName(f"{what} name must not contain control characters")
    return name


def check_max_file_bytes(value: int) -> int:
    """Refuse a per-file limit below 0 or above ``MAX_FILE_BYTES_LIMIT``."""
    if not 0 <= value <= MAX_FILE_BYTES_LIMIT:
        raise InvalidLimit(
            f"the file size limit must be between 0 and {MAX_FILE_BYTES_LIMIT // MIB} MiB"
        )
    return value


def check_password(password: str) -> None:
    """Refuse passwords that are too short or too long."""
    if len(password) < PASSWORD_MIN:
        raise WeakPassword(f"password must be at least {PASSWORD_MIN} characters long")
    if len(password) > PASSWORD_MAX:
        raise WeakPassword(f"password must be at most {PASSWORD_MAX} characters long")


def make_private(path: Path) -> None:
    """Make the database at ``path`` readable by its owner only, whatever the umask.

    Missing directories are created 0700 and a missing database file 0600; SQLite gives its
    journal files (``-wal``, ``-shm``, ``-journal``) the database file's mode. An existing
    database or journal open to others is tightened to 0600 with a warning (or only warned
    about when this process may not change it). Existing directories are left as they are.
    """
    missing: list[Path] = []
    directory = path.parent
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to change
        os.chmod(directory, PRIVATE_DIR_MODE)  # the umask may have taken owner bits away
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)
        finally:
            os.close(fd)
    for file in (path, *(path.with_name(path.name + s) for s in JOURNAL_SUFFIXES)):
        _tighten(file)


def _tighten(file: Path) -> None:
    try:
        mode = stat.S_IMODE(file.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077 == 0:
        return
    try:
        os.chmod(file, PRIVATE_FILE_MODE)
    except OSError as exc:
        log.warning(
            "%s is readable by other users (mode %04o) and cannot be changed (%s); "
            "run chmod 600 on it as its owner",
            file,
            mode,
            exc.strerror,
        )
    else:
        log.warning("%s was open to other users (mode %04o); made it 0600", file, mode)


class Storage:
    """A SQLite database file; open with ``Storage.open``, close with ``close``.

    All methods are synchronous and quick, except argon2 hashing and verification; the HTTP
    handlers run ``verify_password`` in a worker thread.
    """

    def __init__(self, conn: sqlite3.Connection, hasher: PasswordHasher) -> None:
        self._conn = conn
        self._hasher = hasher
        self._dummy_hash: str | None = None

    @classmethod
    def open(cls, path: Path, *, hasher: PasswordHasher | None = None) -> Storage:
        """Open (creating if needed) the database at ``path`` and bring its schema up to date."""
        try:
            make_private(path)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves; check_same_thread=False
            # because the event loop may hand a storage call to a worker thread.
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the hub database {path}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            _migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StorageError(f"{path} is not a usable hub database: {exc}") from exc
        except StorageError:
            conn.close()
            raise
        return cls(conn, hasher or PasswordHasher())

    def close(self) -> None:
        """Checkpoint the write-ahead log and close the file."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass  # closing anyway; SQLite replays the WAL on next open
        self._conn.close()

    def schema_version(self) -> int:
        """The highest migration applied to this database."""
        return _current_version(self._conn)

    # -- tenants ----------------------------------------------------------

    def add_tenant(
        self, name: str, *, now: float, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    ) -> Tenant:
        """Create a tenant (``max_file_bytes``: its limit for one exchanged file)."""
        name = check_name(name, "tenant")
        check_max_file_bytes(max_file_bytes)
        try:
            cur = self._conn.execute(
                "INSERT INTO tenants (name, created_at, max_file_bytes) VALUES (?, ?, ?)",
                (name, now, max_file_bytes),
            )
        except sqlite3.IntegrityError:
            raise DuplicateName(f"tenant {name!r} already exists") from None
        return Tenant(_rowid(cur), name)

    def set_max_file_bytes(self, name: str, max_file_bytes: int) -> None:
        """Change a tenant's per-file limit (connections made from now on get it)."""
        check_max_file_bytes(max_file_bytes)
        cur = self._conn.execute(
            "UPDATE tenants SET max_file_bytes = ? WHERE name = ?", (max_file_bytes, name)
        )
        if cur.rowcount == 0:
            raise NotFound(f"no tenant named {name!r}")

    def max_file_bytes(self, tenant_id: int) -> int:
        """A tenant's limit for one exchanged file (plaintext bytes)."""
        row = self._conn.execute(
            "SELECT max_file_bytes FROM tenants WHERE id = ?", (tenant_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no tenant with id {tenant_id}")
        return int(row[0])

    def tenants(self) -> list[TenantLimits]:
        """All tenants with their limits, by name."""
        rows = self._conn.execute(
            "SELECT id, name, max_file_bytes FROM tenants ORDER BY name"
        ).fetchall()
        return [TenantLimits(Tenant(r[0], r[1]), r[2]) for r in rows]

    def tenant(self, name: str) -> Tenant:
        """The tenant of that name, or ``NotFound``."""
        row = self._conn.execute("SELECT id, name FROM tenants WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no tenant named {name!r}")
        return Tenant(row[0], row[1])

    # -- advisers ---------------------------------------------------------

    def add_adviser(
        self, name: str, password: str, *, now: float, tenant: str = DEFAULT_TENANT
    ) -> Adviser:
        """Create an adviser with an argon2id password hash.

        Adviser names are login names and so unique across all tenants (``DuplicateName``).
        """
        name = check_name(name, "adviser")
        check_password(password)
        t = self.tenant(tenant)
        password_hash = self._hasher.hash(password)
        try:
            cur = self._conn.execute(
                "INSERT INTO advisers (tenant_id, name, password_hash, created_at) "
                "VALUES (?, ?, ?, ?)",
                (t.id, name, password_hash, now),
            )
        except sqlite3.IntegrityError:
            row = self._conn.execute(
                "SELECT t.name FROM advisers a JOIN tenants t ON t.id = a.tenant_id "
                "WHERE a.name = ?",
                (name,),
            ).fetchone()
            where = t.name if row is None else row[0]
            raise DuplicateName(
                f"adviser {name!r} already exists in tenant {where!r} "
                "(adviser names are login names: unique across all tenants)"
            ) from None
        return Adviser(_rowid(cur), name, t)

    def set_password(self, name: str, password: str, *, tenant: str = DEFAULT_TENANT) -> None:
        """Replace an adviser's password; their open web sessions end."""
        check_password(password)
        t = self.tenant(tenant)
        password_hash = self._hasher.hash(password)
        with _transaction(self._conn):
            cur = self._conn.execute(
                "UPDATE advisers SET password_hash = ? WHERE tenant_id = ? AND name = ?",
                (password_hash, t.id, name),
            )
            if cur.rowcount == 0:
                raise NotFound(f"no adviser {name!r} in tenant {t.name!r}")
            self._conn.execute(
                "DELETE FROM web_sessions WHERE adviser_id IN "
                "(SELECT id FROM advisers WHERE tenant_id = ? AND name = ?)",
                (t.id, name),
            )

    def advisers(self) -> list[Adviser]:
        """All advisers, by tenant then name."""
        rows = self._conn.execute(
            "SELECT a.id, a.name, t.id, t.name FROM advisers a "
            "JOIN tenants t ON t.id = a.tenant_id ORDER BY t.name, a.name"
        ).fetchall()
        return [Adviser(r[0], r[1], Tenant(r[2], r[3])) for r in rows]

    def adviser_login(self, name: str) -> AdviserLogin | None:
        """The adviser called ``name`` (names are unique across tenants) and their hash."""
        try:
            name = check_name(name, "adviser")
        except InvalidName:
            return None
        row = self._conn.execute(
            "SELECT a.id, a.name, t.id, t.name, a.password_hash FROM advisers a "
            "JOIN tenants t ON t.id = a.tenant_id WHERE a.name = ?",
            (name,),
        ).fetchone()
        if row is None:
            return None
        return AdviserLogin(Adviser(row[0], row[1], Tenant(row[2], row[3])), row[4])

    def verify_password(self, password_hash: str | None, password: str) -> bool:
        """Check a password against an argon2 hash (slow: run it off the event loop).

        With ``password_hash=None`` a dummy hash is checked, so an unknown name costs the same.
        """
        if password_hash is None:
            # A real hash to verify against when the name is unknown, so timing does not tell.
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
            password_hash = self._dummy_hash
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    # -- devices ----------------------------------------------------------

    def add_device(
        self, name: str, *, now: float, tenant: str = DEFAULT_TENANT, replace: bool = False
    ) -> tuple[Device, str]:
        """Register a kiosk and return it with its new token (shown once, stored as a hash).

        With ``replace=True`` an existing device of that name gets a fresh token (and is
        un-revoked); the old token stops working at once.
        """
        name = check_name(name, "device")
        t = self.tenant(tenant)
        # A fixed prefix: a token never starts with "-" (which a shell command line would take
        # for an option) and secret scanners can recognise it.
        token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = secret_digest(token)
        with _transaction(self._conn):
            row = self._conn.execute(
                "SELECT id, created_at FROM devices WHERE tenant_id = ? AND name = ?", (t.id, name)
            ).fetchone()
            if row is not None:
                if not replace:
                    raise DuplicateName(
                        f"device {name!r} already exists in tenant {t.name!r} "
                        "(use --replace to issue a new token)"
                    )
                self._conn.execute(
                    "UPDATE devices SET token_hash = ?, revoked = 0 WHERE id = ?", (digest, row[0])
                )
                return Device(row[0], name, t, row[1], False), token
            if replace:
                raise NotFound(f"no device named {name!r} in tenant {t.name!r} to replace")
            cur = self._conn.execute(
                "INSERT INTO devices (tenant_id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
                (t.id, name, digest, now),
            )
            return Device(_rowid(cur), name, t, now, False), token

    def revoke_device(self, name: str, *, tenant: str = DEFAULT_TENANT) -> None:
        """Stop accepting a device's token."""
        t = self.tenant(tenant)
        cur = self._conn.execute(
            "UPDATE devices SET revoked = 1 WHERE tenant_id = ? AND name = ?", (t.id, name)
        )
        if cur.rowcount == 0:
            raise NotFound(f"no device named {name!r} in tenant {t.name!r}")

    def devices(self) -> list[Device]:
        """All devices, by tenant then name."""
        rows = self._conn.execute(
            "SELECT d.id, d.name, t.id, t.name, d.created_at, d.revoked FROM devices d "
            "JOIN tenants t ON t.id = d.tenant_id ORDER BY t.name, d.name"
        ).fetchall()
        return [Device(r[0], r[1], Tenant(r[2], r[3]), r[4], bool(r[5])) for r in rows]

    def device_for_token(self, token: str) -> Device | None:
        """The non-revoked device holding ``token``, or None."""
        row = self._conn.execute(
            "SELECT d.id, d.name, t.id, t.name, d.created_at FROM devices d "
            "JOIN tenants t ON t.id = d.tenant_id WHERE d.token_hash = ? AND d.revoked = 0",
            (secret_digest(token),),
        ).fetchone()
        if row is None:
            return None
        return Device(row[0], row[1], Tenant(row[2], row[3]), row[4], False)

    def device_token_valid(self, device_id: int, token_digest: str) -> bool:
        """Whether a device still holds that token (not revoked, not replaced)."""
        row = self._conn.execute(
            "SELECT 1 FROM devices WHERE id = ? AND token_hash = ? AND revoked = 0",
            (device_id, token_digest),
        ).fetchone()
        return row is not None

    # -- web sessions -----------------------------------------------------

    def create_session(self, adviser: Adviser, *, now: float, lifetime_s: float) -> tuple[str, str]:
        """Start a console session; return (session id for the cookie, csrf token)."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        self._conn.execute(
            "INSERT INTO web_sessions (id_hash, adviser_id, csrf, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (secret_digest(session_id), adviser.id, csrf, now, now + lifetime_s),
        )
        return session_id, csrf

    def session(self, session_id: str, *, now: float) -> WebSession | None:
        """The live session for a cookie value, or None when unknown or expired."""
        row = self._conn.execute(
            "SELECT a.id, a.name, t.id, t.name, s.csrf, s.expires_at FROM web_sessions s "
            "JOIN advisers a ON a.id = s.adviser_id JOIN tenants t ON t.id = a.tenant_id "
            "WHERE s.id_hash = ? AND s.expires_at > ?",
            (secret_digest(session_id), now),
        ).fetchone()
        if row is None:
            return None
        return WebSession(Adviser(row[0], row[1], Tenant(row[2], row[3])), row[4], row[5])

    def session_live(self, session_digest: str, *, now: float) -> bool:
        """Whether the session with that ``secret_digest`` of its id exists and has not expired."""
        row = self._conn.execute(
            "SELECT 1 FROM web_sessions WHERE id_hash = ? AND expires_at > ?",
            (session_digest, now),
        ).fetchone()
        return row is not None

    def delete_session(self, session_id: str) -> None:
        """End a console session (logout)."""
        self._conn.execute(
            "DELETE FROM web_sessions WHERE id_hash = ?", (secret_digest(session_id),)
        )

    def purge_sessions(self, *, now: float) -> int:
        """Delete expired sessions; return how many."""
        return self._conn.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,)).rowcount

    # -- consultations ----------------------------------------------------

    def consultation_queued(self, consultation_id: str, device: Device, *, now: float) -> None:
        """Record that a kiosk joined the queue."""
        self._conn.execute(
            "INSERT INTO consultations (id, tenant_id, device_id, queued_at) VALUES (?, ?, ?, ?)",
            (consultation_id, device.tenant.id, device.id, now),
        )

    def consultation_accepted(self, consultation_id: str, adviser: Adviser, *, now: float) -> None:
        """Record that an adviser took the consultation."""
        self._conn.execute(
            "UPDATE consultations SET adviser_id = ?, accepted_at = ? WHERE id = ?",
            (adviser.id, now, consultation_id),
        )

    def consultation_ended(self, consultation_id: str, reason: str, *, now: float) -> None:
        """Record the end of a consultation (only the first end counts); its tokens die."""
        with _transaction(self._conn):
            self._conn.execute(
                "UPDATE consultations SET ended_at = ?, end_reason = ? "
                "WHERE id = ? AND ended_at IS NULL",
                (now, reason, consultation_id),
            )
            self._conn.execute(
                "DELETE FROM resume_tokens WHERE consultation_id = ?", (consultation_id,)
            )

    def live_consultations(self) -> list[LiveConsultation]:
        """Consultations accepted and not ended (after a restart: the ones to restore)."""
        rows = self._conn.execute(
            "SELECT c.id, t.id, t.name, d.id, d.name, a.id, a.name FROM consultations c "
            "JOIN tenants t ON t.id = c.tenant_id JOIN devices d ON d.id = c.device_id "
            "JOIN advisers a ON a.id = c.adviser_id "
            "WHERE c.accepted_at IS NOT NULL AND c.ended_at IS NULL ORDER BY c.accepted_at"
        ).fetchall()
        return [LiveConsultation(r[0], Tenant(r[1], r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def end_waiting_consultations(self, reason: str, *, now: float) -> int:
        """End the queued, never accepted ones (a restarted hub's queue starts empty)."""
        return self._conn.execute(
            "UPDATE consultations SET ended_at = ?, end_reason = ? "
            "WHERE accepted_at IS NULL AND ended_at IS NULL",
            (now, reason),
        ).rowcount

    # -- resume tokens ----------------------------------------------------

    def grant_resume_token(
        self, consultation_id: str, role: str, principal_id: int, token_digest: str, *, now: float
    ) -> None:
        """Store a resume token's hash; it replaces that side's previous token."""
        with _transaction(self._conn):
            self._conn.execute(
                "DELETE FROM resume_tokens WHERE consultation_id = ? AND role = ?",
                (consultation_id, role),
            )
            self._conn.execute(
                "INSERT INTO resume_tokens "
                "(token_hash, consultation_id, role, principal_id, issued_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_digest, consultation_id, role, principal_id, now),
            )

    def take_resume_token(
        self, consultation_id: str, role: str, principal_id: int, token_digest: str
    ) -> bool:
        """Use up a token if it is the one granted to this side and principal (single use).

        A token presented by anyone else stays valid for its owner.
        """
        cur = self._conn.execute(
            "DELETE FROM resume_tokens WHERE token_hash = ? AND consultation_id = ? "
            "AND role = ? AND principal_id = ?",
            (token_digest, consultation_id, role, principal_id),
        )
        return cur.rowcount == 1

    def consultations(self) -> list[ConsultationRecord]:
        """The consultation log, oldest first."""
        rows = self._conn.execute(
            "SELECT c.id, t.name, d.name, a.name, c.queued_at, c.accepted_at, c.ended_at, "
            "c.end_reason FROM consultations c JOIN tenants t ON t.id = c.tenant_id "
            "JOIN devices d ON d.id = c.device_id LEFT JOIN advisers a ON a.id = c.adviser_id "
            "ORDER BY c.queued_at, c.rowid"
        ).fetchall()
        return [ConsultationRecord(*r) for r in rows]


class _transaction:
    """``with _transaction(conn):`` BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")


def _rowid(cur: sqlite3.Cursor) -> int:
    rowid = cur.lastrowid
    if rowid is None:  # cannot happen after a successful INSERT
        raise StorageError("the database did not return the new row's id")
    return rowid


def _current_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    current = _current_version(conn)
    if current > LATEST_VERSION:
        raise SchemaTooNew(
            f"database schema version {current} is newer than this hub supports "
            f"({LATEST_VERSION}); upgrade the hub"
        )
    for version in range(current + 1, LATEST_VERSION + 1):
        with _transaction(conn):
            check = _CHECKS_BEFORE.get(version)
            if check is not None:
                check(conn)
            # executescript would COMMIT on its own; run statement by statement instead.
            for statement in _statements(MIGRATIONS[version - 1]):
                conn.execute(statement)
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


_CHECKS_BEFORE: dict[int, Callable[[sqlite3.Connection], None]] = {2: _check_before_2}


def _statements(script: str) -> list[str]:
    # Our migrations contain no ';' inside literals or triggers, so a plain split is exact.
    return [s.strip() for s in script.split(";") if s.strip()]
