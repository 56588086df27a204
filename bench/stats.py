"""`python -m bench stats`: the statistics page's queries and the retention purge, at scale.

A SQLite file (made by the hub's own ``SqliteStorage``, so with the real schema) gets a year of
one large tenant in bulk SQL: ``records`` consultations (1,000,000 by default) from 20 labelled
branches and a few unlabelled kiosks, with realistic waits and durations, office-hour peaks,
some abandoned, some restricted; then ``storage.governance.rebuild_stats()``.

- ``stats_ms_p95``: what the statistics page does, ``governance.stats_rows`` and
  ``hub.governance.stats.compute``, for the full year and for the last 30 days (p95 over both).
  Target <= 250.
- ``stats_equal``: every figure of ``compute(..., min_cell=1)`` (nothing hidden but empty cells)
  equals the same aggregation done by one plain SQL query over the raw rows (window functions
  for the nearest-rank percentiles), for both ranges, in the same run. That query is also the
  *baseline* (``baseline_stats_ms_p95``): the page without roll-ups.
- ``purge_s``: ``governance.purge_expired`` deleting the ``records`` consultation records and
  5 × ``records`` access-log lines past their retention (what must stay, stays:
  ``purge_complete``). Target <= 10.
- ``hello_ms_p99_during_purge``: a real hub app on loopback on that database (the purge runs in
  its own storage engine, as its purger would); a kiosk's hello to welcome on a fresh WebSocket,
  again and again while the purge runs. Baseline: the same with no purge
  (``baseline_hello_ms_p99``). Target <= 50.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from hub.admission import HubSite, make_runner
from hub.app import STORAGE, create_app
from hub.config import HubConfig
from hub.governance.references import new_reference
from hub.governance.stats import StatsRange, compute, iso_day
from hub.signalling.ids import new_consultation_id
from hub.storage import SqliteStorage, Storage
from hub.storage.records import PurgeCounts
from protocol.messages import Challenge, Hello, Welcome, decode, encode

DAY_S = 86400
NOW = 1_798_675_200.0 + 12 * 3600  # 2026-12-31 12:00 UTC: "today" for the statistics
TODAY = int(NOW // DAY_S)
LATER = NOW + 400 * DAY_S  # the purge's clock: the whole year is past every retention
BRANCHES = 20
UNLABELLED = 2  # kiosks without a branch label (the statistics' null branch)
RESTRICTED = 1_000  # kept by the purge, left out of the statistics
RECENT = 1_000  # consultations and access lines young enough to survive the purge
ABANDONED_SHARE = 0.07
CHUNK = 100_000
STATS_REPEATS = 20
BASELINE_REPEATS = 1  # the plain query over a year of rows takes a minute or more
IDLE_HELLOS = 200


# id, tenant, device, queued_at, accepted_at, ended_at, end_reason, branch, wipe_ok, reference
ConsultationRow = tuple[
    str, int, int, float, float | None, float | None, str | None, str | None, int | None, str
]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- the data -----------------------------------------------------------------------------


def _unique_reference(taken: set[str]) -> str:
    """A fresh reference not in ``taken`` (added to it): 50 bits collide once in a few
    thousand runs over a million rows, and the column is unique."""
    while (reference := new_reference()) in taken:
        pass
    taken.add(reference)
    return reference


def _consultations(
    records: int,
    devices: list[tuple[int, str | None]],
    tenant_id: int,
    references: set[str],
    seed: int = 16,
) -> Iterator[list[ConsultationRow]]:
    """Rows for ``consultations`` in chunks, in the order the hub writes them (by queue time):
    a year up to ``NOW``, office hours on weekdays, ids (time-ordered, random after the time)
    and references (random) as the hub makes them."""
    rng = np.random.default_rng(seed)
    weekday_weight = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.4, 0.05])  # Monday first
    hour_weight = np.array(
        [0.1] * 7 + [1, 4, 8, 9, 8, 5, 6, 8, 9, 8, 6, 3, 1] + [0.3, 0.2, 0.1, 0.1], dtype=float
    )
    days = np.arange(TODAY - 364, TODAY + 1)
    day_p = weekday_weight[(days + 3) % 7]  # 1970-01-01 was a Thursday
    day_p /= day_p.sum()
    hour_p = hour_weight / hour_weight.sum()
    device_p = np.array([1.0 if branch else 0.2 for _id, branch in devices])
    device_p /= device_p.sum()
    day = rng.choice(days, records, p=day_p)
    hour = rng.choice(24, records, p=hour_p)
    queued = day * DAY_S + hour * 3600 + rng.integers(0, 3_600_000, records) / 1000
    queued = np.sort(np.minimum(queued, NOW - 3600))  # all ended before "now"
    wait = rng.lognormal(np.log(75), 0.9, records)
    duration = rng.lognormal(np.log(540), 0.7, records)
    abandoned = rng.random(records) < ABANDONED_SHARE
    device = rng.choice(len(devices), records, p=device_p)
    for first in range(0, records, CHUNK):
        rows: list[ConsultationRow] = []
        for i in range(first, min(records, first + CHUNK)):
            device_id, branch = devices[device[i]]
            q = float(queued[i])
            accepted: float | None
            if abandoned[i]:
                accepted, ended, reason = None, q + float(wait[i]), "abandoned"
            else:
                accepted = q + float(wait[i])
                ended, reason = accepted + float(duration[i]), "hangup"
            cid = new_consultation_id(int(q * 1000))
            ref = _unique_reference(references)
            rows.append((cid, tenant_id, device_id, q, accepted, ended, reason, branch, 1, ref))
        yield rows


INSERT = (
    "INSERT INTO consultations (id, tenant_id, device_id, queued_at, accepted_at, ended_at, "
    "end_reason, branch, wipe_ok, reference) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def _build(path: Path, records: int) -> tuple[int, str]:
    """The database: devices through the storage API, the rest in bulk SQL. Returns
    (tenant id, a device token for the hellos)."""
    storage = await SqliteStorage.open(path)
    try:
        devices: list[tuple[int, str | None]] = []
        for index in range(BRANCHES + UNLABELLED):
            device, token = await storage.add_device(f"kiosk-{index:02d}", now=NOW)
            branch = f"Filiale {index + 1:02d}" if index < BRANCHES else None
            if branch is not None:
                await storage.governance.set_branch(
                    device.tenant.id, device.name, branch, actor="bench", now=NOW
                )
            devices.append((device.id, branch))
        tenant_id = device.tenant.id
    finally:
        await storage.close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        references: set[str] = set()
        for rows in _consultations(records, devices, tenant_id, references):
            conn.execute("BEGIN")  # a transaction per chunk: the WAL is reused, not grown
            conn.executemany(INSERT, rows)
            conn.execute("COMMIT")
        conn.execute("BEGIN")
        # restricted: old as the rest, kept by the purge, out of the statistics
        extra = next(_consultations(RESTRICTED + RECENT, devices, tenant_id, references, seed=61))
        conn.executemany(INSERT, extra[:RESTRICTED])
        conn.executemany(
            "UPDATE consultations SET restricted_at = ? WHERE id = ?",
            [(NOW, row[0]) for row in extra[:RESTRICTED]],
        )
        recent = []  # queued two days before the purge (at their time of day): they stay
        for _cid, t, d, q, a, e, *rest in extra[RESTRICTED:]:
            shift = LATER - 2 * DAY_S + q % DAY_S - q
            times = (None if v is None else v + shift for v in (q, a, e))
            recent.append((new_consultation_id(int((q + shift) * 1000)), t, d, *times, *rest))
        conn.executemany(INSERT, recent)
        # access-log lines: five per consultation, the month before "now" (all past 7 days
        # by LATER), some without a tenant; and a few from just before the purge
        conn.execute("COMMIT")
        lines, step = 5 * records, 30 * DAY_S / (5 * records)
        for first in range(0, lines, 5 * CHUNK):
            conn.execute("BEGIN")
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
                "INSERT INTO access_log (at, tenant_id, client, method, path, status, bytes, "
                "duration_ms) SELECT ? + i * ?, CASE WHEN i % 10 = 0 THEN NULL ELSE ? END, "
                "'192.0.2.0', 'GET', '/ws/kiosk', 101, 0, 12.5 FROM n",
                (first, min(lines, first + 5 * CHUNK), NOW - 30 * DAY_S, step, tenant_id),
            )
            conn.execute("COMMIT")
        conn.execute("BEGIN")
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
            "INSERT INTO access_log (at, tenant_id, client, method, path, status, bytes, "
            "duration_ms) SELECT ? + i * 0.01, ?, '192.0.2.0', 'GET', '/', 200, 10, 1 FROM n",
            (RECENT, LATER - 60, tenant_id),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    storage = await SqliteStorage.open(path)
    try:
        await storage.governance.rebuild_stats()
        _device, token = await storage.add_device("kiosk-hello", now=NOW)
    finally:
        await storage.close()
    return tenant_id, token


# -- the statistics -----------------------------------------------------------------------

# The baseline: the figures from the raw rows in one statement. Definitions as in
# docs/statistics.md: ended, not restricted, by queued_at (UTC day and hour); wait and duration
# floored and clamped to [0, 86399]; percentiles by nearest rank, k = ceil(p/100 * n).
PLAIN_SQL = """
WITH base AS (
    SELECT CAST(queued_at / 86400 AS INTEGER) AS day,
           CAST(queued_at / 3600 AS INTEGER) % 24 AS hour,
           COALESCE(branch, '') AS branch,
           accepted_at IS NULL AS abandoned,
           CASE WHEN accepted_at IS NOT NULL
                THEN MIN(MAX(CAST(accepted_at - queued_at AS INTEGER), 0), 86399) END AS wait,
           CASE WHEN accepted_at IS NOT NULL
                THEN MIN(MAX(CAST(ended_at - accepted_at AS INTEGER), 0), 86399) END AS duration
    FROM consultations
    WHERE tenant_id = :tenant AND ended_at IS NOT NULL AND restricted_at IS NULL
      AND queued_at >= :from_s AND queued_at < :to_s
),
accepted AS (
    SELECT 'total' AS kind, '' AS key, wait, duration FROM base WHERE wait IS NOT NULL
    UNION ALL
    SELECT 'branch', branch, wait, duration FROM base WHERE wait IS NOT NULL
),
ranked AS (
    SELECT kind, key, wait, duration,
           ROW_NUMBER() OVER (PARTITION BY kind, key ORDER BY wait) AS wait_rank,
           ROW_NUMBER() OVER (PARTITION BY kind, key ORDER BY duration) AS duration_rank,
           COUNT(*) OVER (PARTITION BY kind, key) AS n
    FROM accepted
),
percentiles AS (
    SELECT kind, key,
           MAX(CASE WHEN wait_rank = (50 * n + 99) / 100 THEN wait END) AS wait_p50,
           MAX(CASE WHEN wait_rank = (90 * n + 99) / 100 THEN wait END) AS wait_p90,
           MAX(CASE WHEN duration_rank = (50 * n + 99) / 100 THEN duration END) AS duration_p50,
           MAX(CASE WHEN duration_rank = (90 * n + 99) / 100 THEN duration END) AS duration_p90
    FROM ranked GROUP BY kind, key
),
counts AS (
    SELECT 'total' AS kind, '' AS key, COUNT(*) AS n, SUM(abandoned) AS abandoned FROM base
    UNION ALL SELECT 'branch', branch, COUNT(*), SUM(abandoned) FROM base GROUP BY branch
    UNION ALL SELECT 'day', day, COUNT(*), SUM(abandoned) FROM base GROUP BY day
    UNION ALL SELECT 'hour', hour, COUNT(*), SUM(abandoned) FROM base GROUP BY hour
)
SELECT c.kind, c.key, c.n, c.abandoned,
       p.wait_p50, p.wait_p90, p.duration_p50, p.duration_p90
FROM counts c LEFT JOIN percentiles p ON p.kind = c.kind AND p.key = c.key
"""


def plain_figures(conn: sqlite3.Connection, tenant_id: int, rng: StatsRange) -> dict[str, Any]:
    """``compute(..., min_cell=1).to_json()`` as the plain SQL query over the raw rows gets it."""
    params = {
        "tenant": tenant_id,
        "from_s": rng.from_day * DAY_S,
        "to_s": (rng.to_day + 1) * DAY_S,
    }
    rows: dict[str, dict[Any, dict[str, Any]]] = {"total": {}, "branch": {}, "day": {}, "hour": {}}
    for kind, key, n, abandoned, w50, w90, d50, d90 in conn.execute(PLAIN_SQL, params):
        rows[kind][key] = {
            "consultations": n,
            "abandoned": abandoned,
            "wait_p50_s": w50,
            "wait_p90_s": w90,
            "duration_p50_s": d50,
            "duration_p90_s": d90,
        }
    total = rows["total"].get("")
    if total is None or not total["consultations"]:
        total = dict.fromkeys(
            ("consultations", "abandoned", "wait_p50_s", "wait_p90_s")
            + ("duration_p50_s", "duration_p90_s")
        )
    days = range(rng.from_day, rng.to_day + 1)
    per_day = [rows["day"].get(day, {}).get("consultations") for day in days]
    per_hour = [rows["hour"].get(hour, {}).get("consultations") for hour in range(24)]
    names = sorted(rows["branch"], key=lambda name: (name == "", name))
    return {
        "from": iso_day(rng.from_day),
        "to": iso_day(rng.to_day),
        "min_cell": 1,
        "total": total,
        "per_day": [
            {"day": iso_day(d), "consultations": n} for d, n in zip(days, per_day, strict=True)
        ],
        "per_hour": [{"hour": h, "consultations": n} for h, n in enumerate(per_hour)],
        "branches": [{"branch": name or None, **rows["branch"][name]} for name in names],
        "suppressed_cells": (
            per_day.count(None) + per_hour.count(None) + (total["consultations"] is None)
        ),
    }


async def _page(
    storage: Storage,
    tenant_id: int,
    rng: StatsRange,
    min_cell: int,
    split: list[tuple[float, float]] | None = None,
) -> Any:
    """The page's work; ``split`` gets (ms reading the roll-ups, ms computing the figures)."""
    started = time.perf_counter()
    rows = await storage.governance.stats_rows(tenant_id, from_day=rng.from_day, to_day=rng.to_day)
    read = time.perf_counter()
    figures = compute(rows, rng, min_cell=min_cell)
    if split is not None:
        split.append(((read - started) * 1000, (time.perf_counter() - read) * 1000))
    return figures


async def _measure_stats(path: Path, tenant_id: int) -> dict[str, Any]:
    ranges = (StatsRange(TODAY - 365, TODAY), StatsRange(TODAY - 29, TODAY))
    storage = await SqliteStorage.open(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for rng in ranges:  # warm-up: threads, page cache
            await _page(storage, tenant_id, rng, 5)
        project: list[float] = []
        year_split: list[tuple[float, float]] = []
        for _ in range(STATS_REPEATS):
            for rng in ranges:
                started = time.perf_counter()
                await _page(storage, tenant_id, rng, 5, year_split if rng is ranges[0] else None)
                project.append((time.perf_counter() - started) * 1000)
        baseline: list[float] = []
        equal = True
        for _ in range(BASELINE_REPEATS):
            for rng in ranges:
                started = time.perf_counter()
                plain = plain_figures(conn, tenant_id, rng)
                baseline.append((time.perf_counter() - started) * 1000)
                figures = (await _page(storage, tenant_id, rng, 1)).to_json()
                equal = equal and figures == plain
        year = (await _page(storage, tenant_id, ranges[0], 5)).to_json()
    finally:
        conn.close()
        await storage.close()
    return {
        "stats_ms_p95": round(_pct(project, 0.95), 1),
        "stats_ms_p50": round(_pct(project, 0.5), 1),
        # the year's page: reading the roll-ups (stats_rows) and computing (compute), medians
        "year_rows_ms_p50": round(_pct([r for r, _ in year_split], 0.5), 1),
        "year_compute_ms_p50": round(_pct([c for _, c in year_split], 0.5), 1),
        "baseline_stats_ms_p95": round(_pct(baseline, 0.95), 1),
        "stats_equal": equal,
        "year_consultations": year["total"]["consultations"],
        "year_suppressed_cells": year["suppressed_cells"],
    }


# -- the purge and the hellos -------------------------------------------------------------


async def _hello(http: aiohttp.ClientSession, ws_url: str, token: str) -> float:
    """Milliseconds from a kiosk's hello to the hub's welcome, on a fresh WebSocket."""
    async with http.ws_connect(f"{ws_url}/ws/kiosk") as ws:
        challenge = decode((await ws.receive(timeout=10)).data)
        assert isinstance(challenge, Challenge)
        started = time.perf_counter()
        await ws.send_str(encode(Hello(role="kiosk", token=token, client="bench")))
        welcome = decode((await ws.receive(timeout=10)).data)
        elapsed = (time.perf_counter() - started) * 1000
        if not isinstance(welcome, Welcome):
            raise RuntimeError(f"the hub answered the hello with {type(welcome).__name__}")
    return elapsed


async def _measure_purge(path: Path, records: int, token: str) -> dict[str, Any]:
    config = HubConfig(db_path=path, port=0, allow_device_tokens=True, purge_interval_s=0)
    app = create_app(config, clock=lambda: LATER)
    runner = make_runner(app)  # with the access log: its lines go to the database meanwhile
    await runner.setup()
    try:
        site = HubSite(runner, "127.0.0.1", 0)
        await site.start()
        ws_url = f"ws://127.0.0.1:{int(runner.addresses[0][1])}"
        async with aiohttp.ClientSession() as http:
            for _ in range(10):
                await _hello(http, ws_url, token)
            idle = [await _hello(http, ws_url, token) for _ in range(IDLE_HELLOS)]
            storage = app[STORAGE]

            async def timed_purge() -> tuple[PurgeCounts, float]:
                started = time.perf_counter()
                counts = await storage.governance.purge_expired(now=LATER)
                return counts, time.perf_counter() - started

            purge = asyncio.create_task(timed_purge())
            during: list[float] = []
            while not purge.done():
                during.append(await _hello(http, ws_url, token))
            counts, purge_s = await purge
    finally:
        await runner.cleanup()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        left = conn.execute(
            "SELECT (SELECT COUNT(*) FROM consultations WHERE restricted_at IS NULL"
            "        AND queued_at < ?),"
            " (SELECT COUNT(*) FROM consultations),"
            " (SELECT COUNT(*) FROM access_log WHERE at < ?),"
            " (SELECT COUNT(*) FROM access_log WHERE path = '/')",
            (NOW, LATER - 7 * DAY_S),
        ).fetchone()
    finally:
        conn.close()
    return {
        "purge_s": round(purge_s, 2),
        "purged_consultations": counts.consultations,
        "purged_access_lines": counts.access_lines,
        # the old rows gone, the restricted and the recent ones kept (the hub's own lines too)
        "purge_complete": tuple(left) == (0, RESTRICTED + RECENT, 0, RECENT),
        "hello_ms_p99_during_purge": round(_pct(during, 0.99), 1) if during else None,
        "hellos_during_purge": len(during),
        "baseline_hello_ms_p99": round(_pct(idle, 0.99), 1),
    }


async def main(*, records: int = 1_000_000) -> dict[str, Any]:
    """Run the benchmark; returns the result dict (last stdout line as JSON)."""
    base = Path(tempfile.mkdtemp(prefix="bench-stats-"))
    path = base / "hub.sqlite3"
    try:
        started = time.perf_counter()
        tenant_id, token = await _build(path, records)
        build_s = time.perf_counter() - started
        result: dict[str, Any] = {"records": records, "access_lines": 5 * records}
        result.update(await _measure_stats(path, tenant_id))
        result.update(await _measure_purge(path, records, token))
        result["build_s"] = round(build_s, 1)
        return result
    finally:
        shutil.rmtree(base, ignore_errors=True)
