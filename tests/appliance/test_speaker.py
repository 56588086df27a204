"""The customer hears the adviser: remote audio reaches the kiosk's speaker during a call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.config.kiosk import KioskConfig
from appliance.runner.kiosk import Kiosk
from drivers.camera.simulated import SimulatedCamera
from drivers.errors import DeviceGone
from drivers.microphone.simulated import SimulatedMicrophone
from drivers.speaker.simulated import SimulatedSpeaker
from protocol import messages
from tests.support.call import PASSWORD, take_call
from tests.support.hub import http_session, running_hub

pytestmark = pytest.mark.usefixtures("loopback_only_netns")


class VanishingSpeaker(SimulatedSpeaker):
    """Plays a few frames, then is unplugged."""

    async def play(self, frame: object) -> None:
        if self.frames >= 10:
            raise DeviceGone("USB speaker unplugged", device="speaker")
        await super().play(frame)  # type: ignore[arg-type]


@pytest.mark.parametrize("speaker_cls", [SimulatedSpeaker, VanishingSpeaker])
async def test_adviser_audio_reaches_the_speaker(
    tmp_path: Path, speaker_cls: type[SimulatedSpeaker]
) -> None:
    speaker = speaker_cls()
    async with running_hub(tmp_path) as hub, http_session() as http:
        config = KioskConfig(
            token=hub.add_device("kiosk-1"),
            hub_url=hub.ws_url,
            simulate=True,
            ice_host_addresses=("127.0.0.1",),
        )
        hub.add_adviser("ann", PASSWORD)
        kiosk = Kiosk(config, SimulatedCamera(), SimulatedMicrophone(), speaker=speaker)
        task = asyncio.create_task(kiosk.run())
        try:
            async with asyncio.timeout(10):
                await kiosk.wait_state("queueing")
            peer, adviser, cid = await take_call(http, hub)
            try:
                async with asyncio.timeout(15):
                    await kiosk.wait_state("in_call")
                    call = kiosk.call
                    assert call is not None
                    await call.probe.wait_audio(40)  # a speaker that vanished stops nothing

                assert speaker.peak_level > 0.05  # the adviser's 660 Hz tone
                assert kiosk.phase.value == "in_call"
                await peer.send(messages.End(consultation_id=cid, reason="hangup"))
                async with asyncio.timeout(10):
                    await kiosk.wait_state("queueing")
            finally:
                await adviser.close()
                await peer.close()
        finally:
            kiosk.request_stop()
            async with asyncio.timeout(10):
                await task
    if speaker_cls is SimulatedSpeaker:
        assert speaker.frames > 25
    else:
        assert speaker.frames == 10
