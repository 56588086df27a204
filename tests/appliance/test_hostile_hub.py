"""A hostile hub puts itself in the middle of a call: the codes differ and the ends refuse.

The man in the middle sits on the kiosk's signalling path (a WebSocket relay in front of the
real hub, as a compromised hub would). It answers the kiosk's offer with its own aiortc peer
and offers the adviser another one of its own, so each side's fingerprint is replaced by one of
the attacker's; it relays media and data-channel messages between its two legs.

- Naive: it passes the commitment and the reveals through. The kiosk finds that the adviser's
  revealed fingerprint is not the one in the answer it applied, the adviser that the kiosk's is
  not the one in the offer; both end the call.
- Forging: it also commits to its own fingerprint towards the kiosk and rewrites both reveals,
  so every automatic check passes, yet the four words differ (the attacker had to fix its
  fingerprints before it could know what the words depend on): the people comparing the words
  refuse.

The man in the middle is tests/support/mitm.py. Media flows over 127.0.0.1 only (fixture
``loopback_only_netns``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from appliance.call import sas
from appliance.config.kiosk import KioskConfig
from appliance.runner.kiosk import Kiosk
from protocol import messages
from tests.support.adviser import AdviserPeer
from tests.support.call import PASSWORD, answer, next_of, queued_entry, running_kiosk
from tests.support.hub import SignallingPeer, connect_adviser, http_session, running_hub
from tests.support.mitm import ManInTheMiddle, hostile_hub

pytestmark = [pytest.mark.usefixtures("loopback_only_netns"), pytest.mark.timeout(90)]


async def adviser_takes_the_call(peer: SignallingPeer) -> tuple[AdviserPeer, str]:
    """Accept, commit, answer (the offer the adviser gets is the attacker's)."""
    entry = await queued_entry(peer)
    cid = entry.consultation_id
    await peer.send(messages.Accept(consultation_id=cid))
    await next_of(peer, messages.Accepted)
    adviser = AdviserPeer()
    await peer.send(messages.SasCommit(consultation_id=cid, commitment=adviser.commitment))
    await answer(peer, adviser, await next_of(peer, messages.Offer))
    return adviser, cid


@asynccontextmanager
async def call_through(
    tmp_path: Path, mitm: ManInTheMiddle
) -> AsyncIterator[tuple[Kiosk, AdviserPeer, SignallingPeer]]:
    async with running_hub(tmp_path, heartbeat_s=2) as hub, hostile_hub(hub.ws_url, mitm) as url:
        token = hub.add_device("kiosk-1")
        hub.add_adviser("ann", PASSWORD)
        config = KioskConfig(
            token=token,
            hub_url=url,
            simulate=True,
            ice_host_addresses=("127.0.0.1",),
            reconnect_min_s=0.05,
            reconnect_max_s=0.3,
        )
        async with running_kiosk(config) as kiosk, http_session() as http:
            async with asyncio.timeout(10):
                await kiosk.wait_state("queueing")
            peer = await connect_adviser(http, hub, "ann", PASSWORD)
            adviser, _cid = await adviser_takes_the_call(peer)
            try:
                yield kiosk, adviser, peer
            finally:
                await adviser.close()
                await mitm.close()
                await peer.close()


def codes_each_side_would_derive(
    kiosk: Kiosk, adviser: AdviserPeer, mitm: ManInTheMiddle, kiosk_nonce: str
) -> tuple[str, str]:
    """The words from the fingerprints each end actually negotiated (with the nonce it had)."""
    assert mitm.kiosk_fingerprint is not None
    at_kiosk = sas.code(mitm.kiosk_fingerprint, mitm.fp_to_kiosk, kiosk_nonce)
    at_adviser = sas.code(mitm.fp_to_adviser, adviser.fingerprint, adviser.nonce)
    return at_kiosk, at_adviser


async def test_naive_man_in_the_middle_is_refused_by_both_ends(tmp_path: Path) -> None:
    mitm = ManInTheMiddle(forge=False)
    async with call_through(tmp_path, mitm) as (kiosk, adviser, peer):
        # The adviser's own check: the kiosk's revealed fingerprint is not the offer's.
        assert await adviser.wait_checked(20) is None
        assert adviser.verification_error == "fingerprint_mismatch"
        # The kiosk's: the adviser's reveal opens the commitment but is not the answer's.
        ended = await next_of(peer, messages.Ended)
        assert ended.reason == "failed"
        async with asyncio.timeout(10):
            await kiosk.wait_for(lambda: bool(kiosk.stats) and bool(kiosk.stats[0].end_reason))
        (done,) = [s for s in kiosk.stats if s.end_reason]
        assert done.end_reason == "failed"
        assert done.verification_failed == "fingerprint_mismatch"
        assert not done.verified and done.verification_code is None
        assert kiosk.last_call_unverified
        # Nothing of the customer's went out: the intake and greeting wait for verification.
        assert adviser.chat_in == [] and adviser.intake is None
        # And had anyone computed words from what they negotiated, they would differ.
        assert mitm.adviser_nonce == adviser.nonce
        at_kiosk, at_adviser = codes_each_side_would_derive(kiosk, adviser, mitm, adviser.nonce)
        assert at_kiosk != at_adviser


async def test_forging_man_in_the_middle_passes_the_checks_but_not_the_words(
    tmp_path: Path,
) -> None:
    mitm = ManInTheMiddle(forge=True)
    async with call_through(tmp_path, mitm) as (kiosk, adviser, _peer):
        verified = await adviser.wait_checked(20)
        assert verified is not None, adviser.verification_error
        async with asyncio.timeout(10):
            await kiosk.wait_for(lambda: kiosk.verification_code is not None)
        # Both ends are connected (to the attacker), media flows through it...
        await adviser.probe.wait_video(15)
        assert mitm.to_kiosk.connectionState == "connected"
        # ...and yet the customer and the adviser read different words.
        assert kiosk.verification_code != verified.code
        assert (kiosk.verification_code, verified.code) == codes_each_side_would_derive(
            kiosk, adviser, mitm, mitm.nonce
        )
