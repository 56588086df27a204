"""``Governance`` on the SQLite engine: it shares ``SqliteStorage``'s writer and reader threads.

Values are checked here, on the event loop, before a hop to a thread; passwords are hashed on
the default executor (as ``SqliteStorage`` does). Writes go to the writer in call order; the
lookups a live connection needs (``turn_enabled`` at a kiosk's hello) and the statistics
queries go to the reader, so they never wait behind a purge batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

from hub.storage import sqlite_archive_ops as archive
from hub.storage import sqlite_gov_ops as gov
from hub.storage import sqlite_purge_ops as purge
from hub.storage import sqlite_stats_ops as stats
from hub.storage.checks import TRUSTEE_CERT_MAX as ARCHIVE_CERT_MAX
from hub.storage.checks import (
    check_branch,
    check_name,
    check_password,
    check_retention,
    check_role,
)
from hub.storage.errors import InvalidSetting
from hub.storage.governance import AUDIT_PAGE, PURGE_BATCH, Governance
from hub.storage.passwords import Passwords
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
from hub.storage.sqlite_worker import Worker

PAGE_MAX = 500  # the most entries one page of the audit or the access log holds
ID_END = 2**63  # SQLite's integers end here

# purge step kind -> PurgeCounts field
_COUNTED = {
    "consultations": "consultations",
    "access_lines": "access_lines",
    "device_reports": "device_reports",
    "audit": "audit",
    "sessions": "sessions",
}


def _page(limit: int, before_id: int | None) -> tuple[int, int | None]:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_MAX:
        raise InvalidSetting(f"a page holds 1 to {PAGE_MAX} entries")
    if before_id is not None and (
        isinstance(before_id, bool) or not isinstance(before_id, int) or not 0 < before_id < ID_END
    ):
        raise InvalidSetting("a page starts before an entry's id: a whole number above 0")
    return limit, before_id


class SqliteGovernance:
    """``Governance`` on ``SqliteStorage``'s workers (made by it: ``storage.governance``)."""

    def __init__(self, writer: Worker, reader: Worker, passwords: Passwords) -> None:
        self._writer = writer
        self._reader = reader
        self._passwords = passwords
        # how the purge times its batches (their size follows): a seam for tests
        self.batch_timer: purge.Timer = time.perf_counter

    # -- accounts ---------------------------------------------------------

    async def add_account(
        self, name: str, password: str, *, tenant: str, role: str, actor: str, now: float
    ) -> Adviser:
        """Create an account of ``role``; names are unique across tenants and roles."""
        name = check_name(name, "account")
        check_role(role)
        check_password(password)
        password_hash = await asyncio.to_thread(self._passwords.hash, password)
        return await self._writer.run(
            gov.add_account, name, password_hash, tenant, role, actor, now
        )

    async def accounts(self, tenant_id: int) -> list[Account]:
        """A tenant's accounts of every role, by name."""
        return await self._reader.run(gov.accounts, tenant_id)

    async def set_disabled(
        self, tenant_id: int, name: str, disabled: bool, *, actor: str, now: float
    ) -> None:
        """Disable an account (its sessions end) or enable it; ``NotFound`` outside the tenant."""
        await self._writer.run(gov.set_disabled, tenant_id, name, disabled, actor, now)

    async def reset_password(
        self, tenant_id: int, name: str, password: str, *, actor: str, now: float
    ) -> None:
        """Give an account a new password; its web sessions end."""
        check_password(password)
        password_hash = await asyncio.to_thread(self._passwords.hash, password)
        await self._writer.run(gov.reset_password, tenant_id, name, password_hash, actor, now)

    async def set_online(self, adviser_id: int, until: float | None) -> None:
        """Renew (``until``) or clear (None) the online lease of an account's console."""
        await self._writer.run(gov.set_online, adviser_id, until)

    # -- devices ----------------------------------------------------------

    async def set_branch(
        self, tenant_id: int, device_name: str, branch: str | None, *, actor: str, now: float
    ) -> None:
        """Label a device with its branch (None: no label)."""
        label = check_branch(branch)
        await self._writer.run(gov.set_branch, tenant_id, device_name, label, actor, now)

    async def wipe_history(self, tenant_id: int, device_name: str) -> list[DeviceReportRecord]:
        """A device's kept wipe reports, newest first."""
        return await self._reader.run(gov.wipe_history, tenant_id, device_name)

    # -- settings ---------------------------------------------------------

    async def retention(self, tenant_id: int) -> Retention:
        """A tenant's retention settings."""
        return await self._reader.run(gov.retention, tenant_id)

    async def set_retention(
        self, tenant_id: int, changes: Mapping[str, int], *, actor: str, now: float
    ) -> Retention:
        """Change retention settings, all or nothing; one audit entry per changed value."""
        checked = check_retention(changes)
        return await self._writer.run(gov.set_retention, tenant_id, checked, actor, now)

    async def turn_enabled(self, tenant_id: int) -> bool:
        """Whether the tenant switched TURN relaying on."""
        return await self._reader.run(gov.turn_enabled, tenant_id)

    async def set_turn(self, tenant_id: int, enabled: bool, *, actor: str, now: float) -> None:
        """Switch TURN relaying on or off for a tenant."""
        await self._writer.run(gov.set_turn, tenant_id, bool(enabled), actor, now)

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
        """Write an audit entry."""
        await self._writer.run(
            gov.add_audit_entry, tenant_id, actor, action, subject, old, new, now
        )

    async def audit(
        self, tenant_id: int, *, limit: int = AUDIT_PAGE, before_id: int | None = None
    ) -> list[AuditEntry]:
        """A tenant's audit entries, newest first."""
        return await self._reader.run(gov.audit, tenant_id, *_page(limit, before_id))

    async def add_access_lines(self, lines: Sequence[NewAccessLine]) -> None:
        """Store anonymised access-log lines, in one transaction."""
        if lines:
            await self._writer.run(gov.add_access_lines, list(lines))

    async def access_lines(
        self, tenant_id: int, *, limit: int = AUDIT_PAGE, before_id: int | None = None
    ) -> list[AccessLine]:
        """A tenant's access-log lines, newest first."""
        return await self._reader.run(gov.access_lines, tenant_id, *_page(limit, before_id))

    # -- conversations ----------------------------------------------------

    async def conversation(
        self, tenant_id: int, reference: str, *, now: float | None = None
    ) -> Conversation | None:
        """The consultation with that reference in the tenant, or None."""
        when = time.time() if now is None else now
        return await self._writer.run(gov.conversation, tenant_id, reference, when)

    async def erase_conversation(
        self, tenant_id: int, reference: str, *, actor: str, now: float
    ) -> bool:
        """Delete an ended conversation and its tokens; False when there is no such one."""
        return await self._writer.run(gov.erase_conversation, tenant_id, reference, actor, now)

    async def restrict_conversation(
        self, tenant_id: int, reference: str, restricted: bool, *, actor: str, now: float
    ) -> bool:
        """Restrict a conversation or lift that; False when there is no such one."""
        return await self._writer.run(
            gov.restrict_conversation, tenant_id, reference, bool(restricted), actor, now
        )

    # -- statistics and purge ---------------------------------------------

    async def stats_rows(self, tenant_id: int, *, from_day: int, to_day: int) -> StatsRows:
        """The tenant's roll-ups for a range of UTC epoch days."""
        return await self._reader.run(stats.stats_rows, tenant_id, from_day, to_day)

    async def rebuild_stats(self, tenant_id: int | None = None) -> None:
        """Recompute the roll-ups from the consultation rows."""
        await self._writer.run(stats.rebuild_stats, tenant_id)

    async def purge_expired(self, *, now: float, batch: int = PURGE_BATCH) -> PurgeCounts:
        """Delete what is past each tenant's retention, a batch per transaction: the first of
        ``batch`` rows, the next sized by how long the last took (``purge.next_batch``)."""
        if batch < 1:
            raise InvalidSetting("a purge batch holds at least one row")
        plan = await self._writer.run(purge.purge_plan, now)
        totals = dict.fromkeys(_COUNTED.values(), 0)
        settings = await self._writer.run(purge.start)
        try:
            for step in plan.steps:
                kind, size = step[0], batch  # each step starts at ``batch`` rows, then adapts
                cursor: int | None = 0
                while cursor is not None:
                    if kind in purge.WALKS:
                        deleted, cursor, took = await self._writer.run(
                            purge.timed_walk,
                            kind,
                            plan.cutoffs(kind),
                            cursor,
                            size,
                            self.batch_timer,
                        )
                    else:
                        deleted, took = await self._writer.run(
                            purge.timed_batch, step, size, self.batch_timer
                        )
                        cursor = None if deleted < size else cursor
                    totals[_COUNTED[kind]] += deleted
                    size = purge.next_batch(size, took)
            totals["archives"] = await self._purge_archives(now, batch)
        finally:
            await self._writer.run(purge.finish, settings)
        return PurgeCounts(**totals)

    async def _purge_archives(self, now: float, batch: int) -> int:
        deleted_total = 0
        while True:
            deleted = await self._writer.run(archive.purge_batch, now, batch)
            deleted_total += deleted
            if deleted < batch:
                return deleted_total

    # -- the sealed archive (docs/archive.md) ------------------------------

    async def archive_settings(self, tenant_id: int) -> ArchiveSettings:
        """A tenant's archive certificate and the kinds it keeps."""
        return await self._reader.run(archive.archive_settings, tenant_id)

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
        """Set or remove the archive certificate and switch kinds; all or nothing, audited."""
        if cert_der is not None and remove_cert:
            raise InvalidSetting("give an archive certificate or remove it, not both")
        if cert_der is not None and not 0 < len(cert_der) <= ARCHIVE_CERT_MAX:
            raise InvalidSetting(
                f"the archive certificate must be 1 to {ARCHIVE_CERT_MAX} bytes of DER"
            )
        change = cert_der is not None or remove_cert
        return await self._writer.run(
            archive.set_archive, tenant_id, change, cert_der, contracts, transcripts, actor, now
        )

    async def archive_target(self, consultation_id: str) -> tuple[int, int, float | None] | None:
        """(tenant id, device id, ended_at) of a consultation, or None."""
        found = await self._reader.run(archive.upload_target, consultation_id)
        return None if found is None else found[:3]

    async def add_archive(
        self, tenant_id: int, consultation_id: str, kind: str, data: bytes, *, now: float
    ) -> ArchiveItem:
        """Keep one sealed item of a consultation."""
        return await self._writer.run(
            archive.add_archive, tenant_id, consultation_id, kind, data, now
        )

    async def archives(self, tenant_id: int, *, reference: str | None = None) -> list[ArchiveItem]:
        """A tenant's archived items, newest first."""
        return await self._reader.run(archive.archives, tenant_id, reference)

    async def archive_data(
        self, tenant_id: int, archive_id: str, *, actor: str, now: float
    ) -> tuple[ArchiveItem, bytes] | None:
        """An item and its sealed bytes; the download is audited."""
        return await self._writer.run(archive.archive_data, tenant_id, archive_id, actor, now)


def _conforms(governance: SqliteGovernance) -> Governance:
    return governance  # mypy checks here that the engine implements the whole interface
