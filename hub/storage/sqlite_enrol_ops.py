"""Enrolment's operations as plain synchronous SQLite code: tenant CAs, codes, certificates.

Like ``sqlite_ops``: each function takes the connection first, is one transaction, and runs
only on the engine's own threads. The CA's signing happens before these are called; a
certificate whose transaction fails is never stored, and a hello checks the stored serial, so
such a certificate is useless (nothing half-enrolled).
"""

from __future__ import annotations

import hmac
import secrets
import sqlite3

from hub.storage.checks import NO_TOKEN_PREFIX
from hub.storage.errors import CertificateRefused, CodeRefused, DuplicateName, NotFound
from hub.storage.records import (
    WIPE_REPORT_DEADLINE_S,
    Device,
    DeviceCertificate,
    DeviceStatus,
    EnrolmentCodeRecord,
    NewCertificate,
    RevokedSerial,
    Tenant,
    TenantCa,
)
from hub.storage.sqlite_ops import _rowid, tenant
from hub.storage.sqlite_report_ops import latest_reports
from hub.storage.sqlite_rows import Row, _all, _one
from hub.storage.sqlite_schema import transaction

CODE_REFUSED = "unknown, expired or used enrolment code; ask for a new code"

# -- tenant CAs -----------------------------------------------------------


def tenant_ca(conn: sqlite3.Connection, tenant_name: str) -> TenantCa | None:
    """The CA of the tenant of that name (``NotFound`` without such a tenant; None: no CA yet)."""
    t = tenant(conn, tenant_name)
    row = _one(conn, "SELECT cert_der, key_sealed FROM tenant_ca WHERE tenant_id = ?", (t.id,))
    return None if row is None else TenantCa(t, bytes(row[0]), bytes(row[1]))


def tenants_without_ca(conn: sqlite3.Connection) -> list[Tenant]:
    """Tenants that have no CA yet, by name."""
    rows = _all(
        conn,
        "SELECT t.id, t.name FROM tenants t LEFT JOIN tenant_ca c ON c.tenant_id = t.id "
        "WHERE c.tenant_id IS NULL ORDER BY t.name",
    )
    return [Tenant(r[0], r[1]) for r in rows]


def store_tenant_ca(
    conn: sqlite3.Connection, tenant_id: int, cert_der: bytes, key_sealed: bytes, now: float
) -> TenantCa:
    """Store a tenant's CA unless it has one; return the one stored (two makers: first wins)."""
    with transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO tenant_ca (tenant_id, cert_der, key_sealed, created_at) "
            "VALUES (?, ?, ?, ?)",
            (tenant_id, cert_der, key_sealed, now),
        )
        row = _one(
            conn,
            "SELECT t.name, c.cert_der, c.key_sealed FROM tenant_ca c "
            "JOIN tenants t ON t.id = c.tenant_id WHERE c.tenant_id = ?",
            (tenant_id,),
        )
    if row is None:
        raise NotFound(f"no tenant with id {tenant_id}")
    return TenantCa(Tenant(tenant_id, row[0]), bytes(row[1]), bytes(row[2]))


# -- enrolment codes ------------------------------------------------------


def _code(row: Row) -> EnrolmentCodeRecord:
    return EnrolmentCodeRecord(
        id=row[0],
        tenant=Tenant(row[1], row[2]),
        device_name=row[3],
        secret_hmac=row[4],
        created_at=row[5],
        expires_at=row[6],
        failures=row[7],
        used_at=row[8],
    )


_CODE_COLUMNS = (
    "SELECT c.id, t.id, t.name, c.device_name, c.secret_hmac, c.created_at, c.expires_at, "
    "c.failures, c.used_at FROM enrolment_codes c JOIN tenants t ON t.id = c.tenant_id "
)


def add_enrolment_code(
    conn: sqlite3.Connection,
    code_id: str,
    device_name: str,
    secret_hmac: str,
    tenant_name: str,
    now: float,
    expires_at: float,
) -> EnrolmentCodeRecord:
    """Store a new code for a device (created pending if new); older unused codes of it die."""
    t = tenant(conn, tenant_name)
    with transaction(conn):
        device = _one(
            conn, "SELECT id FROM devices WHERE tenant_id = ? AND name = ?", (t.id, device_name)
        )
        if device is None:
            conn.execute(
                "INSERT INTO devices (tenant_id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
                (t.id, device_name, NO_TOKEN_PREFIX + secrets.token_hex(16), now),
            )
        conn.execute(
            "UPDATE enrolment_codes SET used_at = ? "
            "WHERE tenant_id = ? AND device_name = ? AND used_at IS NULL",
            (now, t.id, device_name),
        )
        try:
            conn.execute(
                "INSERT INTO enrolment_codes (id, tenant_id, device_name, secret_hmac, "
                "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (code_id, t.id, device_name, secret_hmac, now, expires_at),
            )
        except sqlite3.IntegrityError:
            raise DuplicateName("that enrolment code id is taken; make a new code") from None
    return EnrolmentCodeRecord(code_id, t, device_name, secret_hmac, now, expires_at, 0, None)


def enrolment_code(conn: sqlite3.Connection, code_id: str) -> EnrolmentCodeRecord | None:
    """The code with that id, whatever its state, or None."""
    row = _one(conn, _CODE_COLUMNS + "WHERE c.id = ?", (code_id,))
    return None if row is None else _code(row)


def take_enrolment_attempt(
    conn: sqlite3.Connection, code_id: str, now: float, max_failures: int
) -> EnrolmentCodeRecord | None:
    """Count an attempt at a live code before its secret is compared; the code, or None.

    The guarded UPDATE is the reservation: parallel attempts cannot all see the same count.
    """
    with transaction(conn):
        cur = conn.execute(
            "UPDATE enrolment_codes SET failures = failures + 1 WHERE id = ? "
            "AND used_at IS NULL AND expires_at > ? AND failures < ?",
            (code_id, now, max_failures),
        )
        row = _one(conn, _CODE_COLUMNS + "WHERE c.id = ?", (code_id,)) if cur.rowcount else None
    return None if row is None else _code(row)


def give_back_enrolment_attempt(conn: sqlite3.Connection, code_id: str) -> None:
    """Uncount an attempt whose secret was right (only wrong secrets count)."""
    with transaction(conn):
        conn.execute(
            "UPDATE enrolment_codes SET failures = failures - 1 WHERE id = ? AND failures > 0",
            (code_id,),
        )


def _live_code(
    conn: sqlite3.Connection, code_id: str, secret_hmac: str, now: float, max_failures: int
) -> EnrolmentCodeRecord:
    row = _one(conn, _CODE_COLUMNS + "WHERE c.id = ?", (code_id,))
    if row is None:
        raise CodeRefused(CODE_REFUSED)
    code = _code(row)
    usable = code.used_at is None and code.failures < max_failures and now < code.expires_at
    if not usable or not hmac.compare_digest(code.secret_hmac, secret_hmac):
        raise CodeRefused(CODE_REFUSED)
    return code


def _insert_certificate(
    conn: sqlite3.Connection, device_id: int, cert: NewCertificate, now: float
) -> None:
    conn.execute(
        "INSERT INTO device_certificates (serial, device_id, spki_sha256, cert_der, not_before, "
        "not_after, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            cert.serial,
            device_id,
            cert.spki_sha256,
            cert.cert_der,
            cert.not_before,
            cert.not_after,
            now,
        ),
    )


def enrol_device(
    conn: sqlite3.Connection,
    code_id: str,
    secret_hmac: str,
    cert: NewCertificate,
    now: float,
    max_failures: int,
) -> Device:
    """Use up a code and store the device's first certificate, all or nothing.

    The code is checked again inside the transaction (two requests with one code: one wins).
    The device's earlier certificates are revoked, its token retired, it is un-revoked.
    """
    with transaction(conn):
        code = _live_code(conn, code_id, secret_hmac, now, max_failures)
        row = _one(
            conn,
            "SELECT id, created_at FROM devices WHERE tenant_id = ? AND name = ?",
            (code.tenant.id, code.device_name),
        )
        if row is None:  # revoked codes' devices are kept; only a manual delete gets here
            cur = conn.execute(
                "INSERT INTO devices (tenant_id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
                (code.tenant.id, code.device_name, NO_TOKEN_PREFIX + secrets.token_hex(16), now),
            )
            device_id, created_at = _rowid(cur), now
        else:
            device_id, created_at = int(row[0]), float(row[1])
        conn.execute(
            "UPDATE device_certificates SET revoked_at = ? "
            "WHERE device_id = ? AND revoked_at IS NULL",
            (now, device_id),
        )
        conn.execute(
            "UPDATE devices SET revoked = 0, token_hash = ? WHERE id = ?",
            (NO_TOKEN_PREFIX + secrets.token_hex(16), device_id),
        )
        _insert_certificate(conn, device_id, cert, now)
        conn.execute("UPDATE enrolment_codes SET used_at = ? WHERE id = ?", (now, code_id))
    return Device(device_id, code.device_name, code.tenant, created_at, False)


# -- certificates ---------------------------------------------------------

_CERT_COLUMNS = (
    "SELECT c.serial, d.id, d.name, t.id, t.name, d.created_at, d.revoked, c.spki_sha256, "
    "c.cert_der, c.not_before, c.not_after, c.revoked_at FROM device_certificates c "
    "JOIN devices d ON d.id = c.device_id JOIN tenants t ON t.id = d.tenant_id "
)


def _certificate(row: Row) -> DeviceCertificate:
    device = Device(row[1], row[2], Tenant(row[3], row[4]), row[5], bool(row[6]))
    return DeviceCertificate(row[0], device, row[7], bytes(row[8]), row[9], row[10], row[11])


def device_certificate(conn: sqlite3.Connection, serial: str) -> DeviceCertificate | None:
    """The certificate with that serial (lower-case hex), or None."""
    row = _one(conn, _CERT_COLUMNS + "WHERE c.serial = ?", (serial,))
    return None if row is None else _certificate(row)


def certificate_for_key(conn: sqlite3.Connection, spki_sha256: str) -> DeviceCertificate | None:
    """The newest certificate issued for that public key (SPKI SHA-256), or None."""
    row = _one(
        conn,
        _CERT_COLUMNS + "WHERE c.spki_sha256 = ? ORDER BY c.not_after DESC, c.rowid DESC",
        (spki_sha256,),
    )
    return None if row is None else _certificate(row)


def certificate_valid(conn: sqlite3.Connection, serial: str, now: float) -> bool:
    """Whether a certificate is stored, unrevoked, unexpired, and its device not revoked."""
    row = _one(
        conn,
        "SELECT 1 FROM device_certificates c JOIN devices d ON d.id = c.device_id "
        "WHERE c.serial = ? AND c.revoked_at IS NULL AND d.revoked = 0 AND c.not_after > ?",
        (serial, now),
    )
    return row is not None


def renew_certificate(
    conn: sqlite3.Connection, old_serial: str, cert: NewCertificate, now: float
) -> Device:
    """Store a renewed certificate for the device holding ``old_serial`` (which stays valid)."""
    with transaction(conn):
        row = _one(conn, _CERT_COLUMNS + "WHERE c.serial = ?", (old_serial,))
        if row is None:
            raise CertificateRefused("unknown", "this hub did not issue that certificate")
        old = _certificate(row)
        if old.revoked_at is not None or old.device.revoked:
            raise CertificateRefused(
                "revoked", "the certificate was revoked; the device needs a fresh enrolment code"
            )
        if old.not_after <= now:
            raise CertificateRefused(
                "expired", "the certificate has expired; the device needs a fresh enrolment code"
            )
        _insert_certificate(conn, old.device.id, cert, now)
    return old.device


def revoked_serials(conn: sqlite3.Connection, tenant_id: int) -> list[RevokedSerial]:
    """The tenant's revoked certificates (those not yet expired and the rest), oldest first."""
    rows = _all(
        conn,
        "SELECT c.serial, c.revoked_at FROM device_certificates c "
        "JOIN devices d ON d.id = c.device_id "
        "WHERE d.tenant_id = ? AND c.revoked_at IS NOT NULL ORDER BY c.revoked_at, c.serial",
        (tenant_id,),
    )
    return [RevokedSerial(r[0], r[1]) for r in rows]


# -- devices' state -------------------------------------------------------


def device_seen(conn: sqlite3.Connection, device_id: int, now: float, version: str | None) -> None:
    """Record a device's hello: when, and the software it reported."""
    conn.execute(
        "UPDATE devices SET last_seen = ?, version = COALESCE(?, version) WHERE id = ?",
        (now, version, device_id),
    )


def device_statuses(
    conn: sqlite3.Connection, now: float, tenant_id: int | None = None
) -> list[DeviceStatus]:
    """All devices (of one tenant, or all) with their state, last hello, certificate expiry,
    version, latest self-test and wipe reports, and their wipe alarms."""
    rows = _all(
        conn,
        "SELECT d.id, d.name, t.id, t.name, d.created_at, d.revoked, d.token_hash, d.last_seen, "
        "d.version, (SELECT MAX(c.not_after) FROM device_certificates c "
        "WHERE c.device_id = d.id AND c.revoked_at IS NULL), d.branch "
        "FROM devices d JOIN tenants t ON t.id = d.tenant_id WHERE ? IS NULL OR t.id = ? "
        "ORDER BY t.name, d.name",
        (tenant_id, tenant_id),
    )
    reports = latest_reports(conn)
    failed, missing = wipe_alarms(conn, now)
    out = []
    for r in rows:
        revoked, token_hash, not_after = bool(r[5]), str(r[6]), r[9]
        if revoked:
            state = "revoked"
        elif not_after is not None:
            state = "enrolled" if now < not_after else "expired"
        elif not token_hash.startswith(NO_TOKEN_PREFIX):
            state = "active"
        else:
            state = "pending"
        device = Device(r[0], r[1], Tenant(r[2], r[3]), r[4], revoked, r[10])
        selftest, wipe = reports.get((device.id, "selftest")), reports.get((device.id, "wipe"))
        alarms = (failed.get(device.id, 0), missing.get(device.id, 0))
        out.append(DeviceStatus(device, state, r[7], not_after, r[8], selftest, wipe, *alarms))
    return out


def wipe_alarms(conn: sqlite3.Connection, now: float) -> tuple[dict[int, int], dict[int, int]]:
    """Per device id: kept consultations whose wipe failed, and accepted ones ended over
    ``WIPE_REPORT_DEADLINE_S`` ago without a wipe report (both by partial indexes)."""
    failed = _all(
        conn, "SELECT device_id, count(*) FROM consultations WHERE wipe_ok = 0 GROUP BY 1"
    )
    missing = _all(
        conn,
        "SELECT device_id, count(*) FROM consultations WHERE wipe_ok IS NULL "
        "AND ended_at < ? AND accepted_at IS NOT NULL GROUP BY 1",
        (now - WIPE_REPORT_DEADLINE_S,),
    )
    return {r[0]: r[1] for r in failed}, {r[0]: r[1] for r in missing}
