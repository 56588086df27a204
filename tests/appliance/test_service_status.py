"""An out-of-service kiosk tells the hub, which then keeps it out of every adviser's queue."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from appliance.config.kiosk import KioskConfig
from appliance.config.vault import VaultSettings
from appliance.custody.session import SessionCustody
from appliance.runner.kiosk import Kiosk
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from tests.support.hub import running_hub

MIB = 1024 * 1024


def out_of_service_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the hub logged when a kiosk told it it is out of service (with the code it kept)."""
    lines = [r.getMessage() for r in caplog.records if r.name == "hub.signalling"]
    return [line for line in lines if line.startswith("kiosk out of service")]


async def test_failed_startup_wipe_is_reported_to_the_hub(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hub.signalling")
    async with running_hub(tmp_path) as hub:
        config = KioskConfig(token=hub.add_device("kiosk-1"), hub_url=hub.ws_url, simulate=True)
        # Production refuses a plain directory as the vault: the start-up wipe cannot verify.
        settings = VaultSettings(path=tmp_path / "vault", size_bytes=16 * MIB)
        custody = SessionCustody(settings, production=True, privileged=False)
        kiosk = Kiosk(config, SimulatedCamera(), SimulatedMicrophone(), custody=custody)
        task = asyncio.create_task(kiosk.run())
        try:
            async with asyncio.timeout(10):
                while not out_of_service_lines(caplog):  # noqa: ASYNC110 - polls the hub's log
                    await asyncio.sleep(0.05)
            (told,) = out_of_service_lines(caplog)
            assert told.endswith("): wipe_failed")  # a code, never the cause's text
            assert "tmpfs" not in told
            assert hub.switchboard.stats()["waiting"] == 0
        finally:
            kiosk.request_stop()
            async with asyncio.timeout(10):
                await task
