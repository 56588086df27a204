"""A relay-only call through a real coturn on loopback, with credentials minted by the hub."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.call.connection import rtc_configuration
from appliance.config.kiosk import KioskConfig
from protocol import messages
from tests.support.adviser import AdviserPeer
from tests.support.call import PASSWORD, next_of, queued_entry, running_kiosk, send_answer
from tests.support.coturn import running_coturn
from tests.support.hub import connect_adviser, http_session, running_hub

pytestmark = pytest.mark.usefixtures("loopback_only_netns")


def candidate_types(sdp: str) -> set[str]:
    return {line.split(" typ ")[1].split()[0] for line in sdp.splitlines() if " typ " in line}


async def test_relay_only_call_through_coturn(tmp_path: Path) -> None:
    with running_coturn(tmp_path / "turn") as turn:
        async with running_hub(tmp_path, turn=turn.settings(relay_only=True)) as hub:
            token = hub.add_device("kiosk-1")
            hub.add_adviser("ann", PASSWORD)
            hub.set_turn(True)  # a third party: off until the tenant switches it on
            # No host addresses configured: with the relay policy none are needed or offered.
            config = KioskConfig(token=token, hub_url=hub.ws_url, simulate=True)
            async with running_kiosk(config) as kiosk, http_session() as http:
                async with asyncio.timeout(15):
                    await kiosk.wait_state("queueing")
                peer = await connect_adviser(http, hub, "ann", PASSWORD)
                welcome = peer.welcome
                assert welcome is not None and welcome.ice_transport_policy == "relay"
                (server,) = welcome.ice_servers
                assert server.urls == (turn.url,) and server.username and server.credential
                entry = await queued_entry(peer)
                cid = entry.consultation_id
                await peer.send(messages.Accept(consultation_id=cid))
                await next_of(peer, messages.Accepted)
                adviser = AdviserPeer(configuration=rtc_configuration(welcome.ice_servers, "relay"))
                try:
                    commit = messages.SasCommit(consultation_id=cid, commitment=adviser.commitment)
                    await peer.send(commit)
                    offer = await next_of(peer, messages.Offer)
                    # The kiosk's offer carries relayed candidates only: its addresses stay private.
                    assert candidate_types(offer.sdp) == {"relay"}
                    answer_sdp = await adviser.answer(offer.sdp)
                    assert candidate_types(answer_sdp) == {"relay"}
                    await send_answer(peer, cid, answer_sdp)
                    async with asyncio.timeout(20):
                        await kiosk.wait_state("in_call")
                        call = kiosk.call
                        assert call is not None
                        await call.probe.wait_video(10)
                        await adviser.probe.wait_video(10)
                        await adviser.probe.wait_audio(10)
                    assert adviser.probe.non_black_seen
                    await peer.send(messages.End(consultation_id=cid, reason="hangup"))
                    async with asyncio.timeout(10):
                        await kiosk.wait_state("queueing")
                finally:
                    await adviser.close()
                    await peer.close()
        log = turn.log.read_text(errors="replace")
        # coturn accepted the credentials the hub minted for each side, and relayed.
        allocated = {
            line.split("user <")[1].split(">")[0]
            for line in log.splitlines()
            if "ALLOCATE processed, success" in line
        }
        assert server.username in allocated
        assert len(allocated) == 2, allocated  # kiosk and adviser, each with its own credential
        assert "CHANNEL_BIND processed, success" in log
        # Usernames are random tags: coturn's log names neither the device nor the adviser.
        assert "kiosk-1" not in log and "<ann>" not in log
