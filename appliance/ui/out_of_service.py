"""Bad input at boot with a screen: show out of service with the reason, and keep running.

A broken configuration, a missing camera or an unusable identity directory cannot be fixed by
restarting: exiting would make systemd restart the kiosk over and over (or, with
``RestartPreventExitStatus``, leave a black screen). With a screen the kiosk instead shows the
out-of-service screen with the reason for the technician, tells systemd READY with
``STATUS=out of service: <reason>`` and waits until it is stopped. Without a screen ``kiosk run``
exits with its usual status (docs/vault.md, "Service manager").
"""

from __future__ import annotations

import asyncio
import logging

from appliance.runner.service_manager import ServiceStatus, one_line
from appliance.ui.launch import FrontProcess, run_with_ui
from kiosk_ui import viewmodels as v

log = logging.getLogger(__name__)


def clean_reason(text: str) -> str:
    """``text`` on one line, without control characters: a STATUS line and a screen line."""
    return one_line(text)


class OutOfServiceFront:
    """Owns the screen (``ScreenOwner``) and is the process (``KioskProcess``): it shows one
    view until ``request_stop``. Taps do nothing: only a technician's fix and a restart help."""

    def __init__(
        self, reason: str, *, base: v.KioskView | None = None, service: ServiceStatus | None = None
    ) -> None:
        self.reason = clean_reason(reason)
        self._view = v.KioskView(
            screen=v.Screen.OUT_OF_SERVICE,
            language=(base or v.KioskView()).language,
            branding=(base or v.KioskView()).branding,
            problem=self.reason,
        )
        self._service = service if service is not None else ServiceStatus()
        self._stop: asyncio.Event | None = None

    # -- the screen (UI thread) -------------------------------------------------------------

    def current_view(self) -> v.KioskView:
        """The out-of-service view, with the reason."""
        return self._view

    def report(self, intent: v.Intent) -> None:
        """Taps change nothing here."""

    def remote_video(self) -> v.VideoFrame | None:
        """No call: no picture."""
        return None

    def screen_video(self) -> v.VideoFrame | None:
        """No call: no shared screen."""
        return None

    def self_view(self) -> v.VideoFrame | None:
        """No camera view."""
        return None

    def ink(self) -> v.Ink:
        """No signature."""
        return v.Ink()

    def show_at(self, source: str, box: tuple[int, int]) -> None:
        """No live pictures to place."""

    async def run(self) -> None:
        """Nothing changes on this screen: wait until cancelled (``run_with_ui``'s ticker)."""
        await asyncio.Event().wait()

    # -- the process (the loop) ---------------------------------------------------------------

    async def serve(self) -> None:
        """Say READY and why the kiosk is out of service, then wait until stopped."""
        self._stop = asyncio.Event()
        log.error("out of service: the kiosk cannot start (see its status line)")
        self._service.out_of_service(self.reason)
        await self._stop.wait()

    def request_stop(self) -> None:
        """Stop politely (from the loop)."""
        self._service.stopping()
        if self._stop is not None:
            self._stop.set()


def show_out_of_service(
    reason: str,
    *,
    mode: str,
    size: tuple[int, int],
    base: v.KioskView | None = None,
    service: ServiceStatus | None = None,
) -> bool:
    """Show ``reason`` on the out-of-service screen until stopped; False if no screen opened.

    The screen failing to open (no display, no DRM device) is a reason of its own: the caller
    then exits with its usual status, as without a screen.
    """
    front = OutOfServiceFront(reason, base=base, service=service)
    try:
        run_with_ui(FrontProcess(front), front, mode=mode, size=size)
    except Exception as exc:  # SDL's errors have no common type
        log.error("the out-of-service screen cannot be shown (%s)", type(exc).__name__)
        return False
    return True
