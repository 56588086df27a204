"""The conversation reference at the kiosk: kept for the session's consultation, shown on goodbye.

The machine keeps the reference of the consultation it queued or is bound to (never a late one
of another), the journey keeps it until the goodbye is over, and a real hub's reference reaches
the goodbye screen of a real kiosk.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from appliance.config.kiosk import KioskConfig
from appliance.config.vault import MIB, VaultSettings
from appliance.custody.session import SessionCustody
from appliance.session import consultation as c
from appliance.session import journey as j
from kiosk_ui import viewmodels as v
from kiosk_ui.viewmodels import Screen
from tests.support.call import bridged_kiosk, kiosk_running
from tests.support.hub import running_hub, until

VALUES = (("name", "Jürgen Weiß"), ("topic", "Konto"))
REF, OTHER = "7K3QD-9XH2M", "0000A-1111B"


def queueing() -> c.Consultation:
    machine = c.Consultation()
    machine.handle(c.Welcomed())
    assert machine.phase is c.Phase.QUEUEING
    return machine


def test_the_machine_keeps_the_reference_of_its_own_consultation() -> None:
    machine = queueing()
    machine.handle(c.ReferenceReceived("cid-00001", REF))
    assert machine.state.reference == REF
    machine.handle(c.Accepted("cid-00001", "Anna"))
    assert machine.phase is c.Phase.OFFERING and machine.state.reference == REF
    # a late reference of another consultation never replaces it
    machine.handle(c.ReferenceReceived("cid-00002", OTHER))
    assert machine.state.reference == REF
    machine.handle(c.HangUp())
    assert machine.state.reference is None  # gone with the consultation


def test_a_reference_of_a_consultation_left_earlier_does_not_follow_into_a_call() -> None:
    machine = queueing()
    machine.handle(c.ReferenceReceived("cid-00001", REF))  # the customer then left the queue
    machine.handle(c.Accepted("cid-00002", "Anna"))  # the next one, its reference not here yet
    assert machine.state.reference is None
    machine.handle(c.ReferenceReceived("cid-00002", OTHER))  # it comes late: still its own
    assert machine.state.reference == OTHER


def test_the_reference_is_not_in_the_machine_state_repr() -> None:
    machine = queueing()
    machine.handle(c.ReferenceReceived("cid-00001", REF))
    assert REF not in repr(machine.state)
    assert REF not in repr(c.ReferenceReceived("cid-00001", REF))
    assert REF not in repr(j.ReferenceReceived(REF))


def waiting_journey() -> j.Journey:
    journey = j.Journey(hub_up=True)
    for intent in (v.Start(), v.ChooseLanguage("en"), v.AcceptConsent(), v.SubmitIntake(VALUES)):
        journey.handle(intent, 0.0)
    assert journey.screen is Screen.WAITING
    return journey


def test_goodbye_shows_the_reference_until_the_next_customer() -> None:
    journey = waiting_journey()
    journey.handle(j.ReferenceReceived(REF), 1.0)
    assert journey.view(1.0).reference is None  # only goodbye shows it
    journey.handle(j.AdviserAccepted(), 2.0)
    journey.handle(j.CallEnded(), 3.0)
    assert journey.screen is Screen.GOODBYE and journey.view(3.0).reference == REF
    journey.handle(j.WipeFinished(v.WipeView(True, 0, 0, "nothing stored")), 4.0)
    assert journey.view(4.0).reference == REF
    journey.handle(v.Done(), 5.0)
    after = journey.state
    assert after.screen is Screen.ATTRACT and after.reference is None


def test_an_abandoned_wait_shows_its_reference_too() -> None:
    journey = waiting_journey()
    journey.handle(j.ReferenceReceived(REF), 1.0)
    assert j.LeaveQueue() in journey.handle(v.Abort(), 2.0)
    assert journey.screen is Screen.GOODBYE and journey.view(2.0).reference == REF


def test_a_reference_outside_a_session_is_dropped() -> None:
    journey = j.Journey(hub_up=True)
    journey.handle(j.ReferenceReceived(REF), 0.0)  # on attract: no customer to give it to
    assert journey.state.reference is None
    journey = waiting_journey()
    journey.handle(j.ReferenceReceived(REF), 1.0)
    journey.handle(v.Abort(), 2.0)
    journey.handle(j.ReferenceReceived(OTHER), 3.0)  # goodbye keeps the session's own
    assert journey.view(3.0).reference == REF


async def test_a_real_hubs_reference_reaches_the_goodbye_screen(tmp_path: Path) -> None:
    # ... and an abandoned wait (no adviser took it) is wiped like any session: the hub's wipe
    # audit finds that consultation verified, though it alarms only on accepted ones
    async with running_hub(tmp_path) as hub:
        config = KioskConfig(token=hub.add_device("kiosk-1"), hub_url=hub.ws_url, simulate=True)
        vault = VaultSettings(path=tmp_path / "vault", size_bytes=16 * MIB)
        custody = SessionCustody(vault, production=False, privileged=False)
        kiosk, bridge = bridged_kiosk(config, custody, j.Journey(hub_up=False))
        async with kiosk_running(kiosk):
            async with asyncio.timeout(15):
                await kiosk.wait_state("queueing")
                for intent in (
                    v.Start(),
                    v.ChooseLanguage("de"),
                    v.AcceptConsent(),
                    v.SubmitIntake(VALUES),
                ):
                    bridge.handle(intent)
                await kiosk.wait_for(lambda: bridge.journey.state.reference is not None)
            bridge.handle(v.Abort())  # the customer stops waiting
            view = bridge.current_view()
            assert view.screen is Screen.GOODBYE and view.reference is not None
            reference = view.reference
            tenant = await hub.storage.tenant("default")

            async def wiped() -> bool:
                shown = bridge.current_view().wipe
                found = await hub.storage.governance.conversation(tenant.id, reference)
                return shown is not None and found is not None and found.wipe == "verified"

            await until(wiped, "the abandoned wait's wipe, verified at the hub")
            stored = await hub.storage.governance.conversation(tenant.id, reference)
            assert stored is not None and stored.device == "kiosk-1"
            assert stored.accepted_at is None and stored.ended_at is not None
            assert bridge.current_view().reference == reference  # still on goodbye
