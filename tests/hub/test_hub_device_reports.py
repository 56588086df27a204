"""Kiosks' self-test and wipe reports at the hub: checked, bounded, stored, listed
(docs/enrolment.md, "Reports and relay")."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from pathlib import Path

import aiohttp
import pytest

from hub.__main__ import main
from hub.signalling import ENDPOINTS
from hub.signalling.device_reports import REPORTS_PER_MINUTE
from hub.storage import REPORT_HISTORY, NotFound, SqliteStorage
from protocol.messages import (
    DeviceReport,
    Error,
    Heartbeat,
    Queue,
    SelftestCheck,
)
from tests.support.hub import (
    FakeClock,
    RunningHub,
    SignallingPeer,
    connect_adviser,
    connect_kiosk,
    running_hub,
)

PASSWORD = "correct horse battery"
KEPT = 20  # reports kept per device and kind in the flood test
SELFTEST = DeviceReport(
    kind="selftest",
    ok=False,
    age_s=120,
    checks=(
        SelftestCheck(device="camera", backend="v4l2", ok=True),
        SelftestCheck(device="scanner", backend="sane", ok=False),
    ),
)
WIPE = DeviceReport(
    kind="wipe",
    ok=True,
    files=3,
    size_bytes=123_456,
    passes=1,
    method="crypto-erase, 1 random pass, fsync, unlink, remount",
    duration_ms=42,
)


async def stored(hub: RunningHub, kiosk: SignallingPeer) -> None:
    """Wait until the hub took every frame the kiosk sent and stored the reports among them."""
    await kiosk.send(Heartbeat(ts=1))
    await kiosk.expect(Heartbeat)  # frames are handled in order: all before it were taken
    await hub.app[ENDPOINTS].reports.drain()


async def device_list(hub: RunningHub) -> int:
    """`kiosk-hub device list` beside the running hub (its own event loop, on a thread)."""
    return await asyncio.to_thread(main, ["device", "list", "--db", str(hub.config.db_path)])


async def device_id(hub: RunningHub, name: str = "kiosk-1") -> int:
    (device,) = [d for d in await hub.storage.devices() if d.name == name]
    return device.id


async def test_reports_are_stored_and_device_list_shows_them(
    tmp_path: Path, http: aiohttp.ClientSession, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock(start=1_800_000_000.0)
    async with running_hub(tmp_path, clock=clock) as hub:
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        await kiosk.send(SELFTEST)
        await kiosk.send(WIPE)
        await stored(hub, kiosk)
        kiosk_id = await device_id(hub)
        (selftest,) = await hub.storage.device_reports(kiosk_id, kind="selftest")
        (wipe,) = await hub.storage.device_reports(kiosk_id, kind="wipe")
        assert (selftest.ok, selftest.at, selftest.received_at) == (False, clock() - 120, clock())
        assert json.loads(selftest.summary) == {
            "passed": 1,
            "failed": 1,
            "checks": [
                {"device": "camera", "backend": "v4l2", "ok": True},
                {"device": "scanner", "backend": "sane", "ok": False},
            ],
        }
        assert wipe.ok and json.loads(wipe.summary) == {
            "verified": True,
            "files": 3,
            "bytes": 123_456,
            "passes": 1,
            "method": "crypto-erase, 1 random pass, fsync, unlink, remount",
            "duration_ms": 42,
        }
        assert await device_list(hub) == 0
        (line,) = capsys.readouterr().out.splitlines()
        columns = line.split("\t")
        assert columns[:3] == ["default", "kiosk-1", "active"]
        assert columns[7:9] == ["FAILED 2027-01-15 07:58 UTC", "verified 2027-01-15 08:00 UTC"]
        assert columns[9:] == ["-"]  # the wipe alarm: no consultation without a verified wipe


async def test_a_failed_wipe_shows_as_not_verified(
    hub: RunningHub, http: aiohttp.ClientSession, capsys: pytest.CaptureFixture[str]
) -> None:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    await kiosk.send(DeviceReport(kind="wipe", ok=False))
    await stored(hub, kiosk)
    assert await device_list(hub) == 0
    columns = capsys.readouterr().out.split("\t")
    assert columns[7].strip() == "-" and columns[8].startswith("NOT VERIFIED ")


@pytest.mark.parametrize(
    ("report", "why"),
    [
        (DeviceReport(kind="selftest", ok=True), "needs its checks"),
        (
            DeviceReport(kind="selftest", ok=True, checks=SELFTEST.checks[:1], files=1),
            "no wipe figures",
        ),
        (DeviceReport(kind="selftest", ok=True, checks=SELFTEST.checks), "every check passed"),
        (
            DeviceReport(kind="selftest", ok=True, checks=SELFTEST.checks[:1] * 2),
            "each device once",
        ),
        (DeviceReport(kind="wipe", ok=True, checks=SELFTEST.checks[:1]), "no self-test"),
    ],
)
async def test_incoherent_reports_are_refused_and_not_stored(
    hub: RunningHub, http: aiohttp.ClientSession, report: DeviceReport, why: str
) -> None:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    await kiosk.send(report)
    error = await kiosk.expect(Error)
    assert (error.code, error.fatal) == ("invalid_value", False) and why in error.message
    await kiosk.send(Heartbeat(ts=1))  # the connection goes on
    await kiosk.expect(Heartbeat)
    await stored(hub, kiosk)
    assert await hub.storage.device_reports(await device_id(hub)) == []


@pytest.mark.parametrize(
    "frame",
    [
        {"kind": "wipe", "ok": True, "method": "rm -rf /home/Erika Mustermann"},  # bad chars
        {"kind": "wipe", "ok": True, "age_s": -1},
        {"kind": "wipe", "ok": True, "files": 10**12},
        {"kind": "wipe", "ok": True, "file_names": ["Kontoauszug.pdf"]},  # no such field
        {"kind": "reboot", "ok": True},
        {
            "kind": "selftest",
            "ok": True,
            "checks": [{"device": "camera", "backend": "v4l2", "ok": True}] * 9,
        },
        {
            "kind": "selftest",
            "ok": True,
            "checks": [{"device": "camera", "backend": "v4l2", "ok": True, "detail": "x"}],
        },
        {
            "kind": "selftest",
            "ok": True,
            "checks": [{"device": "printer", "backend": "cups", "ok": True}],
        },
    ],
)
async def test_malformed_reports_are_refused_by_the_protocol(
    hub: RunningHub, http: aiohttp.ClientSession, frame: dict[str, object]
) -> None:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    await kiosk.send_raw(json.dumps({"v": 1, "type": "device_report", **frame}))
    error = await kiosk.expect(Error)
    assert not error.fatal
    await stored(hub, kiosk)
    assert await hub.storage.device_reports(await device_id(hub)) == []


async def test_a_kiosk_that_floods_reports_is_bounded(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    clock = FakeClock(start=time.time())
    # the cap (REPORT_HISTORY, 10,000 in production) made small enough to reach in a test
    opener = functools.partial(SqliteStorage.open, report_history=KEPT)
    async with running_hub(tmp_path, clock=clock, open_storage=opener) as hub:
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        for _ in range(REPORTS_PER_MINUTE + 1):
            await kiosk.send(WIPE)
        error = await kiosk.expect(Error)
        assert (error.code, error.fatal) == ("rate_limited", False)
        await stored(hub, kiosk)
        assert len(await hub.storage.device_reports(await device_id(hub))) == REPORTS_PER_MINUTE
        # a minute on, the kiosk may report again; the history keeps the newest ones only
        for _ in range(2):
            clock.advance(61)
            for _ in range(REPORTS_PER_MINUTE):
                await kiosk.send(WIPE)
            await stored(hub, kiosk)
        kept = await hub.storage.device_reports(await device_id(hub), kind="wipe")
        assert len(kept) == KEPT < 3 * REPORTS_PER_MINUTE <= REPORT_HISTORY
        assert [r.received_at for r in kept] == sorted((r.received_at for r in kept), reverse=True)
        assert kept[0].received_at == clock()


async def test_an_adviser_may_not_send_reports(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    hub.add_adviser("alice", PASSWORD)
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    await adviser.send(WIPE)
    error = await adviser.expect(Error)
    assert error.code == "forbidden"


async def test_reports_of_an_unknown_device_are_refused_by_the_storage(hub: RunningHub) -> None:
    with pytest.raises(NotFound):
        await hub.storage.add_device_report(9999, "wipe", ok=True, summary="{}", at=1, now=1)


async def test_reports_outlive_the_hub(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with running_hub(tmp_path) as hub:
        kiosk: SignallingPeer = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        await kiosk.send(WIPE)
        await stored(hub, kiosk)
        await kiosk.close()
    async with running_hub(tmp_path) as again:
        (status,) = await again.storage.device_statuses(now=time.time())
        assert status.last_wipe is not None and status.last_wipe.ok
        assert status.last_selftest is None
