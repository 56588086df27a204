"""A tenant's signature settings as plain synchronous SQLite code (docs/signature.md).

Like ``sqlite_ops``: each function takes the connection first, is one transaction and runs
only on the engine's own threads. The values are checked before.
"""

from __future__ import annotations

import functools
import sqlite3

from hub.storage.records import Tenant, TenantSigning
from hub.storage.sqlite_ops import add_audit, tenant
from hub.storage.sqlite_rows import _one, tenant_columns
from hub.storage.sqlite_schema import transaction


def tenant_signing(conn: sqlite3.Connection, tenant_id: int) -> TenantSigning:
    """The trustee and timestamp authority of the tenant with that id (``NotFound``)."""
    row = tenant_columns(conn, tenant_id, "trustee_cert, trustee_name, tsa_url")
    return TenantSigning(None if row[0] is None else bytes(row[0]), row[1], row[2])


def set_trustee(
    conn: sqlite3.Connection,
    name: str,
    cert_der: bytes | None,
    trustee_name: str | None,
    actor: str,
    now: float,
) -> Tenant:
    """Set (or, with None, clear) a tenant's trustee: certificate and name together; audited
    (``signing.trustee``, the trustee's names) when it changes."""
    with transaction(conn):
        t = tenant(conn, name)
        old = _one(conn, "SELECT trustee_name, trustee_cert FROM tenants WHERE id = ?", (t.id,))
        old_name = None if old is None else old[0]
        changed = old is None or old[0] != trustee_name or old[1] != cert_der
        if changed:
            shown = (
                trustee_name if trustee_name != old_name else f"{trustee_name} (new certificate)"
            )
            audit = functools.partial(add_audit, conn, t.id, actor, only_if_changed=True)
            audit("signing.trustee", "trustee", old_name, shown, now)
        conn.execute(
            "UPDATE tenants SET trustee_cert = ?, trustee_name = ? WHERE id = ?",
            (cert_der, trustee_name, t.id),
        )
    return t


def set_tsa_url(
    conn: sqlite3.Connection, name: str, url: str | None, actor: str, now: float
) -> Tenant:
    """Set (or, with None, clear) a tenant's timestamp authority URL; audited
    (``third_party.tsa``, old and new URL) when it changes."""
    with transaction(conn):
        t = tenant(conn, name)
        old = _one(conn, "SELECT tsa_url FROM tenants WHERE id = ?", (t.id,))
        old_url = None if old is None else old[0]
        audit = functools.partial(add_audit, conn, t.id, actor, only_if_changed=True)
        audit("third_party.tsa", "tsa", old_url, url, now)
        conn.execute("UPDATE tenants SET tsa_url = ? WHERE id = ?", (url, t.id))
    return t
