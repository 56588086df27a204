"""``Governance``: the storage of the tenant's administrator and data-protection officer.

Accounts of every role, branch labels, retention and third-party settings, the audit trail,
the anonymised access log, conversations by reference (show, erase, restrict), statistics
roll-ups and the purge (docs/admin.md, docs/storage.md). ``Storage.governance`` hands it out;
the same contract as ``Storage``: every method a coroutine and one transaction, failures as
``StorageError`` kinds. Every lookup takes the caller's tenant id: another tenant's names and
references are answered exactly like unknown ones. ``actor`` says who did it (``"admin:alice"``,
``"cli:root"``) for the audit entry written in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from hub.storage.records import (
    AccessLine,
    Account,
    Adviser,
    ArchiveItem,
    ArchiveSettings,
    AuditEntry,
    Conversation,
    DeviceReportRecord,
    NewAccessLine,
    PurgeCounts,
    Retention,
    StatsRows,
)

AUDIT_PAGE = 200
PURGE_BATCH = 5000


class Governance(Protocol):
    """Administration and data protection on the hub's database."""

    # -- accounts ---------------------------------------------------------

    async def add_account(
        self, name: str, password: str, *, tenant: str, role: str, actor: str, now: float
    ) -> Adviser:
        """Create an account of ``role`` (``ROLES``; ``InvalidSetting`` otherwise); names are
        unique across all tenants and roles (``DuplicateName``)."""

    async def accounts(self, tenant_id: int) -> list[Account]:
        """A tenant's accounts of every role, by name."""

    async def set_disabled(
        self, tenant_id: int, name: str, disabled: bool, *, actor: str, now: float
    ) -> None:
        """Disable an account (its web sessions end; it cannot log in) or enable it again;
        ``NotFound`` when it is not in that tenant."""

    async def reset_password(
        self, tenant_id: int, name: str, password: str, *, actor: str, now: float
    ) -> None:
        """Give an account of the tenant a new password; its web sessions end."""

    async def set_online(self, adviser_id: int, until: float | None) -> None:
        """Renew an account's online lease to ``until`` (its console is connected to a hub),
        or clear it (None: closed); ``Account.online`` reads it. Not audited."""

    # -- devices ----------------------------------------------------------

    async def set_branch(
        self, tenant_id: int, device_name: str, branch: str | None, *, actor: str, now: float
    ) -> None:
        """Label a device with its branch (1-64 printable characters; None: no label)."""

    async def wipe_history(self, tenant_id: int, device_name: str) -> list[DeviceReportRecord]:
        """A device's kept wipe reports, newest first; ``NotFound`` when not in that tenant."""

    # -- settings ---------------------------------------------------------

    async def retention(self, tenant_id: int) -> Retention:
        """A tenant's retention settings."""

    async def set_retention(
        self, tenant_id: int, changes: Mapping[str, int], *, actor: str, now: float
    ) -> Retention:
        """Change retention settings (keys and limits: ``RETENTION_LIMITS``); all or nothing,
        ``InvalidSetting`` for an unknown key or a value out of range. Returns the new ones."""

    async def turn_enabled(self, tenant_id: int) -> bool:
        """Whether the tenant switched TURN relaying on (read on the reader: hellos need it)."""

    async def set_turn(self, tenant_id: int, enabled: bool, *, actor: str, now: float) -> None:
        """Switch TURN relaying on or off for a tenant (audited ``third_party.turn``)."""

    # -- audit and access log ---------------------------------------------

    async def add_audit(
        self,
        tenant_id: int,
        actor: str,
        action: str,
        subject: str,
        old: str | None,
        new: str | None,
        *,
        now: float,
    ) -> None:
        """Write an audit entry (no content: names, settings, references only)."""

    async def audit(
        self, tenant_id: int, *, limit: int = AUDIT_PAGE, before_id: int | None = None
    ) -> list[AuditEntry]:
        """A tenant's audit entries, newest first (``before_id``: the page after it)."""

    async def add_access_lines(self, lines: Sequence[NewAccessLine]) -> None:
        """Store anonymised access-log lines, in one transaction."""

    async def access_lines(
        self, tenant_id: int, *, limit: int = AUDIT_PAGE, before_id: int | None = None
    ) -> list[AccessLine]:
        """A tenant's access-log lines, newest first (``before_id``: the page after it)."""

    # -- conversations ----------------------------------------------------

    async def conversation(
        self, tenant_id: int, reference: str, *, now: float | None = None
    ) -> Conversation | None:
        """The consultation with that (canonical) reference in the tenant, or None (``now``
        for its wipe state: default the clock)."""

    async def erase_conversation(
        self, tenant_id: int, reference: str, *, actor: str, now: float
    ) -> bool:
        """Delete an ended conversation and its tokens (out of the statistics); the audit
        entry keeps only the reference. False: no such reference in the tenant;
        ``InvalidSetting`` while it has not ended."""

    async def restrict_conversation(
        self, tenant_id: int, reference: str, restricted: bool, *, actor: str, now: float
    ) -> bool:
        """Restrict a conversation (kept, out of statistics and purges) or lift that."""

    # -- statistics and purge ---------------------------------------------

    async def stats_rows(self, tenant_id: int, *, from_day: int, to_day: int) -> StatsRows:
        """The tenant's roll-ups for UTC epoch days ``from_day``..``to_day`` (inclusive)."""

    async def rebuild_stats(self, tenant_id: int | None = None) -> None:
        """Recompute the roll-ups of a tenant (None: all) from the consultation rows."""

    async def purge_expired(self, *, now: float, batch: int = PURGE_BATCH) -> PurgeCounts:
        """Delete what is past each tenant's retention, in batches of their own transactions."""

    # -- the sealed archive (docs/archive.md) ------------------------------

    async def archive_settings(self, tenant_id: int) -> ArchiveSettings:
        """A tenant's archive certificate and the kinds it keeps (reader: hellos need it)."""

    async def set_archive(
        self,
        tenant_id: int,
        *,
        cert_der: bytes | None = None,
        remove_cert: bool = False,
        contracts: bool | None = None,
        transcripts: bool | None = None,
        actor: str,
        now: float,
    ) -> ArchiveSettings:
        """Set (``cert_der``, checked by ``hub.pki.trustee`` before) or remove the archive
        certificate (which switches both kinds off) and switch kinds on or off (None: as is);
        all or nothing, audited. ``InvalidSetting``: a kind on without a certificate."""

    async def archive_target(self, consultation_id: str) -> tuple[int, int, float | None] | None:
        """(tenant id, device id, ended_at) of a consultation, for an upload's checks."""

    async def add_archive(
        self, tenant_id: int, consultation_id: str, kind: str, data: bytes, *, now: float
    ) -> ArchiveItem:
        """Keep a sealed item; ``ArchiveRefused`` (kind off, consultation full), ``NotFound``."""

    async def archives(self, tenant_id: int, *, reference: str | None = None) -> list[ArchiveItem]:
        """A tenant's archived items (of one conversation if given), newest first."""

    async def archive_data(
        self, tenant_id: int, archive_id: str, *, actor: str, now: float
    ) -> tuple[ArchiveItem, bytes] | None:
        """An item with its sealed bytes (audited ``archive.download``); None: no such item."""
