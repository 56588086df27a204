"""The SQLite engine behind ``Storage``: the connection lives on a thread of its own.

Why threads and not aiosqlite: aiosqlite also runs one thread per connection and would be a new
dependency; a single-worker executor that owns its connection is the same design in 60 lines of
the standard library. Every storage operation (a whole transaction of several statements) is
one hop to that thread, so the event loop never waits on the file, and a ``busy_timeout`` spent
waiting for another process's lock is spent on that thread, not on the loop.

Two workers, because SQLite in WAL mode has one writer and many readers:

- the *writer* thread owns the read-write connection: every write, in the order the calls
  start (the executor is first in, first out), and the consultation log's reads, which thereby
  see every write started before them;
- the *reader* thread owns a ``query_only`` connection for the lookups live connections need
  (device token, session, file size limit): a write waiting out another process's lock does
  not hold up heartbeats and hellos.

argon2 hashing and verification run on the default executor (``asyncio.to_thread``), on neither
worker, so a login does not hold up the database. Measured figures: docs/storage.md.
"""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path

from hub.storage import sqlite_enrol_ops as enrol
from hub.storage import sqlite_ops as ops
from hub.storage import sqlite_report_ops as reports
from hub.storage import sqlite_signing_ops as signing
from hub.storage.checks import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_TENANT,
    check_max_file_bytes,
    check_name,
    check_password,
    check_trustee,
    check_tsa_url,
)
from hub.storage.errors import (
    InvalidLimit,
    InvalidName,
    InvalidSetting,
)
from hub.storage.interface import Storage
from hub.storage.passwords import Passwords
from hub.storage.records import (
    REPORT_HISTORY,
    Adviser,
    AdviserLogin,
    ConsultationRecord,
    Device,
    DeviceCertificate,
    DeviceReportRecord,
    DeviceStatus,
    EnrolmentCodeRecord,
    LiveConsultation,
    NewCertificate,
    RevokedSerial,
    Tenant,
    TenantCa,
    TenantLimits,
    TenantSigning,
    WebSession,
)
from hub.storage.sqlite_governance import SqliteGovernance
from hub.storage.sqlite_worker import (
    DEFAULT_BUSY_TIMEOUT_S,
    Trace,
    Worker,
    connect_reader,
    connect_writer,
)


class SqliteStorage:
    """``Storage`` in a SQLite file; open with ``await SqliteStorage.open(path)``."""

    def __init__(
        self,
        writer: Worker,
        reader: Worker,
        passwords: Passwords,
        *,
        report_history: int = REPORT_HISTORY,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._passwords = passwords
        self._report_history = report_history
        self._closed = False
        # the administrator's and data-protection officer's part, on the same threads
        self.governance = SqliteGovernance(writer, reader, passwords)

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        passwords: Passwords | None = None,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        trace: Trace | None = None,
        report_history: int = REPORT_HISTORY,
    ) -> SqliteStorage:
        """Open (creating if needed) the database at ``path`` and bring its schema up to date.

        ``busy_timeout_s``: how long an operation waits for another connection's lock before
        it fails with ``StorageUnavailable``. ``trace`` is called with every SQL statement, on
        the thread that runs it (for tests and debugging). ``report_history``: the most
        reports of one kind kept per device (tests make it small).
        """
        writer = Worker("hub-db-writer", busy_timeout_s)
        reader = Worker("hub-db-reader", busy_timeout_s)
        try:
            await writer.start(functools.partial(connect_writer, path, busy_timeout_s, trace))
            await reader.start(functools.partial(connect_reader, path, busy_timeout_s, trace))
        except BaseException:
            await reader.stop(None)
            await writer.stop(None)
            raise
        return cls(writer, reader, passwords or Passwords(), report_history=report_history)

    async def close(self) -> None:
        """Finish what was started, checkpoint the write-ahead log and close the file."""
        if self._closed:
            return
        self._closed = True
        await self._reader.stop(None)
        await self._writer.stop(lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)"))

    async def schema_version(self) -> int:
        """The highest migration applied to this database."""
        return await self._writer.run(ops.schema_version)

    # -- tenants ----------------------------------------------------------

    async def add_tenant(
        self, name: str, *, now: float, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    ) -> Tenant:
        """Create a tenant (``max_file_bytes``: its limit for one exchanged file)."""
        name = check_name(name, "tenant")
        check_max_file_bytes(max_file_bytes)
        return await self._writer.run(ops.add_tenant, name, now, max_file_bytes)

    async def set_max_file_bytes(self, name: str, max_file_bytes: int) -> None:
        """Change a tenant's per-file limit (connections made from now on get it)."""
        check_max_file_bytes(max_file_bytes)
        await self._writer.run(ops.set_max_file_bytes, name, max_file_bytes)

    async def max_file_bytes(self, tenant_id: int) -> int:
        """A tenant's limit for one exchanged file (plaintext bytes)."""
        return await self._reader.run(ops.max_file_bytes, tenant_id)

    async def tenants(self) -> list[TenantLimits]:
        """All tenants with their limits, by name."""
        return await self._reader.run(ops.tenants)

    async def tenant(self, name: str) -> Tenant:
        """The tenant of that name, or ``NotFound``."""
        return await self._reader.run(ops.tenant, name)

    async def tenant_signing(self, tenant_id: int) -> TenantSigning:
        """A tenant's trustee and timestamp authority; ``NotFound``."""
        return await self._reader.run(signing.tenant_signing, tenant_id)

    async def set_trustee(
        self, name: str, cert_der: bytes | None, trustee_name: str | None, *, actor: str = "cli"
    ) -> Tenant:
        """Set a tenant's trustee (certificate and name together), or clear it with None;
        audited as done by ``actor``."""
        if (cert_der is None) != (trustee_name is None):
            raise InvalidSetting("a trustee needs both a certificate and a name")
        if cert_der is not None and trustee_name is not None:
            cert_der, trustee_name = check_trustee(cert_der, trustee_name)
        return await self._writer.run(
            signing.set_trustee, name, cert_der, trustee_name, actor, time.time()
        )

    async def set_tsa_url(self, name: str, url: str | None, *, actor: str = "cli") -> Tenant:
        """Set a tenant's timestamp authority URL (http or https), or clear it with None;
        audited as done by ``actor``."""
        if url is not None:
            url = check_tsa_url(url)
        return await self._writer.run(signing.set_tsa_url, name, url, actor, time.time())

    # -- advisers ---------------------------------------------------------

    async def add_adviser(
        self, name: str, password: str, *, now: float, tenant: str = DEFAULT_TENANT
    ) -> Adviser:
        """Create an adviser with an argon2id password hash (hashed off the database's thread).

        Adviser names are login names and so unique across all tenants (``DuplicateName``).
        """
        name = check_name(name, "adviser")
        check_password(password)
        password_hash = await asyncio.to_thread(self._passwords.hash, password)
        return await self._writer.run(ops.add_adviser, name, password_hash, now, tenant)

    async def set_password(self, name: str, password: str, *, tenant: str = DEFAULT_TENANT) -> None:
        """Replace an adviser's password; their open web sessions end."""
        check_password(password)
        password_hash = await asyncio.to_thread(self._passwords.hash, password)
        await self._writer.run(ops.set_password, name, password_hash, tenant)

    async def advisers(self) -> list[Adviser]:
        """All advisers, by tenant then name."""
        return await self._reader.run(ops.advisers)

    async def adviser_login(self, name: str) -> AdviserLogin | None:
        """The adviser called ``name`` (names are unique across tenants) and their hash."""
        try:
            name = check_name(name, "adviser")
        except InvalidName:
            return None
        return await self._reader.run(ops.adviser_login, name)

    async def verify_password(self, password_hash: str | None, password: str) -> bool:
        """Check a password against an argon2 hash, on a worker thread of the default executor.

        With ``password_hash=None`` a dummy hash is checked, so an unknown name costs the same.
        """
        return await asyncio.to_thread(self._passwords.verify, password_hash, password)

    # -- devices ----------------------------------------------------------

    async def add_device(
        self, name: str, *, now: float, tenant: str = DEFAULT_TENANT, replace: bool = False
    ) -> tuple[Device, str]:
        """Register a kiosk and return it with its new token (shown once, stored as a hash).

        With ``replace=True`` an existing device of that name gets a fresh token (and is
        un-revoked); the old token stops working at once.
        """
        name = check_name(name, "device")
        return await self._writer.run(ops.add_device, name, now, tenant, replace)

    async def revoke_device(
        self,
        name: str,
        *,
        tenant: str = DEFAULT_TENANT,
        now: float | None = None,
        actor: str = "cli",
    ) -> None:
        """Stop accepting a device's token and certificates; its unused codes die; audited."""
        when = time.time() if now is None else now
        await self._writer.run(ops.revoke_device, name, tenant, when, actor)

    async def devices(self) -> list[Device]:
        """All devices, by tenant then name."""
        return await self._reader.run(ops.devices)

    async def device_for_token(self, token: str) -> Device | None:
        """The non-revoked device holding ``token``, or None."""
        return await self._reader.run(ops.device_for_token, token)

    async def device_token_valid(self, device_id: int, token_digest: str) -> bool:
        """Whether a device still holds that token (not revoked, not replaced)."""
        return await self._reader.run(ops.device_token_valid, device_id, token_digest)

    # -- enrolment (docs/enrolment.md) -----------------------------------

    async def tenant_ca(self, tenant: str) -> TenantCa | None:
        """A tenant's CA (None: not made yet; ``NotFound``: no such tenant)."""
        return await self._reader.run(enrol.tenant_ca, tenant)

    async def tenants_without_ca(self) -> list[Tenant]:
        """Tenants that have no CA yet."""
        return await self._writer.run(enrol.tenants_without_ca)

    async def store_tenant_ca(
        self, tenant_id: int, cert_der: bytes, key_sealed: bytes, *, now: float
    ) -> TenantCa:
        """Store a tenant's CA unless it has one; return the stored one."""
        return await self._writer.run(enrol.store_tenant_ca, tenant_id, cert_der, key_sealed, now)

    async def add_enrolment_code(
        self,
        code_id: str,
        device_name: str,
        secret_hmac: str,
        *,
        tenant: str = DEFAULT_TENANT,
        now: float,
        expires_at: float,
    ) -> EnrolmentCodeRecord:
        """Store a one-time code for a device (registered as pending when new)."""
        device_name = check_name(device_name, "device")
        if expires_at <= now:
            raise InvalidLimit("an enrolment code must expire after it is made")
        return await self._writer.run(
            enrol.add_enrolment_code, code_id, device_name, secret_hmac, tenant, now, expires_at
        )

    async def enrolment_code(self, code_id: str) -> EnrolmentCodeRecord | None:
        """The code with that id, whatever its state, or None."""
        return await self._reader.run(enrol.enrolment_code, code_id)

    async def take_enrolment_attempt(
        self, code_id: str, *, now: float, max_failures: int
    ) -> EnrolmentCodeRecord | None:
        """Count one attempt at a live code's secret before it is compared; None: not live."""
        return await self._writer.run(enrol.take_enrolment_attempt, code_id, now, max_failures)

    async def give_back_enrolment_attempt(self, code_id: str) -> None:
        """Uncount an attempt whose secret turned out right."""
        await self._writer.run(enrol.give_back_enrolment_attempt, code_id)

    async def enrol_device(
        self,
        code_id: str,
        secret_hmac: str,
        certificate: NewCertificate,
        *,
        now: float,
        max_failures: int,
    ) -> Device:
        """Use up a live code and store the device's certificate, in one transaction."""
        return await self._writer.run(
            enrol.enrol_device, code_id, secret_hmac, certificate, now, max_failures
        )

    async def renew_certificate(
        self, old_serial: str, certificate: NewCertificate, *, now: float
    ) -> Device:
        """Store a renewed certificate if the old one is still good."""
        return await self._writer.run(enrol.renew_certificate, old_serial, certificate, now)

    async def device_certificate(self, serial: str) -> DeviceCertificate | None:
        """The certificate with that serial, or None."""
        return await self._reader.run(enrol.device_certificate, serial)

    async def certificate_for_key(self, spki_sha256: str) -> DeviceCertificate | None:
        """The newest certificate issued for a public key, or None."""
        return await self._reader.run(enrol.certificate_for_key, spki_sha256)

    async def certificate_valid(self, serial: str, *, now: float) -> bool:
        """Whether a certificate is stored, not revoked, not expired, its device not revoked."""
        return await self._reader.run(enrol.certificate_valid, serial, now)

    async def revoked_serials(self, tenant_id: int) -> list[RevokedSerial]:
        """A tenant's revoked certificates, for its CRL."""
        return await self._reader.run(enrol.revoked_serials, tenant_id)

    async def device_seen(self, device_id: int, *, now: float, version: str | None) -> None:
        """Record a device's hello."""
        await self._writer.run(enrol.device_seen, device_id, now, version)

    async def device_statuses(
        self, *, now: float, tenant_id: int | None = None
    ) -> list[DeviceStatus]:
        """Every device (of one tenant, or all) with its state, last hello, certificate
        expiry, version, reports and wipe alarms."""
        return await self._reader.run(enrol.device_statuses, now, tenant_id)

    async def add_device_report(
        self, device_id: int, kind: str, *, ok: bool, summary: str, at: float, now: float
    ) -> None:
        """Store a device's self-test or wipe report (its recent history is kept)."""
        await self._writer.run(
            reports.add_device_report, device_id, kind, ok, summary, at, now, self._report_history
        )

    async def device_reports(
        self, device_id: int, *, kind: str | None = None
    ) -> list[DeviceReportRecord]:
        """A device's stored reports, newest first."""
        return await self._reader.run(reports.device_reports, device_id, kind)

    # -- web sessions -----------------------------------------------------

    async def create_session(
        self, adviser: Adviser, *, now: float, lifetime_s: float
    ) -> tuple[str, str]:
        """Start a console session; return (session id for the cookie, csrf token)."""
        return await self._writer.run(ops.create_session, adviser, now, lifetime_s)

    async def session(self, session_id: str, *, now: float) -> WebSession | None:
        """The live session for a cookie value, or None when unknown or expired."""
        return await self._reader.run(ops.session, session_id, now)

    async def session_live(self, session_digest: str, *, now: float) -> bool:
        """Whether the session with that ``secret_digest`` of its id exists and has not expired."""
        return await self._reader.run(ops.session_live, session_digest, now)

    async def delete_session(self, session_id: str) -> None:
        """End a console session (logout)."""
        await self._writer.run(ops.delete_session, session_id)

    async def purge_sessions(self, *, now: float) -> int:
        """Delete expired sessions; return how many."""
        return await self._writer.run(ops.purge_sessions, now)

    # -- consultations ----------------------------------------------------

    async def consultation_queued(
        self, consultation_id: str, device: Device, *, now: float, reference: str | None = None
    ) -> None:
        """Record that a kiosk joined the queue (``reference``: the one the customer is shown)."""
        await self._writer.run(ops.consultation_queued, consultation_id, device, now, reference)

    async def consultation_accepted(
        self, consultation_id: str, adviser: Adviser, *, now: float
    ) -> None:
        """Record that an adviser took the consultation."""
        await self._writer.run(ops.consultation_accepted, consultation_id, adviser, now)

    async def consultation_ended(self, consultation_id: str, reason: str, *, now: float) -> None:
        """Record the end of a consultation (only the first end counts); its tokens die."""
        await self._writer.run(ops.consultation_ended, consultation_id, reason, now)

    async def live_consultations(self) -> list[LiveConsultation]:
        """Consultations accepted and not ended (after a restart: the ones to restore)."""
        return await self._writer.run(ops.live_consultations)

    async def end_waiting_consultations(self, reason: str, *, now: float) -> int:
        """End the queued, never accepted ones (a restarted hub's queue starts empty)."""
        return await self._writer.run(ops.end_waiting_consultations, reason, now)

    async def consultations(self) -> list[ConsultationRecord]:
        """The consultation log, oldest first."""
        return await self._writer.run(ops.consultations)

    # -- resume tokens ----------------------------------------------------

    async def grant_resume_token(
        self, consultation_id: str, role: str, principal_id: int, token_digest: str, *, now: float
    ) -> None:
        """Store a resume token's hash; it replaces that side's previous token."""
        await self._writer.run(
            ops.grant_resume_token, consultation_id, role, principal_id, token_digest, now
        )

    async def take_resume_token(
        self, consultation_id: str, role: str, principal_id: int, token_digest: str
    ) -> bool:
        """Use up a token if it is the one granted to this side and principal (single use).

        A token presented by anyone else stays valid for its owner.
        """
        return await self._writer.run(
            ops.take_resume_token, consultation_id, role, principal_id, token_digest
        )


def _conforms(storage: SqliteStorage) -> Storage:
    return storage  # mypy checks here that the engine implements the whole interface
