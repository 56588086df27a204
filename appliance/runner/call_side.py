"""The consultation machine's call actions, carried out on the current call.

Prepare a call (a resumed one proves itself with the continuity secret), send its offer through
the hub once the adviser's commitment is held, apply the answer and the trickled candidates,
close it. Each outcome the machine needs (``CallPrepared``, ``CallFailed``, ``CannotResume``,
``CallClosed``) is returned; what the call reports later goes to the ``CallListener``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from appliance.runner.consultation_upkeep import ConsultationUpkeep
from appliance.runner.current_call import CallListener, CurrentCall
from appliance.session import consultation
from protocol import messages

log = logging.getLogger(__name__)

CallAction = (
    consultation.PrepareCall
    | consultation.SendOffer
    | consultation.ApplyAnswer
    | consultation.AddCandidate
    | consultation.CloseCall
)


class CallSide:
    """Carries out the machine's call actions; returns the outcome events."""

    def __init__(
        self,
        current: CurrentCall,
        *,
        listener: CallListener,
        upkeep: ConsultationUpkeep,
        send: Callable[[messages.AnyMessage], Awaitable[bool]],
    ) -> None:
        self._current = current
        self._listener = listener
        self._upkeep = upkeep
        self._send = send

    async def carry_out(self, action: CallAction) -> consultation.Event | None:
        """Do what ``action`` asks of the call; the outcome the machine awaits, if any."""
        match action:
            case consultation.PrepareCall(resume=resume):
                return await self._prepare(resume=resume)
            case consultation.SendOffer(consultation_id=cid, commitment=commitment):
                return await self._offer(cid, commitment)
            case consultation.ApplyAnswer(sdp=sdp):
                if not await self._current.apply_answer(sdp):
                    return consultation.CallFailed()
            case consultation.AddCandidate(candidate=cand, sdp_mid=mid, sdp_mline_index=index):
                await self._current.add_candidate(cand, mid, index)
            case consultation.CloseCall(bye=bye):
                await self.close(bye=bye)
                return consultation.CallClosed()
        return None

    async def close(self, *, bye: bool = False) -> None:
        """Close the current call, its last media counters kept in the stats first."""
        self._upkeep.recorder.refresh(self._current.call)
        await self._current.close(bye=bye)

    async def _prepare(self, *, resume: bool) -> consultation.Event:
        await self.close()
        resumption = self._upkeep.reconnection.continuity if resume else None
        if resume and resumption is None:
            log.warning("no continuity secret to resume with")
            return consultation.CannotResume()
        if await self._current.prepare(self._listener, resumption):
            return consultation.CallPrepared()
        return consultation.CallFailed()

    async def _offer(self, cid: str, commitment: str | None) -> consultation.Event | None:
        call = self._current.call
        if call is None:
            return consultation.CallFailed()
        if commitment is None:  # a resumed call: no commitment, its own connect timer
            self._upkeep.time_connecting(cid, self._current.generation)
        elif not self._current.hold_commitment(commitment, cid):
            return consultation.CallFailed()
        await self._send(messages.Offer(consultation_id=cid, sdp=call.offer_sdp))
        return None
