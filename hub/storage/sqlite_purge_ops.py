"""Deleting what is past its retention, as plain synchronous SQLite code (docs/storage.md).

The engine (``SqliteGovernance.purge_expired``) asks ``purge_plan`` for what to delete and
then calls ``purge_walk_batch`` (consultations, access lines) and ``purge_batch`` (the rest)
again and again, each call one transaction and a separate hop to the writer thread: a restart
between two batches leaves nothing half-deleted (a consultation goes with its resume tokens),
and other writes wait for one batch at most, never for the whole purge. The engine sizes the
batches by how long the last one took (``next_batch``). Statistics roll-ups are not purged:
they are aggregates and hold nothing personal.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from hub.storage.records import ACCESS_LOG_DAYS_WITHOUT_TENANT
from hub.storage.sqlite_rows import _all
from hub.storage.sqlite_schema import transaction

DAY_S = 86400.0
KINDS = ("consultations", "access_lines", "device_reports", "audit", "sessions")
WALKS = ("consultations", "access_lines")
# How long one batch should hold the writer: long enough that a batch's fixed cost (its
# commit writes every index page it touched) is amortised, short enough that a kiosk's
# write waits little behind it. Measured in docs/storage.md.
BATCH_TARGET_S = 0.5
MAX_BATCH = 500_000  # rows (rowids in a walk) per batch, whatever the clock says
# WAL pages a purge lets pile up before it copies them into the database: a checkpoint after
# every batch wrote each index page twice per batch; ``finish`` copies the rest at the end.
PURGE_CHECKPOINT_PAGES = 65_536

# What one batch selects, by kind: rowids of at most ? rows of a tenant (tenant_id ?) older
# than a cutoff (?).
_SELECT = {
    "device_reports": "SELECT r.id FROM device_reports r JOIN devices d ON d.id = r.device_id "
    "WHERE d.tenant_id = ? AND r.at < ? LIMIT ?",
    "audit": "SELECT id FROM audit WHERE tenant_id = ? AND at < ? ORDER BY id LIMIT ?",
}
_DELETE = {
    "device_reports": "DELETE FROM device_reports WHERE id IN (SELECT value FROM json_each(?))",
    "audit": "DELETE FROM audit WHERE id IN (SELECT value FROM json_each(?))",
}

# One step of a plan: (kind, tenant id or None, cutoff time).
Step = tuple[str, int | None, float]
Cutoffs = Mapping[int | None, float]


class Plan:
    """What to purge now: for each tenant and kind the time before which rows go; for the two
    walks over all tenants (consultations, access lines) each tenant's cutoff."""

    def __init__(
        self,
        steps: list[Step],
        access_cutoffs: dict[int | None, float],
        consultation_cutoffs: dict[int | None, float],
    ) -> None:
        self.steps = steps
        self.access_cutoffs = access_cutoffs
        self.consultation_cutoffs = consultation_cutoffs

    def cutoffs(self, walk: str) -> dict[int | None, float]:
        """The per-tenant cutoffs of one of ``WALKS``."""
        return self.consultation_cutoffs if walk == "consultations" else self.access_cutoffs


def purge_plan(conn: sqlite3.Connection, now: float) -> Plan:
    """What to purge now (read in one statement: the settings as they are at the start)."""
    rows = _all(
        conn,
        "SELECT id, retain_consultations_days, retain_access_log_days, "
        "retain_device_history_days, retain_audit_days FROM tenants ORDER BY id",
    )
    steps: list[Step] = [("consultations", None, now), ("access_lines", None, now)]
    access: dict[int | None, float] = {None: now - ACCESS_LOG_DAYS_WITHOUT_TENANT * DAY_S}
    consultations: dict[int | None, float] = {}
    for tenant_id, consultation_days, access_days, devices, audit in rows:
        steps += [
            ("device_reports", tenant_id, now - devices * DAY_S),
            ("audit", tenant_id, now - audit * DAY_S),
        ]
        consultations[tenant_id] = now - consultation_days * DAY_S
        access[tenant_id] = now - access_days * DAY_S
    steps.append(("sessions", None, now))
    return Plan(steps, access, consultations)


def next_batch(size: int, elapsed_s: float, ceiling: int = MAX_BATCH) -> int:
    """The next batch's size after one of ``size`` rows took ``elapsed_s``: up towards
    ``BATCH_TARGET_S`` (at most 4 times as many), down only past twice that (at most half as
    many: a batch's time is mostly fixed cost, and a checkpoint now and then is no reason to
    shrink), within 1..``ceiling``."""
    if elapsed_s < BATCH_TARGET_S:
        wanted = 4 * size if elapsed_s <= 0 else int(size * BATCH_TARGET_S / elapsed_s)
        size = min(4 * size, max(size, wanted))
    elif elapsed_s > 2 * BATCH_TARGET_S:
        size = max(size // 2, int(size * BATCH_TARGET_S / elapsed_s))
    return max(1, min(ceiling, size))


@contextmanager
def _batch(conn: sqlite3.Connection, *, checked: bool = True) -> Iterator[None]:
    """One purge batch's transaction; ``checked=False``: without foreign-key checks, for a
    batch that deletes the children itself first (the check costs a third of the batch)."""
    foreign_keys = int(conn.execute("PRAGMA foreign_keys").fetchone()[0])
    if not checked:
        conn.execute("PRAGMA foreign_keys=OFF")  # outside the transaction, or it is ignored
    try:
        with transaction(conn):
            yield
    finally:
        conn.execute(f"PRAGMA foreign_keys={foreign_keys}")


def start(conn: sqlite3.Connection) -> tuple[int, int]:
    """Before a purge, until ``finish``, for the other writes in between too: the WAL may
    grow to ``PURGE_CHECKPOINT_PAGES`` (or the next write would copy it back after every
    batch), and commits do not wait for the disk (synchronous=NORMAL: WAL mode keeps the file
    consistent on a power cut, which may lose the last commits; with FULL, every write after
    a batch waited for the batch's pages to reach the disk). Returns what ``finish`` restores.
    """
    synchronous = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    autocheckpoint = int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA wal_autocheckpoint={max(autocheckpoint, PURGE_CHECKPOINT_PAGES)}")
    return synchronous, autocheckpoint


def finish(conn: sqlite3.Connection, settings: tuple[int, int]) -> None:
    """After a purge: the settings back, and what the purge left in the WAL copied into the
    database and on disk now, so that the next ordinary write does not pay for it (PASSIVE:
    never waits for readers)."""
    synchronous, autocheckpoint = settings
    conn.execute(f"PRAGMA synchronous={int(synchronous)}")
    conn.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


Timer = Callable[[], float]


def timed_walk(
    conn: sqlite3.Connection,
    walk: str,
    cutoffs: Cutoffs,
    after_id: int,
    batch: int,
    timer: Timer = time.perf_counter,
) -> tuple[int, int | None, float]:
    """``purge_walk_batch`` and how long it held the writer (not counting the wait for it)."""
    started = timer()
    deleted, cursor = purge_walk_batch(conn, walk, cutoffs, after_id, batch)
    return deleted, cursor, timer() - started


def timed_batch(
    conn: sqlite3.Connection, step: Step, batch: int, timer: Timer = time.perf_counter
) -> tuple[int, float]:
    """``purge_batch`` and how long it held the writer (not counting the wait for it)."""
    started = timer()
    deleted = purge_batch(conn, step, batch)
    return deleted, timer() - started


def _cutoff_sql(cutoffs: Cutoffs, otherwise: float | None) -> tuple[str, list[float | int]]:
    """A SQL expression for a row's cutoff by its ``tenant_id``: ``otherwise`` (NULL: keep)
    for a tenant without one, and the None key for rows without a tenant."""
    params: list[float | int] = []
    whens = []
    for tenant_id, cutoff in cutoffs.items():
        if tenant_id is not None:
            whens.append("WHEN ? THEN ?")
            params += [tenant_id, cutoff]
    cases = f"CASE tenant_id {' '.join(whens)} END" if whens else "NULL"
    fallback = cutoffs.get(None, otherwise)
    if fallback is None:
        return cases, params
    return f"coalesce({cases}, ?)", [*params, fallback]


# What each walk deletes of the rows in its id range, and the time its stop test reads.
_DOOMED = {
    # ended (or queued and never ended) before the tenant's cutoff, and not restricted
    "consultations": (
        "consultations",
        "queued_at",
        "coalesce(ended_at, queued_at) < {cut} AND restricted_at IS NULL",
    ),
    "access_lines": ("access_log", "at", "at < {cut}"),
}


def purge_walk_batch(
    conn: sqlite3.Connection, walk: str, cutoffs: Cutoffs, after_id: int, batch: int
) -> tuple[int, int | None]:
    """Delete the rows of ``walk`` past their tenant's retention among the next ``batch``
    rowids from the first row after ``after_id``, in one transaction; return (deleted, where
    to go on or None: done).

    A walk by rowid, for all tenants at once, with no time index to keep up (one costs about
    as much per deleted row as the row itself) and no rows fetched: rows arrive in time order
    (give or take the access-log sink's second), so the walk ends at the first range where
    nothing went and no tenant's retention has reached its oldest row. A consultation's
    resume tokens go in the same transaction, before it.
    """
    table, clock, condition = _DOOMED[walk]
    cut, params = _cutoff_sql(cutoffs, None if walk == "consultations" else cutoffs[None])
    doomed = condition.format(cut=cut)
    with _batch(conn, checked=walk != "consultations"):
        first = conn.execute(
            f"SELECT rowid FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT 1",  # noqa: S608
            (after_id,),
        ).fetchone()
        if first is None:
            return 0, None
        start = int(first[0]) - 1  # over the gap that earlier purges left
        end = start + batch
        if walk == "consultations":
            # resume tokens are few (live consultations only): found from their side (CROSS
            # JOIN keeps that order); they go first, so that no token outlives its row
            conn.execute(
                "DELETE FROM resume_tokens WHERE consultation_id IN (SELECT c.id FROM "  # noqa: S608 - constants and ? only
                "resume_tokens r CROSS JOIN consultations c ON c.id = r.consultation_id "
                f"WHERE c.rowid > ? AND c.rowid <= ? AND {doomed})",
                (start, end, *params),
            )
        deleted = int(
            conn.execute(
                f"DELETE FROM {table} WHERE rowid > ? AND rowid <= ? AND {doomed}",  # noqa: S608
                (start, end, *params),
            ).rowcount
        )
        if deleted:
            return deleted, end
        (oldest,) = conn.execute(
            f"SELECT min({clock}) FROM {table} WHERE rowid > ? AND rowid <= ?",  # noqa: S608
            (start, end),
        ).fetchone()
    done = oldest is None or oldest >= max(cutoffs.values(), default=-math.inf)
    return 0, None if done else end


def purge_batch(conn: sqlite3.Connection, step: Step, batch: int) -> int:
    """Delete at most ``batch`` rows of one per-tenant step, in one transaction; how many."""
    kind, tenant_id, cutoff = step
    with _batch(conn):
        if kind == "sessions":
            return conn.execute(
                "DELETE FROM web_sessions WHERE rowid IN "
                "(SELECT rowid FROM web_sessions WHERE expires_at <= ? LIMIT ?)",
                (cutoff, batch),
            ).rowcount
        ids = [r[0] for r in _all(conn, _SELECT[kind], (tenant_id, cutoff, batch))]
        if ids:
            conn.execute(_DELETE[kind], (json.dumps(ids),))
        return len(ids)
