"""The sealed archive as plain synchronous SQLite code (docs/archive.md).

Like ``sqlite_ops``: each function takes the connection first and runs only on the engine's
threads. The hub keeps what kiosks sealed to the tenant's archive certificate (CMS DER) and
never a key that opens it; nothing here reads the content. Items have their own retention
(``archive_days``): they outlive the consultation's row, so they carry its reference.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import sqlite3

from hub.storage.errors import ArchiveRefused, InvalidSetting, NotFound
from hub.storage.records import ARCHIVE_KINDS, ArchiveItem, ArchiveSettings
from hub.storage.sqlite_ops import add_audit
from hub.storage.sqlite_rows import _all, _one, tenant_columns
from hub.storage.sqlite_schema import transaction

DAY_S = 86_400.0
ITEMS_PER_CONSULTATION = 32  # bounds what a hostile kiosk can store under one consultation
ARCHIVE_ID_PATTERN = r"[A-Za-z0-9_-]{24}"
_ITEM_COLUMNS = "id, consultation_id, reference, kind, created_at, expires_at, size, sha256"


def _item(row: tuple[object, ...]) -> ArchiveItem:
    return ArchiveItem(*row)  # type: ignore[arg-type]  # columns in _ITEM_COLUMNS order


def archive_settings(conn: sqlite3.Connection, tenant_id: int) -> ArchiveSettings:
    """A tenant's archive certificate and the kinds it keeps (``NotFound``)."""
    columns = "archive_cert, archive_contracts, archive_transcripts"
    row = tenant_columns(conn, tenant_id, columns)
    cert = None if row[0] is None else bytes(row[0])
    return ArchiveSettings(cert, bool(row[1]), bool(row[2]))


def _fingerprint(der: bytes | None) -> str | None:
    return None if der is None else "sha256:" + hashlib.sha256(der).hexdigest()


def set_archive(
    conn: sqlite3.Connection,
    tenant_id: int,
    change_cert: bool,
    cert_der: bytes | None,
    contracts: bool | None,
    transcripts: bool | None,
    actor: str,
    now: float,
) -> ArchiveSettings:
    """Change the archive certificate (when ``change_cert``) and/or the kinds kept (None: as
    it is); all or nothing, each change audited. Removing the certificate switches both kinds
    off; a kind switched on without a certificate is ``InvalidSetting``."""
    with transaction(conn):
        before = archive_settings(conn, tenant_id)
        cert = cert_der if change_cert else before.cert_der
        if change_cert and cert_der is None:  # no certificate, nothing to seal to: both off
            contracts = False if contracts is None else contracts
            transcripts = False if transcripts is None else transcripts
        after = ArchiveSettings(
            cert,
            before.contracts if contracts is None else contracts,
            before.transcripts if transcripts is None else transcripts,
        )
        if after.cert_der is None and after.kinds:
            raise InvalidSetting(
                "keeping contracts or transcripts needs the tenant's archive certificate: "
                "set it first (kiosk-hub archive set --cert FILE)"
            )
        conn.execute(
            "UPDATE tenants SET archive_cert = ?, archive_contracts = ?, archive_transcripts = ? "
            "WHERE id = ?",
            (after.cert_der, int(after.contracts), int(after.transcripts), tenant_id),
        )
        # a setting saved as it was leaves no audit entry
        audit = functools.partial(add_audit, conn, tenant_id, actor, only_if_changed=True)
        fp_old, fp_new = _fingerprint(before.cert_der), _fingerprint(after.cert_der)
        audit("archive.certificate", "archive", fp_old, fp_new, now)
        for kind, old, new in (
            ("contracts", before.contracts, after.contracts),
            ("transcripts", before.transcripts, after.transcripts),
        ):
            audit(f"archive.{kind}", "archive", _onoff(old), _onoff(new), now)
    return after


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def upload_target(
    conn: sqlite3.Connection, consultation_id: str
) -> tuple[int, int, float | None, str | None] | None:
    """(tenant id, device id, ended_at, reference) of a consultation, or None."""
    row = _one(
        conn,
        "SELECT tenant_id, device_id, ended_at, reference FROM consultations WHERE id = ?",
        (consultation_id,),
    )
    return None if row is None else (int(row[0]), int(row[1]), row[2], row[3])


def add_archive(
    conn: sqlite3.Connection,
    tenant_id: int,
    consultation_id: str,
    kind: str,
    data: bytes,
    now: float,
) -> ArchiveItem:
    """Keep one sealed item of a consultation of the tenant; ``ArchiveRefused`` when the
    tenant does not keep that kind (checked again here: it may have changed meanwhile) or the
    consultation has ``ITEMS_PER_CONSULTATION`` items already."""
    if kind not in ARCHIVE_KINDS:
        raise InvalidSetting(f"unknown archive kind {kind!r}: use {' or '.join(ARCHIVE_KINDS)}")
    with transaction(conn):
        if kind not in archive_settings(conn, tenant_id).kinds:
            raise ArchiveRefused("off", f"this tenant does not keep {kind}s")
        target = _one(
            conn,
            "SELECT reference FROM consultations WHERE id = ? AND tenant_id = ?",
            (consultation_id, tenant_id),
        )
        if target is None:
            raise NotFound("no such consultation in this tenant")
        count = _one(
            conn, "SELECT count(*) FROM archives WHERE consultation_id = ?", (consultation_id,)
        )
        if count is not None and count[0] >= ITEMS_PER_CONSULTATION:
            raise ArchiveRefused(
                "full", f"a consultation keeps at most {ITEMS_PER_CONSULTATION} archived items"
            )
        days = _one(conn, "SELECT retain_archive_days FROM tenants WHERE id = ?", (tenant_id,))
        assert days is not None  # noqa: S101 - the tenant was read above in this transaction
        item = ArchiveItem(
            id=secrets.token_urlsafe(18),
            consultation_id=consultation_id,
            reference=target[0],
            kind=kind,
            created_at=now,
            expires_at=now + int(days[0]) * DAY_S,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        conn.execute(
            f"INSERT INTO archives ({_ITEM_COLUMNS}, tenant_id, data) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item.id,
                item.consultation_id,
                item.reference,
                item.kind,
                item.created_at,
                item.expires_at,
                item.size,
                item.sha256,
                tenant_id,
                data,
            ),
        )
    return item


def archives(conn: sqlite3.Connection, tenant_id: int, reference: str | None) -> list[ArchiveItem]:
    """A tenant's archived items (of one conversation reference if given), newest first."""
    sql = f"SELECT {_ITEM_COLUMNS} FROM archives WHERE tenant_id = ?"  # noqa: S608
    params: tuple[object, ...] = (tenant_id,)
    if reference is not None:
        sql += " AND reference = ?"
        params += (reference,)
    return [_item(r) for r in _all(conn, sql + " ORDER BY created_at DESC, id", params)]


def archive_data(
    conn: sqlite3.Connection, tenant_id: int, archive_id: str, actor: str, now: float
) -> tuple[ArchiveItem, bytes] | None:
    """An item and its sealed bytes, for a download by ``actor`` (audited
    ``archive.download``); None when the tenant has no such item."""
    with transaction(conn):
        row = _one(
            conn,
            f"SELECT {_ITEM_COLUMNS}, data FROM archives WHERE id = ? AND tenant_id = ?",  # noqa: S608
            (archive_id, tenant_id),
        )
        if row is None:
            return None
        item = _item(row[:-1])
        conn.execute(
            "INSERT INTO audit (tenant_id, at, actor, action, subject, old_value, new_value) "
            "VALUES (?, ?, ?, 'archive.download', ?, NULL, ?)",
            (tenant_id, now, actor, archive_id, item.reference),
        )
    return item, bytes(row[-1])


def delete_for_consultation(conn: sqlite3.Connection, consultation_id: str) -> int:
    """Delete a consultation's archived items (inside the caller's transaction: an erase)."""
    return conn.execute(
        "DELETE FROM archives WHERE consultation_id = ?", (consultation_id,)
    ).rowcount


def reexpire(conn: sqlite3.Connection, tenant_id: int, days: int) -> None:
    """A new ``archive_days`` applies to every item kept (inside the caller's transaction)."""
    conn.execute(
        "UPDATE archives SET expires_at = created_at + ? WHERE tenant_id = ?",
        (days * DAY_S, tenant_id),
    )


def purge_batch(conn: sqlite3.Connection, now: float, batch: int) -> int:
    """Delete at most ``batch`` expired items in one transaction; return how many. Items of a
    restricted conversation stay until the restriction is lifted."""
    with transaction(conn):
        return conn.execute(
            "DELETE FROM archives WHERE rowid IN (SELECT a.rowid FROM archives a "
            "WHERE a.expires_at <= ? AND NOT EXISTS (SELECT 1 FROM consultations c "
            "WHERE c.id = a.consultation_id AND c.restricted_at IS NOT NULL) LIMIT ?)",
            (now, batch),
        ).rowcount
