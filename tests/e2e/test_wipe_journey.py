"""Canary journeys: whole sessions through the real hub, ended every way a session can end.

A unique canary goes into every kind of artifact through the kiosk's vault; after the session
it must be nowhere: not in the vault's tmpfs, not in any log line or status line, not in the
hub's database. Needs root for the tmpfs (CI=true fails without it, elsewhere it skips).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path

import pytest

from appliance.config.kiosk import KioskConfig
from appliance.config.vault import MIB, VaultSettings
from appliance.custody.session import SessionCustody
from appliance.custody.vault import ArtifactKind
from appliance.runner.kiosk import Kiosk
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from protocol import messages
from tests.support.hub import SignallingPeer, connect_adviser, http_session, running_hub
from tests.support.mounts import tmpfs

PASSWORD = "correct horse battery staple"


async def next_of(peer: SignallingPeer, kind: type[messages.AnyMessage]) -> messages.AnyMessage:
    async with asyncio.timeout(10):
        while True:
            message = await peer.receive()
            if isinstance(message, kind):
                return message


async def accept_next(peer: SignallingPeer) -> str:
    async with asyncio.timeout(10):
        while True:
            message = await peer.receive()
            if isinstance(message, messages.Queue) and message.entries:
                cid = message.entries[0].consultation_id
                await peer.send(messages.Accept(consultation_id=cid))
                # Any commitment lets the kiosk offer (the call never gets to the reveal).
                await peer.send(messages.SasCommit(consultation_id=cid, commitment="00" * 32))
                await next_of(peer, messages.Offer)
                return cid


def plant_canaries(kiosk: Kiosk, canary: str) -> None:
    """Every kind of session content, named and filled with the canary, through the vault."""
    vault = kiosk.vault
    for kind in ArtifactKind:
        body = f"{kind}: {canary} ".encode() * 2000
        vault.store(kind, f"{canary}-{kind}.bin", body)
    with vault.create(ArtifactKind.FILE_RECEIVED, f"{canary}.pdf") as writer:
        for _ in range(40):  # a larger, streamed file
            writer.write((canary.encode() + b"|") * 4096)


def hub_database_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.glob("hub.sqlite3*"))


def everything_in(root: Path) -> bytes:
    parts = [str(p).encode() for p in root.rglob("*")]
    parts += [p.read_bytes() for p in root.rglob("*") if p.is_file()]
    return b"".join(parts)


async def end_by_adviser(kiosk: Kiosk, peer: SignallingPeer, cid: str) -> None:
    await peer.send(messages.End(consultation_id=cid, reason="hangup"))


async def end_by_call_failure(kiosk: Kiosk, peer: SignallingPeer, cid: str) -> None:
    await peer.send(messages.Answer(consultation_id=cid, sdp="not an sdp"))


async def end_by_customer_hangup(kiosk: Kiosk, peer: SignallingPeer, cid: str) -> None:
    kiosk.hang_up()


async def end_by_customer_abort(kiosk: Kiosk, peer: SignallingPeer, cid: str) -> None:
    kiosk.end_session("customer_abort")


async def end_by_inactivity(kiosk: Kiosk, peer: SignallingPeer, cid: str) -> None:
    kiosk.end_session("inactivity")


async def end_by_sigterm(kiosk: Kiosk, peer: SignallingPeer, cid: str) -> None:
    kiosk.request_stop()  # what the SIGTERM handler calls


ENDINGS = {
    "ended": end_by_adviser,
    "failed": end_by_call_failure,
    "hangup": end_by_customer_hangup,
    "customer_abort": end_by_customer_abort,
    "inactivity": end_by_inactivity,
    "shutdown": end_by_sigterm,
}


@pytest.mark.parametrize("trigger", list(ENDINGS))
async def test_canary_is_gone_after_the_session_ends(
    trigger: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = "CANARY-" + secrets.token_hex(8)
    statuses: list[str] = []
    with tmpfs(tmp_path / "session", "64m") as where:
        async with running_hub(tmp_path) as hub, http_session() as http:
            token = hub.add_device("kiosk-1")
            hub.add_adviser("ann", PASSWORD)
            config = KioskConfig(
                token=token, hub_url=hub.ws_url, reconnect_min_s=0.05, reconnect_max_s=0.2
            )
            settings = VaultSettings(
                path=where, size_bytes=64 * MIB, max_file_bytes=8 * MIB, max_session_bytes=32 * MIB
            )
            custody = SessionCustody(settings, production=False)
            kiosk = Kiosk(
                config,
                SimulatedCamera(),
                SimulatedMicrophone(),
                custody=custody,
                on_status=statuses.append,
            )
            task = asyncio.create_task(kiosk.run())
            try:
                async with asyncio.timeout(10):
                    await kiosk.wait_state("queueing")
                assert [r.trigger for r in custody.reports] == ["startup"]
                peer = await connect_adviser(http, hub, "ann", PASSWORD)
                cid = await accept_next(peer)
                async with asyncio.timeout(5):
                    await kiosk.wait_state("offering")
                plant_canaries(kiosk, canary)
                during = everything_in(where)
                assert len(during) > 8 * 40 * 4096 and canary.encode() not in during
                await ENDINGS[trigger](kiosk, peer, cid)
                async with asyncio.timeout(10):
                    await kiosk.wait_for(lambda: len(custody.reports) >= 2)
                    if trigger == "shutdown":
                        await task
                    else:
                        await kiosk.wait_state("queueing")
                report = custody.reports[1]
                assert report.trigger == trigger and report.verified and report.remounted
                assert report.files == len(ArtifactKind) + 1 and report.session_ref
                assert os.listdir(where) == [] and canary.encode() not in everything_in(where)
                if trigger != "shutdown":
                    # Wiped before queueing again: the next customer finds an empty kiosk.
                    await next_of(peer, messages.Queue)
                await peer.close()
            finally:
                kiosk.request_stop()
                async with asyncio.timeout(10):
                    await task
            db = await asyncio.to_thread(hub_database_bytes, tmp_path)
    assert canary.encode() not in db
    assert canary not in caplog.text
    assert not any(canary in str(r.args) for r in caplog.records)
    assert not any(canary in line for line in statuses)
    assert any("session storage wiped" in line for line in statuses)
