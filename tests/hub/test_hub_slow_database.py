"""A slow or failing database does not stall the hub: other connections keep their timing.

Another process holds the database's write lock (``BEGIN EXCLUSIVE``, as a backup or an open
sqlite3 shell would) while the hub must write; meanwhile a kiosk's heartbeats are answered as
usual. When the lock outlasts the busy timeout, or the database is gone, the request that
needed it gets a clear error and the hub goes on.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.signalling import CLOSE_UNAVAILABLE
from hub.storage import SqliteStorage
from protocol.messages import (
    Accept,
    Accepted,
    Error,
    Heartbeat,
    Hello,
    Offer,
    Queue,
    QueuePosition,
    QueueRequest,
    ResumeGrant,
)
from tests.support.hub import (
    RunningHub,
    SignallingPeer,
    connect_adviser,
    connect_kiosk,
    running_hub,
)

PASSWORD = "correct horse battery"
LOCK_S = 3.0  # how long the other process holds the lock
ANSWER_WITHIN_S = 0.5  # a heartbeat's answer, while the lock is held
HEARTBEAT_EVERY_S = 0.1
Operation = Callable[[], Coroutine[Any, Any, object]]


class HeldLock:
    """Another connection holds the database's write lock, on a thread of its own.

    Its own thread, so that the lock is let go on time even if the event loop is stuck.
    """

    def __init__(self, path: Path, seconds: float) -> None:
        self._path = path
        self._seconds = seconds
        self.held = threading.Event()
        self.release = threading.Event()
        self._thread = threading.Thread(target=self._hold, name="lock-holder")

    def _hold(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            self.held.set()
            self.release.wait(self._seconds)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    @asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        """The lock is held inside the block, let go at its end (or after ``seconds``)."""
        self._thread.start()
        try:
            await asyncio.to_thread(self.held.wait, 10)
            assert self.held.is_set(), "could not take the database's lock"
            yield
        finally:
            self.release.set()
            await asyncio.to_thread(self._thread.join)


async def heartbeat_delays(peer: SignallingPeer, seconds: float) -> list[float]:
    """Heartbeats due every ``HEARTBEAT_EVERY_S`` for ``seconds``: how late each answer came.

    Counted from when each was due, so a stall anywhere (sending, the hub, the answer, this
    loop) shows, not only a slow answer.
    """
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    start = loop.time()
    for beat in range(int(seconds / HEARTBEAT_EVERY_S)):
        due = start + beat * HEARTBEAT_EVERY_S
        await asyncio.sleep(max(0.0, due - loop.time()))
        await peer.send(Heartbeat(ts=1))
        await peer.expect(Heartbeat, within=LOCK_S + 5)
        delays.append(loop.time() - due)
    return delays


async def log_in(http: aiohttp.ClientSession, hub: RunningHub) -> int:
    """A console login (the hub writes a session); the HTTP status."""
    async with http.get(f"{hub.url}/api/csrf") as response:
        token = (await response.json())["csrf"]
    async with http.post(
        f"{hub.url}/api/login",
        json={"name": "alice", "password": PASSWORD},
        headers={"X-CSRF-Token": token},
    ) as response:
        await response.read()
        return response.status


async def adviser_and_waiting_kiosk(
    http: aiohttp.ClientSession, hub: RunningHub
) -> tuple[SignallingPeer, SignallingPeer, str]:
    """An adviser and a queued kiosk (the queue announcements read); the consultation id."""
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    waiting = await connect_kiosk(http, hub, hub.add_device("kiosk-2"))
    await waiting.send(QueueRequest())
    position = await waiting.expect(QueuePosition)
    await adviser.expect(Queue)
    return adviser, waiting, position.consultation_id


async def accept_a_waiting_kiosk(http: aiohttp.ClientSession, hub: RunningHub) -> Operation:
    """Set up an adviser and a queued kiosk; return the accept (the hub records it, grants)."""
    adviser, _waiting, consultation_id = await adviser_and_waiting_kiosk(http, hub)

    async def accept() -> ResumeGrant:
        await adviser.send(Accept(consultation_id=consultation_id))
        await adviser.expect(Accepted)
        # sent once its token is stored: after the lock
        return await adviser.expect(ResumeGrant, within=LOCK_S + 10)

    return accept


@pytest.mark.parametrize("touch", ["login", "accept"])
async def test_heartbeats_keep_their_timing_while_the_database_is_locked(
    tmp_path: Path, http: aiohttp.ClientSession, touch: str
) -> None:
    async with running_hub(tmp_path) as hub:
        hub.add_adviser("alice", PASSWORD)
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        if touch == "login":
            operation: Operation = functools.partial(log_in, http, hub)
        else:
            operation = await accept_a_waiting_kiosk(http, hub)
        async with HeldLock(hub.config.db_path, LOCK_S).holding():
            touching = asyncio.create_task(operation())
            delays = await heartbeat_delays(kiosk, LOCK_S - 1)
            # the operation really waited for the database meanwhile
            still_waiting = not touching.done()
        outcome = await touching
    assert len(delays) >= 5 and max(delays) < ANSWER_WITHIN_S, delays
    assert still_waiting, f"the {touch} did not wait for the locked database"
    if touch == "login":
        assert outcome == 200
    else:
        assert isinstance(outcome, ResumeGrant)


def stored_sessions(hub: RunningHub) -> int:
    """Console sessions in the hub's database, read beside the hub."""
    with sqlite3.connect(f"file:{hub.config.db_path}?mode=ro", uri=True) as conn:
        (count,) = conn.execute("SELECT count(*) FROM web_sessions").fetchone()
    conn.close()
    assert isinstance(count, int)
    return count


@contextmanager
def captured_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """The hub's warnings logged inside the block."""
    seen: list[str] = []
    with caplog.at_level("WARNING"):
        yield seen
    seen.extend(r.getMessage() for r in caplog.records if r.levelname == "WARNING")


async def test_a_lock_past_the_busy_timeout_fails_the_login_only(
    tmp_path: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    opener = functools.partial(SqliteStorage.open, busy_timeout_s=0.3)
    async with running_hub(tmp_path, open_storage=opener) as hub:
        hub.add_adviser("alice", PASSWORD)
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        with captured_warnings(caplog) as warnings:
            async with HeldLock(hub.config.db_path, LOCK_S).holding():
                async with http.get(f"{hub.url}/api/csrf") as response:
                    token = (await response.json())["csrf"]
                async with http.post(
                    f"{hub.url}/api/login",
                    json={"name": "alice", "password": PASSWORD},
                    headers={"X-CSRF-Token": token},
                ) as response:
                    status, body = response.status, await response.json()
                    retry_after = response.headers.get("Retry-After")
                # the hub goes on: the kiosk's heartbeats are answered
                await kiosk.send(Heartbeat(ts=1))
                await kiosk.expect(Heartbeat)
        assert (status, body["error"]) == (503, "unavailable"), body
        assert "database" in body["message"] and retry_after == "1"
        assert any("stayed locked" in w for w in warnings), warnings
        assert not any(PASSWORD in w or "alice" in w for w in warnings)
        # nothing half-written: no session was stored; once the lock is gone, login works
        assert stored_sessions(hub) == 0
        assert await log_in(http, hub) == 200
        assert stored_sessions(hub) == 1


async def test_a_database_gone_refuses_hellos_and_logins_and_the_hub_goes_on(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path) as hub:
        token = hub.add_device("kiosk-1")
        hub.add_adviser("alice", PASSWORD)
        await hub.storage.close()  # as after a disk failure: every operation is refused
        peer = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
        await peer.send(Hello(role="kiosk", token=token))
        error = await peer.expect(Error)
        # not "unauthorized": the kiosk keeps its token and tries again later
        assert (error.code, error.fatal) == ("internal", True)
        assert "database" in error.message
        frame = await peer.ws.receive(timeout=5)
        assert (frame.type, frame.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_UNAVAILABLE)
        assert await log_in(http, hub) == 503
        async with http.get(f"{hub.url}/api/csrf") as response:
            assert response.status == 200  # what needs no database still works


async def test_a_resume_grant_that_could_not_be_stored_is_not_sent(
    tmp_path: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    opener = functools.partial(SqliteStorage.open, busy_timeout_s=0.3)
    async with running_hub(tmp_path, open_storage=opener) as hub:
        hub.add_adviser("alice", PASSWORD)
        adviser, kiosk, consultation_id = await adviser_and_waiting_kiosk(http, hub)
        async with HeldLock(hub.config.db_path, LOCK_S).holding():
            await adviser.send(Accept(consultation_id=consultation_id))
            await adviser.expect(Accepted)
            # no resume_grant: its token was never stored, so it could not be used
            assert (await adviser.expect(Queue)).entries == ()
            await kiosk.expect(Accepted)
            await kiosk.expect_silence(0.5)
            # the consultation itself goes on: the two sides hear each other
            offer = Offer(consultation_id=consultation_id, sdp="v=0")
            await kiosk.send(offer)
            assert await adviser.expect(Offer) == offer
        assert hub.switchboard.stats()["calls"] == 1
    stored = [r.getMessage() for r in caplog.records if "resume token" in r.getMessage()]
    assert len(stored) == 2 and all("cannot resume" in m for m in stored), stored
