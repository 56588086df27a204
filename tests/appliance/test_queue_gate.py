"""When the kiosk belongs in the hub's queue, and what the hub hears of its service state.

A real session custody: in production a plain directory is refused as the vault, so the
start-up wipe cannot verify and the kiosk is out of service (as on a device whose tmpfs is gone).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from appliance.config.vault import MIB, VaultSettings
from appliance.custody.session import SessionCustody
from appliance.runner.custody_link import CustodyLink
from appliance.runner.queue_gate import QueueGate
from appliance.runner.reporting import StatusLines
from appliance.session.consultation import Consultation, Phase
from protocol import messages


class Hub:
    """What the kiosk sent the hub, in order."""

    def __init__(self) -> None:
        self.sent: list[messages.AnyMessage] = []

    async def send(self, message: messages.AnyMessage) -> bool:
        self.sent.append(message)
        return True

    def kinds(self) -> list[str]:
        return [m.TYPE for m in self.sent]


def gate(
    custody: CustodyLink, hub: Hub, *, on_request: bool, phase: Phase = Phase.QUEUEING
) -> QueueGate:
    machine = Consultation()
    machine.state = replace(machine.state, phase=phase)
    return QueueGate(
        on_request=on_request,
        machine=machine,
        custody=custody,
        send=hub.send,
        lines=StatusLines(None),
    )


def failing_custody(tmp_path: Path) -> SessionCustody:
    settings = VaultSettings(path=tmp_path / "vault", size_bytes=16 * MIB)
    return SessionCustody(settings, production=True, privileged=False)


async def test_without_a_screen_the_kiosk_queues_whenever_the_machine_says() -> None:
    hub = Hub()
    queue = gate(CustodyLink(None, send=hub.send, say=print), hub, on_request=False)
    await queue.request()
    await queue.leave()
    assert hub.kinds() == ["queue_request", "queue_leave"]
    assert not await queue.customer(False)  # nobody at the screen: nothing changes


async def test_with_a_screen_the_customer_asks_first() -> None:
    hub = Hub()
    queue = gate(CustodyLink(None, send=hub.send, say=print), hub, on_request=True)
    await queue.request()
    await queue.leave()  # never queued: nothing to leave
    assert hub.sent == [] and queue.awaiting_customer
    assert await queue.customer(True)
    assert not await queue.customer(True)  # a double tap
    assert await queue.customer(False)
    assert hub.kinds() == ["queue_request", "queue_leave"]


async def test_a_customer_who_asks_before_the_hub_is_there_is_queued_on_welcome() -> None:
    hub = Hub()
    queue = gate(
        CustodyLink(None, send=hub.send, say=print), hub, on_request=True, phase=Phase.DISCONNECTED
    )
    assert not await queue.customer(True)  # not queueing yet: nothing goes out now...
    await queue.request()  # ...the machine's request after the welcome goes through
    assert hub.kinds() == ["queue_request"]
    queue.consultation_over()
    assert queue.awaiting_customer  # the next customer asks anew


@pytest.mark.timeout(20)
async def test_out_of_service_the_kiosk_stays_out_of_the_queue_and_the_hub_hears_a_code(
    tmp_path: Path,
) -> None:
    hub, lines = Hub(), list[str]()
    link = CustodyLink(
        failing_custody(tmp_path), send=hub.send, say=lines.append, repair_interval_s=0.01
    )
    await link.startup()
    await asyncio.sleep(0)  # the status message goes out in the background
    assert not link.ready and "tmpfs" in (link.service_problem or "")
    assert any(line.startswith("OUT OF SERVICE: ") for line in lines)
    assert hub.sent == [messages.Status(state="out_of_service", reason="wipe_failed")]
    link.report()  # nothing new for the hub
    link.hub_welcomed()  # a new hub session starts with the kiosk in service: say it again
    await asyncio.sleep(0)
    assert hub.kinds() == ["status", "status"] and "tmpfs" not in repr(hub.sent)
    queue = gate(link, hub, on_request=False)
    await queue.request()
    await asyncio.sleep(0.05)  # the repair keeps failing meanwhile
    assert "queue_request" not in hub.kinds()
    await link.close()  # stops repairing


async def test_without_custody_the_kiosk_is_always_in_service() -> None:
    hub = Hub()
    link = CustodyLink(None, send=hub.send, say=print)
    await link.startup()
    link.open_session("c1")
    link.mark_ending("hangup")
    await link.wipe("hangup")
    link.hub_welcomed()
    assert link.ready and link.service_problem is None and hub.sent == []
    with pytest.raises(RuntimeError, match="without session custody"):
        link.vault  # noqa: B018 - the property raises
    await link.close()
