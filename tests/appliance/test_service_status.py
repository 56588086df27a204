"""An out-of-service kiosk tells the hub, which then keeps it out of every adviser's queue."""

from __future__ import annotations

import asyncio
from pathlib import Path

from appliance.config.kiosk import KioskConfig
from appliance.config.vault import VaultSettings
from appliance.custody.session import SessionCustody
from appliance.runner.kiosk import Kiosk
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from tests.support.hub import running_hub

MIB = 1024 * 1024


async def test_failed_startup_wipe_is_reported_to_the_hub(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        config = KioskConfig(token=hub.add_device("kiosk-1"), hub_url=hub.ws_url, simulate=True)
        # Production refuses a plain directory as the vault: the start-up wipe cannot verify.
        settings = VaultSettings(path=tmp_path / "vault", size_bytes=16 * MIB)
        custody = SessionCustody(settings, production=True, privileged=False)
        kiosk = Kiosk(config, SimulatedCamera(), SimulatedMicrophone(), custody=custody)
        task = asyncio.create_task(kiosk.run())
        try:
            async with asyncio.timeout(10):
                while True:
                    peers = list(hub.switchboard._kiosks.values())  # noqa: SLF001
                    if peers and peers[0].out_of_service is not None:
                        break
                    await asyncio.sleep(0.05)  # noqa: ASYNC110 - polling another task's state
            assert peers[0].out_of_service == "wipe_failed"  # a code, never the cause's text
            assert hub.switchboard.stats()["waiting"] == 0
        finally:
            kiosk.request_stop()
            async with asyncio.timeout(10):
                await task
