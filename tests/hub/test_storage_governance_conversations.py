"""Conversations by reference (show, erase, restrict), wipe audit and statistics roll-ups on a
real SQLite file, scoped to a tenant."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hub.storage import (
    WIPE_MATCH_SLACK_S,
    WIPE_REPORT_DEADLINE_S,
    ConstraintViolated,
    Device,
    InvalidSetting,
    StatsRows,
    Storage,
    Tenant,
    histogram,
)
from tests.support import governance_storage
from tests.support.governance_storage import NOW, PASSWORD

DAY = int(NOW // 86400)
HOUR = int(NOW // 3600)
REF = "ABCDE-FGH12"


storage = governance_storage.storage


async def setup(storage: Storage) -> tuple[Tenant, Tenant, Device]:
    a, b = await storage.tenant("default"), await storage.tenant("bank-b")
    device, _ = await storage.add_device("kiosk-1", now=NOW)
    await storage.add_adviser("alice", PASSWORD, now=NOW)
    return a, b, device


async def call(
    storage: Storage,
    device: Device,
    cid: str,
    *,
    ref: str | None = None,
    at: float = NOW,
    wait: float | None = 30.5,
    talk: float = 300.9,
) -> None:
    """One consultation: queued at ``at``, accepted ``wait`` later (None: abandoned), ended."""
    await storage.consultation_queued(cid, device, now=at, reference=ref)
    if wait is None:
        await storage.consultation_ended(cid, "left", now=at + 60)
        return
    login = await storage.adviser_login("alice")
    assert login is not None
    await storage.consultation_accepted(cid, login.adviser, now=at + wait)
    await storage.consultation_ended(cid, "hangup", now=at + wait + talk)


async def test_a_conversation_is_found_by_reference_in_its_tenant_only(storage: Storage) -> None:
    gov = storage.governance
    a, b, device = await setup(storage)
    await gov.set_branch(a.id, "kiosk-1", "Mitte", actor="x", now=NOW)
    await call(storage, device, "c-1", ref=REF)
    await gov.set_branch(a.id, "kiosk-1", "Süd", actor="x", now=NOW)  # later: not the call's
    found = await gov.conversation(a.id, REF, now=NOW + 400)
    assert found is not None
    assert (found.reference, found.tenant, found.device, found.branch, found.adviser) == (
        REF,
        a,
        "kiosk-1",
        "Mitte",
        "alice",
    )
    assert (found.queued_at, found.accepted_at, found.end_reason) == (NOW, NOW + 30.5, "hangup")
    assert found.restricted_at is None and found.wipe == "pending"
    assert await gov.conversation(b.id, REF) is None
    assert await gov.conversation(a.id, "ZZZZZ-ZZZZZ") is None
    # a reference is unique across the hub
    with pytest.raises(ConstraintViolated):
        await storage.consultation_queued("c-2", device, now=NOW, reference=REF)


async def test_erase_removes_the_row_its_tokens_and_its_statistics(
    storage: Storage, tmp_path: Path
) -> None:
    gov = storage.governance
    a, b, device = await setup(storage)
    await storage.consultation_queued("c-1", device, now=NOW, reference=REF)
    await storage.grant_resume_token("c-1", "kiosk", device.id, "d" * 64, now=NOW)
    with pytest.raises(InvalidSetting):  # not ended yet
        await gov.erase_conversation(a.id, REF, actor="dpo:d", now=NOW)
    await storage.consultation_ended("c-1", "left", now=NOW + 10)
    await storage.grant_resume_token("c-1", "kiosk", device.id, "e" * 64, now=NOW)
    assert (await gov.stats_rows(a.id, from_day=DAY, to_day=DAY)).hours != []
    assert not await gov.erase_conversation(b.id, REF, actor="dpo:b", now=NOW)
    assert await gov.conversation(a.id, REF) is not None
    assert await gov.erase_conversation(a.id, REF, actor="dpo:d", now=NOW + 20)
    assert await gov.conversation(a.id, REF) is None
    assert await storage.consultations() == []
    assert await gov.stats_rows(a.id, from_day=DAY, to_day=DAY) == StatsRows([])
    assert not await gov.erase_conversation(a.id, REF, actor="dpo:d", now=NOW + 30)
    (entry,) = await gov.audit(a.id)
    assert (entry.actor, entry.action, entry.subject, entry.old_value, entry.new_value) == (
        "dpo:d",
        "request.erase",
        REF,
        None,
        None,
    )
    conn = sqlite3.connect(tmp_path / "hub.sqlite3")
    try:
        assert conn.execute("SELECT count(*) FROM resume_tokens").fetchone() == (0,)
    finally:
        conn.close()


async def test_restrict_takes_it_out_of_statistics_until_lifted(storage: Storage) -> None:
    gov = storage.governance
    a, b, device = await setup(storage)
    await call(storage, device, "c-1", ref=REF)
    await call(storage, device, "c-2", wait=None)
    before = await gov.stats_rows(a.id, from_day=DAY, to_day=DAY)
    assert before.hours == [(HOUR, "", 2, 1, 1)]
    assert not await gov.restrict_conversation(b.id, REF, True, actor="dpo:b", now=NOW)
    assert await gov.restrict_conversation(a.id, REF, True, actor="dpo:d", now=NOW + 1)
    restricted = await gov.conversation(a.id, REF)
    assert restricted is not None and restricted.restricted_at == NOW + 1
    assert (await gov.stats_rows(a.id, from_day=DAY, to_day=DAY)).hours == [(HOUR, "", 1, 0, 1)]
    # no histogram of waits or durations is left (the abandoned one's hour counts stay)
    days = (await gov.stats_rows(a.id, from_day=DAY, to_day=DAY)).days
    assert [(waits, durations) for *_, waits, durations in days if waits or durations] == []
    assert await gov.restrict_conversation(a.id, REF, False, actor="dpo:d", now=NOW + 2)
    assert await gov.stats_rows(a.id, from_day=DAY, to_day=DAY) == before
    actions = [e.action for e in await gov.audit(a.id)]
    assert actions == ["request.lift", "request.restrict"]


async def test_a_restricted_live_conversation_is_not_counted_when_it_ends(
    storage: Storage,
) -> None:
    gov = storage.governance
    a, _, device = await setup(storage)
    await storage.consultation_queued("c-1", device, now=NOW, reference=REF)
    assert await gov.restrict_conversation(a.id, REF, True, actor="dpo:d", now=NOW)
    await storage.consultation_ended("c-1", "left", now=NOW + 5)
    assert await gov.stats_rows(a.id, from_day=DAY, to_day=DAY) == StatsRows([])
    await gov.restrict_conversation(a.id, REF, False, actor="dpo:d", now=NOW + 6)
    assert (await gov.stats_rows(a.id, from_day=DAY, to_day=DAY)).hours == [(HOUR, "", 1, 0, 1)]


async def test_roll_ups_hold_hours_days_and_exact_histograms(storage: Storage) -> None:
    gov = storage.governance
    a, b, device = await setup(storage)
    await gov.set_branch(a.id, "kiosk-1", "Mitte", actor="x", now=NOW)
    await call(storage, device, "c-1", wait=30.5, talk=300.9)
    await call(storage, device, "c-2", wait=0.2, talk=100_000)  # capped
    await call(storage, device, "c-3", at=NOW + 3600, wait=None)
    await storage.consultation_ended("c-1", "again", now=NOW + 9999)  # only the first end counts
    rows = await gov.stats_rows(a.id, from_day=DAY, to_day=DAY)
    assert rows.hours == [(HOUR, "Mitte", 2, 2, 0), (HOUR + 1, "Mitte", 1, 0, 1)]
    ((day, branch, _hours, waits, durations),) = rows.days
    assert (day, branch) == (DAY, "Mitte")
    assert histogram.decode(waits) == {30: 1, 0: 1}
    assert histogram.decode(durations) == {300: 1, histogram.CAP_S: 1}
    assert await gov.stats_rows(b.id, from_day=DAY, to_day=DAY) == StatsRows([])
    assert await gov.stats_rows(a.id, from_day=DAY + 1, to_day=DAY + 5) == StatsRows([])
    await gov.rebuild_stats()
    assert await gov.stats_rows(a.id, from_day=DAY, to_day=DAY) == rows
    await gov.rebuild_stats(b.id)
    assert await gov.stats_rows(a.id, from_day=DAY, to_day=DAY) == rows


async def test_a_restart_ends_the_queue_as_abandoned_in_the_roll_ups(storage: Storage) -> None:
    gov = storage.governance
    a, _, device = await setup(storage)
    await storage.consultation_queued("c-1", device, now=NOW)
    await storage.consultation_queued("c-2", device, now=NOW)
    assert await storage.end_waiting_consultations("restart", now=NOW + 5) == 2
    assert (await gov.stats_rows(a.id, from_day=DAY, to_day=DAY)).hours == [(HOUR, "", 2, 0, 2)]


# -- wipe audit ---------------------------------------------------------------


async def test_a_wipe_report_settles_the_consultations_that_ended_before_it(
    storage: Storage,
) -> None:
    gov = storage.governance
    a, b, device = await setup(storage)
    await call(storage, device, "c-1", ref="AAAAA-00001", talk=10)  # ends NOW + 40.5
    await call(storage, device, "c-2", ref="AAAAA-00002", at=NOW + 100, talk=10)
    end_1 = NOW + 40.5
    # a report from before the first end (less the slack) settles nothing
    await storage.add_device_report(
        device.id, "wipe", ok=True, summary="{}", at=end_1 - WIPE_MATCH_SLACK_S - 1, now=NOW
    )
    one = await gov.conversation(a.id, "AAAAA-00001", now=end_1 + 1)
    assert one is not None and one.wipe == "pending"
    # the kiosk's clock is a little behind: a report just before the end still matches
    await storage.add_device_report(
        device.id, "wipe", ok=False, summary="{}", at=end_1 - 1, now=NOW
    )
    one = await gov.conversation(a.id, "AAAAA-00001", now=end_1 + 1)
    two = await gov.conversation(a.id, "AAAAA-00002", now=end_1 + 1)
    assert one is not None and one.wipe == "failed"
    assert two is not None and two.wipe == "pending"
    late = NOW + 140.5 + WIPE_REPORT_DEADLINE_S + 1
    two = await gov.conversation(a.id, "AAAAA-00002", now=late)
    assert two is not None and two.wipe == "missing"
    (status,) = await storage.device_statuses(now=late, tenant_id=a.id)
    assert (status.wipes_failed, status.wipes_missing) == (1, 1)
    await storage.add_device_report(device.id, "wipe", ok=True, summary="{}", at=late, now=late)
    two = await gov.conversation(a.id, "AAAAA-00002", now=late)
    one = await gov.conversation(a.id, "AAAAA-00001", now=late)
    assert two is not None and two.wipe == "verified"
    assert one is not None and one.wipe == "failed"  # a later report does not overwrite it
    (status,) = await storage.device_statuses(now=late, tenant_id=a.id)
    assert (status.wipes_failed, status.wipes_missing) == (1, 0)
    assert await storage.device_statuses(now=late, tenant_id=b.id) == []


async def test_an_abandoned_wait_without_a_wipe_report_raises_no_alarm(storage: Storage) -> None:
    a, _, device = await setup(storage)
    await call(storage, device, "c-1", ref=REF, wait=None)
    late = NOW + 60 + WIPE_REPORT_DEADLINE_S + 1
    found = await storage.governance.conversation(a.id, REF, now=late)
    assert found is not None and found.wipe == "not_audited"
    (status,) = await storage.device_statuses(now=late)
    assert (status.wipes_failed, status.wipes_missing) == (0, 0)
