"""The kiosk and its service manager (systemd ``Type=notify``): READY, STATUS, the watchdog.

Standard library only, and a no-op without ``NOTIFY_SOCKET`` (a developer's shell, the
tests): nothing here depends on systemd being there.

- ``notify(*fields)`` sends one datagram of ``KEY=value`` lines (sd_notify's protocol).
- ``ServiceStatus`` says READY once the start-up wipe ran (``Kiosk.run``), then one ``STATUS=``
  line a technician reads with ``systemctl status kiosk`` per change of the kiosk's state, and
  STOPPING on a polite stop. Its lines carry no personal data: no names, no words, no codes.
- ``Watchdog`` pings ``WATCHDOG=1`` every ``WatchdogSec / 2`` from the kiosk's asyncio loop; with
  the touch UI only while the UI thread also draws frames (``FrameCounter``), so a hung loop or
  a hung SDL thread stops the pings and systemd kills and restarts the kiosk (which wipes first).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

log = logging.getLogger(__name__)

# With no hub session this long after start-up, the hub counts as unreachable (the kiosk's own
# connect timeout is 10 s; a reachable hub has answered by then).
HUB_GRACE_S = 15.0
_warned = threading.Event()  # a vanished socket is logged once per process, not per ping


def notify(*fields: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``fields`` ("READY=1", "STATUS=...") to the service manager; True if it was sent.

    False without ``NOTIFY_SOCKET`` (not started by systemd) and when the socket is gone: a
    service manager that went away must never take the kiosk down with it.
    """
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not address or not fields:
        return False
    if address[0] == "@":  # an abstract socket name (systemd's own is one)
        address = "\0" + address[1:]
    elif address[0] != "/":
        _warn_once("NOTIFY_SOCKET is neither a path nor an abstract name: not notifying")
        return False
    payload = "\n".join(fields).encode("utf-8", "replace")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(payload, address)
    except OSError as exc:
        # The address is the service manager's, not personal data; the reason is enough.
        _warn_once(f"the service manager's socket cannot be reached ({type(exc).__name__})")
        return False
    return True


def _warn_once(message: str) -> None:
    if not _warned.is_set():
        _warned.set()
        log.warning("%s", message)


def one_line(text: str, limit: int = 300) -> str:
    """``text`` for a STATUS line or a screen: one line, no control characters, ``limit`` long."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def watchdog_interval(
    environ: Mapping[str, str] | None = None, pid: int | None = None
) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``WatchdogSec=``); None: no watchdog.

    None as well when ``WATCHDOG_PID`` names another process (the variable was inherited).
    """
    env = os.environ if environ is None else environ
    owner = env.get("WATCHDOG_PID")
    if owner is not None and owner.strip() != str(os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


class FrameCounter:
    """Counts the UI's presented frames (``run_window``'s ``on_frame``, on the UI thread)."""

    def __init__(self, then: Callable[[], None] | None = None) -> None:
        self.frames = 0
        self._then = then

    def __call__(self) -> None:
        """One more frame (an int's increment: safe to read from the loop's thread)."""
        self.frames += 1
        if self._then is not None:
            self._then()


class Watchdog:
    """Pings ``WATCHDOG=1`` from the loop it runs on, only while everything makes progress.

    ``progress`` (a ``FrameCounter``'s frames) must have moved since the last ping: the touch
    UI runs on another thread, and a frozen screen needs a restart as much as a frozen loop.
    Seams: ``send`` (``notify``) and ``sleep`` (the clock).
    """

    def __init__(
        self,
        interval_s: float,
        *,
        progress: Callable[[], int] | None = None,
        send: Callable[..., bool] = notify,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.interval_s = interval_s
        self._progress = progress
        self._send = send
        self._sleep = sleep
        self._seen = None if progress is None else progress()
        self.pings = 0

    def tick(self) -> bool:
        """Ping if the UI moved since the last tick; True if a ping went out."""
        if self._progress is not None:
            now = self._progress()
            if now == self._seen:
                log.warning(
                    "the touch UI drew no frame for %.0f s: no watchdog ping", self.interval_s
                )
                return False
            self._seen = now
        self._send("WATCHDOG=1")
        self.pings += 1
        return True

    async def run(self) -> None:
        """Tick every ``interval_s`` until cancelled."""
        while True:
            await self._sleep(self.interval_s)
            self.tick()


def start_watchdog(progress: Callable[[], int] | None = None) -> asyncio.Task[None] | None:
    """Run a ``Watchdog`` on the running loop if systemd asked for one (else None)."""
    interval = watchdog_interval()
    if interval is None:
        return None
    dog = Watchdog(interval, progress=progress)
    return asyncio.get_running_loop().create_task(dog.run(), name="watchdog")


async def stop_watchdog(task: asyncio.Task[None] | None) -> None:
    """Cancel ``start_watchdog``'s task and wait for it."""
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


class WatchedKiosk(Protocol):
    """What ``ServiceStatus`` reads of the kiosk (``appliance.runner.kiosk.Kiosk``)."""

    @property
    def phase(self) -> str:
        """The consultation's phase (a ``Phase``, a str enum)."""

    @property
    def service_problem(self) -> str | None:
        """Why the kiosk cannot serve customers, if it cannot."""


# What each phase means to a technician reading `systemctl status kiosk`.
_PHASE_STATUS = {
    "queueing": "queued: in service, waiting for a customer or an adviser",
    "offering": "in a call: connecting",
    "connecting": "in a call: connecting",
    "in_call": "in a call",
    "reconnecting": "in a call: reconnecting",
    "ending": "wiping: ending the session",
    "stopped": "stopping",
}
CONNECTING = "connecting to the hub"
HUB_UNREACHABLE = "hub unreachable: retrying"
NOT_ENROLLED = "not enrolled: enrolment screen"


class ServiceStatus:
    """READY, STATUS and STOPPING for one kiosk process (see the module docstring).

    The kiosk calls ``ready`` after its start-up wipe and ``stopping`` when asked to stop; as
    an observer (``Kiosk.add_observer``) it follows the phase. Seams: ``send``, ``call_later``
    and ``hub_grace_s`` (when "connecting" becomes "unreachable").
    """

    def __init__(
        self,
        *,
        send: Callable[..., bool] = notify,
        call_later: Callable[[float, Callable[[], None]], object] | None = None,
        hub_grace_s: float = HUB_GRACE_S,
    ) -> None:
        self._send = send
        self._call_later = call_later
        self._hub_grace_s = hub_grace_s
        self._kiosk: WatchedKiosk | None = None
        self._ready = False
        self._connected_once = False
        self._grace_over = False
        self.line: str | None = None  # the last STATUS sent

    def watch(self, kiosk: WatchedKiosk) -> None:
        """Follow ``kiosk`` (add this object as its observer too)."""
        self._kiosk = kiosk

    def say(self, line: str) -> None:
        """Send ``STATUS=line`` unless it is the current one (a line the technician reads)."""
        line = one_line(line)
        if line != self.line:
            self.line = line
            self._send(f"STATUS={line}")

    def ready(self, problem: str | None = None) -> None:
        """The start-up wipe ran: READY (even out of service: no start timeout, no restart)."""
        self._ready = True
        self.line = one_line(self._line(problem))
        self._send("READY=1", f"STATUS={self.line}")
        later = self._call_later or asyncio.get_running_loop().call_later
        later(self._hub_grace_s, self._grace_passed)

    def out_of_service(self, reason: str) -> None:
        """READY with ``STATUS=out of service: reason`` (bad input at boot: the kiosk stays up)."""
        self._ready = True
        self.line = one_line(f"out of service: {reason}")
        self._send("READY=1", f"STATUS={self.line}")

    def not_enrolled(self) -> None:
        """READY: the technician's enrolment screen is up."""
        self._ready = True
        self.line = NOT_ENROLLED
        self._send("READY=1", f"STATUS={self.line}")

    def stopping(self) -> None:
        """STOPPING: a polite stop is under way (SIGTERM, the window closed)."""
        self.line = "stopping"
        self._send("STOPPING=1", "STATUS=stopping")

    # -- KioskObserver ---------------------------------------------------------------------

    def changed(self) -> None:
        """The kiosk changed: say its new state if that changes the line."""
        if self._ready and self._kiosk is not None and self.line != "stopping":
            self.say(self._line(self._kiosk.service_problem))

    def video_frame(self, frame: object) -> None:
        """Not for the service manager."""

    def chat_received(self, text: str) -> None:
        """Not for the service manager (personal data)."""

    def channel_opened(self) -> None:
        """Not for the service manager."""

    def _grace_passed(self) -> None:
        self._grace_over = True
        self.changed()

    def _line(self, problem: str | None) -> str:
        if problem is not None:
            return f"out of service: {problem}"
        phase = "disconnected" if self._kiosk is None else str(self._kiosk.phase)
        if phase != "disconnected":
            self._connected_once = True
            return _PHASE_STATUS.get(phase, phase)
        return HUB_UNREACHABLE if self._connected_once or self._grace_over else CONNECTING
