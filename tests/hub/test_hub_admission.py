"""Unauthenticated connections are bounded, in all and per source address (hub/admission.py).

Real hubs on loopback; clients bind to other addresses of 127.0.0.0/8 (the tests run in a
loopback-only namespace where all of it is local) to act as other branches.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import resource
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.__main__ import main
from hub.admission import GATE, AdmissionLimiter, Gate, Slot
from hub.config import HubConfig
from protocol.messages import Hello, QueuePosition, QueueRequest, Welcome
from tests.support.hub import RunningHub, SignallingPeer, connect_kiosk, running_hub
from tests.support.requirements import require

ROOT = Path(__file__).parents[2]
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


# -- the pure limiter -------------------------------------------------------


def test_limiter_refuses_per_address_then_in_all() -> None:
    limiter = AdmissionLimiter(total=3, per_address=2)
    first, second = limiter.enter("192.0.2.1"), limiter.enter("192.0.2.1")
    assert isinstance(first, Slot) and isinstance(second, Slot)
    assert limiter.enter("192.0.2.1") == "per_address"
    assert isinstance(limiter.enter("192.0.2.2"), Slot)
    assert limiter.enter("192.0.2.3") == "total"
    limiter.leave(first)
    assert isinstance(limiter.enter("192.0.2.1"), Slot)


def test_limiter_counts_ipv6_per_64_and_mapped_ipv4_as_ipv4() -> None:
    limiter = AdmissionLimiter(total=100, per_address=2)
    assert isinstance(limiter.enter("2001:db8:1:2::1"), Slot)
    assert isinstance(limiter.enter("2001:db8:1:2:ffff::9"), Slot)
    assert limiter.enter("2001:db8:1:2::3") == "per_address"  # same /64
    assert isinstance(limiter.enter("2001:db8:1:3::1"), Slot)  # the next /64
    assert isinstance(limiter.enter("::ffff:192.0.2.7"), Slot)
    assert limiter.pending_from("192.0.2.7") == 1


def test_trusted_proxies_are_exempt_per_address_but_count_in_all() -> None:
    proxy = ipaddress.ip_network("10.0.0.0/30")
    limiter = AdmissionLimiter(total=5, per_address=1, exempt=(proxy,))
    slots = [limiter.enter("10.0.0.2") for _ in range(5)]
    assert all(isinstance(s, Slot) for s in slots)
    assert limiter.enter("10.0.0.2") == "total"
    assert limiter.pending == 5 and limiter.pending_from("10.0.0.2") == 0


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AdmissionLimiter(total=0, per_address=1)
    for field in ("max_pending_connections", "max_pending_per_address"):
        with pytest.raises(ValueError, match="between 1 and"):
            HubConfig(**{field: 0})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="log_repeat_interval_s"):
        HubConfig(log_repeat_interval_s=0)


def test_serve_refuses_bad_limits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "hub.sqlite3")
    assert main(["serve", "--db", db, "--max-pending-connections", "0"]) == 1
    assert "--max-pending-connections must be between 1 and" in capsys.readouterr().err
    assert main(["serve", "--db", db, "--max-pending-per-address", "-1"]) == 1
    assert "--max-pending-per-address must be between 1 and" in capsys.readouterr().err


ADDRESSES = ["192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2", "2001:db8:0:1::1"]


@given(
    st.integers(1, 6),
    st.integers(1, 4),
    st.lists(st.tuples(st.booleans(), st.sampled_from(ADDRESSES)), max_size=80),
)
def test_limiter_invariants(total: int, per_address: int, ops: list[tuple[bool, str]]) -> None:
    """Any interleaving: never over a limit, refusals say why, nothing leaks after leaving."""
    limiter = AdmissionLimiter(total=total, per_address=per_address)
    held: list[tuple[str, Slot]] = []
    for enter, address in ops:
        if not enter and held:
            limiter.leave(held.pop(0)[1])
            continue
        before_all, before_one = limiter.pending, limiter.pending_from(address)
        slot = limiter.enter(address)
        if isinstance(slot, Slot):
            held.append((address, slot))
            assert before_all < total and before_one < per_address
        elif slot == "total":
            assert before_all == total
        else:
            assert before_all < total and before_one == per_address
        assert limiter.pending == len(held) <= total
        for each in ADDRESSES:
            assert limiter.pending_from(each) <= per_address
    for _address, slot in held:
        limiter.leave(slot)
    assert limiter.pending == 0
    assert all(limiter.pending_from(a) == 0 for a in ADDRESSES)
    assert limiter.tracked_addresses == 0  # no entry kept per address ever seen


# -- a real hub -------------------------------------------------------------


def gate_of(hub: RunningHub) -> Gate:
    return hub.app[GATE]


def port_of(hub: RunningHub) -> int:
    return int(hub.url.rsplit(":", 1)[1])


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


Opener = Callable[[RunningHub, str], Awaitable[Stream]]


@contextlib.asynccontextmanager
async def connections() -> AsyncIterator[Opener]:
    """Opens raw TCP connections from a chosen 127.x address; closes them all afterwards."""
    opened: list[asyncio.StreamWriter] = []

    async def open_from(hub: RunningHub, source: str) -> Stream:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port_of(hub), local_addr=(source, 0)
        )
        opened.append(writer)
        return reader, writer

    try:
        yield open_from
    finally:
        for writer in opened:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def silent(hub: RunningHub, open_: Opener, source: str, n: int) -> list[Stream]:
    """``n`` connections from ``source`` that send nothing; returns once the hub holds them."""
    gate = gate_of(hub)
    before = gate.stats()["pending"]
    streams = [await open_(hub, source) for _ in range(n)]
    await until(lambda: gate.stats()["pending"] == before + n, f"{n} pending connections")
    return streams


async def expect_refused(stream: Stream) -> None:
    """The hub answers 503 and closes without waiting for a request."""
    reply = await asyncio.wait_for(stream[0].read(), 5)
    assert reply.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), reply
    assert b"Retry-After: 1\r\n" in reply


@contextlib.asynccontextmanager
async def client_from(source: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        yield http


def pressure(caplog: pytest.LogCaptureFixture, key: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "hub.admission" and getattr(r, "throttle_key", None) == key
    ]


async def test_one_address_cannot_take_every_slot(tmp_path: Path) -> None:
    async with (
        running_hub(tmp_path, max_pending_per_address=4, max_pending_connections=50) as hub,
        connections() as open_,
    ):
        token = hub.add_device("kiosk-2")
        held = await silent(hub, open_, "127.0.0.1", 4)
        for _ in range(3):
            await expect_refused(await open_(hub, "127.0.0.1"))
        assert gate_of(hub).stats() == {
            "pending": 4,
            "refused": 3,
            "accept_failures": 0,
            "expired": 0,
        }
        async with client_from("127.0.0.2") as http:  # another branch gets in at once
            kiosk = await connect_kiosk(http, hub, token)
            await kiosk.close()
        held[0][1].close()  # a slot comes back when its connection closes
        await until(lambda: gate_of(hub).stats()["pending"] == 3, "the slot to come back")
        await silent(hub, open_, "127.0.0.1", 1)


async def test_silent_connections_are_closed_at_their_first_request_deadline(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with (
        running_hub(tmp_path, max_pending_per_address=4, first_request_timeout_s=0.3) as hub,
        connections() as open_,
    ):
        gate = gate_of(hub)
        held = await silent(hub, open_, "127.0.0.1", 4)
        partial = held[0][1]
        partial.write(b"GET /api/session HTTP/1.1\r\nHost: x\r\n")  # never finished
        for reader, _ in held:  # the hub closes each one: end of stream, no answer
            assert await asyncio.wait_for(reader.read(), 5) == b""
        await until(lambda: gate.stats()["pending"] == 0, "the slots to come back")
        assert gate.stats()["expired"] == 4
        assert len(pressure(caplog, "silent")) == 1  # once per interval, not once per connection
        # A connection that sends its request in time is served and not cut off afterwards.
        reader, writer = await open_(hub, "127.0.0.1")
        writer.write(b"GET /api/session HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 ")
        await asyncio.sleep(0.6)
        assert not reader.at_eof()  # kept alive past the deadline: it is no longer pending
        assert gate.stats()["expired"] == 4


async def test_websockets_count_until_hello(tmp_path: Path) -> None:
    async with (
        running_hub(tmp_path, max_pending_per_address=3) as hub,
        client_from("127.0.0.1") as http,
    ):
        tokens = [hub.add_device(f"kiosk-{i}") for i in range(4)]
        sockets = [await http.ws_connect(f"{hub.ws_url}/ws/kiosk") for _ in range(3)]
        assert gate_of(hub).stats()["pending"] == 3
        with pytest.raises((aiohttp.WSServerHandshakeError, aiohttp.ClientConnectionError)) as info:
            await http.ws_connect(f"{hub.ws_url}/ws/kiosk")
        if isinstance(info.value, aiohttp.WSServerHandshakeError):
            assert info.value.status == 503
        assert gate_of(hub).stats()["refused"] == 1
        first = SignallingPeer(sockets[0])
        await first.send(Hello(role="kiosk", token=tokens[0]))
        await first.expect(Welcome)
        assert gate_of(hub).stats()["pending"] == 2  # said hello: no longer pending
        kiosk = await connect_kiosk(http, hub, tokens[3])
        for ws in sockets:
            await ws.close()
        await kiosk.close()


async def test_websocket_upgrade_on_a_keep_alive_connection_counts_again(
    tmp_path: Path,
) -> None:
    async with running_hub(tmp_path, max_pending_per_address=1) as hub, connections() as open_:
        reader, writer = await open_(hub, "127.0.0.1")
        writer.write(b"GET /api/csrf HTTP/1.1\r\nHost: hub\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), head
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        await until(lambda: gate_of(hub).stats()["pending"] == 0, "the request to count")
        await silent(hub, open_, "127.0.0.1", 1)  # the address's one slot is taken
        writer.write(
            b"GET /ws/kiosk HTTP/1.1\r\nHost: hub\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ") and b"\r\nRetry-After: 1\r\n" in head, head


async def test_the_global_limit_spares_authenticated_kiosks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.admission")
    async with (
        running_hub(tmp_path, max_pending_per_address=4, max_pending_connections=6) as hub,
        connections() as open_,
        client_from("127.0.0.4") as http,
    ):
        early = await connect_kiosk(http, hub, hub.add_device("early"))
        held = await silent(hub, open_, "127.0.0.1", 4)
        held += await silent(hub, open_, "127.0.0.2", 2)
        for source in ("127.0.0.3", "127.0.0.5", "127.0.0.3"):
            await expect_refused(await open_(hub, source))
        await early.send(QueueRequest())  # already said hello: not affected
        assert (await early.expect(QueuePosition)).position == 1
        for _reader, writer in held[:2]:
            writer.close()
        await until(lambda: gate_of(hub).stats()["pending"] == 4, "slots to come back")
        async with client_from("127.0.0.3") as other:
            await (await connect_kiosk(other, hub, hub.add_device("late"))).close()
        await early.close()
        assert [r.events for r in pressure(caplog, "total")] == [1]  # type: ignore[attr-defined]
    # the rest of the count is written when the hub stops
    assert [r.events for r in pressure(caplog, "total")] == [1, 2]  # type: ignore[attr-defined]


async def test_pressure_is_logged_once_per_interval_with_a_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.admission")
    async with running_hub(tmp_path, max_pending_per_address=2) as hub, connections() as open_:
        await silent(hub, open_, "127.0.0.1", 2)
        for _ in range(10):
            await expect_refused(await open_(hub, "127.0.0.1"))
        records = pressure(caplog, "per_address")
        assert [r.events for r in records] == [1]  # type: ignore[attr-defined]
        assert "--max-pending-per-address" in records[0].getMessage()
        assert "127.0.0" not in records[0].getMessage()
    records = pressure(caplog, "per_address")
    assert [r.events for r in records] == [1, 9]  # type: ignore[attr-defined]
    assert records[1].getMessage().endswith(": 9 more in the last 60 s")


@contextlib.contextmanager
def no_new_file_descriptors() -> Iterator[None]:
    """Lower this process's soft RLIMIT_NOFILE to its lowest free descriptor, then restore."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    probe = os.dup(0)  # the lowest free descriptor number
    os.close(probe)
    resource.setrlimit(resource.RLIMIT_NOFILE, (probe, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_accept_failures_are_counted_not_logged_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_hub(tmp_path) as hub:
        token = hub.add_device("kiosk-1")
        clients = [socket.socket() for _ in range(3)]  # made now: none may be made below
        try:
            for client in clients:
                client.setblocking(False)
            gate = gate_of(hub)
            with no_new_file_descriptors():
                for client in clients:
                    client.connect_ex(("127.0.0.1", port_of(hub)))
                # asyncio pauses the listener and retries each second: three failures
                await until(lambda: gate.stats()["accept_failures"] >= 3, "accept() to fail")
            records = pressure(caplog, "accept_EMFILE")
            assert [r.events for r in records] == [1]  # type: ignore[attr-defined]
            assert "LimitNOFILE" in records[0].getMessage()
            async with client_from("127.0.0.2") as http:  # the hub recovers
                await (await connect_kiosk(http, hub, token)).close()
        finally:
            for client in clients:
                client.close()
    assert not [r for r in caplog.records if "out of system resource" in r.getMessage()]
    assert sum(r.events for r in pressure(caplog, "accept_EMFILE")) == gate.accept_failures  # type: ignore[attr-defined]


def start_serve(tmp_path: Path, soft: int, hard: int) -> subprocess.Popen[bytes]:
    """``kiosk-hub serve`` started with the given RLIMIT_NOFILE; returns once it listens."""

    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    process = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--port", "0", "--db", str(tmp_path / "h.db")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=set_limit,  # runs in the child before exec
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    assert line.startswith("hub listening on"), line
    return process


def hard_file_limit() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    require(
        hard != resource.RLIM_INFINITY and hard >= 8192,
        f"needs a finite hard RLIMIT_NOFILE of 8192 or more, not {hard} (ulimit -Hn)",
    )
    return hard


def test_serve_raises_the_soft_file_limit(tmp_path: Path) -> None:
    hard = hard_file_limit()
    process = start_serve(tmp_path, 256, hard)
    try:
        limits = Path(f"/proc/{process.pid}/limits").read_text()
        (row,) = [r for r in limits.splitlines() if r.startswith("Max open files")]
        assert row.split()[3:5] == [str(hard), str(hard)], row
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=20)
    assert b"lowered" not in err


def test_serve_keeps_pending_connections_below_half_the_file_limit(tmp_path: Path) -> None:
    hard_file_limit()
    process = start_serve(tmp_path, 1024, 1024)
    process.terminate()
    _out, err = process.communicate(timeout=20)
    assert b"--max-pending-connections lowered from 4096 to 512" in err, err[-2000:]
