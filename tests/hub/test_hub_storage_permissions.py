"""The hub database holds argon2 hashes and CSRF tokens: owner-only files whatever the umask."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hub.storage import SqliteStorage, Storage

NOW = 1_800_000_000.0
PASSWORD = "correct horse battery"


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """Run with this process umask (process-wide, so restored at once)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(directory: Path) -> dict[str, str]:
    """Every file's mode in octal, for readable failures."""
    return {p.name: f"{mode(p):04o}" for p in sorted(directory.iterdir())}


async def write_some(storage: Storage) -> None:
    adviser = await storage.add_adviser("alice", PASSWORD, now=NOW)
    await storage.add_device("kiosk-1", now=NOW)
    await storage.create_session(adviser, now=NOW, lifetime_s=60)


@pytest.mark.parametrize("mask", [0o022, 0o000, 0o277])
async def test_fresh_database_and_journals_are_private(tmp_path: Path, mask: int) -> None:
    created = tmp_path / "state"
    directory = created / "hub"
    path = directory / "hub.sqlite3"
    with umask(mask):
        storage = await SqliteStorage.open(path)
        try:
            await write_some(storage)
            open_files = modes(directory)
        finally:
            await storage.close()
        # another connection (e.g. a CLI command next to the running hub) makes new journals
        second = await SqliteStorage.open(path)
        try:
            await second.add_device("kiosk-2", now=NOW)
            second_files = modes(directory)
        finally:
            await second.close()
    # WAL mode: while open, the write-ahead log and its index exist next to the database
    assert {"hub.sqlite3", "hub.sqlite3-wal", "hub.sqlite3-shm"} <= set(open_files)
    for files in (open_files, second_files, modes(directory)):
        assert files == dict.fromkeys(files, "0600")
    assert mode(directory) == 0o700
    assert mode(created) == 0o700  # every directory the hub made


async def test_existing_directory_is_left_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)  # noqa: ASYNC240 - set-up before the loop has anything to run
    with umask(0o022):
        await (await SqliteStorage.open(tmp_path / "hub.sqlite3")).close()
    assert mode(tmp_path) == 0o755
    assert mode(tmp_path / "hub.sqlite3") == 0o600


async def test_open_existing_database_is_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "hub.sqlite3"
    with umask(0o022):  # as an older hub, run by hand, left it
        await (await SqliteStorage.open(path)).close()
        path.chmod(0o644)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE scratch (x)")  # a -wal file with content stays behind
        (tmp_path / "hub.sqlite3-wal").chmod(0o644)
        with caplog.at_level(logging.WARNING, logger="hub.storage"):
            storage = await SqliteStorage.open(path)
        conn.close()
        await storage.close()
    assert modes(tmp_path) == dict.fromkeys(modes(tmp_path), "0600")
    warnings = [r.getMessage() for r in caplog.records if r.name == "hub.storage"]
    assert any("hub.sqlite3 was open to other users (mode 0644)" in w for w in warnings)
    assert any("hub.sqlite3-wal was open to other users (mode 0644)" in w for w in warnings)


async def test_private_database_opens_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "hub.sqlite3"
    await (await SqliteStorage.open(path)).close()
    with caplog.at_level(logging.WARNING, logger="hub.storage"):
        await (await SqliteStorage.open(path)).close()
    assert [r for r in caplog.records if r.name == "hub.storage"] == []
