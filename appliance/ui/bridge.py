"""Wires the touch UI (``kiosk_ui``) to the kiosk runner across two threads.

Threading model: SDL owns the **main thread** (it wants its window and events there, and
kmsdrm has no other choice); the asyncio loop that runs hub client and call lives in a
**second thread** (``appliance.ui.launch.run_with_ui``). They share only:

- ``current_view()``: an immutable ``KioskView`` the loop publishes by swapping one reference
  (atomic under the GIL); the UI reads it once per frame;
- ``report(intent)``: the UI posts intents with ``loop.call_soon_threadsafe``; never waits;
- the live pictures (``appliance.ui.media``): the loop keeps references to decoded frames, the
  UI thread converts them when it draws them.

The bridge runs the journey machine (``appliance.session.journey``) on the loop: it turns the
kiosk's changes into journey events, carries out the journey's actions on a ``KioskControl``,
and hands the exchange's snapshots to ``ExchangeDisplay`` (``appliance.ui.exchange_display``).

So the loop never waits for a frame to be drawn, and the UI never waits for the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import av

from appliance.call.connection import CallError
from appliance.exchange.state import ExchangeState
from appliance.runner.control import KioskControl
from appliance.session.consultation import Phase
from appliance.session.journey import (
    Action,
    AdviserAccepted,
    CallConnected,
    CallEnded,
    CallInterrupted,
    CallVerified,
    ChatReceived,
    EndCall,
    EndSession,
    Event,
    HubReachable,
    HubUnreachable,
    Journey,
    LeaveQueue,
    QueueUpdate,
    ReferenceReceived,
    RequestConsultation,
    RequestDecision,
    SendChatLine,
    ServiceRestored,
    SetCamera,
    SetMute,
    SignatureDecision,
    SignaturePointer,
    Tick,
    WipeFailed,
    WipeFinished,
)
from appliance.ui.exchange_display import ExchangeDisplay
from appliance.ui.media import MediaHandover
from appliance.ui.signature_display import SignatureDisplay, ink_of
from kiosk_ui import viewmodels
from protocol.errors import ProtocolError

if TYPE_CHECKING:
    from appliance.custody.session import SessionCustody
    from appliance.custody.wipe import WipeReport, WipeTrigger
    from appliance.signing.state import SignatureTask

log = logging.getLogger(__name__)

TICK_S = 0.25
# Phases of a consultation with an adviser; in ``reconnecting`` a dropped call heals with
# the same adviser (docs/reconnection.md), so the call screen stays.
_BOUND = (Phase.OFFERING, Phase.CONNECTING, Phase.IN_CALL, Phase.RECONNECTING)
_TRIGGERS: dict[str, WipeTrigger] = {
    "hangup": "hangup",
    "inactivity": "inactivity",
    "customer_abort": "customer_abort",
    "hub_lost": "hub_lost",
}


class UiBridge:
    """The journey state machine between a kiosk (loop thread) and the UI (main thread)."""

    def __init__(
        self,
        kiosk: KioskControl,
        journey: Journey,
        *,
        base_view: viewmodels.KioskView | None = None,
        custody: SessionCustody | None = None,
        clock: Callable[[], float] = time.monotonic,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.kiosk = kiosk
        self.journey = journey
        self._base = base_view or viewmodels.KioskView()
        self._custody = custody
        self._clock = clock
        self._loop = loop  # the loop the journey runs on; ``run()`` sets it
        self._phase = kiosk.phase
        self._position: int | None = None
        self._code: str | None = None  # the verification code last shown
        self._reference: str | None = None  # the conversation reference last handed on
        self._service_ok: bool | None = None
        self._view = journey.view(clock(), self._base)
        self.media = MediaHandover(lambda: kiosk.latest_local_frame, ink=lambda: ink_of(kiosk))
        self._exchange = ExchangeDisplay(kiosk, journey, show=self.handle, loop=lambda: self._loop)
        self._signature = SignatureDisplay(
            kiosk, journey, show=self.handle, loop=lambda: self._loop
        )
        self.actions: list[Action] = []  # every action carried out (for tests; no content)
        kiosk.add_observer(self)
        if custody is not None:
            custody.on_wiped(self._wiped)

    # -- UI side (any thread) -------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the bridge (and the kiosk) run on; None before ``run()``."""
        return self._loop

    def current_view(self) -> viewmodels.KioskView:
        """The latest published view (never blocks)."""
        return self._view

    def report(self, intent: viewmodels.Intent) -> None:
        """Post a customer's intent to the loop (never blocks)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                loop.call_soon_threadsafe(self.handle, intent)

    def remote_video(self) -> viewmodels.VideoFrame | None:
        """The adviser's latest frame as RGB, converted here (the caller's thread)."""
        return self.media.remote_video()

    def screen_video(self) -> viewmodels.VideoFrame | None:
        """The adviser's shared screen as RGB while shared, converted here."""
        return self.media.screen_video()

    def self_view(self) -> viewmodels.VideoFrame | None:
        """The customer's own camera picture (what the call sends), as RGB; converted here."""
        return self.media.self_view()

    def ink(self) -> viewmodels.Ink:
        """The signature desk's live ink (0..1 of the ink area); none without a desk."""
        return self.media.ink()

    def show_at(self, source: str, box: tuple[int, int]) -> None:
        """The UI shows ``source`` in a ``box``-sized area: frames come scaled to fit it."""
        self.media.show_at(source, box)

    # -- loop side --------------------------------------------------------------------

    async def run(self) -> None:
        """Tick the journey until cancelled (run it next to ``Kiosk.run``)."""
        self._loop = asyncio.get_running_loop()
        while True:
            self.handle(Tick())
            await asyncio.sleep(TICK_S)

    def handle(self, event: Event) -> None:
        """Feed one event to the journey, carry out its actions, publish the view."""
        now = self._clock()
        for action in self.journey.handle(event, now):
            self._carry_out(action)
        if isinstance(event, Tick):
            self._check_service()
            self._signature.tick()
        view = self.journey.view(now, self._base)
        if view.call.reconnecting and view.call.verification_code is not None:
            # The words come back with the resumed call's proof (the kiosk's code is None
            # until then), never for a far end that has not proved itself.
            view = replace(view, call=replace(view.call, verification_code=None))
        self._view = view

    def _carry_out(self, action: Action) -> None:
        self.actions.append(action)
        match action:
            case RequestConsultation():
                self.kiosk.request_consultation()
            case LeaveQueue():
                self.kiosk.leave_queue()
            case EndCall(trigger=trigger) | EndSession(trigger=trigger):
                self.kiosk.end_session(_TRIGGERS.get(trigger, "customer_abort"))
                if self._custody is None:
                    # Nothing is ever stored without custody (tests): report an empty wipe.
                    empty = viewmodels.WipeView(
                        verified=True, files=0, bytes=0, method="nothing stored"
                    )
                    self._post(WipeFinished(empty))
            case SendChatLine(text=text):
                try:
                    self.kiosk.send_chat(text)
                except CallError as exc:
                    log.info("chat line not sent: %s", exc)
            case SetMute(muted=muted):
                self.kiosk.set_muted(muted)
            case SetCamera(off=off):
                self.kiosk.set_camera_off(off)
            case RequestDecision(request_id=request_id, choice=choice):
                self._decide(request_id, choice)
            case SignatureDecision() | SignaturePointer():
                self._signature.carry_out(action)

    def _decide(self, request_id: str, choice: viewmodels.Choice) -> None:
        """Hand the customer's answer to the exchange (``CustomerDecisions``)."""
        exchange = self.kiosk.exchange
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

    def _post(self, event: Event) -> None:
        if self._loop is not None:
            self._loop.call_soon(self.handle, event)
        else:
            self.handle(event)

    # -- KioskObserver -----------------------------------------------------------------

    def changed(self) -> None:
        """Translate the kiosk's phase, queue position and reference into journey events."""
        before, after = self._phase, self.kiosk.phase
        self._phase = after
        events: list[Event] = []
        if after is not before:
            if after is Phase.DISCONNECTED:
                events.append(HubUnreachable())
            elif before is Phase.DISCONNECTED:
                events.append(HubReachable())
            if after is Phase.OFFERING:
                events.append(AdviserAccepted())
            elif after is Phase.IN_CALL:
                events.append(CallConnected())
            elif after is Phase.RECONNECTING:
                events.append(CallInterrupted())  # the last picture stays, with a notice
            if before in _BOUND and after not in _BOUND:
                events.append(CallEnded(unverified=self.kiosk.last_call_unverified))
                self._forget_call()
        code = self.kiosk.verification_code
        if code is not None and code != self._code and after in _BOUND:
            events.append(CallVerified(code))
        self._code = code
        position = self.kiosk.consultation_state.position
        if position is not None and position != self._position:
            events.append(QueueUpdate(position))
        self._position = position
        reference = self.kiosk.consultation_state.reference
        if reference is not None and reference != self._reference:
            events.append(ReferenceReceived(reference))
            self._reference = reference
        for event in events:
            self.handle(event)

    def video_frame(self, frame: av.VideoFrame) -> None:
        """Keep a reference to the adviser's latest frame (converted when drawn)."""
        self.media.remote_frame(frame)

    def screen_frame(self, frame: av.VideoFrame) -> None:
        """Keep a reference to the adviser's latest shared-screen frame (converted when drawn)."""
        self.media.screen_frame(frame)

    def exchange_changed(self, state: ExchangeState | None) -> None:
        """Show the exchange's new snapshot; pushed documents load. None: it closed."""
        if state is None:
            state = ExchangeState()
        self.media.sharing(state.screen_share)
        self._exchange.update(state)

    def signature_changed(self, task: SignatureTask | None) -> None:
        """Show the signature desk's request (``KioskSignatureObserver``); None: it closed."""
        self._signature.changed(task)

    def chat_received(self, text: str) -> None:
        """Show the adviser's line."""
        self.handle(ChatReceived(text))

    def channel_opened(self) -> None:
        """Hand the intake form to the adviser, end to end (never via the hub, never logged)."""
        values = self.journey.state.values
        screens = (viewmodels.Screen.CALL, viewmodels.Screen.SIGNATURE)
        if not values or self.journey.screen not in screens:
            return
        try:
            self.kiosk.send_intake(values)
        except (CallError, ProtocolError) as exc:
            log.warning("intake form not sent (%s)", type(exc).__name__)

    def _forget_call(self) -> None:
        """The consultation is over: drop its pictures and what the exchange showed."""
        self.media.forget()
        self._exchange.forget()
        self._signature.forget()

    # -- custody ---------------------------------------------------------------------

    def _wiped(self, report: WipeReport) -> None:
        wipe = viewmodels.WipeView(
            verified=report.verified, files=report.files, bytes=report.bytes, method=report.method
        )
        self.handle(WipeFinished(wipe))

    def _check_service(self) -> None:
        # Edge-triggered: a failed wipe (at startup too) shows out of service once, and a
        # later verified wipe (``repair``) brings the attract screen back.
        problem = self.kiosk.service_problem
        ok = problem is None
        if ok == self._service_ok:
            return
        before, self._service_ok = self._service_ok, ok
        if problem is not None:
            self.handle(WipeFailed(problem))
        elif before is False:
            self.handle(ServiceRestored())
