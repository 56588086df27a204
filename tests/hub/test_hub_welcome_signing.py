"""The kiosk's welcome carries its tenant's trustee and timestamp authority (docs/signature.md).

A real hub on 127.0.0.1 with a hub secret; the administrator's commands (``kiosk-hub tenant
trustee-issue`` and ``tenant set``) run beside it on its database, as on a live hub.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from hub.__main__ import main
from hub.pki.secret import HubSecret
from hub.storage import SqliteStorage, Storage, StorageError, TenantSigning
from protocol.messages import Hello, Welcome
from provisioning import challenge, profile
from tests.support import trustee_certs as tc
from tests.support.hub import (
    RunningHub,
    SignallingPeer,
    connect_adviser,
    connect_kiosk,
    running_hub,
)
from tests.support.hub_enrol import csr_der, enrol, new_code

PASSWORD = "correct horse battery"
TRUSTEE = "Notariat Muster"


@pytest.fixture
async def hub(tmp_path: Path, secret_file: tuple[Path, HubSecret]) -> AsyncIterator[RunningHub]:
    async with running_hub(tmp_path, secret_file=secret_file[0]) as running:
        yield running


async def kiosk_hub(hub: RunningHub, *argv: str) -> int:
    """A ``kiosk-hub`` command on the running hub's database (its own loop, on a thread)."""
    return await asyncio.to_thread(main, [*argv, "--db", str(hub.config.db_path)])


async def signed_hello(
    http: aiohttp.ClientSession, hub: RunningHub, identity: tuple[object, x509.Certificate]
) -> Welcome:
    """Connect as an enrolled kiosk (certificate hello) and return its welcome."""
    key, cert = identity
    peer = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    nonce = challenge.decode_nonce((await peer.read_challenge()).nonce)
    url = f"{hub.ws_url}/ws/kiosk"
    signature = challenge.sign_hello(key, url, profile.tenant_of(cert), nonce)  # type: ignore[arg-type]
    await peer.send(
        Hello(
            role="kiosk",
            certificate=base64.b64encode(cert.public_bytes(Encoding.DER)).decode(),
            signature=base64.b64encode(signature).decode(),
        )
    )
    welcome = await peer.expect(Welcome)
    await peer.close()
    return welcome


async def test_an_enrolled_kiosk_gets_the_trustee_its_ca_signed_and_loses_it_when_cleared(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    secret_file: tuple[Path, HubSecret],
    tmp_path: Path,
) -> None:
    code = await new_code(hub.storage, secret_file[1], "kiosk-1", now=time.time())
    identity = await enrol(http, hub.url, code)
    before = await signed_hello(http, hub, identity)
    assert (before.trustee_cert, before.trustee_name, before.tsa_url) == (None, None, None)

    csr, cert_path = tmp_path / "trustee.csr", tmp_path / "trustee.pem"
    csr.write_bytes(csr_der(tc.new_key("rsa"), "Trustee"))
    secret = str(secret_file[0])
    issue = ("tenant", "trustee-issue", "default", "--csr", str(csr), "--out", str(cert_path))
    assert await kiosk_hub(hub, *issue, "--secret-file", secret) == 0
    args = ("--trustee-cert", str(cert_path), "--trustee-name", TRUSTEE)
    tsa = ("--tsa-url", "https://tsa.example.org/tsr")
    assert await kiosk_hub(hub, "tenant", "set", "default", *args, *tsa) == 0

    welcome = await signed_hello(http, hub, identity)
    assert welcome.trustee_cert is not None
    trustee = x509.load_der_x509_certificate(base64.b64decode(welcome.trustee_cert))
    assert trustee == x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert trustee.issuer == identity[1].issuer  # the CA the kiosk enrolled with signed it
    assert (welcome.trustee_name, welcome.tsa_url) == (TRUSTEE, "https://tsa.example.org/tsr")

    assert await kiosk_hub(hub, "tenant", "set", "default", "--no-trustee", "--no-tsa") == 0
    after = await signed_hello(http, hub, identity)
    assert (after.trustee_cert, after.trustee_name, after.tsa_url) == (None, None, None)


async def test_only_kiosks_of_the_tenant_get_it(
    hub: RunningHub, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    hub.add_tenant("other-bank")
    own, other = hub.add_device("kiosk-1"), hub.add_device("kiosk-2", tenant="other-bank")
    hub.add_adviser("alice", PASSWORD)
    t = tc.self_signed_trustee("p256")  # pinned at the kiosks: the hub warns and stores it
    (tmp_path / "t.pem").write_bytes(t.pem)
    argv = ("--trustee-cert", str(tmp_path / "t.pem"), "--trustee-name", TRUSTEE)
    assert await kiosk_hub(hub, "tenant", "set", "default", *argv) == 0

    kiosk = await connect_kiosk(http, hub, own)
    assert kiosk.welcome is not None and kiosk.welcome.trustee_cert is not None
    assert base64.b64decode(kiosk.welcome.trustee_cert) == t.der
    assert (kiosk.welcome.trustee_name, kiosk.welcome.tsa_url) == (TRUSTEE, None)
    stranger = await connect_kiosk(http, hub, other)
    assert stranger.welcome is not None and stranger.welcome.trustee_cert is None
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    assert adviser.welcome is not None
    assert (adviser.welcome.trustee_cert, adviser.welcome.trustee_name) == (None, None)


class UnreadableSigning(SqliteStorage):
    """A database whose signature settings cannot be read (a seam for the failure path)."""

    async def tenant_signing(self, tenant_id: int) -> TenantSigning:
        raise StorageError("disk I/O error")


async def open_unreadable(path: Path) -> Storage:
    return await UnreadableSigning.open(path)


async def test_unreadable_settings_welcome_the_kiosk_with_signing_off(
    tmp_path: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_hub(tmp_path, open_storage=open_unreadable) as running:
        kiosk = await connect_kiosk(http, running, running.add_device("kiosk-1"))
    assert kiosk.welcome is not None and kiosk.welcome.trustee_cert is None
    assert "signing is off" in caplog.text
