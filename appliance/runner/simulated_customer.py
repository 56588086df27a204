"""A customer for a kiosk without a screen: the demo on a server, the tests, the benchmarks.

It stands where a person would: it greets the adviser once verified, thanks them for every
line, says yes to every scan and photo request (starts it, sends what the preview shows), and
signs every signature request: it reads, lets the simulated tablet replay its recording, confirms.
It says only fixed strings, never anything derived from the adviser's words. The composition
root attaches it when there is no touch UI (``kiosk run --no-ui``, or ``--simulate`` without a
display); the kiosk itself never invents a customer.
"""

from __future__ import annotations

import asyncio
import logging

import av

from appliance.call.connection import CallError
from appliance.exchange.state import ExchangeState
from appliance.runner.control import KioskControl
from appliance.signing.service import SignatureDesk
from appliance.signing.state import SignatureTask

log = logging.getLogger(__name__)

GREETING = "Hello, I would like some advice please."
AUTO_REPLY = "Thank you, that helps."


class SimulatedCustomer:
    """A kiosk observer that answers like a customer in front of the screen."""

    def __init__(self, kiosk: KioskControl) -> None:
        self._kiosk = kiosk
        self._decided: set[tuple[str, str]] = set()  # (request id, state) answered
        self._signing: set[asyncio.Task[None]] = set()

    def changed(self) -> None:
        """Not needed here."""

    def video_frame(self, frame: av.VideoFrame) -> None:
        """Not needed here."""

    def channel_opened(self) -> None:
        """The verified adviser is there: say hello."""
        self._say(GREETING)

    def chat_received(self, text: str) -> None:
        """Answer every line of the adviser with the same fixed thanks."""
        del text  # the adviser's words: never repeated, never logged
        self._say(AUTO_REPLY)

    def exchange_changed(self, state: ExchangeState | None) -> None:
        """Start every request that asks, and send every preview that waits for a yes."""
        if state is None:  # the consultation's exchange closed
            self._decided.clear()
            return
        request = state.request
        if request is None or request.state not in ("asked", "confirming"):
            return
        key = (request.id, request.state)
        if key in self._decided:
            return
        self._decided.add(key)
        # Decided a moment later, as a person would: the exchange is still telling its
        # observers about this snapshot, and must not hear of a newer one in between.
        asyncio.get_running_loop().call_soon(self._decide, request.id, request.state)

    def signature_changed(self, task: SignatureTask | None) -> None:
        """Read the document, then sign with the simulated tablet's recording and confirm."""
        if task is None or task.state not in ("reading", "signing") or task.message is not None:
            return
        key = (task.id, task.state)
        if key in self._decided:
            return
        self._decided.add(key)
        work = asyncio.get_running_loop().create_task(self._sign(task.id, task.state))
        self._signing.add(work)
        work.add_done_callback(self._signing.discard)

    async def _sign(self, request_id: str, state: str) -> None:
        await asyncio.sleep(0)  # after the desk finished telling its observers
        desk = self._kiosk.signature
        if desk is None:
            return
        if state == "reading":
            desk.read(request_id)
        elif isinstance(desk, SignatureDesk):
            await desk.capture_ended(request_id)  # the recording's one pass is over
            desk.confirm(request_id)

    def _decide(self, request_id: str, state: str) -> None:
        exchange = self._kiosk.exchange
        if exchange is None:
            return
        if state == "asked":
            exchange.start(request_id)
        else:
            exchange.confirm(request_id)

    def _say(self, text: str) -> None:
        try:
            self._kiosk.send_chat(text)
        except CallError as exc:
            log.info("simulated customer could not chat: %s", exc)
