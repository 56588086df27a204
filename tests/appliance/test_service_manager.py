"""The kiosk and systemd: sd_notify on a real datagram socket, the watchdog's rules, and
READY/STATUS/STOPPING from a real kiosk (after its start-up wipe; out of service when it fails;
the hub unreachable)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from appliance.config.kiosk import KioskConfig
from appliance.config.vault import VaultSettings
from appliance.custody.session import SessionCustody
from appliance.runner import service_manager as sm
from appliance.runner.kiosk import Kiosk
from appliance.runner.service_manager import (
    CONNECTING,
    HUB_GRACE_S,
    HUB_UNREACHABLE,
    FrameCounter,
    ServiceStatus,
    Watchdog,
    notify,
    watchdog_interval,
)
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from tests.support.notify_socket import notify_socket

MIB = 1024 * 1024


class Sent:
    """Stands in for ``notify``: keeps what would have gone to systemd."""

    def __init__(self) -> None:
        self.all: list[tuple[str, ...]] = []

    def __call__(self, *fields: str) -> bool:
        self.all.append(fields)
        return True

    def last(self) -> tuple[str, ...]:
        """The latest datagram's fields."""
        return self.all[-1]


async def test_notify_sends_one_datagram_to_a_path(tmp_path: Path) -> None:
    with notify_socket(tmp_path) as listener:
        sent = notify("READY=1", "STATUS=queued", environ={"NOTIFY_SOCKET": listener.address})
        assert sent
        async with asyncio.timeout(5):
            assert await listener.next() == {"READY": "1", "STATUS": "queued"}


async def test_notify_reaches_an_abstract_socket(tmp_path: Path) -> None:
    with notify_socket(tmp_path, abstract=True) as listener:
        assert listener.address.startswith("@")
        assert notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": listener.address})
        async with asyncio.timeout(5):
            assert await listener.next() == {"WATCHDOG": "1"}


def test_without_notify_socket_nothing_is_sent() -> None:
    assert not notify("READY=1", environ={})
    assert not notify("READY=1", environ={"NOTIFY_SOCKET": ""})


def test_a_vanished_socket_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sm._warned.clear()  # noqa: SLF001 - once per process: start this test from a clean slate
    gone = str(tmp_path / "gone")
    with caplog.at_level(logging.WARNING, logger=sm.__name__):
        assert not notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": gone})
        assert not notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": gone})
        assert not notify("READY=1", environ={"NOTIFY_SOCKET": "relative/name"})
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines
    assert gone not in lines[0] and "FileNotFoundError" in lines[0]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "20000000"}, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "4242"}, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}, None),  # another process's
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_sec(
    environ: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(environ, pid=4242) == expected


def test_watchdog_interval_reads_this_process_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 2.0


def test_a_frozen_ui_stops_the_pings_and_a_drawing_one_gets_them() -> None:
    sent = Sent()
    frames = FrameCounter()
    dog = Watchdog(10.0, progress=lambda: frames.frames, send=sent)
    assert not dog.tick()  # no frame drawn since the watchdog started
    frames()
    assert dog.tick()
    assert not dog.tick()  # the UI thread hangs: no frame since the last ping
    frames()
    frames()
    assert dog.tick()
    assert sent.all == [("WATCHDOG=1",), ("WATCHDOG=1",)]


def test_the_frame_counter_keeps_the_scripted_on_frame() -> None:
    calls: list[int] = []
    frames = FrameCounter(lambda: calls.append(1))
    frames()
    assert frames.frames == 1 and calls == [1]


async def test_the_watchdog_pings_every_interval_from_its_loop() -> None:
    sent = Sent()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # the clock seam: three intervals, then stop
        slept.append(seconds)
        if len(slept) > 3:
            raise asyncio.CancelledError

    dog = Watchdog(7.5, send=sent, sleep=sleep)
    with pytest.raises(asyncio.CancelledError):
        await dog.run()
    assert slept == [7.5] * 4 and sent.all == [("WATCHDOG=1",)] * 3


class _FakeKiosk:
    def __init__(self) -> None:
        self.phase = "disconnected"
        self.service_problem: str | None = None


def test_status_lines_follow_the_phase() -> None:
    sent = Sent()
    later: list[object] = []
    status = ServiceStatus(send=sent, call_later=lambda *a: later.append(a))
    kiosk = _FakeKiosk()
    status.watch(kiosk)
    status.changed()
    assert sent.all == []  # nothing before READY
    status.ready(None)
    assert sent.all == [("READY=1", f"STATUS={CONNECTING}")]
    for phase, line in [
        ("queueing", "queued: in service, waiting for a customer or an adviser"),
        ("in_call", "in a call"),
        ("ending", "wiping: ending the session"),
        ("disconnected", HUB_UNREACHABLE),  # it was connected: the hub went
    ]:
        kiosk.phase = phase
        status.changed()
        assert sent.last() == (f"STATUS={line}",)
    kiosk.service_problem = "the wipe of the last session was not confirmed"
    status.changed()
    assert sent.last() == ("STATUS=out of service: the wipe of the last session was not confirmed",)
    count = len(sent.all)
    status.changed()
    assert len(sent.all) == count  # the same line is not sent again
    status.stopping()
    status.changed()
    assert sent.last() == ("STOPPING=1", "STATUS=stopping")


def test_a_hub_never_reached_turns_connecting_into_unreachable() -> None:
    sent = Sent()
    timers: list[tuple[float, object]] = []
    status = ServiceStatus(
        send=sent,
        call_later=lambda delay, callback: timers.append((delay, callback)),
        hub_grace_s=15.0,
    )
    status.watch(_FakeKiosk())
    status.ready(None)
    ((delay, callback),) = timers
    assert delay == 15.0 and sent.last() == ("READY=1", f"STATUS={CONNECTING}")
    callback()  # type: ignore[operator]
    assert sent.last() == (f"STATUS={HUB_UNREACHABLE}",)


def _config(url: str = "ws://127.0.0.1:9/kiosk") -> KioskConfig:
    # Port 9 (discard) on loopback: nothing listens, the hub is unreachable.
    return KioskConfig(token="t", hub_url=url, simulate=True)


def _served_kiosk(
    custody: SessionCustody, address: str, *, hub_grace_s: float = HUB_GRACE_S
) -> Kiosk:
    """A kiosk whose ServiceStatus speaks to the listener at ``address``, as kiosk run wires it."""
    service = ServiceStatus(
        send=lambda *f: notify(*f, environ={"NOTIFY_SOCKET": address}), hub_grace_s=hub_grace_s
    )
    kiosk = Kiosk(
        _config(), SimulatedCamera(), SimulatedMicrophone(), custody=custody, service=service
    )
    service.watch(kiosk)
    kiosk.add_observer(service)
    return kiosk


async def test_ready_comes_after_the_start_up_wipe_then_stopping(tmp_path: Path) -> None:
    settings = VaultSettings(path=tmp_path / "vault", size_bytes=16 * MIB)
    custody = SessionCustody(settings, production=False, privileged=False)
    with notify_socket(tmp_path) as listener:
        # hub_grace_s, the seam: "unreachable" at once instead of after 15 s
        kiosk = _served_kiosk(custody, listener.address, hub_grace_s=0.0)
        task = asyncio.create_task(kiosk.run())
        try:
            async with asyncio.timeout(10):
                ready = await listener.next()
                assert ready == {"READY": "1", "STATUS": CONNECTING}
                assert custody.ready and custody.reports  # the start-up wipe ran before
                assert (await listener.next()) == {"STATUS": HUB_UNREACHABLE}
        finally:
            kiosk.request_stop()
            async with asyncio.timeout(10):
                await task
        assert listener.pending()[0] == {"STOPPING": "1", "STATUS": "stopping"}


async def test_a_failed_start_up_wipe_is_ready_and_out_of_service(tmp_path: Path) -> None:
    # Production refuses a plain directory as the vault: the start-up wipe cannot verify. The
    # kiosk must still say READY (no start timeout, no restart loop) with the reason.
    settings = VaultSettings(path=tmp_path / "vault", size_bytes=16 * MIB)
    custody = SessionCustody(settings, production=True, privileged=False)
    with notify_socket(tmp_path) as listener:
        kiosk = _served_kiosk(custody, listener.address)
        task = asyncio.create_task(kiosk.run())
        try:
            async with asyncio.timeout(10):
                ready = await listener.next()
            problem = kiosk.service_problem
        finally:
            kiosk.request_stop()
            async with asyncio.timeout(10):
                await task
    assert ready["READY"] == "1"
    assert ready["STATUS"].startswith("out of service: ")
    assert problem is not None and ready["STATUS"] == f"out of service: {problem}"
