"""The kiosk's reports to the hub: its latest self-test at each connection, each wipe as it ends.

Figures only (docs/enrolment.md, "Reports and relay"): of a self-test which devices (kind and
backend) passed; of a wipe its file count, bytes, passes, method, duration and whether it
verified. Never a check's detail text, the wipe's session reference or trigger, a file name or
anything else of a customer's.

``kiosk selftest`` keeps its summary in the identity directory (``selftest.json``, mode 0600,
written only by the directory's owner, the kiosk's user); ``kiosk run`` reads it at every
connection, so a self-test a technician ran meanwhile is reported at the next one. A wipe that
happens while the hub is away (the start-up wipe, a drop mid-session) is reported once the
kiosk is connected again; only the latest waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, Protocol, get_args

from appliance.custody.wipe import WipeReport
from protocol.messages import (
    BACKEND_PATTERN,
    WIPE_METHOD_PATTERN,
    AnyMessage,
    DeviceReport,
    SelftestCheck,
    SelftestDevice,
)

log = logging.getLogger(__name__)

SELFTEST_FILE = "selftest.json"
SUMMARY_MAX = 4096  # a summary of five devices is ~300 bytes
_DEVICES = frozenset(get_args(SelftestDevice))
_BACKEND = re.compile(BACKEND_PATTERN)
_METHOD = re.compile(WIPE_METHOD_PATTERN)
AGE_MAX_S = 10 * 365 * 86_400  # protocol.messages.DeviceReport.age_s
Send = Callable[[AnyMessage], Coroutine[Any, Any, bool]]


class CheckOutcome(Protocol):
    """One device's self-test result as ``kiosk selftest`` has it (``CheckResult``)."""

    @property
    def device(self) -> str:
        """``camera``, ``microphone``, ``speaker``, ``tablet`` or ``scanner``."""
        ...

    @property
    def backend(self) -> str:
        """The driver backend it was checked with."""
        ...

    @property
    def ok(self) -> bool:
        """Whether the check passed."""
        ...


def save_selftest(directory: Path, results: Iterable[CheckOutcome], *, now: float) -> str | None:
    """Keep a self-test's summary for the kiosk to report; why it could not, if worth saying.

    Only into an existing directory of this user's (the kiosk's identity directory): a
    summary written by another user (root) could not be read by the kiosk. No directory (not
    a kiosk, or not enrolled yet) is nothing to report.
    """
    checks = [
        {"device": r.device, "backend": r.backend, "ok": bool(r.ok)}
        for r in results
        if r.device in _DEVICES
    ]
    try:
        info = os.stat(directory)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot read {directory}: {exc.strerror}"
    if info.st_uid != os.geteuid():
        return f"{directory} belongs to another user: run the self-test as the kiosk's user"
    path = directory / SELFTEST_FILE
    temporary = directory / f".{SELFTEST_FILE}.tmp"
    data = json.dumps({"at": now, "checks": checks}, separators=(",", ":")).encode()
    try:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        return f"cannot write {path}: {exc.strerror}"
    return None


def selftest_report(directory: Path, *, now: float) -> DeviceReport | None:
    """The kept self-test as a report (None: none kept, or unreadable)."""
    path = directory / SELFTEST_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as file:
            data = json.loads(file.read(SUMMARY_MAX + 1)[:SUMMARY_MAX])
        at = float(data["at"])
        checks = tuple(
            SelftestCheck(device=c["device"], backend=c["backend"], ok=c["ok"])
            for c in data["checks"][:8]
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        log.warning("the kept self-test summary (%s) is unreadable: not reported", path)
        return None
    valid = all(
        c.device in _DEVICES and isinstance(c.ok, bool) and _BACKEND.fullmatch(str(c.backend))
        for c in checks
    )
    if not checks or not valid or len({c.device for c in checks}) != len(checks):
        log.warning("the kept self-test summary (%s) is not valid: not reported", path)
        return None
    return DeviceReport(
        kind="selftest",
        ok=all(c.ok for c in checks),
        age_s=_age(now - at),
        checks=checks,
    )


def wipe_report(report: WipeReport | None, *, age_s: float = 0.0) -> DeviceReport:
    """A wipe's figures as a report; ``None``: a wipe that could not be verified."""
    if report is None:
        return DeviceReport(kind="wipe", ok=False, age_s=_age(age_s))
    return DeviceReport(
        kind="wipe",
        ok=report.verified,
        age_s=_age(age_s),
        files=min(max(report.files, 0), 10_000_000),
        size_bytes=min(max(report.bytes, 0), 2**50),
        passes=min(max(report.passes, 0), 16),
        method=report.method if _METHOD.fullmatch(report.method) else "",
        duration_ms=min(max(round(report.duration_s * 1000), 0), 86_400_000),
    )


def _age(seconds: float) -> int:
    return min(max(int(seconds), 0), AGE_MAX_S)


class DeviceReporter:
    """Sends the reports: the self-test at each connection, wipes as they end (or later)."""

    def __init__(
        self,
        send: Send,
        *,
        identity_dir: Path | None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._identity_dir = identity_dir
        self._clock = clock
        self._monotonic = monotonic
        self._unsent_wipe: tuple[WipeReport | None, float] | None = None  # (report, when)
        self._sending_wipe = asyncio.Lock()  # a wipe at connect time is sent once, not twice
        self._tasks: set[asyncio.Task[None]] = set()

    def connected(self) -> None:
        """A hub session started: the kept self-test, then a wipe the hub has not heard of."""
        self._spawn(self._connected())

    def wiped(self, report: WipeReport) -> None:
        """A wipe verified (``SessionCustody.on_wiped``)."""
        self._wipe(report)

    def wipe_failed(self) -> None:
        """A wipe could not be verified: the kiosk is out of service until one does."""
        self._wipe(None)

    async def close(self) -> None:
        """Stop sending (the kiosk stops)."""
        tasks, self._tasks = self._tasks, set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _wipe(self, report: WipeReport | None) -> None:
        self._unsent_wipe = (report, self._monotonic())
        self._spawn(self._send_wipe())

    async def _connected(self) -> None:
        if self._identity_dir is not None:
            selftest = await asyncio.to_thread(
                selftest_report, self._identity_dir, now=self._clock()
            )
            if selftest is not None:
                await self._send(selftest)
        await self._send_wipe()

    async def _send_wipe(self) -> None:
        async with self._sending_wipe:
            unsent = self._unsent_wipe
            if unsent is None:
                return
            report, when = unsent
            if await self._send(wipe_report(report, age_s=self._monotonic() - when)):
                if self._unsent_wipe is unsent:  # a newer wipe waits for its own turn
                    self._unsent_wipe = None

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
