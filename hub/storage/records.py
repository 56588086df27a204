"""The records the hub's storage hands out (plain frozen dataclasses, no engine types)."""

from __future__ import annotations

from dataclasses import dataclass


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
class TenantSigning:
    """A tenant's settings for signing at the kiosk (docs/signature.md); None is off.

    ``trustee_cert``: DER of the certificate the biometric evidence is sealed to, with
    ``trustee_name`` (shown to the customer); ``tsa_url``: the timestamp authority (PAdES B-T).
    """

    trustee_cert: bytes | None = None
    trustee_name: str | None = None
    tsa_url: str | None = None


@dataclass(frozen=True)
class TenantLimits:
    """A tenant with its settings, for ``kiosk-hub tenant list``."""

    tenant: Tenant
    max_file_bytes: int
    signing: TenantSigning = TenantSigning()


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


@dataclass(frozen=True)
class TenantCa:
    """A tenant's issuing CA: its certificate and its private key sealed under the hub secret."""

    tenant: Tenant
    cert_der: bytes
    key_sealed: bytes


@dataclass(frozen=True)
class EnrolmentCodeRecord:
    """A one-time enrolment code as stored: its id, the HMAC of its secret, its state."""

    id: str
    tenant: Tenant
    device_name: str
    secret_hmac: str
    created_at: float
    expires_at: float
    failures: int
    used_at: float | None


@dataclass(frozen=True)
class NewCertificate:
    """A device certificate the tenant CA just issued, to be stored."""

    serial: str  # lower-case hex
    spki_sha256: str  # SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex
    cert_der: bytes
    not_before: float
    not_after: float


@dataclass(frozen=True)
class DeviceCertificate:
    """A device certificate the hub issued, with its device and revocation time."""

    serial: str
    device: Device
    spki_sha256: str
    cert_der: bytes
    not_before: float
    not_after: float
    revoked_at: float | None


@dataclass(frozen=True)
class RevokedSerial:
    """One line of a tenant's certificate revocation list."""

    serial: str
    revoked_at: float


REPORT_KINDS = ("selftest", "wipe")
REPORT_HISTORY = 20  # reports kept per device and kind (the newest; older ones are dropped)


@dataclass(frozen=True)
class DeviceReportRecord:
    """One report a kiosk sent: a self-test or a wipe, figures only (no personal data).

    ``at``: when it happened, by the hub's clock (the kiosk says how long ago); ``ok``: the
    self-test passed, or the wipe verified; ``summary``: the report's figures as JSON
    (``hub.signalling.device_reports``).
    """

    kind: str
    at: float
    received_at: float
    ok: bool
    summary: str


DEVICE_STATES = ("active", "enrolled", "expired", "pending", "revoked")


@dataclass(frozen=True)
class DeviceStatus:
    """One row of ``kiosk-hub device list``: a device, its state and what it last reported.

    ``state``: ``enrolled`` (a live certificate), ``expired`` (only expired ones: needs a
    fresh code), ``pending`` (a code, no certificate yet), ``revoked``, ``active`` (a device
    token, the migration path).
    """

    device: Device
    state: str
    last_seen: float | None
    cert_not_after: float | None
    version: str | None
    last_selftest: DeviceReportRecord | None = None
    last_wipe: DeviceReportRecord | None = None
