"""The conversation reference: made and stored by the hub when a kiosk queues, then sent to it.

The customer sees it on the goodbye screen and quotes it to the data-protection officer
(issue 16); the hub sends it only once it is stored, and only to the kiosk that queued.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from protocol.messages import (
    REFERENCE_PATTERN,
    Accept,
    Accepted,
    ConsultationReference,
    Queue,
    QueueLeave,
    QueuePosition,
    QueueRequest,
)
from tests.support.hub import (
    RunningHub,
    connect_adviser,
    connect_kiosk,
    running_hub,
)

PASSWORD = "correct horse battery"


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with running_hub(tmp_path) as running:
        running.add_adviser("alice", PASSWORD)
        yield running


async def test_a_queued_kiosk_receives_the_reference_the_hub_stored(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    await kiosk.send(QueueRequest())
    position = await kiosk.expect(QueuePosition)
    sent = await kiosk.expect(ConsultationReference)
    assert sent.consultation_id == position.consultation_id
    assert re.fullmatch(REFERENCE_PATTERN, sent.reference)
    tenant = await hub.storage.tenant("default")
    stored = await hub.storage.governance.conversation(tenant.id, sent.reference)
    assert stored is not None and stored.device == "kiosk-1" and stored.ended_at is None
    # the adviser takes the consultation; the reference stays the kiosk's alone
    await adviser.expect(Queue)
    await adviser.send(Accept(consultation_id=position.consultation_id))
    await adviser.expect(Accepted)
    await kiosk.expect(Accepted)
    assert adviser.references == [] and kiosk.references == []


async def test_every_queueing_gets_a_reference_of_its_own(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    first = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    second = await connect_kiosk(http, hub, hub.add_device("kiosk-2"))
    seen = []
    for kiosk in (first, second, first):  # the first leaves the queue and joins again
        await kiosk.send(QueueRequest())
        seen.append(await kiosk.expect(ConsultationReference))
        if kiosk is first and len(seen) == 1:
            await kiosk.send(QueueLeave())
    assert len({s.reference for s in seen}) == 3
    assert len({s.consultation_id for s in seen}) == 3
    # the one it left is still on record (an abandoned wait): the officer can find it
    tenant = await hub.storage.tenant("default")
    left = await hub.storage.governance.conversation(tenant.id, seen[0].reference)
    assert left is not None and left.accepted_at is None


async def test_a_reference_that_could_not_be_stored_is_not_sent(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    # Two consultations drawing the same reference: the database refuses the second, and a
    # reference the officer could not find must not reach the customer.
    hub.switchboard.new_reference = lambda: "7K3QD-9XH2M"
    first = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    await first.send(QueueRequest())
    assert (await first.expect(ConsultationReference)).reference == "7K3QD-9XH2M"
    second = await connect_kiosk(http, hub, hub.add_device("kiosk-2"))
    await second.send(QueueRequest())
    position = await second.expect(QueuePosition)
    await second.expect_silence(0.5)
    assert second.references == []
    # the queue goes on without it
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    await adviser.send(Accept(consultation_id=position.consultation_id))
    await second.expect(Accepted)
