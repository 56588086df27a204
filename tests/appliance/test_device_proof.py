"""The kiosk signs its side of each call with its device key (docs/verification.md).

The current call (appliance.runner.current_call, as the kiosk runner makes it) against an
aiortc adviser peer in the same process: an enrolled kiosk sends ``device_proof`` right after
its ``sas_reveal`` (after its ``resume_proof`` on a resumed call), signed over exactly the bytes
docs/verification.md defines, which Debian's ``openssl dgst`` verifies on its own; a kiosk
without an identity sends none; a broken identity directory signs nothing.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import RTCDataChannel
from cryptography.hazmat.primitives.serialization import Encoding

from appliance.call.connection import ExchangeMessage
from appliance.call.device_proof import IdentitySigner, SignerSource, store_signer
from appliance.call.verification import Resumption
from appliance.runner.current_call import CurrentCall
from appliance.runner.local_media import LocalMedia
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from protocol import channel
from provisioning import challenge, profile
from provisioning.identity import IdentityStore
from tests.support.adviser import AdviserPeer, AdviserResume
from tests.support.device_certs import NOW, device, openssl, tenant_ca
from tests.support.requirements import require_tool

pytestmark = [pytest.mark.usefixtures("loopback_only_netns"), pytest.mark.timeout(60)]

CID = "consult-0001"


class Listener:
    """The CallListener of the test: only whether the adviser was verified matters here."""

    def __init__(self) -> None:
        self.adviser_verified = asyncio.Event()

    def state_changed(self, generation: int, state: str) -> None: ...
    def channel_opened(self, generation: int) -> None: ...

    def verified(self, generation: int, code: str) -> None:
        self.adviser_verified.set()

    def unverified(self, generation: int, why: str) -> None: ...
    def dead_path(self, generation: int, cause: str, silence_ms: float) -> None: ...
    def bye(self, generation: int) -> None: ...
    def chat_received(self, generation: int, message: channel.Chat) -> None: ...
    def exchange_message(self, generation: int, message: ExchangeMessage) -> None: ...


class Frames:
    """Every data-channel message the adviser receives, in order (beats left out)."""

    def __init__(self, adviser: AdviserPeer) -> None:
        self.messages: list[channel.ChannelMessage] = []
        self.arrived = asyncio.Event()
        adviser.pc.on("datachannel", self._channel)

    def _channel(self, dc: RTCDataChannel) -> None:
        dc.on("message", self._message)

    def _message(self, data: str | bytes) -> None:
        message = channel.decode(data)
        if not isinstance(message, channel.Beat):
            self.messages.append(message)
            self.arrived.set()

    async def wait_for(self, kind: type[Any], within: float = 10) -> Any:
        async with asyncio.timeout(within):
            while True:
                for message in self.messages:
                    if isinstance(message, kind):
                        return message
                self.arrived.clear()
                await self.arrived.wait()

    def types(self) -> list[str]:
        return [m.TYPE for m in self.messages]


def ignore_frame(_frame: av.VideoFrame) -> None:
    pass


@asynccontextmanager
async def current_call(
    signer: SignerSource, adviser: AdviserPeer, resumption: Resumption | None = None
) -> AsyncIterator[tuple[CurrentCall, Listener]]:
    """The kiosk's current call, made as the runner makes it, connected to ``adviser``."""
    media = LocalMedia(SimulatedCamera(), SimulatedMicrophone())
    await media.start(lambda _line: None)
    current = CurrentCall(
        media, on_remote_video=ignore_frame, on_screen_frame=ignore_frame, device_signer=signer
    )
    listener = Listener()
    try:
        assert await current.prepare(listener, resumption)
        call = current.call
        assert call is not None
        if resumption is None:
            assert current.hold_commitment(adviser.commitment, CID)
        await call.accept_answer(await adviser.answer(call.offer_sdp))
        yield current, listener
    finally:
        await current.close()
        await adviser.close()
        await media.stop()


async def test_an_enrolled_kiosk_signs_its_call_right_after_its_reveal(tmp_path: Path) -> None:
    require_tool("openssl", "openssl")
    ca = tenant_ca()
    dev = device(ca)
    adviser = AdviserPeer()
    frames = Frames(adviser)
    async with current_call(lambda: IdentitySigner(dev.identity(ca)), adviser) as (current, _):
        proof = await frames.wait_for(channel.DeviceProof)
        assert current.call is not None
        fingerprint = current.call.fingerprint
    # Right after the reveal, before anything else of the kiosk's.
    assert frames.types()[:2] == ["sas_reveal", "device_proof"]
    assert proof.fingerprint == fingerprint
    assert proof.commitment == adviser.commitment
    assert base64.b64decode(proof.certificate) == dev.der
    # openssl checks the signature over the bytes the docs define, spelled out here.
    payload = b"\0".join(
        [b"branch-kiosk call v1", CID.encode(), fingerprint.encode(), adviser.commitment.encode()]
    )
    assert payload == challenge.call_payload(CID, fingerprint, adviser.commitment)
    (tmp_path / "dev.pem").write_bytes(dev.certificate.public_bytes(Encoding.PEM))
    (tmp_path / "ca.pem").write_bytes(ca.certificate.public_bytes(Encoding.PEM))
    assert "dev.pem: OK" in openssl("verify", "-CAfile", "ca.pem", "dev.pem", cwd=tmp_path)
    public = openssl("x509", "-in", "dev.pem", "-pubkey", "-noout", cwd=tmp_path)
    (tmp_path / "pub.pem").write_text(public)
    (tmp_path / "sig").write_bytes(base64.b64decode(proof.signature))
    (tmp_path / "payload").write_bytes(payload)
    verify = ("dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "payload")
    assert "Verified OK" in openssl(*verify, cwd=tmp_path)
    # ...and refuses the same signature over another commitment (the check discriminates).
    (tmp_path / "payload").write_bytes(payload[:-1] + bytes([payload[-1] ^ 0x01]))
    with pytest.raises(AssertionError, match="Verification failure"):
        openssl(*verify, cwd=tmp_path)


async def test_a_kiosk_without_identity_sends_no_proof() -> None:
    adviser = AdviserPeer()
    frames = Frames(adviser)
    async with current_call(lambda: None, adviser) as (current, listener):
        async with asyncio.timeout(10):
            await listener.adviser_verified.wait()
        assert current.call is not None
        current.call.send_chat("hello")  # anything later than a proof would have been
        await frames.wait_for(channel.Chat)
    assert "device_proof" not in frames.types()
    assert frames.types()[0] == "sas_reveal"


async def test_a_resumed_call_signs_its_resume_proof() -> None:
    ca = tenant_ca()
    dev = device(ca)
    secret = os.urandom(32)
    resumption = Resumption(consultation_id=CID, secret=secret, code="dog lake globe onion")
    adviser = AdviserPeer(resume=AdviserResume(CID, secret))
    frames = Frames(adviser)
    signer = IdentitySigner(dev.identity(ca))
    async with current_call(lambda: signer, adviser, resumption):
        proof = await frames.wait_for(channel.DeviceProof)
        resume = await frames.wait_for(channel.ResumeProof)
    assert frames.types()[:2] == ["resume_proof", "device_proof"]
    # No commitment on a resumed call: the proof signs the resume proof's MAC instead.
    assert (proof.fingerprint, proof.commitment) == (resume.fingerprint, resume.mac)
    payload = challenge.call_payload(CID, resume.fingerprint, resume.mac)
    challenge.verify(dev.certificate, base64.b64decode(proof.signature), payload)


def test_the_signer_comes_from_the_identity_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = IdentityStore(tmp_path / "identity")
    source = store_signer(store)
    assert source() is None  # not enrolled: a token kiosk signs nothing
    assert store_signer(None)() is None
    ca = tenant_ca()
    key = store.enrolment_key()
    cert = profile.make_device_certificate(
        ca_cert=ca.certificate,
        ca_key=ca.key,
        public_key=key.public_key(),
        device_name="kiosk-3",
        now=NOW,
    )
    store.store(key, cert, ca.certificate, "ws://127.0.0.1:1")
    signer = source()
    assert signer is not None
    assert signer.certificate_der() == cert.public_bytes(Encoding.DER)
    challenge.verify(cert, signer.sign(b"payload"), b"payload")
    # A key others could read may have leaked: no proof (and a line that says so, no path).
    (tmp_path / "identity" / "device.key").chmod(0o644)
    assert source() is None
    assert "identity directory is not usable" in caplog.text
    assert str(tmp_path) not in caplog.text
