"""Wires the touch UI (``kiosk_ui``) to the kiosk runner across two threads.

Threading model: SDL owns the **main thread** (it wants its window and events there, and
kmsdrm has no other choice); the asyncio loop that runs hub client and call lives in a
**second thread**. They share only:

- ``current_view()``: an immutable ``KioskView`` the loop publishes by swapping one reference
  (atomic under the GIL); the UI reads it once per frame;
- ``report(intent)``: the UI posts intents with ``loop.call_soon_threadsafe``; never waits;
- the latest remote video frame: the loop stores a reference to the decoded ``av.VideoFrame``;
  the UI thread converts it to RGB (libswscale, outside the loop) only when it draws it.

So the loop never waits for a frame to be drawn, and the UI never waits for the network.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import av

from appliance import consultation as c
from appliance import journey as j
from appliance.call import CallError
from appliance.kiosk import Kiosk
from appliance.ui_settings import UiSettings
from kiosk_ui import viewmodels as v
from protocol.errors import ProtocolError

if TYPE_CHECKING:
    from appliance.custody import SessionCustody
    from appliance.wipe import WipeReport, WipeTrigger
    from kiosk_ui.app import KioskUi

log = logging.getLogger(__name__)

TICK_S = 0.25
_BOUND = (c.Phase.OFFERING, c.Phase.CONNECTING, c.Phase.IN_CALL)
_TRIGGERS: dict[str, WipeTrigger] = {
    "hangup": "hangup",
    "inactivity": "inactivity",
    "customer_abort": "customer_abort",
    "hub_lost": "hub_lost",
}


class UiBridge:
    """The journey state machine between a ``Kiosk`` (loop thread) and the UI (main thread)."""

    def __init__(
        self,
        kiosk: Kiosk,
        journey: j.Journey,
        *,
        base_view: v.KioskView | None = None,
        custody: SessionCustody | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kiosk = kiosk
        self.journey = journey
        self._base = base_view or v.KioskView()
        self._custody = custody
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._phase = kiosk.phase
        self._position: int | None = None
        self._code: str | None = None  # the verification code last shown
        self._service_ok: bool | None = None
        self._view = journey.view(clock(), self._base)
        self._frame: av.VideoFrame | None = None
        self._frame_seq = 0
        self._converted: v.VideoFrame | None = None
        self._self_source: object = None  # the local frame last converted for the self view
        self._self_converted: v.VideoFrame | None = None
        self._convert_lock = threading.Lock()
        self.actions: list[j.Action] = []  # every action carried out (for tests; no content)
        kiosk.add_observer(self)
        if custody is not None:
            custody.on_wiped(self._wiped)

    # -- UI side (any thread) -------------------------------------------------------

    def current_view(self) -> v.KioskView:
        """The latest published view (never blocks)."""
        return self._view

    def report(self, intent: v.Intent) -> None:
        """Post a customer's intent to the loop (never blocks)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                loop.call_soon_threadsafe(self.handle, intent)

    def remote_video(self) -> v.VideoFrame | None:
        """The adviser's latest frame as RGB, converted here (the caller's thread)."""
        frame, seq = self._frame, self._frame_seq
        if frame is None:
            return None
        with self._convert_lock:
            if self._converted is None or self._converted.seq != seq:
                rgb = frame.to_ndarray(format="rgb24")
                self._converted = v.VideoFrame(frame.width, frame.height, rgb.tobytes(), seq)
            return self._converted

    def self_view(self) -> v.VideoFrame | None:
        """The customer's own camera picture (what the call sends), as RGB; converted here."""
        frame = self.kiosk.latest_local_frame
        if frame is None:
            return None
        with self._convert_lock:
            if self._self_converted is None or self._self_source is not frame:
                rgb = frame.to_ndarray(format="rgb24")
                self._self_source = frame
                self._self_converted = v.VideoFrame(frame.width, frame.height, rgb.tobytes(), 0)
            return self._self_converted

    def ink(self) -> v.Ink:
        """No tablet wired yet (the signature content arrives with its issue)."""
        return v.Ink()

    # -- loop side --------------------------------------------------------------------

    async def run(self) -> None:
        """Tick the journey until cancelled (run it next to ``Kiosk.run``)."""
        self._loop = asyncio.get_running_loop()
        while True:
            self.handle(j.Tick())
            await asyncio.sleep(TICK_S)

    def handle(self, event: j.Event) -> None:
        """Feed one event to the journey, carry out its actions, publish the view."""
        now = self._clock()
        for action in self.journey.handle(event, now):
            self._carry_out(action)
        if isinstance(event, j.Tick):
            self._check_service()
        self._view = self.journey.view(now, self._base)

    def _carry_out(self, action: j.Action) -> None:
        self.actions.append(action)
        match action:
            case j.RequestConsultation():
                self.kiosk.request_consultation()
            case j.LeaveQueue():
                self.kiosk.leave_queue()
            case j.EndCall(trigger=trigger) | j.EndSession(trigger=trigger):
                self.kiosk.end_session(_TRIGGERS.get(trigger, "customer_abort"))
                if self._custody is None:
                    # Nothing is ever stored without custody (tests): report an empty wipe.
                    empty = v.WipeView(verified=True, files=0, bytes=0, method="nothing stored")
                    self._post(j.WipeFinished(empty))
            case j.SendChatLine(text=text):
                try:
                    self.kiosk.send_chat(text)
                except CallError as exc:
                    log.info("chat line not sent: %s", exc)
            case j.SetMute(muted=muted):
                self.kiosk.set_muted(muted)
            case j.SetCamera(off=off):
                self.kiosk.set_camera_off(off)
            case _:
                # Photo and signature decisions reach devices with the in-call issue.
                log.debug("UI action %s has no backend yet", type(action).__name__)

    def _post(self, event: j.Event) -> None:
        if self._loop is not None:
            self._loop.call_soon(self.handle, event)
        else:
            self.handle(event)

    # -- KioskObserver -----------------------------------------------------------------

    def changed(self) -> None:
        """Translate the kiosk's phase and queue position into journey events."""
        before, after = self._phase, self.kiosk.phase
        self._phase = after
        events: list[j.Event] = []
        if after is not before:
            if after is c.Phase.DISCONNECTED:
                events.append(j.HubDown())
            elif before is c.Phase.DISCONNECTED:
                events.append(j.HubUp())
            if after is c.Phase.OFFERING:
                events.append(j.AdviserAccepted())
            elif after is c.Phase.IN_CALL:
                events.append(j.CallConnected())
            if before in _BOUND and after not in _BOUND:
                events.append(j.CallEnded(unverified=self.kiosk.last_call_unverified))
        code = self.kiosk.verification_code
        if code is not None and code != self._code and after in _BOUND:
            events.append(j.CallVerified(code))
        self._code = code
        position = self.kiosk.consultation.state.position
        if position is not None and position != self._position:
            events.append(j.QueueUpdate(position))
        self._position = position
        for event in events:
            self.handle(event)

    def video_frame(self, frame: av.VideoFrame) -> None:
        """Keep a reference to the adviser's latest frame (converted when drawn)."""
        self._frame = frame
        self._frame_seq += 1

    def chat_received(self, text: str) -> None:
        """Show the adviser's line."""
        self.handle(j.ChatReceived(text))

    def channel_opened(self) -> None:
        """Hand the intake form to the adviser, end to end (never via the hub, never logged)."""
        values = self.journey.state.values
        if not values or self.journey.screen not in (v.Screen.CALL, v.Screen.SIGNATURE):
            return
        try:
            self.kiosk.send_intake(values)
        except (CallError, ProtocolError) as exc:
            log.warning("intake form not sent (%s)", type(exc).__name__)

    # -- custody ---------------------------------------------------------------------

    def _wiped(self, report: WipeReport) -> None:
        wipe = v.WipeView(
            verified=report.verified, files=report.files, bytes=report.bytes, method=report.method
        )
        self.handle(j.WipeFinished(wipe))

    def _check_service(self) -> None:
        # Edge-triggered: a failed wipe (at startup too) shows out of service once, and a
        # later verified wipe (``repair``) brings the attract screen back.
        problem = self.kiosk.service_problem
        ok = problem is None
        if ok == self._service_ok:
            return
        before, self._service_ok = self._service_ok, ok
        if problem is not None:
            self.handle(j.WipeFailed(problem))
        elif before is False:
            self.handle(j.ServiceRestored())


# -- command line ------------------------------------------------------------------------


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


def run_with_ui(
    kiosk: Kiosk,
    bridge: UiBridge,
    *,
    mode: str,
    size: tuple[int, int],
    ui: KioskUi | None = None,
    on_frame: Callable[[], None] | None = None,
) -> None:
    """Run the kiosk's loop in a second thread and the UI on this (main) thread.

    Returns when the window closes (the kiosk is then stopped politely) or the kiosk stops;
    an exception of the kiosk (``HubRejected``...) is raised here. ``ui`` and ``on_frame``
    go to ``run_window`` (scripted journeys in the tests).
    """
    from kiosk_ui.app import run_window, use_video_driver  # SDL loads only with a UI

    use_video_driver(mode == "headless")
    errors: list[BaseException] = []
    loop = asyncio.new_event_loop()
    done = threading.Event()

    async def main() -> None:
        ticker = asyncio.create_task(bridge.run(), name="ui-journey")
        try:
            await kiosk.run()
        finally:
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
            on_frame=on_frame,
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


def base_view(settings: UiSettings) -> v.KioskView:
    """The tenant's fixed parts of every view (branding, fields, texts) from ``[ui]``."""
    return v.KioskView(
        language=settings.default_language,
        branding=settings.branding,
        fields=settings.fields,
        consent_text=settings.consent_text,
    )


def journey_for(settings: UiSettings) -> j.Journey:
    """The journey with the tenant's intake fields and default language."""
    return j.Journey(default_language=settings.default_language, fields=settings.fields)
