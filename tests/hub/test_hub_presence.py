"""Who is online, through the database (migration 8): a real hub on loopback renews an adviser's
lease while its console is connected and clears it on close, and ``kiosk-hub adviser list`` in
a process of its own (here: on a thread of its own) reads it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hub.__main__ import main
from hub.storage import Account, SqliteStorage, Storage
from protocol.messages import Heartbeat, Queue
from tests.support.hub import (
    FakeClock,
    RunningHub,
    connect_adviser,
    http_session,
    running_hub,
    until,
)

PASSWORD = "correct horse battery"


async def account(storage: Storage, name: str) -> Account:
    tenant = await storage.tenant("default")
    return next(a for a in await storage.governance.accounts(tenant.id) if a.name == name)


async def online(storage: Storage, name: str, now: float | None = None) -> bool:
    found = await account(storage, name)
    return found.online(time.time() if now is None else now)


async def adviser_list(hub: RunningHub, capsys: pytest.CaptureFixture[str]) -> str:
    """``kiosk-hub adviser list`` beside the running hub (its own event loop and connection)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["adviser", "list", "--db", str(hub.config.db_path)])
    assert code == 0
    return capsys.readouterr().out


async def consoles(hub: RunningHub, count: int) -> None:
    """Wait until the hub has ``count`` consoles signed in, then for its writes under way."""
    await until(
        lambda: asyncio.sleep(0, len(hub.switchboard.connections()) == count),
        f"{count} consoles",
    )
    await hub.switchboard.drain()


async def test_adviser_list_says_online_while_a_console_is_connected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_hub(tmp_path) as hub, http_session() as http:
        hub.add_adviser("alice", PASSWORD)
        hub.add_adviser("bob", PASSWORD)
        console = await connect_adviser(http, hub, "alice", PASSWORD)
        await consoles(hub, 1)
        assert await adviser_list(hub, capsys) == (
            "default\talice\tadviser\tenabled\tonline\ndefault\tbob\tadviser\tenabled\toffline\n"
        )
        await console.close()
        await consoles(hub, 0)
        assert await adviser_list(hub, capsys) == (
            "default\talice\tadviser\tenabled\toffline\ndefault\tbob\tadviser\tenabled\toffline\n"
        )


async def test_a_second_console_keeps_the_account_online_until_the_last_closes(
    tmp_path: Path,
) -> None:
    async with running_hub(tmp_path) as hub, http_session() as http:
        hub.add_adviser("alice", PASSWORD)
        first = await connect_adviser(http, hub, "alice", PASSWORD)
        second = await connect_adviser(http, hub, "alice", PASSWORD)
        await consoles(hub, 2)
        await first.close()
        await consoles(hub, 1)
        assert await online(hub.storage, "alice")
        await second.close()
        await consoles(hub, 0)
        assert not await online(hub.storage, "alice")


async def test_the_lease_is_renewed_at_each_session_recheck_and_runs_out(tmp_path: Path) -> None:
    clock = FakeClock()
    start = clock.now
    async with running_hub(tmp_path, clock=clock, heartbeat_s=10) as hub, http_session() as http:
        hub.add_adviser("alice", PASSWORD)
        console = await connect_adviser(http, hub, "alice", PASSWORD)
        await console.expect(Queue)
        await consoles(hub, 1)
        assert (await account(hub.storage, "alice")).online_until == start + 30
        clock.advance(25)
        await console.send(Heartbeat(ts=0))  # the session is re-checked at every heartbeat
        await console.expect(Heartbeat)
        await hub.switchboard.drain()
        lease = (await account(hub.storage, "alice")).online_until
        assert lease == start + 25 + 30
        # a hub that crashed never clears it: past its time the account is offline anyway
        assert await online(hub.storage, "alice", now=lease - 1)
        assert not await online(hub.storage, "alice", now=lease)


async def test_set_online_renews_clears_and_ignores_a_gone_account(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "hub.sqlite3")
    try:
        alice = await storage.add_adviser("alice", PASSWORD, tenant="default", now=0.0)
        assert (await account(storage, "alice")).online_until is None  # never connected
        assert not await online(storage, "alice", now=0.0)
        await storage.governance.set_online(alice.id, 100.0)
        assert await online(storage, "alice", now=99.9)
        assert not await online(storage, "alice", now=100.0)  # a lease past its time
        await storage.governance.set_online(alice.id, None)
        assert not await online(storage, "alice", now=0.0)
        await storage.governance.set_online(alice.id + 1000, 100.0)  # no such account: nothing
        tenant = await storage.tenant("default")
        assert [a.online_until for a in await storage.governance.accounts(tenant.id)] == [None]
    finally:
        await storage.close()


def test_adviser_list_says_offline_for_a_lease_past_its_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "hub.sqlite3"

    async def crashed_hub() -> None:
        storage = await SqliteStorage.open(db)
        try:
            alice = await storage.add_adviser("alice", PASSWORD, tenant="default", now=0.0)
            await storage.governance.set_online(alice.id, time.time() - 1)
        finally:
            await storage.close()

    asyncio.run(crashed_hub())
    capsys.readouterr()
    assert main(["adviser", "list", "--db", str(db)]) == 0
    assert capsys.readouterr().out == "default\talice\tadviser\tenabled\toffline\n"
