"""``Storage``: the one asynchronous interface the hub uses for its persistent state.

An engine (today SQLite, ``hub.storage.sqlite``; PostgreSQL later) implements it. The contract,
whatever the engine:

- Every method is a coroutine and never blocks the event loop; the engine's own driver types
  never leak out. Its failures arrive as ``StorageError``: ``StorageUnavailable`` when the
  database cannot do it now (locked past the busy timeout, a disk error, closed), with nothing
  of the operation written; the other kinds say what the caller got wrong.
- Each method is one transaction: it happens whole or not at all.
- Writes are applied in the order their coroutines first run, so a caller may fire them off as
  tasks created in order (the switchboard's consultation log does) and have them land in that
  order. ``consultations`` and ``live_consultations`` see every write started before them.
- Other reads see every write completed before they started (they may run beside a write that
  waits for a lock, so that live connections are not held up by it).
- Secrets are never stored in the clear: device tokens and session ids as SHA-256
  (``secret_digest``), passwords as argon2id, enrolment code secrets as an HMAC and tenant CA
  keys sealed under the hub secret (``hub.pki``). Consultation rows hold ids and times only.
  A trustee certificate is public; its private key never reaches the hub.
"""

from __future__ import annotations

from typing import Protocol

from hub.storage.checks import DEFAULT_MAX_FILE_BYTES, DEFAULT_TENANT
from hub.storage.governance import Governance
from hub.storage.records import (
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


class Storage(Protocol):
    """The hub's tenants, advisers, devices, web sessions, consultations and resume tokens."""

    @property
    def governance(self) -> Governance:
        """The administrator's and data-protection officer's part (``hub.storage.governance``)."""

    async def close(self) -> None:
        """Finish what was started and release the database; later calls are refused."""

    async def schema_version(self) -> int:
        """The highest migration applied to this database."""

    # -- tenants ----------------------------------------------------------

    async def add_tenant(
        self, name: str, *, now: float, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    ) -> Tenant:
        """Create a tenant (``max_file_bytes``: its limit for one exchanged file)."""

    async def set_max_file_bytes(self, name: str, max_file_bytes: int) -> None:
        """Change a tenant's per-file limit (connections made from now on get it)."""

    async def max_file_bytes(self, tenant_id: int) -> int:
        """A tenant's limit for one exchanged file (plaintext bytes); ``NotFound`` if none."""

    async def tenants(self) -> list[TenantLimits]:
        """All tenants with their limits, by name."""

    async def tenant(self, name: str) -> Tenant:
        """The tenant of that name, or ``NotFound``."""

    async def tenant_signing(self, tenant_id: int) -> TenantSigning:
        """A tenant's trustee and timestamp authority (docs/signature.md); ``NotFound``."""

    async def set_trustee(
        self, name: str, cert_der: bytes | None, trustee_name: str | None, *, actor: str = "cli"
    ) -> Tenant:
        """Set a tenant's trustee (certificate DER and the name the customer is shown), or
        clear it with ``None, None``; kiosks connecting from now on get it. The certificate's
        checks are the caller's (``hub.pki.trustee``); here only its size and the name's.
        A change is audited (``signing.trustee``) as done by ``actor``."""

    async def set_tsa_url(self, name: str, url: str | None, *, actor: str = "cli") -> Tenant:
        """Set a tenant's timestamp authority URL (http or https), or clear it with None;
        a change is audited (``third_party.tsa``) as done by ``actor``."""

    # -- advisers ---------------------------------------------------------

    async def add_adviser(
        self, name: str, password: str, *, now: float, tenant: str = DEFAULT_TENANT
    ) -> Adviser:
        """Create an adviser; names are login names, unique across tenants (``DuplicateName``)."""

    async def set_password(self, name: str, password: str, *, tenant: str = DEFAULT_TENANT) -> None:
        """Replace an adviser's password; their open web sessions end."""

    async def advisers(self) -> list[Adviser]:
        """All advisers, by tenant then name."""

    async def adviser_login(self, name: str) -> AdviserLogin | None:
        """The account called ``name`` (any role) with its role, password hash and whether it
        is disabled (a disabled account must not log in), or None."""

    async def verify_password(self, password_hash: str | None, password: str) -> bool:
        """Check a password against a hash (``None``: a dummy, so unknown names cost the same).

        Runs off the event loop and off the database's own workers: a login does not hold up
        the database.
        """

    # -- devices ----------------------------------------------------------

    async def add_device(
        self, name: str, *, now: float, tenant: str = DEFAULT_TENANT, replace: bool = False
    ) -> tuple[Device, str]:
        """Register a kiosk; return it with its new token (shown once, stored as a hash).

        ``replace=True`` gives an existing device a fresh token (and un-revokes it).
        """

    async def revoke_device(
        self,
        name: str,
        *,
        tenant: str = DEFAULT_TENANT,
        now: float | None = None,
        actor: str = "cli",
    ) -> None:
        """Stop accepting a device's token and certificates (``now``: when; default the clock).

        Its unused enrolment codes die with it; audited (``device.revoke``) as done by ``actor``.
        """

    async def devices(self) -> list[Device]:
        """All devices, by tenant then name."""

    async def device_for_token(self, token: str) -> Device | None:
        """The non-revoked device holding ``token``, or None."""

    async def device_token_valid(self, device_id: int, token_digest: str) -> bool:
        """Whether a device still holds that token (not revoked, not replaced)."""

    # -- enrolment (docs/enrolment.md) -----------------------------------

    async def tenant_ca(self, tenant: str) -> TenantCa | None:
        """A tenant's CA (None: not made yet; ``NotFound``: no such tenant)."""

    async def tenants_without_ca(self) -> list[Tenant]:
        """Tenants that have no CA yet (made at the first start with the hub secret)."""

    async def store_tenant_ca(
        self, tenant_id: int, cert_der: bytes, key_sealed: bytes, *, now: float
    ) -> TenantCa:
        """Store a tenant's CA unless it has one; return the stored one (the first maker wins)."""

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
        """Store a one-time code for a device (registered as pending when new).

        The device's older unused codes die. ``DuplicateName`` if the id is taken.
        """

    async def enrolment_code(self, code_id: str) -> EnrolmentCodeRecord | None:
        """The code with that id, whatever its state, or None."""

    async def take_enrolment_attempt(
        self, code_id: str, *, now: float, max_failures: int
    ) -> EnrolmentCodeRecord | None:
        """Count one attempt at a live code's secret, atomically, before it is compared.

        Returns the code with the attempt counted in ``failures``; None (nothing counted) when
        it is unknown, expired, used or already has ``max_failures``. One guarded UPDATE, so
        parallel attempts at one code cannot overshoot the limit.
        """

    async def give_back_enrolment_attempt(self, code_id: str) -> None:
        """Uncount an attempt whose secret turned out right (only wrong secrets count)."""

    async def enrol_device(
        self,
        code_id: str,
        secret_hmac: str,
        certificate: NewCertificate,
        *,
        now: float,
        max_failures: int,
    ) -> Device:
        """Use up a live code and store the device's certificate, in one transaction.

        ``CodeRefused`` when the code is not live or its secret's HMAC differs. The device's
        earlier certificates are revoked and its device token retired.
        """

    async def renew_certificate(
        self, old_serial: str, certificate: NewCertificate, *, now: float
    ) -> Device:
        """Store a renewed certificate; ``CertificateRefused`` if the old one is revoked,
        expired or unknown. The old one stays valid until it expires."""

    async def device_certificate(self, serial: str) -> DeviceCertificate | None:
        """The certificate with that serial (lower-case hex), or None."""

    async def certificate_for_key(self, spki_sha256: str) -> DeviceCertificate | None:
        """The newest certificate issued for a public key (its SPKI's SHA-256 hex), or None."""

    async def certificate_valid(self, serial: str, *, now: float) -> bool:
        """Whether a certificate is stored, not revoked, not expired, its device not revoked."""

    async def revoked_serials(self, tenant_id: int) -> list[RevokedSerial]:
        """A tenant's revoked certificates, for its CRL."""

    async def device_seen(self, device_id: int, *, now: float, version: str | None) -> None:
        """Record a device's hello: when, and the software version it reported (if any)."""

    async def device_statuses(
        self, *, now: float, tenant_id: int | None = None
    ) -> list[DeviceStatus]:
        """Every device (of ``tenant_id``, or all) with its state, last hello, certificate
        expiry and version, its latest self-test and wipe reports and its wipe alarms
        (``wipes_failed``, ``wipes_missing`` over the kept consultations)."""

    async def add_device_report(
        self, device_id: int, kind: str, *, ok: bool, summary: str, at: float, now: float
    ) -> None:
        """Store what a kiosk reported: ``kind`` ``selftest`` or ``wipe``, ``ok`` (passed,
        verified), ``summary`` (its figures as JSON, no personal data), ``at`` (when it
        happened). Reports are kept for the tenant's ``device_history_days`` and at most the
        newest ``REPORT_HISTORY`` of each kind. A wipe report settles the wipe audit of the
        device's consultations ended by ``at + WIPE_MATCH_SLACK_S``. ``NotFound`` without such
        a device."""

    async def device_reports(
        self, device_id: int, *, kind: str | None = None
    ) -> list[DeviceReportRecord]:
        """A device's stored reports (of ``kind``, or all), newest first."""

    # -- web sessions -----------------------------------------------------

    async def create_session(
        self, adviser: Adviser, *, now: float, lifetime_s: float
    ) -> tuple[str, str]:
        """Start a console session; return (session id for the cookie, csrf token)."""

    async def session(self, session_id: str, *, now: float) -> WebSession | None:
        """The live session for a cookie value (its account carries the role), or None when
        unknown, expired or its account is disabled."""

    async def session_live(self, session_digest: str, *, now: float) -> bool:
        """Whether the session with that ``secret_digest`` of its id exists and has not expired."""

    async def delete_session(self, session_id: str) -> None:
        """End a console session (logout)."""

    async def purge_sessions(self, *, now: float) -> int:
        """Delete expired sessions; return how many."""

    # -- consultations ----------------------------------------------------

    async def consultation_queued(
        self, consultation_id: str, device: Device, *, now: float, reference: str | None = None
    ) -> None:
        """Record that a kiosk joined the queue, with the conversation ``reference`` the
        customer is shown and the device's branch label at this moment."""

    async def consultation_accepted(
        self, consultation_id: str, adviser: Adviser, *, now: float
    ) -> None:
        """Record that an adviser took the consultation."""

    async def consultation_ended(self, consultation_id: str, reason: str, *, now: float) -> None:
        """Record the end of a consultation (only the first end counts); its tokens die and
        the statistics roll-ups count it (unless restricted), in the same transaction."""

    async def live_consultations(self) -> list[LiveConsultation]:
        """Consultations accepted and not ended (after a restart: the ones to restore)."""

    async def end_waiting_consultations(self, reason: str, *, now: float) -> int:
        """End the queued, never accepted ones (a restarted hub's queue starts empty)."""

    async def consultations(self) -> list[ConsultationRecord]:
        """The consultation log, oldest first."""

    # -- resume tokens ----------------------------------------------------

    async def grant_resume_token(
        self, consultation_id: str, role: str, principal_id: int, token_digest: str, *, now: float
    ) -> None:
        """Store a resume token's hash; it replaces that side's previous token."""

    async def take_resume_token(
        self, consultation_id: str, role: str, principal_id: int, token_digest: str
    ) -> bool:
        """Use up a token granted to this side and principal (single use); False otherwise.

        A token presented by anyone else stays valid for its owner.
        """
