"""The records the hub's storage hands out (plain frozen dataclasses, no engine types)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.storage import hour_counts


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
    role: str = "adviser"  # one of ROLES: accounts of every role share the login


@dataclass(frozen=True)
class AdviserLogin:
    """An account and the stored argon2 hash to check a password against."""

    adviser: Adviser
    password_hash: str
    disabled: bool = False  # a disabled account cannot log in


@dataclass(frozen=True)
class Device:
    """A kiosk registered with the hub."""

    id: int
    name: str
    tenant: Tenant
    created_at: float
    revoked: bool
    branch: str | None = None  # a label grouping statistics; None: none


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
# Reports are kept by time (Retention.device_history_days); this cap per device and kind only
# bounds what a hostile kiosk can store (the newest are kept).
REPORT_HISTORY = 10_000


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
    wipes_failed: int = 0  # retained consultations whose wipe report said it failed
    wipes_missing: int = 0  # accepted, ended over WIPE_REPORT_DEADLINE_S ago, no wipe report


# -- administration and data protection (docs/admin.md) ---------------------

ROLES = ("adviser", "admin", "dpo")
WIPE_MATCH_SLACK_S = 5.0  # a wipe report matches consultations ended up to this after it
WIPE_REPORT_DEADLINE_S = 600.0  # an accepted consultation without a wipe report by then: missing
WIPE_STATES = ("verified", "failed", "pending", "missing", "not_audited")


@dataclass(frozen=True)
class Account:
    """A console account of a tenant (an adviser, an administrator or a data-protection officer)."""

    name: str
    role: str
    tenant: Tenant
    created_at: float
    disabled_at: float | None
    online_until: float | None = None  # a console's lease, renewed by the hub (migration 8)

    def online(self, now: float) -> bool:
        """Whether a console of the account is connected to a hub (its lease runs at ``now``)."""
        return self.online_until is not None and now < self.online_until


@dataclass(frozen=True)
class Retention:
    """A tenant's retention settings (days) and the smallest statistics cell it shows."""

    consultations_days: int = 90
    access_log_days: int = 7
    device_history_days: int = 365
    audit_days: int = 730
    stats_min_cell: int = 5
    archive_days: int = 3650  # sealed contracts and transcripts (docs/archive.md)


RETENTION_LIMITS: dict[str, tuple[int, int]] = {
    "consultations_days": (7, 3650),
    "access_log_days": (1, 90),
    "device_history_days": (30, 3650),
    "audit_days": (365, 3650),
    "stats_min_cell": (2, 100),
    "archive_days": (1, 3650),
}
ACCESS_LOG_DAYS_WITHOUT_TENANT = 7  # access lines no tenant is known for


@dataclass(frozen=True)
class AuditEntry:
    """Who changed what, when: one line of a tenant's audit (no content, only settings/names)."""

    id: int
    at: float
    actor: str
    action: str
    subject: str
    old_value: str | None
    new_value: str | None


@dataclass(frozen=True)
class NewAccessLine:
    """An anonymised access-log line to store (``tenant_id`` None: no tenant known)."""

    at: float
    tenant_id: int | None
    client: str
    method: str
    path: str
    status: int
    bytes: int
    duration_ms: float


@dataclass(frozen=True)
class AccessLine:
    """A stored access-log line of a tenant."""

    id: int
    at: float
    client: str
    method: str
    path: str
    status: int
    bytes: int
    duration_ms: float


@dataclass(frozen=True)
class Conversation:
    """What the hub holds about one consultation, found by its reference.

    ``wipe``: ``verified``/``failed`` (the kiosk's report), ``pending`` (no report yet, not
    due), ``missing`` (accepted, no report within ``WIPE_REPORT_DEADLINE_S``), ``not_audited``
    (ended before wipe audits began, or never accepted and no report).
    """

    reference: str
    tenant: Tenant
    device: str
    branch: str | None
    adviser: str | None
    queued_at: float
    accepted_at: float | None
    ended_at: float | None
    end_reason: str | None
    restricted_at: float | None
    wipe: str
    archives: tuple[ArchiveItem, ...] = ()  # sealed items kept for it (docs/archive.md)


@dataclass(frozen=True)
class StatsRows:
    """A tenant's statistics roll-ups over a range of days (hub.governance.stats reads them).

    ``days``: one row per UTC day and branch: (day since the epoch, branch or '', hour counts
    (``hub.storage.hour_counts``), waits histogram, durations histogram
    (``hub.storage.histogram``)).
    """

    days: list[tuple[int, str, bytes, bytes, bytes]]

    @property
    def hours(self) -> list[tuple[int, str, int, int, int]]:
        """(hour since the epoch, branch, queued, accepted, abandoned) of every hour with any
        consultation, by hour and branch (for tests and tools; the page reads ``days``)."""
        found = []
        for day, branch, blob, _waits, _durations in self.days:
            accepted, abandoned = hour_counts.decode(blob)
            for hour, (a, x) in enumerate(zip(accepted, abandoned, strict=True)):
                if a or x:
                    found.append((day * hour_counts.HOURS + hour, branch, a + x, a, x))
        return sorted(found)

    @classmethod
    def from_hours(
        cls,
        hours: Iterable[tuple[int, str, int, int, int]],
        days: Iterable[tuple[int, str, bytes, bytes]],
    ) -> StatsRows:
        """Rows from per-hour counts ``(hour, branch, queued, accepted, abandoned)`` and per-day
        histograms ``(day, branch, waits, durations)`` (the roll-ups' earlier shape)."""
        counts: dict[tuple[int, str], tuple[list[int], list[int]]] = {}
        for hour, branch, _queued, accepted, abandoned in hours:
            day, of_day = divmod(hour, hour_counts.HOURS)
            cell = counts.setdefault((day, branch), hour_counts.decode(b""))
            cell[0][of_day] += accepted
            cell[1][of_day] += abandoned
        histograms = {(day, branch): (w, u) for day, branch, w, u in days}
        return cls(
            [
                (
                    day,
                    branch,
                    hour_counts.encode(*counts.get((day, branch), ([0] * 24, [0] * 24))),
                    *histograms.get((day, branch), (b"", b"")),
                )
                for day, branch in sorted(counts.keys() | histograms.keys())
            ]
        )


@dataclass(frozen=True)
class PurgeCounts:
    """How many rows of each kind one purge deleted."""

    consultations: int = 0
    access_lines: int = 0
    device_reports: int = 0
    audit: int = 0
    sessions: int = 0
    archives: int = 0


# -- the archive: content kept sealed where a tenant switched it on (docs/archive.md) ---------

ARCHIVE_KINDS = ("contract", "transcript")


@dataclass(frozen=True)
class ArchiveSettings:
    """What a tenant keeps sealed: the certificate items are sealed to (DER, None: none) and
    which kinds it switched on (both off by default; a kind needs the certificate)."""

    cert_der: bytes | None = None
    contracts: bool = False
    transcripts: bool = False

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds switched on, in ``ARCHIVE_KINDS`` order."""
        on = {"contract": self.contracts, "transcript": self.transcripts}
        return tuple(k for k in ARCHIVE_KINDS if on[k])


@dataclass(frozen=True)
class ArchiveItem:
    """One sealed item the hub keeps (never its content here): CMS DER only the tenant opens."""

    id: str
    consultation_id: str
    reference: str | None
    kind: str
    created_at: float
    expires_at: float
    size: int
    sha256: str
