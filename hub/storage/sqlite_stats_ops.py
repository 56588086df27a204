"""Statistics roll-ups as plain synchronous SQLite code (docs/storage.md, "Statistics").

One row per tenant, UTC day and branch (``stats_days``): how many ended consultations queued in
each hour of that day were accepted and abandoned (``hub.storage.hour_counts``), and exact
histograms of the accepted ones' waits and durations (``hub.storage.histogram``). A year of a
large tenant is a few thousand such rows. A consultation counts when it has ended and is not
restricted; every change of either (the first end, restrict, lift, erase) adjusts the roll-ups
in the same transaction, so they always equal an aggregation of the rows. Definitions:
wait = accepted_at - queued_at, duration = ended_at - accepted_at, each floored and clamped to
[0, CAP_S]; hour and day by queued_at, UTC.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict

from hub.storage import histogram, hour_counts
from hub.storage.records import StatsRows
from hub.storage.sqlite_rows import Row, _one
from hub.storage.sqlite_schema import transaction

# The columns a roll-up needs of one consultation, in this order (see ``apply``).
ROLLUP_COLUMNS = "tenant_id, queued_at, accepted_at, ended_at, branch"


def day_and_hour(queued_at: float) -> tuple[int, int]:
    """The UTC day since the epoch and hour of that day a consultation counts in.

    Both from the hour since the epoch, so the two can never disagree at a boundary.
    """
    day, hour = divmod(int(queued_at // 3600), hour_counts.HOURS)
    return day, hour


def apply(conn: sqlite3.Connection, row: Row, sign: int) -> None:
    """Add (``sign`` 1) or take out (-1) one ended consultation (``ROLLUP_COLUMNS``).

    Runs inside the caller's transaction; a row left with no consultation is deleted.
    """
    tenant_id, queued_at, accepted_at, ended_at, branch = row
    day, hour = day_and_hour(queued_at)
    key = (tenant_id, day, branch or "")
    found = _one(
        conn,
        "SELECT hours, waits, durations FROM stats_days "
        "WHERE tenant_id = ? AND day = ? AND branch = ?",
        key,
    )
    hours, waits, durations = (b"", b"", b"") if found is None else (bytes(v) for v in found)
    accepted = accepted_at is not None
    hours = hour_counts.adjust(hours, hour, accepted=accepted, delta=sign)
    if accepted:
        waits = histogram.adjust(waits, histogram.bucket(accepted_at - queued_at), sign)
        durations = histogram.adjust(durations, histogram.bucket(ended_at - accepted_at), sign)
    if hours:
        conn.execute(
            "INSERT OR REPLACE INTO stats_days (tenant_id, day, branch, hours, waits, durations) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (*key, hours, waits, durations),
        )
    else:
        conn.execute(
            "DELETE FROM stats_days WHERE tenant_id = ? AND day = ? AND branch = ?",
            key,
        )


def apply_consultation(conn: sqlite3.Connection, consultation_id: str, sign: int) -> None:
    """``apply`` for one consultation by id, if it counts (ended, not restricted)."""
    row = _one(
        conn,
        f"SELECT {ROLLUP_COLUMNS} FROM consultations "  # noqa: S608 - a constant
        "WHERE id = ? AND ended_at IS NOT NULL AND restricted_at IS NULL",
        (consultation_id,),
    )
    if row is not None:
        apply(conn, row, sign)


def stats_rows(conn: sqlite3.Connection, tenant_id: int, from_day: int, to_day: int) -> StatsRows:
    """A tenant's roll-ups for the UTC epoch days ``from_day`` to ``to_day`` (inclusive)."""
    # sqlite3 hands back int, str and bytes already: the rows go out as they come
    days = conn.execute(
        "SELECT day, branch, hours, waits, durations FROM stats_days "
        "WHERE tenant_id = ? AND day >= ? AND day <= ? ORDER BY branch, day",
        (tenant_id, from_day, to_day),
    ).fetchall()
    return StatsRows(days=days)


def _floor_div(column: str, divisor: int) -> str:
    """SQL for ``int(column // divisor)`` exactly as Python has it (no floor() in every build):
    the division may round up to the next whole number, so step back when it overshot."""
    q = f"CAST({column} / {divisor} AS INTEGER)"
    return f"({q} - ({q} * {divisor} > {column}))"


def rebuild_stats(conn: sqlite3.Connection, tenant_id: int | None) -> None:
    """Recompute the roll-ups of one tenant (None: all) from the rows, in one transaction."""
    with transaction(conn):
        rebuild_in_transaction(conn, tenant_id)


def rebuild_in_transaction(conn: sqlite3.Connection, tenant_id: int | None) -> None:
    """``rebuild_stats`` inside the caller's transaction (migration 7 runs it so).

    The grouping is SQL's: a million rows become one row per (day, branch, hour) and one per
    (day, branch, wait, duration) here.
    """
    # Every piece of SQL below is one of these constants (no caller's text reaches it).
    scope = "" if tenant_id is None else " AND tenant_id = ?"
    params: tuple[object, ...] = () if tenant_id is None else (tenant_id,)
    conn.execute("DELETE FROM stats_days WHERE 1" + scope, params)  # noqa: S608
    Key = tuple[int, int, str]
    hours: dict[Key, tuple[list[int], list[int]]] = {}
    for tenant, day, branch, hour, accepted, abandoned in conn.execute(
        _HOURS_SQL.format(scope=scope), params
    ):
        cell = hours.setdefault((tenant, day, branch), hour_counts.decode(b""))
        cell[0][hour], cell[1][hour] = accepted, abandoned
    waits: defaultdict[Key, Counter[int]] = defaultdict(Counter)
    durations: defaultdict[Key, Counter[int]] = defaultdict(Counter)
    for tenant, day, branch, wait, duration, count in conn.execute(
        _DAYS_SQL.format(scope=scope), params
    ):
        waits[(tenant, day, branch)][wait] += count
        durations[(tenant, day, branch)][duration] += count
    conn.executemany(
        "INSERT INTO stats_days (tenant_id, day, branch, hours, waits, durations) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            (
                *key,
                hour_counts.encode(*cell),
                histogram.encode(waits.get(key, {})),
                histogram.encode(durations.get(key, {})),
            )
            for key, cell in hours.items()
        ),
    )


# The hour since the epoch, whence day and hour of the day (``day_and_hour``); times are
# never before 1970, so SQL's truncating / and % are Python's floor // and % here.
_COUNTED = (
    f"FROM (SELECT tenant_id, {_floor_div('queued_at', 3600)} AS h, "  # noqa: S608 - constants
    "COALESCE(branch, '') AS b, "
    "accepted_at, ended_at, queued_at "
    "FROM consultations WHERE ended_at IS NOT NULL AND restricted_at IS NULL{scope})"
)
_HOURS_SQL = (
    "SELECT tenant_id, h / 24, b, h % 24, count(accepted_at), count(*) - count(accepted_at) "
    f"{_COUNTED} GROUP BY 1, 2, 3, 4"
)
# CAST truncates toward zero; below zero both it and floor clamp to 0, so this is bucket()
_BUCKET = f"max(0, min({histogram.CAP_S}, CAST(%s AS INTEGER)))"
_DAYS_SQL = (
    f"SELECT tenant_id, h / 24, b, {_BUCKET % '(accepted_at - queued_at)'}, "
    f"{_BUCKET % '(ended_at - accepted_at)'}, count(*) {_COUNTED} "
    "WHERE accepted_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5"
)
