"""The amd64 image booted under QEMU: what the OS promises, checked from outside (issue 18).

Three boots of one overlay, in order (each test needs the one before): (a) a first boot through
the image's UEFI boot loader, the static checks and a session through the hub; (b) a power cut
and a boot again: the start-up wipe before READY, nothing left outside the identity partition,
down to the disk's blocks; (c) a hung kiosk restarted by the watchdog. The guest answers through
the probe (testbed/guest_probe.py, installed as /usr/lib/branch-kiosk/probe.py); the hub runs
on the host's loopback.
No fixed sleeps: every wait polls with a deadline.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from protocol import messages
from testbed.qemu import Machine, outside
from testbed.stack import Stack, wait_until
from tests.image.conftest import wipe_reports
from tests.support.hub import SignallingPeer, http_session

pytestmark = [pytest.mark.image, pytest.mark.timeout(900)]

BOOT_S = 420  # deadline for power-on to queued (TCG on a busy 2-core host measured ~3 min)
VAULT = "/run/kiosk/session"
IDENTITY = "/var/lib/branch-kiosk"
LEFTOVER = ".probe-leftover"
RAM_PLACES = ("/tmp", "/var/tmp", "/var/log", "/var/lib/systemd", "/run", VAULT)
READ_ONLY = ("/", "/etc", "/opt", "/boot/firmware")
measured: dict[str, float] = {}  # figures for the report, printed when the module ends


@pytest.fixture(scope="module", autouse=True)
def report_figures() -> Iterator[None]:
    """Print what the boots measured (``pytest -s`` shows it), whatever the outcome."""
    yield
    print(f"\nbooted tests measured: {measured}")


def usec(value: str) -> float:
    """A systemd time span as `systemctl show` prints it ("20s", "1min 30s", "500ms")."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)\s*(us|ms|min|s|h)", value):
        total += float(number) * units[unit]
    return total


async def adviser(http: aiohttp.ClientSession, hub: Stack) -> SignallingPeer:
    """Log into the hub as its adviser and open the console's WebSocket."""
    async with http.get(f"{hub.url}/api/csrf") as response:
        pre = (await response.json())["csrf"]
    login = {"name": hub.adviser, "password": hub.password}
    async with http.post(
        f"{hub.url}/api/login", json=login, headers={"X-CSRF-Token": pre}
    ) as response:
        assert response.status == 200, "the adviser cannot log in"
        csrf = (await response.json())["csrf"]
    ws = await http.ws_connect(f"ws://127.0.0.1:{hub.port}/ws/adviser", headers={"Origin": hub.url})
    peer = SignallingPeer(ws)
    await peer.send(messages.Hello(role="adviser", csrf=csrf))
    await peer.expect(messages.Welcome)
    return peer


async def until_queued(peer: SignallingPeer, machine: Machine, within: float) -> str:
    """The consultation id of the first kiosk in the queue; heartbeats while waiting."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            message = await peer.receive(within=10)
        except TimeoutError:
            await peer.send(messages.Heartbeat(ts=int(time.time() * 1000)))
            if not machine.running:
                raise AssertionError(f"QEMU stopped:\n{machine.console()[-2000:]}") from None
            continue
        if isinstance(message, messages.Queue) and message.entries:
            return message.entries[0].consultation_id
    status = (await probe(machine, "facts", within=30))["kiosk"]
    journal = "\n".join((await probe(machine, "journal", within=30))[-15:])
    raise AssertionError(f"the kiosk did not queue within {within:.0f} s: {status}\n{journal}")


async def next_of(peer: SignallingPeer, kind: type[Any], within: float = 60) -> Any:
    """The next message of ``kind`` (others skipped)."""
    async with asyncio.timeout(within):
        while True:
            message = await peer.receive(within=within)
            if isinstance(message, kind):
                return message


async def probe(machine: Machine, verb: str, within: float = 120) -> Any:
    """The probe's answer, off the event loop (the adviser's WebSocket keeps being served)."""
    return await asyncio.to_thread(machine.probe, verb, within)


def ready(facts: dict[str, Any]) -> bool:
    """kiosk.service said READY=1 (Type=notify: active/running) and is serving."""
    kiosk = facts["kiosk"]
    return bool(kiosk["ActiveState"] == "active" and kiosk["SubState"] == "running")


async def facts_when(machine: Machine, what: str, check: Any, within: float) -> dict[str, Any]:
    """Poll the probe's facts until ``check(facts)``; fail naming ``what``."""
    deadline = time.monotonic() + within
    facts: dict[str, Any] = {}
    while time.monotonic() < deadline:
        facts = await probe(machine, "facts", within=max(1.0, deadline - time.monotonic()))
        if check(facts):
            return facts
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what} not within {within:.0f} s; last facts: {facts.get('kiosk')}")


def options(mount: dict[str, Any]) -> set[str]:
    return set(str(mount["options"]).split(","))


async def test_first_boot_serves_a_session_on_a_read_only_amnesic_system(
    machine: Machine, hub: Stack
) -> None:
    async with http_session() as http:
        peer = await adviser(http, hub)
        machine.boot(firmware="uefi")  # the real chain once: OVMF, systemd-boot, the entry
        cid = await until_queued(peer, machine, BOOT_S)
        measured["boot_to_queued_s"] = time.monotonic() - machine.boot_started
        facts = await facts_when(machine, "READY", ready, 60)
        kiosk = facts["kiosk"]
        start_us = int(kiosk["ExecMainStartTimestampMonotonic"])
        ready_us = int(kiosk["ActiveEnterTimestampMonotonic"])
        measured["kernel_to_ready_s"] = ready_us / 1e6
        measured["start_to_ready_s"] = (ready_us - start_us) / 1e6
        if int(kiosk.get("InactiveExitTimestampMonotonic", "0")):  # from the wipe on
            measured["activation_s"] = (
                ready_us - int(kiosk["InactiveExitTimestampMonotonic"])
            ) / 1e6
        assert kiosk["StatusText"].startswith("queued"), kiosk["StatusText"]

        # The OS's promises.
        assert "ro" in options(facts["mounts"]["/"]), facts["mounts"]["/"]
        assert facts["swapon"].strip() == "", facts["swapon"]
        assert "init_on_free=1" in facts["cmdline"].split()
        vault = facts["mounts"][VAULT]
        assert vault["fstype"] == "tmpfs"
        assert {"nodev", "nosuid", "noexec", "size=524288k"} <= options(vault), vault
        assert facts["vault"]["mode"] == "0700" and facts["vault"]["owner"] == "kiosk"
        assert facts["kiosk_can_write_vault"]["ok"], "the kiosk user cannot write its vault"
        identity = facts["mounts"][IDENTITY]
        assert identity["fstype"] == "ext4" and {"rw", "nodev", "nosuid", "noexec"} <= options(
            identity
        )
        assert usec(kiosk["WatchdogUSec"]) == 20
        assert usec(facts["manager"]["RuntimeWatchdogUSec"]) > 0  # i6300esb armed
        # No time server reachable: the clock is QEMU's RTC (host UTC), never synchronised,
        # and the kiosk did not wait for it (it is READY above). The offset is reported only.
        measured["guest_clock_offset_s"] = facts["realtime"] - time.time()
        assert "NTPSynchronized=no" in facts["timesync"]["timedatectl"]

        # A session: the adviser takes the kiosk; content lands in the vault; the call ends.
        wipes_before = len(wipe_reports(hub))
        await peer.send(messages.Accept(consultation_id=cid))
        await peer.send(messages.SasCommit(consultation_id=cid, commitment="00" * 32))
        await next_of(peer, messages.Offer)
        planted = await probe(machine, "leftovers")  # the call's "content" and RAM leftovers
        assert planted[f"{VAULT}/{LEFTOVER}"] == "written"
        for place in READ_ONLY:
            assert planted[f"{place.rstrip('/')}/{LEFTOVER}"] != "written", place
        await peer.send(messages.End(consultation_id=cid, reason="hangup"))
        await wait_until(
            lambda: len(wipe_reports(hub)) > wipes_before, 120, "the wipe report at the hub", 0.5
        )
        report = wipe_reports(hub)[0]
        assert report[1] == "verified" and int(report[2]) >= 1, report
        after = await facts_when(
            machine,
            "the kiosk queued again",
            lambda f: f["kiosk"]["StatusText"].startswith("queued"),
            60,
        )
        assert after["vault"]["entries"] == 0 and not after["leftovers"][f"{VAULT}/{LEFTOVER}"]

        # Leftovers for the power cut: everywhere a session could write, now it is over.
        planted = await probe(machine, "leftovers")
        for place in (*RAM_PLACES, IDENTITY):
            assert planted[f"{place}/{LEFTOVER}"] == "written", place
        await peer.close()


async def test_after_a_power_cut_the_wipe_runs_first_and_nothing_survives(
    machine: Machine,
) -> None:
    assert machine.running, "needs the first boot"
    machine.power_cut()
    machine.boot()
    facts = await facts_when(machine, "READY after the power cut", ready, BOOT_S)
    journal: list[str] = await probe(machine, "journal")
    started = next(i for i, line in enumerate(journal) if "Started" in line)
    wiped = [i for i, line in enumerate(journal) if re.search(r"wip(e|ed|ing)", line, re.I)]
    assert wiped and wiped[0] < started, "\n".join(journal[-40:])
    left = facts["leftovers"]
    for place in RAM_PLACES:
        assert not left[f"{place}/{LEFTOVER}"], f"{place} kept a leftover across the power cut"
    assert left[f"{IDENTITY}/{LEFTOVER}"], "the identity partition lost a synced file"

    # Block level: across both boots the guest wrote only inside p3 (the identity partition).
    await asyncio.to_thread(machine.shutdown, 120)
    identity = machine.layout()[2]
    written = machine.written_extents()
    stray = list(outside(written, identity))
    assert written and not stray, f"written outside p3 ({identity}): {stray[:10]}"


async def test_a_hung_kiosk_is_restarted_by_the_watchdog(machine: Machine) -> None:
    machine.boot()
    facts = await facts_when(machine, "READY", ready, BOOT_S)
    kiosk = facts["kiosk"]
    restarts = int(kiosk["NRestarts"])
    # A restart is: no ping for WatchdogSec, SIGABRT, SIGKILL after TimeoutAbortSec, RestartSec,
    # then the wipe and the start to READY (measured on the first boot, with room; never more
    # than the unit's own TimeoutStartSec, after which systemd would fail the start).
    start_limit = usec(kiosk.get("TimeoutStartUSec", "90s"))
    activation = measured.get("activation_s", start_limit / 2)
    bound = (
        usec(kiosk["WatchdogUSec"])
        + usec(kiosk["TimeoutAbortUSec"])
        + usec(kiosk["RestartUSec"])
        + min(2 * activation + 10, start_limit)
    )
    stopped = await probe(machine, "stop-kiosk")
    hung_at = time.monotonic()
    facts = await facts_when(
        machine,
        "a watchdog restart",
        lambda f: int(f["kiosk"]["NRestarts"]) == restarts + 1 and ready(f),
        bound,
    )
    measured["watchdog_restart_s"] = time.monotonic() - hung_at
    assert int(facts["kiosk"]["MainPID"]) != stopped["pid"]
    journal: list[str] = await probe(machine, "journal")
    assert any("atchdog timeout" in line for line in journal), "\n".join(journal[-30:])
    measured["watchdog_bound_s"] = bound
    await asyncio.to_thread(machine.shutdown, 120)
