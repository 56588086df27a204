"""The real Kiosk through the real hub, with an aiortc adviser peer: media, chat, end, restart.

Media flows over 127.0.0.1 only: the test needs a loopback-only network namespace (fixture
``loopback_only_netns``; `make test` provides it).
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from appliance.config.kiosk import KioskConfig
from appliance.runner.simulated_customer import AUTO_REPLY, GREETING
from protocol import messages
from testbed.stack import free_port
from tests.support.call import PASSWORD, queued_entry, running_kiosk, take_call
from tests.support.hub import connect_adviser, http_session, running_hub

pytestmark = pytest.mark.usefixtures("loopback_only_netns")


async def test_kiosk_call_through_the_hub(tmp_path: Path) -> None:
    port = free_port()
    stats_file = tmp_path / "calls.jsonl"
    async with AsyncExitStack() as first_hub:
        hub = await first_hub.enter_async_context(running_hub(tmp_path, port=port, heartbeat_s=2))
        token = hub.add_device("kiosk-1")
        hub.add_adviser("ann", PASSWORD)
        config = KioskConfig(
            token=token,
            hub_url=hub.ws_url,
            simulate=True,
            ice_host_addresses=("127.0.0.1",),
            reconnect_min_s=0.05,
            reconnect_max_s=0.3,
            stats_file=stats_file,
        )
        async with running_kiosk(config) as kiosk, http_session() as http:
            async with asyncio.timeout(10):
                await kiosk.wait_state("queueing")
            peer, adviser, cid = await take_call(http, hub)
            try:
                async with asyncio.timeout(15):
                    await kiosk.wait_state("in_call")
                    call = kiosk.call
                    assert call is not None
                    await call.probe.wait_video(15)
                    await call.probe.wait_audio(25)
                    await adviser.probe.wait_video(15)
                    await adviser.probe.wait_audio(25)
                    # Both ends checked the other's reveal and show the same four words.
                    verified = await adviser.wait_checked(10)
                    assert verified is not None, adviser.verification_error
                    await kiosk.wait_for(lambda: kiosk.verification_code is not None)
                    assert kiosk.verification_code == verified.code
                    assert len(verified.code.split()) == 4
                    # The simulated customer greets as soon as the adviser is verified.
                    await adviser.wait_chat(1)
                    assert adviser.chat_in[0].text == GREETING
                    await adviser.send_chat("How can I help?")
                    await adviser.wait_chat(2)
                    assert adviser.chat_in[1].text == AUTO_REPLY
                    kiosk.send_chat("one more thing")
                    await adviser.wait_chat(3)
                    assert adviser.chat_in[2].text == "one more thing"
                    while not adviser.bars_seen:
                        await adviser.probe.wait_video(adviser.probe.video_frames + 1)
                # The adviser reads the kiosk's capture clock out of decoded frames.
                assert len(adviser.latencies_ms) >= 10
                assert adviser.captures_are_from_this_call()
                assert adviser.probe.non_black_seen
                assert adviser.probe.peak_audio_rms > 0.05
                assert call.probe.peak_audio_rms > 0.05
                live = kiosk.stats[-1]
                assert live.consultation_id == cid
                assert live.non_black_seen and live.video_frames_received >= 15
                assert live.chat_in == 1 and live.chat_out == 3

                # The adviser hangs up: the kiosk queues again with a fresh call.
                await peer.send(messages.End(consultation_id=cid, reason="hangup"))
                entry = await queued_entry(peer)
                assert entry.device == "kiosk-1" and entry.consultation_id != cid
                async with asyncio.timeout(5):
                    await kiosk.wait_state("queueing")
                assert kiosk.call is not None and kiosk.call is not call
            finally:
                await adviser.close()
                await peer.close()
            (done,) = kiosk.stats
            assert done.end_reason == "hangup"
            assert done.verified and done.verification_code == verified.code
            assert done.accepted_to_connected_ms is not None
            assert done.first_remote_video_ms is not None
            assert done.accepted_at_ms is not None and done.first_remote_video_at_ms is not None
            # First remote picture after the accept, and not in the future.
            assert done.accepted_at_ms < done.first_remote_video_at_ms <= time.time() * 1000
            assert done.remote_audio_rms > 0.05
            text = stats_file.read_text(encoding="utf-8")
            line = json.loads(text)
            assert line["consultation_id"] == cid and line["chat_out"] == 3
            assert "one more thing" not in text and "How can I help" not in text

            # The hub restarts: the kiosk notices, reconnects and queues again.
            await first_hub.aclose()
            async with asyncio.timeout(10):
                await kiosk.wait_state("disconnected")
            async with running_hub(tmp_path, port=port, heartbeat_s=2) as hub:
                async with asyncio.timeout(10):
                    await kiosk.wait_state("queueing")
                peer = await connect_adviser(http, hub, "ann", PASSWORD)
                entry = await queued_entry(peer)
                assert entry.device == "kiosk-1"
                await peer.close()
                kiosk.request_stop()
                async with asyncio.timeout(10):
                    await kiosk.wait_state("stopped")
