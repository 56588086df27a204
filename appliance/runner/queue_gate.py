"""Whether the kiosk belongs in the hub's queue: asked for by a customer, and in service.

Without a touch UI the kiosk queues whenever the machine says so (a simulated customer, or a
kiosk under test, is always there). With one (``on_request``) it joins the queue only once the
customer at the screen asks for an adviser, and leaves it when they stop waiting. Out of service
it never queues: the custody repairs the storage first, then the kiosk joins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from appliance.runner.custody_link import CustodyLink
from appliance.runner.reporting import StatusLines
from appliance.session.consultation import Consultation, Phase
from protocol import messages


class QueueGate:
    """The kiosk's queue requests to the hub, held back while nobody asked or out of service."""

    def __init__(
        self,
        *,
        on_request: bool,
        machine: Consultation,
        custody: CustodyLink,
        send: Callable[[messages.AnyMessage], Awaitable[bool]],
        lines: StatusLines,
    ) -> None:
        self._on_request = on_request
        self._machine = machine
        self._custody = custody
        self._send = send
        self._lines = lines
        self.customer_waiting = False

    @property
    def awaiting_customer(self) -> bool:
        """Whether the kiosk waits for a customer to ask before it queues."""
        return self._on_request and not self.customer_waiting

    async def request(self) -> None:
        """The machine wants a place in the queue: ask the hub, unless held back."""
        if self.awaiting_customer:
            return  # nobody at the screen asked for an adviser yet
        if not self._custody.may_queue(self._repaired):
            return  # out of service: not in the queue until the storage is clean
        await self._send(messages.QueueRequest())

    async def leave(self) -> None:
        """The machine leaves the queue (nothing to say if the kiosk never joined)."""
        if not self.awaiting_customer:
            await self._send(messages.QueueLeave())

    async def customer(self, wants: bool) -> bool:
        """The customer asks for an adviser (``wants``) or stops waiting.

        True when the kiosk was queueing and so acted on it (its observers should hear).
        """
        if wants == self.customer_waiting:
            return False
        self.customer_waiting = wants
        if self._machine.phase is not Phase.QUEUEING:
            return False  # welcomed later: request() lets the machine's request through then
        if wants and self._custody.may_queue(self._repaired):
            await self._send(messages.QueueRequest())
        elif not wants:
            await self._send(messages.QueueLeave())
        return True

    def consultation_over(self) -> None:
        """The next customer asks anew."""
        self.customer_waiting = False

    async def _repaired(self) -> None:
        # The storage is clean again: queue, if the kiosk should be in the queue now.
        if self._machine.phase is Phase.QUEUEING and not self.awaiting_customer:
            await self._send(messages.QueueRequest())
            self._lines.entered(Phase.QUEUEING, out_of_service=False, awaiting_customer=False)
