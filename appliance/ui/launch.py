"""How the touch UI is chosen and started: ``kiosk run``'s flags, the tenant's fixed view parts,
and the two threads (SDL on the main thread, the kiosk's loop on a second one; docs/ui.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from appliance.config.ui import UiSettings
from appliance.runner.service_manager import FrameCounter, start_watchdog, stop_watchdog
from appliance.session.journey import Journey
from kiosk_ui import viewmodels

if TYPE_CHECKING:
    from kiosk_ui.app import KioskUi


class KioskProcess(Protocol):
    """What the UI's threads need of the kiosk: run it, stop it politely."""

    async def run(self) -> None:
        """Run until stopped."""

    def request_stop(self) -> None:
        """Stop politely (from the loop)."""


class Front(Protocol):
    """A screen of its own before or instead of the journey (technician, out of service)."""

    async def serve(self) -> None:
        """Serve until stopped."""

    def request_stop(self) -> None:
        """Stop politely (from the loop)."""


class FrontProcess:
    """A ``Front`` as ``run_with_ui``'s kiosk: its ``serve`` and ``request_stop``."""

    def __init__(self, front: Front) -> None:
        self._front = front

    async def run(self) -> None:
        """Serve until stopped."""
        await self._front.serve()

    def request_stop(self) -> None:
        """Stop politely."""
        self._front.request_stop()


class ScreenOwner(viewmodels.SizedMediaFeed, Protocol):
    """What owns the screen: the journey's ``UiBridge``, or the technician's front
    (``appliance.ui.technician``) that hands it to the journey once enrolled."""

    def current_view(self) -> viewmodels.KioskView:
        """The latest view (never blocks)."""

    def report(self, intent: viewmodels.Intent) -> None:
        """Post a tap's intent to the loop (never blocks)."""

    async def run(self) -> None:
        """Tick until cancelled (on the loop)."""


def add_ui_arguments(run: argparse.ArgumentParser) -> None:
    """``kiosk run`` flags that choose whether and how the touch UI shows."""
    group = run.add_mutually_exclusive_group()
    group.add_argument(
        "--headless",
        action="store_true",
        help="run the touch UI on SDL's dummy driver (no window); the journey still decides",
    )
    group.add_argument(
        "--no-ui",
        action="store_true",
        help="no touch UI: the kiosk queues by itself (simulated customer)",
    )
    run.add_argument("--window", default="1280x800", help="window size WxH (default 1280x800)")


def ui_mode(args: argparse.Namespace, *, simulate: bool) -> str | None:
    """``"window"``, ``"fullscreen"``, ``"headless"`` or None (no UI) for these flags."""
    if args.no_ui:
        return None
    if args.headless:
        return "headless"
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return "window"
    # The device has no desktop (kmsdrm, full screen); a simulated kiosk without a display
    # keeps the old behaviour (queues by itself), which tests and benchmarks rely on.
    return None if simulate else "fullscreen"


def window_size(text: str) -> tuple[int, int]:
    """Parse ``WxH``."""
    width, _, height = text.lower().partition("x")
    try:
        size = (int(width), int(height))
    except ValueError:
        raise ValueError(f"--window {text!r}: expected WIDTHxHEIGHT, e.g. 1280x800") from None
    if not (320 <= size[0] <= 7680 and 240 <= size[1] <= 4320):
        raise ValueError(f"--window {text!r}: size out of range")
    return size


def base_view(settings: UiSettings) -> viewmodels.KioskView:
    """The tenant's fixed parts of every view (branding, fields, texts) from ``[ui]``."""
    return viewmodels.KioskView(
        language=settings.default_language,
        branding=settings.branding,
        fields=settings.fields,
        consent_text=settings.consent_text,
    )


def journey_for(settings: UiSettings) -> Journey:
    """The journey with the tenant's intake fields and default language."""
    return Journey(default_language=settings.default_language, fields=settings.fields)


def run_with_ui(
    kiosk: KioskProcess,
    bridge: ScreenOwner,
    *,
    mode: str,
    size: tuple[int, int],
    ui: KioskUi | None = None,
    on_frame: Callable[[], None] | None = None,
) -> None:
    """Run the kiosk's loop in a second thread and the UI on this (main) thread.

    Returns when the window closes (the kiosk is then stopped politely) or the kiosk stops;
    an exception of the kiosk (``HubRejected``...) is raised here. ``ui`` and ``on_frame``
    go to ``run_window`` (scripted journeys in the tests). Under systemd's watchdog the loop
    pings only while the UI also draws (``appliance.runner.service_manager.Watchdog``).
    """
    from kiosk_ui.app import run_window, use_video_driver  # SDL loads only with a UI

    use_video_driver(mode == "headless")
    errors: list[BaseException] = []
    loop = asyncio.new_event_loop()
    done = threading.Event()
    frames = FrameCounter(on_frame)

    async def main() -> None:
        ticker = asyncio.create_task(bridge.run(), name="ui-journey")
        watchdog = start_watchdog(lambda: frames.frames)
        try:
            await kiosk.run()
        finally:
            await stop_watchdog(watchdog)
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    def loop_thread() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)
        finally:
            loop.close()
            done.set()

    def stop(signum: int, frame: object) -> None:
        del signum, frame
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(kiosk.request_stop)

    # Signals reach the main thread only: forward them to the loop as a polite stop.
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=loop_thread, name="kiosk-loop", daemon=True)
    thread.start()
    try:
        run_window(
            bridge.current_view,
            bridge.report,
            bridge,
            done.is_set,
            size=size,
            fullscreen=mode == "fullscreen",
            ui=ui,
            on_frame=frames,
        )
    finally:
        if not done.is_set():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(kiosk.request_stop)
        thread.join(timeout=15)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if errors:
        raise errors[0]
