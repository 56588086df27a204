"""The session custody (docs/vault.md) as the kiosk's shell uses it, and the service state.

Each consultation gets a session opened and, when it ends, wiped; a wipe that cannot be verified
puts the kiosk out of service, and it keeps repairing until a wipe verifies. The hub hears only
the state and a code (``wipe_failed``), never the cause (the status line and the screen say it),
and, through the ``DeviceReporter``, each wipe's figures and the kept self-test at each
connection (``appliance.runner.device_reports``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from appliance.custody.session import SessionCustody
from appliance.custody.vault import SessionVault
from appliance.custody.wipe import WipeTrigger
from appliance.runner.device_reports import DeviceReporter
from protocol.messages import AnyMessage, ServiceState, Status

REPAIR_INTERVAL_S = 2.0


class CustodyLink:
    """Opens and wipes the sessions, repairs the storage, tells the hub when out of service.

    Without custody (tests that store nothing) the kiosk is always in service.
    """

    def __init__(
        self,
        custody: SessionCustody | None,
        *,
        send: Callable[[AnyMessage], Coroutine[Any, Any, bool]],
        say: Callable[[str], None],
        repair_interval_s: float = REPAIR_INTERVAL_S,
        reporter: DeviceReporter | None = None,
    ) -> None:
        self._custody = custody
        self._send = send
        self._say = say
        self._reporter = reporter
        if custody is not None and reporter is not None:
            custody.on_wiped(reporter.wiped)
        self._repair_interval_s = repair_interval_s
        self._started = False  # startup() ran: out of service now means a failure
        self._told_hub: ServiceState = "ready"  # what the hub last heard
        self._repair_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[bool]] = set()

    @property
    def ready(self) -> bool:
        """Whether a session may start (storage clean); always without custody."""
        return self._custody is None or self._custody.ready

    @property
    def service_problem(self) -> str | None:
        """Why the kiosk cannot serve customers (a wipe failed), once storage was set up."""
        if self._custody is None or not self._started:
            return None
        return self._custody.out_of_service

    @property
    def vault(self) -> SessionVault:
        """The current session's vault (the only place session content may be written)."""
        if self._custody is None:
            raise RuntimeError("this kiosk was built without session custody")
        return self._custody.vault

    async def startup(self) -> None:
        """Wipe what a crash left behind, before the kiosk queues."""
        if self._custody is None:
            return
        await self._custody.startup()
        self._started = True
        self.report()

    def hub_welcomed(self) -> None:
        """A new hub session starts with the kiosk in service: correct that if needed."""
        self._told_hub = "ready"
        if self._started:
            self._tell_hub()
        if self._reporter is not None:
            self._reporter.connected()  # the kept self-test, a wipe the hub has not heard of

    def open_session(self, consultation_id: str) -> None:
        """A consultation began: its content goes into a fresh session."""
        if self._custody is not None and self._custody.ready:
            self._custody.open_session(consultation_id)

    def mark_ending(self, trigger: WipeTrigger) -> None:
        """Say why the session will end (the wipe report names it)."""
        if self._custody is not None:
            self._custody.mark_ending(trigger)

    async def wipe(self, trigger: WipeTrigger) -> None:
        """End the session: wipe its content and report how that went."""
        if self._custody is not None:
            await self._custody.end_session(trigger)
            self.report()

    def may_queue(self, on_repaired: Callable[[], Awaitable[None]]) -> bool:
        """Whether the kiosk may queue; if not, repair until it may, then ``on_repaired``."""
        if self._custody is None or self._custody.ready:
            return True
        if self._repair_task is None or self._repair_task.done():
            self._repair_task = asyncio.create_task(self._repair(self._custody, on_repaired))
        return False

    def report(self) -> None:
        """Say how the last wipe went (status line) and tell the hub a change of state."""
        if self._custody is None:
            return
        if self._custody.out_of_service is not None:
            self._say(f"OUT OF SERVICE: {self._custody.out_of_service}")
            if self._reporter is not None:
                self._reporter.wipe_failed()
        elif self._custody.reports:
            report = self._custody.reports[-1]
            self._say(f"session storage wiped ({report.trigger}, {report.files} files)")
        self._tell_hub()

    async def close(self) -> None:
        """The kiosk stops: stop repairing, close the custody (a last wipe)."""
        if self._repair_task is not None:
            self._repair_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._repair_task
        if self._custody is not None:
            with contextlib.suppress(Exception):
                await self._custody.close()
                self.report()
        if self._reporter is not None:
            await self._reporter.close()  # the hub is gone: a shutdown wipe is not reported

    async def _repair(
        self, custody: SessionCustody, on_repaired: Callable[[], Awaitable[None]]
    ) -> None:
        # Keep trying to get clean storage; queue again only once a wipe verified.
        while not custody.ready:
            await asyncio.sleep(self._repair_interval_s)
            await custody.repair()
        self.report()
        await on_repaired()

    def _tell_hub(self) -> None:
        """Report out of service (and the way back) to the hub: codes only, never the cause."""
        out = self._custody is not None and self._custody.out_of_service is not None
        state: ServiceState = "out_of_service" if out else "ready"
        if state == self._told_hub:
            return
        self._told_hub = state
        message = Status(state=state, reason="wipe_failed" if out else None)
        task = asyncio.get_running_loop().create_task(self._send(message))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
