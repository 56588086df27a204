"""The consultation machine's side of the hub: what the hub says as events, what it must hear.

``HubClient`` keeps the WebSocket; this applies each ``welcome`` (ICE servers, grace period,
the tenant's file limit, the service state the hub must learn again), turns the hub's messages
into the machine's events (``inputs.consultation_event``), keeps the resume token the hub
grants, and sends the machine's queue, end and resume requests.
"""

from __future__ import annotations

from collections.abc import Callable

from appliance.runner.consultation_upkeep import ConsultationUpkeep
from appliance.runner.current_call import CurrentCall
from appliance.runner.custody_link import CustodyLink
from appliance.runner.hub_client import HubClient, HubDown, HubEvent, HubMessage, HubUp
from appliance.runner.inputs import consultation_event
from appliance.runner.queue_gate import QueueGate
from appliance.session import consultation
from protocol import messages
from protocol.messages import Welcome

HubAction = (
    consultation.SendQueueRequest
    | consultation.SendQueueLeave
    | consultation.SendEnd
    | consultation.SendResume
)


class HubSignalling:
    """Hub events in, the machine's hub actions out (the offer goes with the call)."""

    def __init__(
        self,
        hub: HubClient,
        *,
        machine: consultation.Consultation,
        current: CurrentCall,
        upkeep: ConsultationUpkeep,
        custody: CustodyLink,
        queue: QueueGate,
        say: Callable[[str], None],
    ) -> None:
        self._hub = hub
        self._machine = machine
        self._current = current
        self._upkeep = upkeep
        self._custody = custody
        self._queue = queue
        self._say = say

    def translate(self, event: HubEvent) -> consultation.Event | None:
        """The machine's event for what the hub connection reports; None to drop it."""
        match event:
            case HubUp(welcome=welcome):
                self._welcomed(welcome)
                return consultation.Welcomed()
            case HubDown():
                self._say("hub connection lost: reconnecting")
                state = self._machine.state
                if state.consultation_id is not None and not (state.verified and state.resumable):
                    self._custody.mark_ending("hub_lost")  # this consultation will not come back
                return consultation.HubLost()
            case HubMessage(message=message):
                translated = consultation_event(message, self._machine.state)
                if isinstance(message, messages.ResumeGrant) and translated is not None:
                    self._upkeep.reconnection.keep_token(message.token)  # memory only, never logged
                return translated

    async def carry_out(self, action: HubAction) -> consultation.Event | None:
        """Send what the machine wants the hub to hear; an outcome event, if any."""
        match action:
            case consultation.SendQueueRequest():
                await self._queue.request()
            case consultation.SendQueueLeave():
                await self._queue.leave()
            case consultation.SendEnd(consultation_id=cid, reason=reason):
                await self._hub.send(messages.End(consultation_id=cid, reason=reason))
            case consultation.SendResume(consultation_id=cid):
                token = self._upkeep.reconnection.take_token()  # single use
                if token is None:
                    return consultation.ResumeRefused()
                await self._hub.send(messages.Resume(consultation_id=cid, token=token))
        return None

    def _welcomed(self, welcome: Welcome) -> None:
        self._custody.hub_welcomed()  # a new hub session starts with the kiosk in service
        self._current.ice_servers = welcome.ice_servers
        self._current.ice_policy = welcome.ice_transport_policy
        self._upkeep.reconnection.grace_s = float(welcome.grace_s)
        self._upkeep.exchange.max_file_bytes = welcome.max_file_bytes
        self._upkeep.exchange.relay_token = welcome.relay_token  # memory only, never logged
        self._upkeep.exchange.signing.welcomed(
            welcome.trustee_cert, welcome.trustee_name, welcome.tsa_url
        )
        self._upkeep.exchange.archiver.welcomed(welcome.archive_cert, welcome.archive_kinds)
