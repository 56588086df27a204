"""What the kiosk does when its current call reports something (a ``CallListener``).

aiortc calls back synchronously; each report becomes a consultation event in the kiosk's input
queue (stamped with the call's generation, so a replaced call's late events are dropped), plus
the bookkeeping that cannot wait for the loop: stats, the chat history, the continuity secret,
the exchange, and the observers.

Nothing of the customer's goes out before the adviser is verified, and a far end that connects
has ``VERIFY_TIMEOUT_S`` from then to prove itself, channel open or not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from appliance.call import sas
from appliance.call.connection import CallError, ExchangeMessage, Resumption
from appliance.runner.consultation_upkeep import ConsultationUpkeep
from appliance.runner.current_call import CurrentCall
from appliance.runner.inputs import FromCall, KioskInput
from appliance.runner.reporting import KioskObservers
from appliance.runner.timers import Scheduler
from appliance.session import consultation
from protocol import channel

log = logging.getLogger(__name__)

# After the call connects, the adviser's sas_reveal (or resume_proof) must arrive and check
# out within this: from connected, not from the data channel's opening, so that a far end
# that completes DTLS but never opens the channel cannot keep a call running unverified.
VERIFY_TIMEOUT_S = 10.0
# How long a dead path of a not yet verified call waits for the hub's `ended` before counting
# as failed (a verified call reconnects instead; a deliberate end comes as `bye`).
PEER_CLOSE_GRACE_S = 1.0


class CallEvents:
    """The kiosk's ``CallListener``: the current call's reports, turned into the kiosk's inputs."""

    def __init__(
        self,
        *,
        current: CurrentCall,
        machine: consultation.Consultation,
        post: Callable[[KioskInput], None],
        upkeep: ConsultationUpkeep,
        observers: KioskObservers,
        say: Callable[[str], None],
        scheduler: Scheduler,
    ) -> None:
        self._current = current
        self._machine = machine
        self._post = post
        self._upkeep = upkeep
        self._recorder = upkeep.recorder
        self._history = upkeep.history
        self._reconnection = upkeep.reconnection
        self._exchange = upkeep.exchange
        self._observers = observers
        self._say = say
        self._scheduler = scheduler

    def state_changed(self, generation: int, state: str) -> None:
        """``connected`` counts; ``failed``/``closed`` arrive as a dead path, an end as bye."""
        if state != "connected":
            return
        self._upkeep.connected()
        self._post(FromCall(generation, consultation.MediaConnected()))
        self._scheduler.call_later(VERIFY_TIMEOUT_S, lambda: self._verify_deadline(generation))

    def channel_opened(self, generation: int) -> None:
        """Nothing to do yet: the channel carries nothing before the adviser's proof."""
        log.info("data channel open: waiting for the adviser's proof")

    def verified(self, generation: int, code: str) -> None:
        """The adviser proved itself: on the first call, the consultation may now be resumed."""
        call = self._current.call
        if call is not None and call.resumed:
            self._reverified(generation)
            return
        cid = self._machine.state.consultation_id
        if call is not None and cid is not None:
            # Only the two verified ends learn it: it proves every later peer connection.
            secret = sas.new_continuity_secret()
            self._reconnection.continuity = Resumption(
                consultation_id=cid, secret=secret, code=code
            )
            try:
                call.send(channel.Continuity(secret=secret.hex()))
            except CallError as exc:
                log.warning("could not send the continuity secret: %s", exc)
            self._post(FromCall(generation, consultation.AdviserVerified(cid)))
            self._exchange.open(cid)
        else:  # should not happen: say so, or a call runs with no exchange and nobody knows
            log.warning(
                "adviser verified, but %s: no continuity and no exchange for this call",
                "no current call" if call is None else "no consultation id",
            )
        self._recorder.verified(code)  # four words: not personal data
        self._say("adviser verified: compare the code on both screens")
        self._observers.changed()
        self._observers.channel_opened()

    def unverified(self, generation: int, why: str) -> None:
        """The adviser could not be verified: the call ends, with the warning."""
        if not self._current.is_current(generation):
            return
        self._recorder.unverified(why)
        self._say(f"call ended: the adviser could not be verified ({why})")
        self._post(FromCall(generation, consultation.VerificationFailed()))

    def dead_path(self, generation: int, cause: str, silence_ms: float) -> None:
        """The path died: a verified consultation reconnects, any other call ends."""
        call = self._current.call
        if call is not None and call.verification is None and self._reconnection.continuity is None:
            # Not verified: it will not be resumed. The hub's `ended` may be on its way (an
            # adviser who left before the channel opened): let it say why, briefly.
            self._scheduler.call_later(
                PEER_CLOSE_GRACE_S, lambda: self._dead_if_current(generation, cause)
            )
            return
        self._reconnection.path_silent_for(silence_ms)
        self._post(FromCall(generation, consultation.DeadPath(cause)))

    def bye(self, generation: int) -> None:
        """The adviser ended the call on purpose: the consultation is over."""
        cid = self._machine.state.consultation_id
        if cid is not None:
            self._post(FromCall(generation, consultation.ByeReceived(cid)))

    def chat_received(self, generation: int, message: channel.Chat) -> None:
        """The adviser's line: kept for the history, counted, shown (never logged)."""
        if not self._current.verified:
            # Not shown: on a resumed call the channel opens before the proof is checked.
            log.info("dropped a chat line from an adviser not verified (yet)")
            return
        self._history.remember(message, "adviser")
        self._recorder.chat(incoming=True)
        text = message.text  # the adviser's words: shown to the customer, never logged
        del message
        self._observers.chat_received(text)
        self._observers.changed()

    def exchange_message(self, generation: int, message: ExchangeMessage) -> None:
        """Files, requests and screen share go to the consultation's exchange."""
        self._exchange.handle(message)

    def _reverified(self, generation: int) -> None:
        """A resumed call proved itself: send the session so far again (the console merges).

        Only now is the consultation healed (``Reverified``: back to ``in_call``, the grace
        timer stops); until now the call got nothing of the session.
        """
        call = self._current.call
        cid = self._machine.state.consultation_id
        if call is None or cid is None:
            return
        self._post(FromCall(generation, consultation.Reverified(cid)))
        self._say("adviser verified again: the call is resumed")
        sent = self._history.resend(call.send)
        log.info("sent %d history lines after the resume", sent)  # a count, never the text
        self._exchange.resend_offers()
        self._observers.changed()

    def _verify_deadline(self, generation: int) -> None:
        call = self._current.call
        if not self._current.is_current(generation) or call is None:
            return
        if call.verification is None and call.verification_error is None:
            self.unverified(generation, "reveal_timeout")

    def _dead_if_current(self, generation: int, cause: str) -> None:
        if self._current.is_current(generation):
            self._post(FromCall(generation, consultation.DeadPath(cause)))
