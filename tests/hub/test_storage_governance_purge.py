"""The purge by retention (migration 7: test_storage_migration_7.py): per
tenant, in batches, a restart between batches leaves nothing half-deleted."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.storage import (
    InvalidSetting,
    NewAccessLine,
    PurgeCounts,
    SqliteStorage,
    StatsRows,
    Storage,
)
from hub.storage.sqlite_purge_ops import (
    BATCH_TARGET_S,
    MAX_BATCH,
    WALKS,
    next_batch,
    purge_batch,
    purge_plan,
    purge_walk_batch,
)
from hub.storage.sqlite_schema import migrate

NOW = 1_800_000_000.0
DAY_S = 86_400.0
# the two walks (consultations, access lines): five batches each and one that finds the end;
# one each for the tenant's device reports and audit, the sessions and the archives
TRANSACTIONS = 2 * (5 + 1) + 4
DAY = int(NOW // 86400)
HOUR = int(NOW // 3600)
PASSWORD = "correct horse battery"


# -- purge ------------------------------------------------------------------


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    s = await SqliteStorage.open(tmp_path / "hub.sqlite3")
    yield s
    await s.close()


async def fill(storage: Storage) -> None:
    """Two tenants, each with old and new consultations, access lines, reports, audit."""
    b = await storage.add_tenant("bank-b", now=NOW)
    a = await storage.tenant("default")
    gov = storage.governance
    # b keeps consultations for 30 days, a the default 90
    await gov.set_retention(b.id, {"consultations_days": 30}, actor="x", now=NOW - 800 * DAY_S)
    for tenant in (a, b):
        device, _ = await storage.add_device(f"kiosk-{tenant.name}", now=NOW, tenant=tenant.name)
        for age_days in (100, 60, 1):
            cid = f"{tenant.name}-{age_days}"
            at = NOW - age_days * DAY_S
            await storage.consultation_queued(cid, device, now=at, reference=None)
            await storage.consultation_ended(cid, "left", now=at + 10)
            await storage.add_device_report(device.id, "wipe", ok=True, summary="{}", at=at, now=at)
        # queued long ago and never ended (a hub that died mid-queue), with resume tokens
        for n in (1, 2):
            old = f"{tenant.name}-unended-{n}"
            await storage.consultation_queued(old, device, now=NOW - 400 * DAY_S)
            await storage.grant_resume_token(old, "kiosk", device.id, old * 3, now=NOW)
        await storage.add_device_report(
            device.id, "selftest", ok=True, summary="{}", at=NOW - 400 * DAY_S, now=NOW
        )
        await gov.add_audit(tenant.id, "x", "note", "old", None, None, now=NOW - 731 * DAY_S)
        await gov.add_audit(tenant.id, "x", "note", "new", None, None, now=NOW - 729 * DAY_S)
    # access lines arrive in time order: 8 days ago for each tenant and none, then newer ones
    await gov.add_access_lines(
        [
            NewAccessLine(NOW - d * DAY_S, t, "192.0.2.0", "GET", "/", 200, 1, 1.0)
            for d, tenants in ((8, (a.id, b.id, None)), (6, (a.id, b.id)), (1, (None,)))
            for t in tenants
        ]
    )
    adviser = await storage.add_adviser("alice", PASSWORD, now=NOW)
    await storage.create_session(adviser, now=NOW - 100, lifetime_s=10)
    await storage.create_session(adviser, now=NOW, lifetime_s=600)


def left(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_purge_deletes_what_each_tenant_no_longer_keeps(
    storage: Storage, tmp_path: Path
) -> None:
    await fill(storage)
    a = await storage.tenant("default")
    before = await storage.governance.stats_rows(a.id, from_day=DAY - 200, to_day=DAY)
    gov = storage.governance
    path = tmp_path / "hub.sqlite3"
    counts = await gov.purge_expired(now=NOW, batch=1)
    assert counts == PurgeCounts(
        consultations=7, access_lines=3, device_reports=2, audit=3, sessions=1
    )
    assert [r[0] for r in left(path, "SELECT id FROM consultations ORDER BY id")] == [
        "bank-b-1",
        "default-1",
        "default-60",
    ]
    assert left(path, "SELECT count(*) FROM resume_tokens") == [(0,)]
    assert left(path, "SELECT count(*), min(at) FROM access_log") == [(3, NOW - 6 * DAY_S)]
    assert left(path, "SELECT count(*) FROM device_reports") == [(6,)]
    assert left(path, "SELECT subject FROM audit WHERE action = 'note'") == [("new",), ("new",)]
    assert left(path, "SELECT count(*) FROM web_sessions") == [(1,)]
    # the roll-ups are aggregates: not purged
    assert await gov.stats_rows(a.id, from_day=DAY - 200, to_day=DAY) == before
    assert await gov.purge_expired(now=NOW) == PurgeCounts()


async def test_a_restricted_conversation_outlives_its_retention(
    storage: Storage, tmp_path: Path
) -> None:
    device, _ = await storage.add_device("kiosk-1", now=NOW)
    gov = storage.governance
    old = NOW - 100 * DAY_S
    await storage.consultation_queued("c-1", device, now=old, reference="AAAAA-BBBBB")
    await storage.consultation_ended("c-1", "left", now=old + 1)
    assert await gov.restrict_conversation(
        device.tenant.id, "AAAAA-BBBBB", True, actor="d", now=old
    )
    assert (await gov.purge_expired(now=NOW)).consultations == 0
    assert await gov.conversation(device.tenant.id, "AAAAA-BBBBB") is not None
    await gov.restrict_conversation(device.tenant.id, "AAAAA-BBBBB", False, actor="d", now=NOW)
    assert (await gov.purge_expired(now=NOW)).consultations == 1


async def test_a_purge_interrupted_between_batches_leaves_nothing_half_deleted(
    storage: Storage, tmp_path: Path
) -> None:
    await fill(storage)
    await storage.close()
    path = tmp_path / "hub.sqlite3"
    # The hub dies after a one-row batch of each step (of the consultations' walk: four, at
    # the first row of each tenant and at its first unended one): a fresh connection, as
    # after a restart.
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn)
        plan = purge_plan(conn, NOW)
        for step in plan.steps:
            if step[0] == "access_lines":
                purge_walk_batch(conn, "access_lines", plan.access_cutoffs, 0, 1)
            elif step[0] == "consultations":
                for cid in ("default-100", "default-unended-1", "bank-b-100", "bank-b-unended-1"):
                    (rowid,) = conn.execute(
                        "SELECT rowid FROM consultations WHERE id = ?", (cid,)
                    ).fetchone()
                    deleted, _ = purge_walk_batch(
                        conn, "consultations", plan.consultation_cutoffs, rowid - 1, 1
                    )
                    assert deleted == 1
            else:
                purge_batch(conn, step, 1)
    finally:
        conn.close()
    # every consultation left still has its token, if it had one (none dangles, none lost)
    tokens = left(
        path,
        "SELECT r.consultation_id, c.id FROM resume_tokens r "
        "LEFT JOIN consultations c ON c.id = r.consultation_id",
    )
    assert all(c is not None for _, c in tokens)
    unended = left(path, "SELECT id FROM consultations WHERE ended_at IS NULL")
    assert len(unended) == 2  # one of each tenant's two went, with its token
    assert sorted(str(u) for (u,) in unended) == sorted(str(r) for r, _ in tokens)
    # after the restart the purge finishes the job
    again = await SqliteStorage.open(path)
    try:
        counts = await again.governance.purge_expired(now=NOW, batch=2)
        assert counts.consultations == 7 - 4  # the four one-row batches went before
        assert left(path, "SELECT count(*) FROM resume_tokens") == [(0,)]
    finally:
        await again.close()


async def test_a_purge_needs_a_positive_batch(storage: Storage) -> None:
    with pytest.raises(InvalidSetting):
        await storage.governance.purge_expired(now=NOW, batch=0)
    assert await storage.governance.stats_rows(1, from_day=0, to_day=DAY) == StatsRows([])


async def test_access_lines_go_by_their_tenants_retention(storage: Storage, tmp_path: Path) -> None:
    gov = storage.governance
    a = await storage.tenant("default")
    b = await storage.add_tenant("bank-b", now=NOW)
    await gov.set_retention(b.id, {"access_log_days": 30}, actor="x", now=NOW)
    lines = [
        NewAccessLine(NOW - age * DAY_S, t, "192.0.2.0", "GET", "/", 200, 1, 1.0)
        for age in range(40, 0, -1)  # oldest first, as they arrive
        for t in (a.id, b.id, None)
    ]
    await gov.add_access_lines(lines)
    counts = await gov.purge_expired(now=NOW, batch=4)
    # a and the lines without a tenant keep 7 days (a line exactly 7 days old is not older
    # than that: kept), b keeps 30; the walk goes on past b's kept lines
    kept = left(tmp_path / "hub.sqlite3", "SELECT tenant_id, count(*) FROM access_log GROUP BY 1")
    assert sorted(kept, key=str) == sorted([(None, 7), (a.id, 7), (b.id, 30)], key=str)
    assert counts.access_lines == 3 * 40 - 44


# -- how the purge batches ----------------------------------------------------


def test_batches_grow_while_fast_and_shrink_only_when_much_too_slow() -> None:
    target = BATCH_TARGET_S
    assert next_batch(100, target / 100) == 400  # at most four times as many
    assert next_batch(100, target / 2) == 200  # towards the target
    assert next_batch(100, 0.0) == 400  # too fast to measure
    assert next_batch(100, target * 1.5) == 100  # a checkpoint now and then: no reason
    assert next_batch(100, target * 3) == 50  # at most half as many
    assert next_batch(1, target * 100) == 1  # never below one row
    assert next_batch(MAX_BATCH, target / 100) == MAX_BATCH


async def test_a_large_purge_needs_far_fewer_transactions_than_rows(tmp_path: Path) -> None:
    statements: list[str] = []
    storage = await SqliteStorage.open(tmp_path / "hub.sqlite3", trace=statements.append)
    try:
        device, _ = await storage.add_device("kiosk-1", now=NOW)
        old = NOW - 100 * DAY_S
        for n in range(300):
            await storage.consultation_queued(f"c-{n}", device, now=old + n)
            await storage.consultation_ended(f"c-{n}", "left", now=old + n + 1)
        await storage.governance.add_access_lines(
            [NewAccessLine(old + n, None, "192.0.2.0", "GET", "/", 200, 1, 1.0) for n in range(300)]
        )
        statements.clear()
        storage.governance.batch_timer = lambda: 0.0  # every batch quick: each may grow 4-fold
        counts = await storage.governance.purge_expired(now=NOW, batch=1)
        assert (counts.consultations, counts.access_lines) == (300, 300)
        # batches start at one row and grow while they are quick (one per row before): each
        # walk over 300 rows takes batches of 1, 4, 16, 64 and 256 rows (TRANSACTIONS)
        assert statements.count("BEGIN IMMEDIATE") == TRANSACTIONS
        assert left(tmp_path / "hub.sqlite3", "SELECT count(*) FROM consultations") == [(0,)]
    finally:
        await storage.close()


async def test_a_purge_batch_leaves_the_connection_as_it_found_it(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    await (await SqliteStorage.open(path)).close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=ON")

        def settings() -> tuple[object, ...]:
            return tuple(
                conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("synchronous", "wal_autocheckpoint", "foreign_keys")
            )

        before = settings()
        plan = purge_plan(conn, NOW)
        purge_walk_batch(conn, "consultations", plan.consultation_cutoffs, 0, 10)
        assert settings() == before
        # and when a batch fails halfway: rolled back, settings back
        conn.execute("DROP TABLE access_log")
        with pytest.raises(sqlite3.OperationalError):
            purge_walk_batch(conn, "access_lines", plan.access_cutoffs, 0, 10)
        assert not conn.in_transaction
        assert settings() == before
    finally:
        conn.close()


async def test_the_walk_goes_on_past_what_it_keeps_and_what_is_gone(
    storage: Storage, tmp_path: Path
) -> None:
    """A restricted conversation at the start, a gap an earlier purge left, then rows past
    their retention: all of those go, in one-row batches."""
    device, _ = await storage.add_device("kiosk-1", now=NOW)
    gov = storage.governance
    old = NOW - 200 * DAY_S

    async def consultation(cid: str, at: float, reference: str | None = None) -> None:
        await storage.consultation_queued(cid, device, now=at, reference=reference)
        await storage.consultation_ended(cid, "left", now=at + 1)

    await consultation("kept", old, "AAAAA-BBBBB")
    assert await gov.restrict_conversation(1, "AAAAA-BBBBB", True, actor="d", now=old)
    for n in range(20):
        await consultation(f"first-{n}", old + n)
    assert (await gov.purge_expired(now=old + 100 * DAY_S, batch=1)).consultations == 20
    for n in range(5):
        await consultation(f"later-{n}", old + DAY_S + n)
    await consultation("young", NOW - DAY_S)
    assert (await gov.purge_expired(now=NOW, batch=1)).consultations == 5
    ids = left(tmp_path / "hub.sqlite3", "SELECT id FROM consultations ORDER BY rowid")
    assert ids == [("kept",), ("young",)]


async def test_what_the_purge_deletes_is_not_left_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    storage = await SqliteStorage.open(path)
    try:
        device, _ = await storage.add_device("kiosk-1", now=NOW)
        old = NOW - 100 * DAY_S
        # enough rows that whole pages are freed, not only cells
        for n in range(300):
            await storage.consultation_queued(f"gone-consultation-{n:04d}", device, now=old + n)
            await storage.consultation_ended(f"gone-consultation-{n:04d}", "left", now=old + n)
        await storage.governance.add_access_lines(
            [
                NewAccessLine(old, 1, "192.0.2.0", "GET", f"/gone-path-{n:04d}", 200, 1, 1.0)
                for n in range(300)
            ]
        )
        await storage.consultation_queued("kept-consultation", device, now=NOW)
        counts = await storage.governance.purge_expired(now=NOW)
        assert (counts.consultations, counts.access_lines) == (300, 300)
    finally:
        await storage.close()
    data = path.read_bytes()
    assert b"kept-consultation" in data
    assert b"gone-consultation" not in data
    assert b"/gone-path" not in data


_consultation_rows = st.lists(
    st.tuples(
        st.integers(0, 2),  # tenant
        st.floats(0, 120, allow_nan=False),  # age in days at queue time
        st.one_of(st.none(), st.floats(0, 30, allow_nan=False)),  # days until its end
        st.booleans(),  # restricted
    ),
    max_size=40,
)
_access_rows = st.lists(
    st.tuples(st.one_of(st.none(), st.integers(0, 2)), st.floats(0, 40, allow_nan=False)),
    max_size=40,
)


@given(
    _consultation_rows,
    _access_rows,
    st.tuples(*[st.sampled_from([7, 30, 90])] * 3),
    st.tuples(*[st.sampled_from([1, 7, 30])] * 3),
    st.integers(1, 50),
)
def test_the_walks_delete_exactly_what_each_tenant_no_longer_keeps(
    consultations: list[tuple[int, float, float | None, bool]],
    access: list[tuple[int | None, float]],
    consultation_days: tuple[int, int, int],
    access_days: tuple[int, int, int],
    batch: int,
) -> None:
    """Rows in arrival order (oldest first), random retention per tenant, any batch size: the
    walks leave exactly the rows to keep, and no resume token without its consultation."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn)
        tenants = []
        for n in range(3):
            conn.execute(
                "INSERT INTO tenants (name, created_at, retain_consultations_days, "
                "retain_access_log_days) VALUES (?, 0, ?, ?)",
                (f"t{n}", consultation_days[n], access_days[n]),
            )
            tenant_id = conn.execute("SELECT max(id) FROM tenants").fetchone()[0]
            conn.execute(
                "INSERT INTO devices (tenant_id, name, token_hash, created_at) VALUES (?, ?, ?, 0)",
                (tenant_id, f"k{n}", f"h{n}"),
            )
            tenants.append((tenant_id, conn.execute("SELECT max(id) FROM devices").fetchone()[0]))
        expected = set()
        ordered = sorted(enumerate(consultations), key=lambda item: -item[1][1])
        for n, (t, age, lasted, restricted) in ordered:
            queued = NOW - age * DAY_S
            ended = None if lasted is None else min(NOW, queued + lasted * DAY_S)
            conn.execute(
                "INSERT INTO consultations (id, tenant_id, device_id, queued_at, ended_at, "
                "restricted_at) VALUES (?, ?, ?, ?, ?, ?)",
                (f"c{n}", *tenants[t], queued, ended, NOW if restricted else None),
            )
            if ended is None:
                conn.execute(
                    "INSERT INTO resume_tokens VALUES (?, ?, 'kiosk', 1, ?)",
                    (f"r{n}", f"c{n}", NOW),
                )
            cutoff = NOW - consultation_days[t] * DAY_S
            if restricted or (queued if ended is None else ended) >= cutoff:
                expected.add(f"c{n}")
        kept_lines = 0
        for owner, age in sorted(access, key=lambda item: -item[1]):
            at = NOW - age * DAY_S
            tenant_id = None if owner is None else tenants[owner][0]
            conn.execute(
                "INSERT INTO access_log (at, tenant_id, client, method, path, status, bytes, "
                "duration_ms) VALUES (?, ?, '192.0.2.0', 'GET', '/', 200, 1, 1.0)",
                (at, tenant_id),
            )
            days = 7 if owner is None else access_days[owner]
            kept_lines += at >= NOW - days * DAY_S
        plan = purge_plan(conn, NOW)
        for walk in WALKS:
            cursor: int | None = 0
            while cursor is not None:
                _deleted, cursor = purge_walk_batch(conn, walk, plan.cutoffs(walk), cursor, batch)
        assert {r[0] for r in conn.execute("SELECT id FROM consultations")} == expected
        assert conn.execute("SELECT count(*) FROM access_log").fetchone()[0] == kept_lines
        tokens = {r[0] for r in conn.execute("SELECT consultation_id FROM resume_tokens")}
        unended = conn.execute("SELECT id FROM consultations WHERE ended_at IS NULL").fetchall()
        assert tokens == {r[0] for r in unended}
    finally:
        conn.close()
