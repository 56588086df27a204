"""A tenant's signature settings as plain synchronous SQLite code (docs/signature.md).

Like ``sqlite_ops``: each function takes the connection first, is one transaction and runs
only on the engine's own threads. The values are checked before.
"""

from __future__ import annotations

import sqlite3

from hub.storage.errors import NotFound
from hub.storage.records import Tenant, TenantSigning
from hub.storage.sqlite_ops import _one, tenant
from hub.storage.sqlite_schema import transaction


def tenant_signing(conn: sqlite3.Connection, tenant_id: int) -> TenantSigning:
    """The trustee and timestamp authority of the tenant with that id (``NotFound``)."""
    row = _one(
        conn,
        "SELECT trustee_cert, trustee_name, tsa_url FROM tenants WHERE id = ?",
        (tenant_id,),
    )
    if row is None:
        raise NotFound(f"no tenant with id {tenant_id}")
    return TenantSigning(None if row[0] is None else bytes(row[0]), row[1], row[2])


def set_trustee(
    conn: sqlite3.Connection, name: str, cert_der: bytes | None, trustee_name: str | None
) -> Tenant:
    """Set (or, with None, clear) a tenant's trustee: certificate and name together."""
    with transaction(conn):
        t = tenant(conn, name)
        conn.execute(
            "UPDATE tenants SET trustee_cert = ?, trustee_name = ? WHERE id = ?",
            (cert_der, trustee_name, t.id),
        )
    return t


def set_tsa_url(conn: sqlite3.Connection, name: str, url: str | None) -> Tenant:
    """Set (or, with None, clear) a tenant's timestamp authority URL."""
    with transaction(conn):
        t = tenant(conn, name)
        conn.execute("UPDATE tenants SET tsa_url = ? WHERE id = ?", (url, t.id))
    return t
