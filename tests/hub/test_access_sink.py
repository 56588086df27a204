"""The access log's database copy (hub/access_sink.py), the purge in the hub, their settings.

The sink's batching is tested with a recording writer and a sleep the test releases (no real
waiting); what reaches the table is tested with a real hub on loopback and its SQLite file.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from hub.__main__ import build_parser
from hub.access_log import NAMED_PREFIXES, _loggable_path
from hub.access_sink import AccessSink
from hub.config import HubConfig
from hub.storage import StorageUnavailable
from hub.storage.records import NewAccessLine
from tests.support.hub import FakeClock, connect_kiosk, running_hub

CANARY = "canary-7Q2ZK9"


class Recorder:
    """A ``write`` that keeps each batch; fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.batches: list[list[NewAccessLine]] = []
        self.failing = False
        self.wrote = asyncio.Event()

    async def __call__(self, lines: Sequence[NewAccessLine]) -> None:
        if self.failing:
            raise StorageUnavailable("database is locked")
        self.batches.append(list(lines))
        self.wrote.set()


class Timer:
    """A ``sleep`` that returns only when the test calls ``fire``."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.waiting = asyncio.Event()

    async def __call__(self, _seconds: float) -> None:
        self.waiting.set()
        await self._event.wait()
        self._event.clear()

    def fire(self) -> None:
        self.waiting.clear()
        self._event.set()


def _add(sink: AccessSink, count: int, path: str = "/") -> None:
    for _ in range(count):
        sink.add(
            tenant_id=None,
            client="127.0.0.0",
            method="GET",
            path=path,
            status=200,
            bytes_=10,
            duration_ms=1.5,
        )


async def test_a_full_batch_is_written_without_waiting_for_the_timer() -> None:
    write, timer = Recorder(), Timer()
    sink = AccessSink(write, FakeClock(), batch=5, max_queued=50, sleep=timer)
    sink.start()
    await timer.waiting.wait()
    _add(sink, 5)
    await write.wrote.wait()  # the timer never fired
    assert [len(b) for b in write.batches] == [5]
    await sink.close()


async def test_the_timer_writes_a_part_batch_stamped_by_the_clock() -> None:
    write, timer, clock = Recorder(), Timer(), FakeClock()
    sink = AccessSink(write, clock, batch=500, sleep=timer)
    sink.start()
    _add(sink, 3)
    await timer.waiting.wait()
    timer.fire()
    await write.wrote.wait()
    assert [len(b) for b in write.batches] == [3]
    assert {line.at for line in write.batches[0]} == {clock()}
    await sink.close()


async def test_a_full_queue_drops_and_counts_and_close_flushes_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    write, timer = Recorder(), Timer()
    sink = AccessSink(write, FakeClock(), batch=4, max_queued=10, sleep=timer)
    _add(sink, 13)  # add never waits: no task is even running
    assert (sink.queued, sink.dropped) == (10, 3)
    assert "the database fell behind" in caplog.text  # said once, then counted
    await sink.close()
    assert [len(b) for b in write.batches] == [4, 4, 2]
    assert (sink.stored, sink.queued) == (10, 0)
    _add(sink, 1)  # after close: counted, not kept
    assert (sink.dropped, sink.queued) == (4, 0)


async def test_a_failing_database_loses_the_batch_not_the_sink(
    caplog: pytest.LogCaptureFixture,
) -> None:
    write, timer = Recorder(), Timer()
    sink = AccessSink(write, FakeClock(), batch=2, max_queued=10, sleep=timer)
    write.failing = True
    _add(sink, 2, path=f"/{CANARY}")
    await sink.flush()
    assert (sink.dropped, sink.stored) == (2, 0)
    write.failing = False
    _add(sink, 1)
    await sink.close()
    assert sink.stored == 1
    assert CANARY not in caplog.text  # counts and the error's kind only


@pytest.mark.parametrize(
    "settings",
    [{"batch": 0}, {"batch": 10, "max_queued": 5}, {"interval_s": 0}],
)
def test_bad_sink_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="access sink"):
        AccessSink(Recorder(), FakeClock(), **settings)  # type: ignore[arg-type]


def _table(db_path: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute("SELECT * FROM access_log ORDER BY id"))
    finally:
        conn.close()


def _dump(db_path: Path) -> str:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


async def test_a_real_hub_stores_anonymised_lines_without_queries_or_cookies(
    tmp_path: Path,
) -> None:
    async with running_hub(tmp_path, purge_interval_s=0) as hub:
        token = hub.add_device("kiosk-1")
        tenant_id = (await hub.storage.device_for_token(token)).tenant.id  # type: ignore[union-attr]
        jar = aiohttp.CookieJar(unsafe=True)
        jar.update_cookies({"kh_session": f"cookie-{CANARY}"}, URL(hub.url))
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(
                f"{hub.url}/api/session?token=query-{CANARY}",
                headers={"User-Agent": f"agent-{CANARY}", "Referer": f"/ref-{CANARY}"},
            ) as response:
                assert response.status == 200
            async with http.get(f"{hub.url}/api/admin/requests/ABCDE-12345/export") as response:
                assert response.status in (401, 403, 404)
            kiosk = await connect_kiosk(http, hub, token)
            await kiosk.ws.close()
        db_path = hub.config.db_path
    # the hub has stopped: what was queued was written at shutdown, within the second
    rows = {row["path"]: row for row in _table(db_path)}
    assert set(rows) >= {"/api/session", "/api/admin/requests/-/export", "/ws/kiosk"}
    session = rows["/api/session"]
    assert (session["client"], session["method"], session["status"]) == ("127.0.0.0", "GET", 200)
    assert session["tenant_id"] is None  # nobody was logged in
    assert rows["/ws/kiosk"]["tenant_id"] == tenant_id  # learnt from the kiosk's hello
    assert rows["/ws/kiosk"]["status"] == 101
    assert "ABCDE" not in _dump(db_path)  # a reference in a path links nothing
    assert CANARY not in _dump(db_path)  # not the query, cookie, user agent or referer


class PurgeSeen(logging.Handler):
    """Sets ``done`` when the hub's purger reports a purge (its log line has counts only)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.done = asyncio.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.done.set()


async def test_the_hub_purges_at_start_with_its_own_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    week = 7 * 86400
    async with running_hub(tmp_path, clock=clock, purge_interval_s=0) as hub:
        assert "purger" not in {task.get_name() for task in asyncio.all_tasks()}
        await hub.storage.governance.add_access_lines(
            [
                NewAccessLine(clock() - week - 60, None, "127.0.0.0", "GET", "/old", 200, 1, 1.0),
                NewAccessLine(clock() - 60, None, "127.0.0.0", "GET", "/new", 200, 1, 1.0),
            ]
        )
    seen = PurgeSeen()
    purger_log = logging.getLogger("hub.governance")
    purger_log.addHandler(seen)
    level = purger_log.level
    purger_log.setLevel(logging.INFO)
    try:
        async with running_hub(tmp_path, clock=clock, purge_interval_s=3600):
            await asyncio.wait_for(seen.done.wait(), 30)  # the purge that runs at start
    finally:
        purger_log.removeHandler(seen)
        purger_log.setLevel(level)
    assert seen.messages[0].startswith("purged past retention: 0 consultations, 1 access line")
    paths = {row["path"] for row in _table(tmp_path / "hub.sqlite3")}
    assert "/old" not in paths and "/new" in paths


def test_the_purge_interval_is_validated_and_reaches_the_config() -> None:
    assert HubConfig().purge_interval_s == 3600
    assert HubConfig(purge_interval_s=0).purge_interval_s == 0
    for bad in (-1, 0.5, 8 * 86400):
        with pytest.raises(ValueError, match="--purge-interval-s"):
            HubConfig(purge_interval_s=bad)
    args = build_parser().parse_args(["serve", "--purge-interval-s", "0"])
    assert args.purge_interval_s == 0
    assert build_parser().parse_args(["serve"]).purge_interval_s == 3600


_SEGMENT = st.text(st.characters(blacklist_characters="/"), min_size=1, max_size=80)


@given(
    prefix=st.sampled_from(NAMED_PREFIXES),
    name=_SEGMENT,
    other=_SEGMENT,
    rest=st.text(max_size=400),
)
def test_a_named_segment_never_shapes_the_logged_path(
    prefix: str, name: str, other: str, rest: str
) -> None:
    # an account name or a conversation reference: the log (and its table) cannot tell them apart
    logged = _loggable_path(prefix + name + "/" + rest)
    assert logged == _loggable_path(prefix + other + "/" + rest)
    assert logged.startswith(prefix + "-") and len(logged) <= 300


def test_archive_paths_name_neither_the_consultation_nor_the_item() -> None:
    # /api/archive/{consultation_id} (upload) and /api/archive/{id} (download) would link the
    # access log to a conversation
    assert _loggable_path("/api/archive/0Pq2xYz1abcdefghijklmn") == "/api/archive/-"
