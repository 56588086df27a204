"""How the kiosk tells others what happens: its observers (on the loop) and its status lines.

Observers are typed: every observer is a ``KioskObserver``; one that also implements
``KioskExchangeObserver`` or ``KioskScreenObserver`` gets the exchange's snapshots or the
adviser's shared screen too. Which of them an observer is gets decided once, when it is added.
Status lines are for the person watching the console: no personal data, ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import av

from appliance.exchange.state import ExchangeState
from appliance.session.consultation import Phase
from appliance.signing.state import SignatureTask


class KioskObserver(Protocol):
    """Who watches the kiosk (the UI bridge, the code announcer...); called on the loop, quick."""

    def changed(self) -> None:
        """Phase, queue position or stats changed."""

    def video_frame(self, frame: av.VideoFrame) -> None:
        """A decoded frame of the adviser's video."""

    def chat_received(self, text: str) -> None:
        """The adviser wrote ``text`` (personal data: show it, never log it)."""

    def channel_opened(self) -> None:
        """The data channel is open and the adviser verified (the UI sends the intake now).

        Called once per consultation: not again after a reconnection.
        """


@runtime_checkable
class KioskExchangeObserver(Protocol):
    """An observer that also shows the consultation's exchange."""

    def exchange_changed(self, state: ExchangeState | None) -> None:
        """The exchange's new snapshot; None when the session's exchange closed."""


@runtime_checkable
class KioskScreenObserver(Protocol):
    """An observer that also shows the adviser's shared screen."""

    def screen_frame(self, frame: av.VideoFrame) -> None:
        """A decoded frame of the adviser's shared screen (the second video)."""


@runtime_checkable
class KioskSignatureObserver(Protocol):
    """An observer that also shows the adviser's signature request (appliance.signing)."""

    def signature_changed(self, task: SignatureTask | None) -> None:
        """The open request's new snapshot; None when no request is open any more."""


class KioskObservers:
    """Every observer of one kiosk, and a way to wait for the kiosk's next change."""

    def __init__(self) -> None:
        self._all: list[KioskObserver] = []
        self._exchange: list[KioskExchangeObserver] = []
        self._screen: list[KioskScreenObserver] = []
        self._signature: list[KioskSignatureObserver] = []
        self._changed = asyncio.Event()

    def add(self, observer: KioskObserver) -> None:
        """Tell ``observer`` from now on (also the exchange and screen, if it shows them)."""
        self._all.append(observer)
        if isinstance(observer, KioskExchangeObserver):
            self._exchange.append(observer)
        if isinstance(observer, KioskScreenObserver):
            self._screen.append(observer)
        if isinstance(observer, KioskSignatureObserver):
            self._signature.append(observer)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds; it is re-checked on every change."""
        while not predicate():
            changed = self._changed
            await changed.wait()

    def changed(self) -> None:
        """Wake those waiting and tell every observer that something changed."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for observer in self._all:
            observer.changed()

    def video_frame(self, frame: av.VideoFrame) -> None:
        """Hand a frame of the adviser's video to every observer."""
        for observer in self._all:
            observer.video_frame(frame)

    def chat_received(self, text: str) -> None:
        """Hand the adviser's line to every observer (shown, never logged)."""
        for observer in self._all:
            observer.chat_received(text)

    def channel_opened(self) -> None:
        """Tell every observer that the verified adviser's channel is open."""
        for observer in self._all:
            observer.channel_opened()

    def exchange_changed(self, state: ExchangeState | None) -> None:
        """Hand the exchange's snapshot to the observers that show it; a change for all."""
        for observer in self._exchange:
            observer.exchange_changed(state)
        self.changed()

    def screen_frame(self, frame: av.VideoFrame) -> None:
        """Hand a frame of the adviser's shared screen to the observers that show it."""
        for observer in self._screen:
            observer.screen_frame(frame)

    def signature_changed(self, task: SignatureTask | None) -> None:
        """Hand the signature request's snapshot to the observers that show it."""
        for observer in self._signature:
            observer.signature_changed(task)


_PHASE_LINES = {
    Phase.QUEUEING: "kiosk ready: waiting in the queue for an adviser",
    Phase.OFFERING: "adviser accepted: connecting the call",
    Phase.IN_CALL: "in call",
    Phase.RECONNECTING: "reconnecting the call: the session stays as it is",
    Phase.DISCONNECTED: "not connected to the hub",
}


def phase_line(phase: Phase, *, out_of_service: bool, awaiting_customer: bool) -> str | None:
    """The status line for entering ``phase``; None when there is nothing to say.

    Out of service the kiosk is not in the queue (the custody's report said why); with a touch
    UI it joins the queue only once a customer asks (``awaiting_customer`` until then).
    """
    if phase is Phase.QUEUEING and out_of_service:
        return None
    if phase is Phase.QUEUEING and awaiting_customer:
        return "kiosk ready: waiting for a customer"
    return _PHASE_LINES.get(phase)


class StatusLines:
    """The kiosk's status lines, for the person watching its console (no personal data)."""

    def __init__(self, on_status: Callable[[str], None] | None) -> None:
        self._on_status = on_status

    def say(self, line: str) -> None:
        """Print one status line (nowhere without a listener)."""
        if self._on_status is not None:
            self._on_status(line)

    def entered(self, phase: Phase, *, out_of_service: bool, awaiting_customer: bool) -> None:
        """Say what entering ``phase`` means, if anything (see ``phase_line``)."""
        line = phase_line(phase, out_of_service=out_of_service, awaiting_customer=awaiting_customer)
        if line is not None:
            self.say(line)
