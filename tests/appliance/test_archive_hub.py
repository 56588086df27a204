"""An enrolled kiosk keeps what its tenant archives: sealed at the kiosk, uploaded, then wiped.

The real hub (production-like: a hub secret, device tokens off) has the tenant's archive
certificate, issued by the tenant CA, with contracts and transcripts switched on. A real call
with an aiortc adviser (tests/support/adviser.py) and the simulated customer chats; a signed
PDF stands in the session vault as the signature desk leaves it. When the adviser hangs up the
hub holds, for that consultation, two CMS items that are not the plaintext and that the
tenant's key opens to the exact PDF and to the chat of both sides; no log line carries a chat
line or the PDF's bytes, and the vault is wiped (docs/archive.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.config.vault import VaultSettings
from appliance.custody.ledger import ArtifactKind
from appliance.custody.session import SessionCustody
from appliance.runner.simulated_customer import AUTO_REPLY, GREETING
from hub.pki.ca import load_authority
from signing.sealed import open_bytes
from tests.support import trustee_certs
from tests.support.call import kiosk_config, running_kiosk, take_verified_call
from tests.support.hub import RunningHub
from tests.support.kiosk_enrol import enrolled_hub

pytestmark = [pytest.mark.usefixtures("loopback_only_netns"), pytest.mark.timeout(120)]
MIB = 1024 * 1024
PDF = b"%PDF-1.7\n% CANARY-PDF-3b7e\n" + os.urandom(30_000) + b"\n%%EOF\n"
CANARY_CHAT = "Meine IBAN ist CANARY-CHAT-77d1"


@dataclass(frozen=True)
class _Issuer:
    """The tenant CA as tests.support.trustee_certs signs with it."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


async def _archive_to(hub: RunningHub, issuer: _Issuer) -> trustee_certs.Trustee:
    archive = trustee_certs.ec_trustee(issuer, "p256")
    tenant = await hub.storage.tenant("default")
    await hub.storage.governance.set_archive(
        tenant.id,
        cert_der=archive.der,
        contracts=True,
        transcripts=True,
        actor="test",
        now=time.time(),
    )
    return archive


async def test_the_tenants_archive_gets_sealed_items_and_the_vault_is_wiped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with enrolled_hub(tmp_path) as (hub, http, secret, store):
        authority = await load_authority(hub.storage, secret, "default")
        archive = await _archive_to(hub, _Issuer(authority.key, authority.cert))
        config = replace(
            kiosk_config(hub, None),  # enrolled: no device token anywhere
            vault=VaultSettings(path=tmp_path / "vault", size_bytes=64 * MIB),
        )
        custody = SessionCustody(config.vault, production=False)
        async with running_kiosk(config, custody, identity=store) as kiosk:
            console, adviser, cid, _secret = await take_verified_call(http, hub, kiosk)
            await adviser.send_chat(CANARY_CHAT, chat_id="adv-2")
            async with asyncio.timeout(10):
                await adviser.wait_chat(3)  # the customer's thanks: the canary was received
            # what the signature desk leaves after signing/pdf.py produced the signed PDF
            kiosk.vault.store(ArtifactKind.SIGNATURE, "Vertrag-signiert.pdf", PDF)
            await adviser.close()  # hang up: the kiosk seals, uploads, then wipes
            async with asyncio.timeout(30):
                await kiosk.wait_state("queueing")
            await console.close()

        tenant = await hub.storage.tenant("default")
        items = await hub.storage.governance.archives(tenant.id)
        assert sorted(item.kind for item in items) == ["contract", "transcript"]
        assert {item.consultation_id for item in items} == {cid}
        opened = {}
        for item in items:
            found = await hub.storage.governance.archive_data(
                tenant.id, item.id, actor="test", now=time.time()
            )
            assert found is not None
            _, data = found
            info = cms.ContentInfo.load(data)
            assert info["content_type"].native == "authenticated_enveloped_data"
            assert b"CANARY" not in data  # the hub holds ciphertext only
            opened[item.kind] = open_bytes(data, archive.key, max_bytes=4 * MIB)
    assert opened["contract"] == PDF
    text = opened["transcript"].decode("utf-8")
    assert text.index(GREETING) < text.index("How can I help?") < text.index(CANARY_CHAT)
    assert f"customer: {GREETING}" in text and f"adviser: {CANARY_CHAT}" in text
    assert f"customer: {AUTO_REPLY}" in text
    # never unsealed in a log line, never left in the vault
    assert "CANARY" not in caplog.text and GREETING not in caplog.text
    leftovers = [p for p in (tmp_path / "vault").rglob("*") if p.is_file()]
    assert all(b"CANARY" not in p.read_bytes() for p in leftovers)
