"""Wires the touch UI (``kiosk_ui``) to the kiosk runner across two threads.

Threading model: SDL owns the **main thread** (it wants its window and events there, and
kmsdrm has no other choice); the asyncio loop that runs hub client and call lives in a
**second thread**. They share only:

- ``current_view()``: an immutable ``KioskView`` the loop publishes by swapping one reference
  (atomic under the GIL); the UI reads it once per frame;
- ``report(intent)``: the UI posts intents with ``loop.call_soon_threadsafe``; never waits;
- the latest remote video frame (and the adviser's shared screen): the loop stores a
  reference to the decoded ``av.VideoFrame``; the UI thread converts it to RGB (libswscale,
  outside the loop) only when it draws it.

The exchange (scan and photo requests, pushed documents, transfers, screen share) arrives as
``ExchangeState`` snapshots (``exchange_changed``) and becomes journey events; the customer's
answers go to ``kiosk.exchange`` (``CustomerDecisions``). A pushed document is read from the
session vault on the loop and rendered to pages in a worker thread.

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
from dataclasses import replace
from typing import TYPE_CHECKING

import av

from appliance.call.connection import CallError
from appliance.config.ui import UiSettings
from appliance.custody.vault import VaultError
from appliance.exchange.state import (
    CustomerDecisions,
    ExchangeState,
    Preview,
    ReceivedDocument,
    RequestView,
)
from appliance.runner.kiosk import Kiosk
from appliance.session import consultation as c
from appliance.session import journey as j
from kiosk_ui import viewmodels as v
from kiosk_ui.documents import DocumentError, render_document
from protocol.errors import ProtocolError

if TYPE_CHECKING:
    from appliance.custody.session import SessionCustody
    from appliance.custody.wipe import WipeReport, WipeTrigger
    from kiosk_ui.app import KioskUi

log = logging.getLogger(__name__)

TICK_S = 0.25
# Phases of a consultation with an adviser; in ``reconnecting`` a dropped call heals with
# the same adviser (docs/reconnection.md), so the call screen stays.
_BOUND = (c.Phase.OFFERING, c.Phase.CONNECTING, c.Phase.IN_CALL, c.Phase.RECONNECTING)
_MOVING = ("sealing", "uploading", "downloading")  # transfer phases shown as on their way
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
        self._self_seq = 0
        self._screen: av.VideoFrame | None = None  # the adviser's shared screen, latest frame
        self._screen_seq = 0
        self._screen_converted: v.VideoFrame | None = None
        self._sharing = False
        self._documents_seen: set[str] = set()
        self._previews: dict[int, tuple[Preview, v.Picture]] = {}
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

    def screen_video(self) -> v.VideoFrame | None:
        """The adviser's shared screen as RGB, converted here (the caller's thread)."""
        frame, seq = self._screen, self._screen_seq
        if frame is None or not self._sharing:
            return None
        with self._convert_lock:
            if self._screen_converted is None or self._screen_converted.seq != seq:
                rgb = frame.to_ndarray(format="rgb24")
                self._screen_converted = v.VideoFrame(frame.width, frame.height, rgb.tobytes(), seq)
            return self._screen_converted

    def self_view(self) -> v.VideoFrame | None:
        """The customer's own camera picture (what the call sends), as RGB; converted here."""
        frame = self.kiosk.latest_local_frame
        if frame is None:
            return None
        with self._convert_lock:
            if self._self_converted is None or self._self_source is not frame:
                rgb = frame.to_ndarray(format="rgb24")
                self._self_source = frame
                self._self_seq += 1  # a new sequence number: the painter scales it again
                self._self_converted = v.VideoFrame(
                    frame.width, frame.height, rgb.tobytes(), self._self_seq
                )
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
        view = self.journey.view(now, self._base)
        if view.call.reconnecting and view.call.verification_code is not None:
            # The words come back with the resumed call's proof (the kiosk's code is None
            # until then), never for a far end that has not proved itself.
            view = replace(view, call=replace(view.call, verification_code=None))
        self._view = view

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
            case j.RequestDecision(request_id=request_id, choice=choice):
                self._decide(request_id, choice)
            case _:
                # Signature decisions reach the tablet with their own issue.
                log.debug("UI action %s has no backend yet", type(action).__name__)

    def _decide(self, request_id: str, choice: v.Choice) -> None:
        """Hand the customer's answer to the exchange (``CustomerDecisions``)."""
        exchange: CustomerDecisions | None = self.kiosk.exchange
        if exchange is None:
            log.info("request decision %s dropped: no exchange (no consultation)", choice)
            return
        decide = {
            "start": exchange.start,
            "confirm": exchange.confirm,
            "retake": exchange.retake,
            "decline": exchange.decline,
        }[choice]
        decide(request_id)

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
                events.append(j.HubUnreachable())
            elif before is c.Phase.DISCONNECTED:
                events.append(j.HubReachable())
            if after is c.Phase.OFFERING:
                events.append(j.AdviserAccepted())
            elif after is c.Phase.IN_CALL:
                events.append(j.CallConnected())
            elif after is c.Phase.RECONNECTING:
                events.append(j.CallInterrupted())  # the last picture stays, with a notice
            if before in _BOUND and after not in _BOUND:
                events.append(j.CallEnded(unverified=self.kiosk.last_call_unverified))
                self._forget_call()
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

    def screen_frame(self, frame: av.VideoFrame) -> None:
        """Keep a reference to the adviser's latest shared-screen frame (converted when drawn)."""
        self._screen = frame
        self._screen_seq += 1

    def exchange_changed(self, state: ExchangeState | None) -> None:
        """Show the exchange's new snapshot; pushed documents load. None: it closed."""
        if state is None:
            state = ExchangeState()
        if not state.screen_share:
            self._screen = None  # a later share must not start with this one's last frame
        self._sharing = state.screen_share
        request = None if state.request is None else self._request_panel(state.request)
        transfers = tuple(
            v.TransferView(t.direction, t.done_bytes / t.size if t.size > 0 else 0.0)
            for t in state.transfers
            if t.phase in _MOVING
        )
        self.handle(j.ExchangeUpdate(request, transfers, state.screen_share))
        for document in state.documents:
            if document.id not in self._documents_seen:
                self._documents_seen.add(document.id)
                self._load_document(document)

    def _request_panel(self, request: RequestView) -> v.RequestPanel:
        # The same Preview object keeps the same Picture, so the painter scales it once.
        pictures: list[v.Picture] = []
        kept: dict[int, tuple[Preview, v.Picture]] = {}
        for preview in request.previews:
            cached = kept.get(id(preview)) or self._previews.get(id(preview))
            if cached is None or cached[0] is not preview:
                cached = (preview, v.Picture(preview.width, preview.height, preview.rgb))
            kept[id(preview)] = cached
            pictures.append(cached[1])
        self._previews = kept
        return v.RequestPanel(
            id=request.id,
            kind=request.kind,
            state=request.state,
            progress=request.progress,
            countdown=request.countdown,
            previews=tuple(pictures),
        )

    def _load_document(self, document: ReceivedDocument) -> None:
        """Read a pushed document from the vault (here, on the loop); render it off the loop."""
        session = self.journey.state.session
        try:
            vault = self.kiosk.vault
            artifact = next((a for a in vault.artifacts if a.ref == document.ref), None)
            if artifact is None:
                raise VaultError("no such artifact in this session's vault")
            data = vault.read_bytes(artifact)
        except (VaultError, RuntimeError) as exc:
            log.warning("pushed document not readable from the vault (%s)", type(exc).__name__)
            self._show_document(session, v.DocumentView(document.name, unreadable=True))
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            self._show_document(session, _rendered(document, data))
            return

        def rendered(done: asyncio.Future[v.DocumentView]) -> None:
            if done.cancelled():
                return
            error = done.exception()
            if error is not None:  # a renderer bug: the customer still learns of the document
                log.error("pushed document render crashed (%s)", type(error).__name__)
                self._show_document(session, v.DocumentView(document.name, unreadable=True))
                return
            self._show_document(session, done.result())

        loop.run_in_executor(None, _rendered, document, data).add_done_callback(rendered)

    def _show_document(self, session: int, document: v.DocumentView) -> None:
        if self.journey.state.session == session:  # not for the next customer
            self.handle(j.DocumentReceived(document))

    def _forget_call(self) -> None:
        """The consultation is over: drop its pictures and what the exchange showed."""
        self._frame = None
        self._screen = None
        self._sharing = False
        self._documents_seen.clear()
        self._previews.clear()

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


def _rendered(document: ReceivedDocument, data: bytes) -> v.DocumentView:
    """The document's pages (a worker thread runs this), or an unreadable marker."""
    try:
        pages = render_document(data, document.mime)
    except DocumentError as exc:
        log.warning("pushed document not shown: %s (%d bytes)", exc, len(data))
        return v.DocumentView(document.name, unreadable=True)
    return v.DocumentView(document.name, pages)


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
