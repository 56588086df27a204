"""An enrolled kiosk (certificate, no device token) exchanges files in a real call.

The hub runs as in production (a hub secret, device tokens off); the kiosk enrolled with a
one-time code and holds no token, so the relay knows it only by the relay token of its
connection's welcome (docs/enrolment.md, "Reports and relay"). The adviser is aiortc
(tests/support/adviser.py); the customer is the simulated one, who says yes to a photo.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from appliance.config.kiosk import ExchangeSettings, KioskConfig
from appliance.config.vault import VaultSettings
from appliance.custody.session import SessionCustody
from appliance.exchange.transfer import sniff
from appliance.runner.kiosk import Kiosk
from appliance.runner.simulated_customer import SimulatedCustomer
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from protocol import channel
from protocol.sealed import MIN_CHUNK, Opener, new_key, seal_bytes
from tests.support.call import from_kiosk, take_verified_call
from tests.support.kiosk_enrol import enrolled_hub

pytestmark = [pytest.mark.usefixtures("loopback_only_netns"), pytest.mark.timeout(120)]
MIB = 1024 * 1024
PDF = b"%PDF-1.4\n" + os.urandom(20_000) + b"\n%%EOF\n"


async def test_an_enrolled_kiosk_receives_and_sends_files_through_the_relay(
    tmp_path: Path,
) -> None:
    async with enrolled_hub(tmp_path) as (hub, http, _hub_secret, store):
        config = KioskConfig(
            token=None,  # enrolled: no device token anywhere
            hub_url=hub.ws_url,
            simulate=True,
            ice_host_addresses=("127.0.0.1",),
            reconnect_min_s=0.05,
            reconnect_max_s=0.3,
            vault=VaultSettings(path=tmp_path / "vault", size_bytes=64 * MIB),
            exchange=ExchangeSettings(photo_countdown_s=0),
        )
        kiosk = Kiosk(
            config,
            SimulatedCamera(),
            SimulatedMicrophone(),
            custody=SessionCustody(config.vault, production=False),
            identity=store,
        )
        kiosk.add_observer(SimulatedCustomer(kiosk))
        task = asyncio.create_task(kiosk.run())
        try:
            console, adviser, cid, _secret = await take_verified_call(http, hub, kiosk)
            async with asyncio.timeout(15):
                await kiosk.wait_for(lambda: kiosk.exchange is not None)
            async with http.get(f"{hub.url}/api/session") as response:
                csrf = (await response.json())["csrf"]

            # adviser -> kiosk: a document the kiosk downloads with its relay token
            key = new_key()
            async with http.post(
                f"{hub.url}/api/relay/{cid}",
                data=seal_bytes(key, "push-abcdefgh", PDF, MIN_CHUNK),
                headers={"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"},
            ) as response:
                assert response.status == 201, await response.text()
                blob = (await response.json())["blob"]
            digest = hashlib.sha256(PDF).hexdigest()
            adviser.send(
                channel.FileOffer(
                    id="push-abcdefgh",
                    name="Vertrag.pdf",
                    size=len(PDF),
                    mime="application/pdf",
                    sha256=digest,
                    purpose="document",
                    blob=blob,
                    key=key.hex(),
                )
            )
            done = await from_kiosk(adviser, channel.FileDone, within=30)
            assert (done.id, done.sha256) == ("push-abcdefgh", digest)

            # kiosk -> adviser: a photo the kiosk uploads with its relay token
            adviser.send(channel.PhotoRequest(id="photo-abcdefgh"))
            offer = await from_kiosk(adviser, channel.FileOffer, within=30)
            assert (offer.purpose, offer.request_id) == ("photo", "photo-abcdefgh")
            async with http.get(
                f"{hub.url}/api/relay/{cid}/{offer.blob}", headers={"X-CSRF-Token": csrf}
            ) as response:
                assert response.status == 200
                sealed = await response.read()
            opener = Opener(
                bytes.fromhex(offer.key), offer.id, size=offer.size, sha256=offer.sha256
            )
            photo = b"".join(opener.feed(sealed))
            opener.finish()
            assert sniff(photo) == "image/jpeg"
            await adviser.close()
            await console.close()
        finally:
            kiosk.request_stop()
            async with asyncio.timeout(15):
                await task
