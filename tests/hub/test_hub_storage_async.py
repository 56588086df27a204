"""The SQLite engine off the event loop: its threads, its order, its errors."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.storage import (
    NotFound,
    SqliteStorage,
    StorageError,
    StorageUnavailable,
)

NOW = 1_800_000_000.0
PASSWORD = "correct horse battery"
WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT", "ROLLBACK", "CREATE", "ALTER")


class Statements:
    """Every SQL statement the engine runs, with the thread that ran it."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    def __call__(self, statement: str) -> None:
        with self._lock:
            self.seen.append((threading.get_ident(), statement.lstrip().upper()))

    def threads(self, *, writes: bool) -> set[int]:
        """The threads that ran writes (or, with ``writes=False``, reads)."""
        return {t for t, s in self.seen if s.startswith(WRITES) == writes}


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[tuple[SqliteStorage, Statements]]:
    statements = Statements()
    storage = await SqliteStorage.open(tmp_path / "hub.sqlite3", trace=statements)
    yield storage, statements
    await storage.close()


async def test_no_statement_runs_on_the_event_loop_and_writes_share_one_thread(
    traced: tuple[SqliteStorage, Statements],
) -> None:
    storage, statements = traced
    device, token = await storage.add_device("kiosk-1", now=NOW)
    adviser = await storage.add_adviser("alice", PASSWORD, now=NOW)
    assert await storage.device_for_token(token) == device
    session_id, _csrf = await storage.create_session(adviser, now=NOW, lifetime_s=60)
    assert await storage.session(session_id, now=NOW) is not None
    await storage.consultation_queued("c-1", device, now=NOW)
    await storage.consultation_ended("c-1", "hangup", now=NOW + 1)
    assert [c.end_reason for c in await storage.consultations()] == ["hangup"]

    loop_thread = threading.get_ident()
    ran_on = {thread for thread, _ in statements.seen}
    assert statements.seen and loop_thread not in ran_on
    # one writer; the lookups of live connections on a reader beside it
    (writer,) = statements.threads(writes=True)
    assert statements.threads(writes=False) - {writer}, "no read ran beside the writer"
    lookups = [t for t, s in statements.seen if "FROM DEVICES D JOIN" in s and "TOKEN_HASH" in s]
    assert lookups and writer not in lookups


async def test_the_reader_never_writes(traced: tuple[SqliteStorage, Statements]) -> None:
    storage, statements = traced
    await storage.add_tenant("other", now=NOW)
    assert [t.tenant.name for t in await storage.tenants()] == ["default", "other"]
    (writer,) = statements.threads(writes=True)
    readers = statements.threads(writes=False) - {writer}
    assert readers
    assert not any(t in readers and s.startswith(WRITES) for t, s in statements.seen)


async def test_writes_started_as_tasks_land_in_order(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "hub.sqlite3")
    try:
        device, _ = await storage.add_device("kiosk-1", now=NOW)
        adviser = await storage.add_adviser("alice", PASSWORD, now=NOW)
        # fired off as the switchboard does: tasks created in order, nobody waits in between
        tasks = [
            asyncio.create_task(storage.consultation_queued("c-1", device, now=NOW)),
            asyncio.create_task(storage.consultation_accepted("c-1", adviser, now=NOW + 1)),
            asyncio.create_task(
                storage.grant_resume_token("c-1", "kiosk", device.id, "a" * 64, now=NOW + 1)
            ),
            asyncio.create_task(storage.consultation_ended("c-1", "hangup", now=NOW + 2)),
        ]
        await asyncio.sleep(0)  # one turn of the loop: the tasks start (and queue their writes)
        # the log sees every write started before it, without waiting for the tasks to finish
        (record,) = await storage.consultations()
        assert (record.accepted_at, record.end_reason) == (NOW + 1, "hangup")
        await asyncio.gather(*tasks)
        assert not await storage.take_resume_token("c-1", "kiosk", device.id, "a" * 64)
    finally:
        await storage.close()


async def test_a_lock_past_the_busy_timeout_is_typed_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    storage = await SqliteStorage.open(path, busy_timeout_s=0.2)
    try:
        adviser = await storage.add_adviser("alice", PASSWORD, now=NOW)
        session_id, _ = await storage.create_session(adviser, now=NOW, lifetime_s=60)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StorageUnavailable, match="locked .* over 0.2 s") as refused:
                await storage.add_device("kiosk-1", now=NOW)
            assert isinstance(refused.value, StorageError)
            assert isinstance(refused.value.__cause__, sqlite3.OperationalError)
            # a transaction of two statements (new hash, sessions end): all or nothing
            with pytest.raises(StorageUnavailable):
                await storage.set_password("alice", "a new long password")
            # reads go on meanwhile
            assert await storage.session(session_id, now=NOW) is not None
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert await storage.devices() == []
        login = await storage.adviser_login("alice")
        assert login is not None and await storage.verify_password(login.password_hash, PASSWORD)
        assert await storage.session(session_id, now=NOW) is not None
        # and the engine is usable again
        await storage.add_device("kiosk-1", now=NOW)
        with pytest.raises(NotFound):  # its own errors still come through as they are
            await storage.revoke_device("nobody")
    finally:
        await storage.close()


async def test_a_closed_storage_refuses_every_call(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "hub.sqlite3")
    await storage.close()
    await storage.close()  # twice is fine
    with pytest.raises(StorageUnavailable, match="closed"):
        await storage.device_for_token("bkd_x")
    with pytest.raises(StorageUnavailable, match="closed"):
        await storage.add_tenant("other", now=NOW)


async def test_a_failed_open_leaves_no_worker_behind(tmp_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    path = tmp_path / "hub.sqlite3"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(StorageError, match="not a usable hub database"):
        await SqliteStorage.open(path)
    for _ in range(50):  # the executors' threads leave once told to
        left = {t.name for t in threading.enumerate()} - before
        if not any(name.startswith("hub-db-") for name in left):
            break
        await asyncio.sleep(0.02)
    assert not any(name.startswith("hub-db-") for name in left), left
