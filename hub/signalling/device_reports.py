"""What kiosks report: their latest self-test at connect time and each wipe as it happens.

A ``device_report`` carries figures only (which devices passed, counts, bytes, durations, the
wipe's method; docs/enrolment.md, "Reports and relay"). The hub checks that it is coherent,
bounds how many one connection may send, and stores it beside the connection's other work
(never holding up its frames) for ``kiosk-hub device list`` and the administration console.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections import deque

from hub.auth import Clock
from hub.signalling.peers import Peer
from hub.signalling.switchboard import Switchboard
from hub.storage import Storage, StorageError
from protocol.messages import DeviceReport

log = logging.getLogger("hub.signalling")

# A kiosk sends one self-test per connection and one report per wipe (one per customer at
# most); more than this in a minute is a broken or hostile kiosk, and is not stored.
REPORTS_PER_MINUTE = 10
WINDOW_S = 60.0


def incoherent(report: DeviceReport) -> str | None:
    """Why a report does not hang together (a self-test with wipe figures...), or None."""
    wipe_figures = (report.files, report.size_bytes, report.passes, report.duration_ms)
    if report.kind == "selftest":
        if not report.checks:
            return "a self-test report needs its checks"
        if any(wipe_figures) or report.method:
            return "a self-test report carries no wipe figures"
        if len({c.device for c in report.checks}) != len(report.checks):
            return "a self-test report names each device once"
        if report.ok != all(c.ok for c in report.checks):
            return "a self-test passes only when every check passed"
    elif report.checks:
        return "a wipe report carries no self-test checks"
    return None


def summary_json(report: DeviceReport) -> str:
    """The figures worth keeping, as compact JSON (what ``device list`` and the console show)."""
    summary: dict[str, object]
    if report.kind == "selftest":
        summary = {
            "passed": sum(c.ok for c in report.checks),
            "failed": sum(not c.ok for c in report.checks),
            "checks": [
                {"device": c.device, "backend": c.backend, "ok": c.ok} for c in report.checks
            ],
        }
    else:
        summary = {
            "verified": report.ok,
            "files": report.files,
            "bytes": report.size_bytes,
            "passes": report.passes,
            "method": report.method,
            "duration_ms": report.duration_ms,
        }
    return json.dumps(summary, separators=(",", ":"), sort_keys=True)


class DeviceReports:
    """Checks, bounds and stores the kiosks' ``device_report`` messages."""

    def __init__(self, storage: Storage, clock: Clock, switchboard: Switchboard) -> None:
        self._storage = storage
        self._clock = clock
        self._switchboard = switchboard
        self._recent: weakref.WeakKeyDictionary[Peer, deque[float]] = weakref.WeakKeyDictionary()
        self._writes: set[asyncio.Task[None]] = set()

    def received(self, kiosk: Peer, report: DeviceReport) -> None:
        """A kiosk's report: stored in the background, or refused with a non-fatal error."""
        assert kiosk.device is not None  # noqa: S101 - kiosks always carry their device
        problem = incoherent(report)
        if problem is not None:
            self._switchboard.reply_error(kiosk, "invalid_value", problem)
            return
        now = self._clock()
        recent = self._recent.setdefault(kiosk, deque())
        while recent and recent[0] <= now - WINDOW_S:
            recent.popleft()
        if len(recent) >= REPORTS_PER_MINUTE:
            self._switchboard.reply_error(kiosk, "rate_limited", "too many device reports")
            return
        recent.append(now)
        outcome = {"selftest": ("passed", "FAILED"), "wipe": ("verified", "NOT VERIFIED")}
        level = logging.INFO if report.ok else logging.WARNING
        log.log(
            level,
            "kiosk %s: %s (device id %d)",
            report.kind,
            outcome[report.kind][0 if report.ok else 1],
            kiosk.device.id,
        )
        write = self._write(kiosk.device.id, report, at=max(0.0, now - report.age_s), now=now)
        task = asyncio.get_running_loop().create_task(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def drain(self) -> None:
        """Wait for the reports still being stored."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def _write(self, device_id: int, report: DeviceReport, *, at: float, now: float) -> None:
        try:
            await self._storage.add_device_report(
                device_id, report.kind, ok=report.ok, summary=summary_json(report), at=at, now=now
            )
        except StorageError as exc:
            log.warning("could not store a kiosk's %s report: %s", report.kind, exc)
