"""The statistics roll-ups always equal a plain aggregation of the consultation rows, whatever
mix of queue, accept, end, restrict, lift, erase and relabelling happened (hypothesis).

Runs the engine's synchronous operations on an in-memory database (the same SQL the threads
run), so that each example costs milliseconds.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import given
from hypothesis import strategies as st

from hub.storage import Adviser, Device, InvalidSetting, Tenant, histogram, hour_counts
from hub.storage import sqlite_gov_ops as gov
from hub.storage import sqlite_ops as ops
from hub.storage import sqlite_stats_ops as rollups
from hub.storage.sqlite_schema import migrate

START = 1_800_000_000.0
TENANTS = 2
DEVICES = 2  # per tenant
IDS = 6

# times near hour and day boundaries, where floor division and rounding could disagree
_near_edges = st.builds(
    lambda k, eps: k * 3600.0 + eps,
    st.integers(int(START // 3600), int(START // 3600) + 72),
    st.sampled_from([-1e-6, -1e-9, 0.0, 1e-9, 0.5]),
)
_times = st.one_of(st.floats(START, START + 3 * 86400.0), _near_edges)
_gaps = st.one_of(st.floats(0.0, 200_000.0), st.sampled_from([0.0, 0.999999, 86_399.5]))
_actions = st.one_of(
    st.tuples(st.just("queue"), st.integers(0, IDS - 1), st.integers(0, 3), _times),
    st.tuples(st.just("accept"), st.integers(0, IDS - 1), _gaps),
    st.tuples(st.just("end"), st.integers(0, IDS - 1), _gaps),
    st.tuples(st.just("restrict"), st.integers(0, IDS - 1), st.booleans()),
    st.tuples(st.just("erase"), st.integers(0, IDS - 1)),
    st.tuples(st.just("branch"), st.integers(0, 3), st.sampled_from([None, "Mitte", "Süd"])),
    st.tuples(st.just("abandon_all"), _gaps),
)


@contextmanager
def database() -> Iterator[tuple[sqlite3.Connection, list[Device], list[Adviser]]]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn)
        conn.execute("INSERT INTO tenants (name, created_at) VALUES ('b', 0)")
        devices, advisers = [], []
        for t in range(1, TENANTS + 1):
            tenant = Tenant(t, "default" if t == 1 else "b")
            for d in range(DEVICES):
                cur = conn.execute(
                    "INSERT INTO devices (tenant_id, name, token_hash, created_at) "
                    "VALUES (?, ?, ?, 0)",
                    (t, f"k{d}", f"h{t}{d}"),
                )
                assert cur.lastrowid is not None
                devices.append(Device(cur.lastrowid, f"k{d}", tenant, 0, False))
            cur = conn.execute(
                "INSERT INTO advisers (tenant_id, name, password_hash, created_at) "
                "VALUES (?, ?, 'x', 0)",
                (t, f"a{t}"),
            )
            assert cur.lastrowid is not None
            advisers.append(Adviser(cur.lastrowid, f"a{t}", tenant))
        yield conn, devices, advisers
    finally:
        conn.close()


Days = dict[tuple[int, int, str], tuple[dict[int, int], dict[int, int]]]


def plain_aggregation(conn: sqlite3.Connection) -> tuple[Counter[tuple[object, ...]], Days]:
    """Hours and day histograms computed straight from the rows, without the roll-up code."""
    rows = conn.execute(
        "SELECT tenant_id, queued_at, accepted_at, ended_at, COALESCE(branch, '') "
        "FROM consultations WHERE ended_at IS NOT NULL AND restricted_at IS NULL"
    ).fetchall()
    hours: Counter[tuple[object, ...]] = Counter()
    waits: defaultdict[tuple[int, int, str], Counter[int]] = defaultdict(Counter)
    durations: defaultdict[tuple[int, int, str], Counter[int]] = defaultdict(Counter)
    for tenant, queued, accepted, ended, branch in rows:
        hour = int(queued // 3600)
        hours[(tenant, hour, branch, "queued")] += 1
        hours[(tenant, hour, branch, "accepted" if accepted is not None else "abandoned")] += 1
        if accepted is not None:
            key = (tenant, int(queued // 86400), branch)
            waits[key][histogram.bucket(accepted - queued)] += 1
            durations[key][histogram.bucket(ended - accepted)] += 1
    days = {k: (dict(waits[k]), dict(durations[k])) for k in waits}
    return hours, days


def stored(conn: sqlite3.Connection) -> tuple[Counter[tuple[object, ...]], Days]:
    hours: Counter[tuple[object, ...]] = Counter()
    days: Days = {}
    for t, d, b, hs, w, u in conn.execute("SELECT * FROM stats_days"):
        assert hs != b"", "a roll-up row without consultations is left behind"
        for h, q, a, x in hour_rows(d, hs):
            for name, n in (("queued", q), ("accepted", a), ("abandoned", x)):
                if n:
                    hours[(t, h, b, name)] = n
        if w or u:
            days[(t, d, b)] = (histogram.decode(w), histogram.decode(u))
    return hours, days


def hour_rows(day: int, blob: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(hour since the epoch, queued, accepted, abandoned) of a day's hour counts."""
    accepted, abandoned = hour_counts.decode(blob)
    for hour in range(24):
        yield day * 24 + hour, accepted[hour] + abandoned[hour], accepted[hour], abandoned[hour]


def run(
    conn: sqlite3.Connection,
    devices: list[Device],
    advisers: list[Adviser],
    actions: list[tuple[object, ...]],
) -> None:
    clock: dict[int, float] = {}  # id -> the time of its last event
    for action in actions:
        kind = action[0]
        if kind == "queue":
            _, i, d, at = action
            assert isinstance(i, int) and isinstance(d, int) and isinstance(at, float)
            if i in clock:
                continue
            ops.consultation_queued(conn, f"c{i}", devices[d], at, f"REF{i}")
            clock[i] = at
        elif kind in ("accept", "end"):
            _, i, gap = action
            assert isinstance(i, int) and isinstance(gap, float)
            if i not in clock:
                continue
            row = conn.execute(
                "SELECT accepted_at, ended_at, tenant_id FROM consultations WHERE id = ?",
                (f"c{i}",),
            ).fetchone()
            if row is None:  # erased
                continue
            clock[i] += gap
            if kind == "accept" and row[0] is None and row[1] is None:
                ops.consultation_accepted(conn, f"c{i}", advisers[row[2] - 1], clock[i])
            elif kind == "end":
                ops.consultation_ended(conn, f"c{i}", "hangup", clock[i])
        elif kind == "restrict":
            _, i, on = action
            assert isinstance(i, int) and isinstance(on, bool)
            for tenant in range(1, TENANTS + 1):  # the wrong tenant finds nothing
                gov.restrict_conversation(conn, tenant, f"REF{i}", on, "dpo", START)
        elif kind == "erase":
            _, i = action
            for tenant in range(1, TENANTS + 1):
                try:
                    gov.erase_conversation(conn, tenant, f"REF{i}", "dpo", START)
                except InvalidSetting:  # not ended yet
                    pass
        elif kind == "branch":
            _, d, label = action
            assert isinstance(d, int)
            device = devices[d]
            gov.set_branch(conn, device.tenant.id, device.name, label, "admin", START)  # type: ignore[arg-type]
        elif kind == "abandon_all":
            ops.end_waiting_consultations(conn, "restart", START + 4 * 86400.0)


@given(st.lists(_actions, max_size=40))
def test_roll_ups_equal_a_plain_aggregation_of_the_rows(actions: list[tuple[object, ...]]) -> None:
    with database() as (conn, devices, advisers):
        run(conn, devices, advisers, actions)
        expected = plain_aggregation(conn)
        assert stored(conn) == expected
        rollups.rebuild_stats(conn, None)  # the migration's and the benchmark's way agrees
        assert stored(conn) == expected


def test_a_day_of_one_branch_is_one_roll_up_row_whatever_its_hours() -> None:
    """A year's page reads one row per day and branch (issue 16's benchmark: a row per hour
    made a year of a large tenant 100,000 rows)."""
    with database() as (conn, devices, advisers):
        day_start = (int(START // 86400) + 1) * 86400.0
        for hour in range(24):
            at = day_start + hour * 3600 + 60
            ops.consultation_queued(conn, f"c{hour}", devices[0], at, f"REF{hour}")
            if hour % 3:
                ops.consultation_accepted(conn, f"c{hour}", advisers[0], at + 30)
            ops.consultation_ended(conn, f"c{hour}", "hangup", at + 90)
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'stats%'"
            )
        ]
        rows = sum(conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in tables)  # noqa: S608
        assert rows == 1
        assert stored(conn) == plain_aggregation(conn)
