"""Governance storage on a real SQLite file: accounts, branch labels, settings, audit, access
log, scoped to a tenant (another tenant's rows are never seen or touched)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.storage import (
    BRANCH_MAX,
    RETENTION_LIMITS,
    DuplicateName,
    InvalidName,
    InvalidSetting,
    NewAccessLine,
    NotFound,
    Retention,
    Storage,
    Tenant,
    WeakPassword,
    check_branch,
    check_retention,
)
from tests.support import governance_storage
from tests.support.governance_storage import NOW, PASSWORD

OTHER = "another long password"


storage = governance_storage.storage


async def tenants(storage: Storage) -> tuple[Tenant, Tenant]:
    return await storage.tenant("default"), await storage.tenant("bank-b")


def db_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# -- accounts ---------------------------------------------------------------


async def test_accounts_of_every_role_share_names_login_and_sessions(storage: Storage) -> None:
    gov = storage.governance
    a, b = await tenants(storage)
    admin = await gov.add_account(
        "root-a", PASSWORD, tenant="default", role="admin", actor="cli:root", now=NOW
    )
    assert (admin.role, admin.tenant) == ("admin", a)
    await gov.add_account("dpo-b", PASSWORD, tenant="bank-b", role="dpo", actor="cli", now=NOW)
    await storage.add_adviser("alice", PASSWORD, now=NOW)
    with pytest.raises(DuplicateName):  # unique across tenants and roles
        await gov.add_account("alice", PASSWORD, tenant="bank-b", role="dpo", actor="x", now=NOW)
    login = await storage.adviser_login("root-a")
    assert login is not None and login.adviser.role == "admin" and not login.disabled
    session_id, _ = await storage.create_session(login.adviser, now=NOW, lifetime_s=60)
    session = await storage.session(session_id, now=NOW)
    assert session is not None and session.adviser.role == "admin"
    listed = await gov.accounts(a.id)
    assert [(x.name, x.role, x.disabled_at) for x in listed] == [
        ("alice", "adviser", None),
        ("root-a", "admin", None),
    ]
    assert [x.name for x in await gov.accounts(b.id)] == ["dpo-b"]
    entries = await gov.audit(a.id)
    assert [(e.actor, e.action, e.subject, e.new_value) for e in entries] == [
        ("cli:root", "account.add", "root-a", "admin")
    ]


@pytest.mark.parametrize(
    ("name", "password", "role", "error"),
    [
        ("bob", PASSWORD, "root", InvalidSetting),
        ("bob", PASSWORD, "", InvalidSetting),
        ("", PASSWORD, "admin", InvalidName),
        ("b\x00b", PASSWORD, "admin", InvalidName),
        ("bob", "short", "admin", WeakPassword),
    ],
)
async def test_bad_accounts_are_refused_and_nothing_is_stored(
    storage: Storage, name: str, password: str, role: str, error: type[Exception]
) -> None:
    a, _ = await tenants(storage)
    with pytest.raises(error):
        await storage.governance.add_account(
            name, password, tenant="default", role=role, actor="x", now=NOW
        )
    assert await storage.governance.accounts(a.id) == []
    assert await storage.governance.audit(a.id) == []


async def test_disabling_ends_sessions_and_login_in_that_tenant_only(storage: Storage) -> None:
    gov = storage.governance
    a, b = await tenants(storage)
    adviser = await storage.add_adviser("alice", PASSWORD, now=NOW)
    session_id, _ = await storage.create_session(adviser, now=NOW, lifetime_s=600)
    with pytest.raises(NotFound):  # alice is tenant a's; b cannot reach her
        await gov.set_disabled(b.id, "alice", True, actor="admin:b", now=NOW)
    assert await storage.session(session_id, now=NOW) is not None
    await gov.set_disabled(a.id, "alice", True, actor="admin:root", now=NOW + 1)
    assert await storage.session(session_id, now=NOW + 2) is None
    login = await storage.adviser_login("alice")
    assert login is not None and login.disabled
    (account,) = await gov.accounts(a.id)
    assert account.disabled_at == NOW + 1
    # a session made anyway (a race with the login) is not honoured while disabled
    late, _ = await storage.create_session(adviser, now=NOW + 2, lifetime_s=600)
    assert await storage.session(late, now=NOW + 3) is None
    await gov.set_disabled(a.id, "alice", False, actor="admin:root", now=NOW + 4)
    login = await storage.adviser_login("alice")
    assert login is not None and not login.disabled
    actions = [e.action for e in await gov.audit(a.id)]
    assert actions == ["account.enable", "account.disable"]
    assert await gov.audit(b.id) == []


async def test_reset_password_ends_sessions_and_is_audited_without_the_password(
    storage: Storage, tmp_path: Path
) -> None:
    gov = storage.governance
    a, b = await tenants(storage)
    adviser = await storage.add_adviser("alice", PASSWORD, now=NOW)
    session_id, _ = await storage.create_session(adviser, now=NOW, lifetime_s=600)
    with pytest.raises(NotFound):
        await gov.reset_password(b.id, "alice", OTHER, actor="admin:b", now=NOW)
    with pytest.raises(WeakPassword):
        await gov.reset_password(a.id, "alice", "short", actor="admin:a", now=NOW)
    await gov.reset_password(a.id, "alice", OTHER, actor="admin:a", now=NOW)
    assert await storage.session(session_id, now=NOW) is None
    login = await storage.adviser_login("alice")
    assert login is not None
    assert await storage.verify_password(login.password_hash, OTHER)
    (entry,) = await gov.audit(a.id)
    assert (entry.action, entry.old_value, entry.new_value) == ("account.password", None, None)
    dump = "\n".join(str(r) for r in db_rows(tmp_path / "hub.sqlite3", "SELECT * FROM audit"))
    assert OTHER not in dump


# -- devices ----------------------------------------------------------------


async def test_branch_labels_are_checked_scoped_and_audited(storage: Storage) -> None:
    gov = storage.governance
    a, b = await tenants(storage)
    await storage.add_device("kiosk-1", now=NOW)
    with pytest.raises(NotFound):
        await gov.set_branch(b.id, "kiosk-1", "Mitte", actor="admin:b", now=NOW)
    for bad in ("", "   ", "x" * 65, "line\nbreak", "tab\there", "bell\x07"):
        with pytest.raises(InvalidName):
            await gov.set_branch(a.id, "kiosk-1", bad, actor="admin:a", now=NOW)
    await gov.set_branch(a.id, "kiosk-1", " Berlin Mitte ", actor="admin:a", now=NOW)
    (status,) = await storage.device_statuses(now=NOW, tenant_id=a.id)
    assert status.device.branch == "Berlin Mitte"
    assert await storage.device_statuses(now=NOW, tenant_id=b.id) == []
    await gov.set_branch(a.id, "kiosk-1", None, actor="admin:a", now=NOW + 1)
    assert [d.branch for d in await storage.devices()] == [None]
    entries = await gov.audit(a.id)
    assert [(e.action, e.subject, e.old_value, e.new_value) for e in entries] == [
        ("device.branch", "kiosk-1", "Berlin Mitte", None),
        ("device.branch", "kiosk-1", None, "Berlin Mitte"),
    ]


async def test_revoking_a_device_is_audited(storage: Storage) -> None:
    a, _ = await tenants(storage)
    await storage.add_device("kiosk-1", now=NOW)
    await storage.revoke_device("kiosk-1", now=NOW, actor="admin:root")
    (entry,) = await storage.governance.audit(a.id)
    assert (entry.actor, entry.action, entry.subject) == ("admin:root", "device.revoke", "kiosk-1")


async def test_wipe_history_is_the_tenants_own(storage: Storage) -> None:
    gov = storage.governance
    a, b = await tenants(storage)
    device, _ = await storage.add_device("kiosk-1", now=NOW)
    await storage.add_device_report(device.id, "selftest", ok=True, summary="{}", at=NOW, now=NOW)
    await storage.add_device_report(device.id, "wipe", ok=False, summary="{}", at=NOW, now=NOW)
    await storage.add_device_report(device.id, "wipe", ok=True, summary="{}", at=NOW + 1, now=NOW)
    history = await gov.wipe_history(a.id, "kiosk-1")
    assert [(r.kind, r.ok) for r in history] == [("wipe", True), ("wipe", False)]
    with pytest.raises(NotFound):
        await gov.wipe_history(b.id, "kiosk-1")


# -- settings ---------------------------------------------------------------


async def test_retention_defaults_changes_and_audit(storage: Storage) -> None:
    gov = storage.governance
    a, b = await tenants(storage)
    assert await gov.retention(a.id) == Retention()
    new = await gov.set_retention(
        a.id, {"consultations_days": 30, "stats_min_cell": 5}, actor="admin:a", now=NOW
    )
    assert new == Retention(consultations_days=30)
    assert await gov.retention(b.id) == Retention()
    (entry,) = await gov.audit(a.id)  # stats_min_cell did not change: no entry
    assert (entry.action, entry.old_value, entry.new_value) == (
        "retention.consultations_days",
        "90",
        "30",
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"consultations_days": RETENTION_LIMITS["consultations_days"][0] - 1},
        {"consultations_days": RETENTION_LIMITS["consultations_days"][1] + 1},
        {"access_log_days": 0},
        {"audit_days": 364},
        {"stats_min_cell": 1},
        {"device_history_days": 29},
        {"forever_days": 10},
        {"consultations_days": "30"},
        {"consultations_days": 30.0},
        {"consultations_days": True},
        # one good and one bad: all or nothing
        {"consultations_days": 30, "access_log_days": 91},
    ],
)
async def test_bad_retention_changes_nothing(storage: Storage, changes: dict[str, int]) -> None:
    a, _ = await tenants(storage)
    with pytest.raises(InvalidSetting):
        await storage.governance.set_retention(a.id, changes, actor="admin:a", now=NOW)
    assert await storage.governance.retention(a.id) == Retention()
    assert await storage.governance.audit(a.id) == []


async def test_retention_limits_are_accepted(storage: Storage) -> None:
    a, _ = await tenants(storage)
    low = {k: v[0] for k, v in RETENTION_LIMITS.items()}
    high = {k: v[1] for k, v in RETENTION_LIMITS.items()}
    assert await storage.governance.set_retention(a.id, low, actor="x", now=NOW) == Retention(**low)
    assert await storage.governance.set_retention(a.id, high, actor="x", now=NOW) == Retention(
        **high
    )


async def test_turn_is_off_until_switched_on_per_tenant(storage: Storage) -> None:
    gov = storage.governance
    a, b = await tenants(storage)
    assert not await gov.turn_enabled(a.id)
    await gov.set_turn(a.id, True, actor="admin:a", now=NOW)
    await gov.set_turn(a.id, True, actor="admin:a", now=NOW)  # no change, no entry
    assert await gov.turn_enabled(a.id) and not await gov.turn_enabled(b.id)
    (entry,) = await gov.audit(a.id)
    assert (entry.action, entry.old_value, entry.new_value) == ("third_party.turn", "off", "on")
    with pytest.raises(NotFound):
        await gov.turn_enabled(999)


async def test_tsa_and_trustee_changes_are_audited(storage: Storage) -> None:
    a, _ = await tenants(storage)
    await storage.set_tsa_url("default", "https://tsa.example/", actor="admin:a")
    await storage.set_trustee("default", b"\x30\x03abc", "Notar Meier")
    await storage.set_trustee("default", None, None)
    entries = [
        (e.actor, e.action, e.old_value, e.new_value) for e in await storage.governance.audit(a.id)
    ]
    assert entries == [
        ("cli", "signing.trustee", "Notar Meier", None),
        ("cli", "signing.trustee", None, "Notar Meier"),
        ("admin:a", "third_party.tsa", None, "https://tsa.example/"),
    ]


# -- audit and access log ---------------------------------------------------


async def test_audit_pages_newest_first(storage: Storage) -> None:
    gov = storage.governance
    a, b = await tenants(storage)
    for i in range(5):
        await gov.add_audit(a.id, "cli", "note", f"s{i}", None, str(i), now=NOW + i)
    await gov.add_audit(b.id, "cli", "note", "other", None, None, now=NOW)
    first = await gov.audit(a.id, limit=2)
    assert [e.subject for e in first] == ["s4", "s3"]
    second = await gov.audit(a.id, limit=2, before_id=first[-1].id)
    assert [e.subject for e in second] == ["s2", "s1"]
    assert [e.subject for e in await gov.audit(b.id)] == ["other"]
    for bad in (0, 501, -1):
        with pytest.raises(InvalidSetting):
            await gov.audit(a.id, limit=bad)
    for before in (0, -5, 2**63, 10**30):
        with pytest.raises(InvalidSetting):
            await gov.audit(a.id, before_id=before)
        with pytest.raises(InvalidSetting):
            await gov.access_lines(a.id, before_id=before)
    with pytest.raises(NotFound):
        await gov.add_audit(999, "cli", "note", "x", None, None, now=NOW)


async def test_access_lines_are_stored_together_and_listed_per_tenant(storage: Storage) -> None:
    gov = storage.governance
    a, b = await tenants(storage)

    def line(i: int, tenant_id: int | None) -> NewAccessLine:
        return NewAccessLine(NOW + i, tenant_id, "192.0.2.0", "GET", f"/p{i}", 200, 10, 1.5)

    await gov.add_access_lines([line(0, a.id), line(1, b.id), line(2, None), line(3, a.id)])
    await gov.add_access_lines([])
    lines = await gov.access_lines(a.id)
    assert [x.path for x in lines] == ["/p3", "/p0"]
    assert (lines[0].client, lines[0].status, lines[0].duration_ms) == ("192.0.2.0", 200, 1.5)
    assert [x.path for x in await gov.access_lines(a.id, before_id=lines[0].id)] == ["/p0"]
    assert [x.path for x in await gov.access_lines(b.id)] == ["/p1"]
    with pytest.raises(InvalidSetting):
        await gov.access_lines(a.id, limit=501)


# -- checks (what the admin API hands in) --------------------------------------


@given(st.text(max_size=80))
def test_a_branch_label_is_printable_text_of_1_to_64_or_refused(text: str) -> None:
    try:
        label = check_branch(text)
    except InvalidName:
        return
    assert label is not None and 1 <= len(label) <= BRANCH_MAX and label.isprintable()
    assert label == label.strip()


@given(
    st.dictionaries(
        st.one_of(st.sampled_from(sorted(RETENTION_LIMITS)), st.text(max_size=10)),
        st.one_of(st.integers(-10, 4000), st.booleans(), st.floats(), st.text(max_size=3)),
        max_size=4,
    )
)
def test_retention_changes_are_whole_numbers_in_range_or_refused(
    changes: dict[str, object],
) -> None:
    try:
        checked = check_retention(changes)
    except InvalidSetting:
        return
    for key, value in checked.items():
        low, high = RETENTION_LIMITS[key]
        assert type(value) is int and low <= value <= high
    assert checked == changes
