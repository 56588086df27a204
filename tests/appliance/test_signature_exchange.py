"""A signature request in one consultation's exchange: the adviser's pushed PDF comes back
signed as a file offer over the real hub's relay (appliance.signing, with the library behind
the desk's producer seam faked); without a desk the request fails typed.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.custody.vault import ArtifactKind
from appliance.signing.service import SignatureDesk
from appliance.signing.trust import TrusteeChoice
from drivers.tablet.pointer import PointerTablet
from protocol.channel import (
    ChannelMessage,
    FileDone,
    FileOffer,
    SignatureCancel,
    SignatureRequest,
    SignatureStatus,
)
from tests.support.device_certs import device, tenant_ca
from tests.support.exchange_harness import PDF, Setup, exchange_setup
from tests.support.signature_desk import FakeProducer, eventually, scribble
from tests.support.trustee_certs import rsa_trustee


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with exchange_setup(tmp_path) as s:
        yield s


# -- a signature request (appliance.signing; the library behind the desk's producer seam) ---


async def _signature_status(setup: Setup, request_id: str, state: str) -> SignatureStatus:
    return await setup.console.expect(
        SignatureStatus, lambda m: m.id == request_id and m.state == state
    )


async def test_a_pushed_pdf_comes_back_signed_as_a_file_offer(setup: Setup) -> None:
    exchange = setup.exchange()
    ca = tenant_ca()
    identity = device(ca).identity(ca)
    trustee = TrusteeChoice(rsa_trustee(ca).certificate, "Notariat Nord")
    tablet = PointerTablet()
    sent: list[ChannelMessage] = []

    def send(message: ChannelMessage) -> None:
        sent.append(message)
        setup.console.send(message)

    exchange.signatures = SignatureDesk(
        vault=setup.vault,
        lookup=exchange.stored,
        send=send,
        send_file=exchange.send_signed,
        tablet=tablet,
        trustee=lambda: trustee,
        identity=lambda: identity,
        producer=FakeProducer(),
    )
    offer = await setup.console.offer(PDF, purpose="file")
    await exchange.handle(offer)
    await setup.console.expect(FileDone)
    sha = hashlib.sha256(PDF).hexdigest()

    await exchange.handle(SignatureRequest(id="sig-00000001", document="doc-unknown1", sha256=sha))
    refused = await _signature_status(setup, "sig-00000001", "failed")
    assert refused.code == "no_document"

    await exchange.handle(SignatureRequest(id="sig-00000002", document=offer.id, sha256=sha))
    await _signature_status(setup, "sig-00000002", "reading")
    desk = exchange.signatures
    desk.read("sig-00000002")
    await eventually(lambda: tablet.started)
    scribble(tablet)
    await eventually(lambda: bool(desk.ink()[0]))
    desk.confirm("sig-00000002")
    signed = await setup.console.expect(FileOffer, lambda m: m.purpose == "signed")
    await _signature_status(setup, "sig-00000002", "done")
    assert (signed.purpose, signed.request_id, signed.mime) == (
        "signed",
        "sig-00000002",
        "application/pdf",
    )
    assert await setup.console.fetch(signed) == PDF + b"%signed\n"
    assert [a.kind for a in setup.vault.artifacts].count(ArtifactKind.SIGNATURE) == 1
    states = [m.state for m in sent if isinstance(m, SignatureStatus) and m.id.endswith("2")]
    assert states == ["reading", "signing", "sealing", "done"]

    # A cancel for a request that is over changes nothing; closing the exchange closes the desk.
    await exchange.handle(SignatureCancel(id="sig-00000002"))
    await exchange.handle(SignatureRequest(id="sig-00000003", document=offer.id, sha256=sha))
    await _signature_status(setup, "sig-00000003", "reading")
    await exchange.close()
    await _signature_status(setup, "sig-00000003", "cancelled")


async def test_an_exchange_without_a_desk_says_no_tablet(setup: Setup) -> None:
    exchange = setup.exchange()
    request = SignatureRequest(id="sig-00000001", document="doc-00000001", sha256="00" * 32)
    await exchange.handle(request)
    status = await _signature_status(setup, "sig-00000001", "failed")
    assert status.code == "no_tablet"
