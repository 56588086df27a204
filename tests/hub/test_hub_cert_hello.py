"""The kiosk's certificate hello at a real hub: a signed challenge, chain, validity, revocation."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from hub.pki.est import EST
from hub.pki.secret import HubSecret
from hub.signalling import CLOSE_UNAUTHORIZED
from hub.signalling.hello import TOKENS_OFF
from protocol.messages import (
    Accept,
    Accepted,
    Ended,
    Error,
    Heartbeat,
    Hello,
    Queue,
    QueuePosition,
    QueueRequest,
    ResumeGrant,
    Welcome,
)
from provisioning import challenge, profile
from tests.support.hub import (
    FakeClock,
    RunningHub,
    SignallingPeer,
    connect_adviser,
    connect_kiosk,
    http_session,
    running_hub,
)
from tests.support.hub_enrol import enrol, new_code

DAY = 86_400.0
PASSWORD = "correct horse battery"
Identity = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=time.time())


@pytest.fixture
async def hub(
    tmp_path: Path, clock: FakeClock, secret_file: tuple[Path, HubSecret]
) -> AsyncIterator[RunningHub]:
    async with running_hub(
        tmp_path, clock=clock, secret_file=secret_file[0], allow_device_tokens=False
    ) as running:
        yield running


async def enrolled(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    secret_file: tuple[Path, HubSecret],
    clock: FakeClock,
    name: str = "kiosk-1",
    tenant: str = "default",
) -> Identity:
    code = await new_code(hub.storage, secret_file[1], name, tenant=tenant, now=clock())
    return await enrol(http, hub.url, code)


@pytest.fixture
async def identity(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    secret_file: tuple[Path, HubSecret],
    clock: FakeClock,
) -> Identity:
    """kiosk-1, enrolled at ``hub`` (tenant default)."""
    return await enrolled(hub, http, secret_file, clock)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def open_kiosk(
    http: aiohttp.ClientSession,
    hub: RunningHub,
    identity: Identity,
    *,
    origin: str | None = None,
    nonce: bytes | None = None,
    tenant: str | None = None,
    client: str | None = "branch-kiosk/0.1.0",
) -> SignallingPeer:
    """Connect, read the challenge, send a certificate hello signed as asked (not read)."""
    key, cert = identity
    peer = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    sent = challenge.decode_nonce((await peer.read_challenge()).nonce)
    signature = challenge.sign_hello(
        key,
        origin or f"{hub.ws_url}/ws/kiosk",  # the kiosk signs the URL it dialled
        tenant or profile.tenant_of(cert),
        sent if nonce is None else nonce,
    )
    hello = Hello(
        role="kiosk",
        certificate=b64(cert.public_bytes(Encoding.DER)),
        signature=b64(signature),
        client=client,
    )
    await peer.send(hello)
    return peer


async def signed_in(
    http: aiohttp.ClientSession, hub: RunningHub, identity: Identity
) -> SignallingPeer:
    """A kiosk connected with a correctly signed hello, its welcome read."""
    kiosk = await open_kiosk(http, hub, identity)
    await kiosk.expect(Welcome)
    return kiosk


async def expect_refused(peer: SignallingPeer, text: str) -> None:
    error = await peer.expect(Error)
    assert (error.code, error.fatal) == ("unauthorized", True)
    assert text in error.message, error.message
    frame = await peer.ws.receive(timeout=5)
    assert (frame.type, frame.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_UNAUTHORIZED)


async def test_the_hub_challenges_first_and_welcomes_a_signed_hello(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    identity: Identity,
    clock: FakeClock,
) -> None:
    kiosk = await open_kiosk(http, hub, identity, client="branch-kiosk/0.1.0\x1b[2J")
    welcome = await kiosk.expect(Welcome)
    assert (welcome.role, welcome.name, welcome.tenant) == ("kiosk", "kiosk-1", "default")
    assert kiosk.challenge is not None and len(kiosk.challenge.nonce) == 43
    other = await open_kiosk(http, hub, identity, client=None)  # keeps the version on record
    await other.expect(Welcome)
    assert other.challenge is not None and other.challenge.nonce != kiosk.challenge.nonce
    for _ in range(50):  # the last-seen write runs beside the hello
        (status,) = await hub.storage.device_statuses(now=clock())
        if status.last_seen is not None:
            break
        await asyncio.sleep(0.02)
    assert status.last_seen == pytest.approx(clock()) and status.state == "enrolled"
    assert status.version == "branch-kiosk/0.1.0?[2J"  # no terminal escapes into `device list`


@pytest.mark.parametrize("cached", [False, True], ids=["first-hello", "after-a-cached-hello"])
@pytest.mark.parametrize("case", ["expired", "revoked"])
async def test_an_expired_or_revoked_certificate_is_refused(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    identity: Identity,
    clock: FakeClock,
    case: str,
    cached: bool,
) -> None:
    checked = hub.app[EST].authorities.checked  # chain and profile, checked once per cert
    if cached:
        await signed_in(http, hub, identity)
        assert len(checked) == 1
    if case == "expired":
        clock.advance(31 * DAY)
    else:
        await hub.storage.revoke_device("kiosk-1", now=clock())
    await expect_refused(await open_kiosk(http, hub, identity), case)
    # the cache answered the chain and profile; the clock and the database still refused
    assert checked.hits == (1 if cached else 0)


async def test_a_certificate_from_another_ca_is_refused(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    secret_file: tuple[Path, HubSecret],
    clock: FakeClock,
) -> None:
    # another tenant's CA that calls itself "default" too: same names, other key
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.fromtimestamp(clock(), dt.UTC)
    ca_cert = profile.make_ca_certificate(ca_key, "default", now)
    key = ec.generate_private_key(ec.SECP256R1())
    forged = profile.make_device_certificate(
        ca_cert=ca_cert, ca_key=ca_key, public_key=key.public_key(), device_name="k", now=now
    )
    await expect_refused(await open_kiosk(http, hub, (key, forged)), "signature")
    # and a tenant this hub does not have
    ca_cert = profile.make_ca_certificate(ca_key, "elsewhere", now)
    forged = profile.make_device_certificate(
        ca_cert=ca_cert, ca_key=ca_key, public_key=key.public_key(), device_name="k", now=now
    )
    await expect_refused(await open_kiosk(http, hub, (key, forged)), "not issued")


@pytest.mark.parametrize("replay", ["nonce", "url", "tenant"])
async def test_a_signature_for_another_connection_hub_or_tenant_is_refused(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    identity: Identity,
    replay: str,
) -> None:
    if replay == "nonce":
        kiosk = await open_kiosk(http, hub, identity, nonce=challenge.new_nonce())
    elif replay == "url":
        kiosk = await open_kiosk(http, hub, identity, origin="wss://other-hub.example.org/ws/kiosk")
    else:
        kiosk = await open_kiosk(http, hub, identity, tenant="bank-b")
    await expect_refused(kiosk, "does not match this connection's challenge")


@pytest.mark.parametrize(
    ("certificate", "signature", "text"),
    [
        (b64(b"\x30\x82garbage"), b64(b"\x30\x06"), "not a device certificate"),
        ("not base64!", b64(b"\x30\x06"), "invalid_value"),
        (b64(b"\x30\x03\x02\x01\x01"), None, "certificate and signature together"),
    ],
)
async def test_garbage_certificate_bytes_are_refused_and_the_hub_serves_others(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    identity: Identity,
    certificate: str,
    signature: str | None,
    text: str,
) -> None:
    peer = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    await peer.read_challenge()
    if text == "invalid_value":  # not base64: refused by the protocol's schema already
        await peer.send_raw(
            f'{{"v": 1, "type": "hello", "role": "kiosk", "certificate": "{certificate}", '
            f'"signature": "{signature}"}}'
        )
        error = await peer.expect(Error)
        assert error.fatal and error.code == "invalid_value"
    else:
        await peer.send(Hello(role="kiosk", certificate=certificate, signature=signature))
        await expect_refused(peer, text)
    await signed_in(http, hub, identity)


async def test_device_tokens_are_refused_unless_allowed(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    token = hub.add_device("old-kiosk")
    peer = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    await peer.send(Hello(role="kiosk", token=token))
    await expect_refused(peer, "--allow-device-tokens")
    assert "enrol" in TOKENS_OFF


async def test_device_tokens_still_work_when_allowed(tmp_path: Path) -> None:
    async with running_hub(tmp_path, allow_device_tokens=True) as hub, http_session() as http:
        kiosk = await connect_kiosk(http, hub, hub.add_device("old-kiosk"))
        assert kiosk.welcome is not None and kiosk.challenge is not None


async def test_the_public_url_is_what_the_signature_must_name(
    tmp_path: Path, clock: FakeClock, secret_file: tuple[Path, HubSecret]
) -> None:
    async with (
        running_hub(
            tmp_path,
            clock=clock,
            secret_file=secret_file[0],
            public_url="https://hub.example.org",
        ) as hub,
        http_session() as http,
    ):
        identity = await enrolled(hub, http, secret_file, clock)
        refused = await open_kiosk(http, hub, identity)  # signed for the loopback URL
        await expect_refused(refused, "challenge")
        kiosk = await open_kiosk(http, hub, identity, origin="wss://HUB.example.org:443/ws/kiosk")
        await kiosk.expect(Welcome)


async def test_revoking_mid_call_closes_the_kiosk_and_ends_the_call(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    identity: Identity,
    clock: FakeClock,
) -> None:
    hub.add_adviser("alice", PASSWORD)
    kiosk = await signed_in(http, hub, identity)
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    await kiosk.send(QueueRequest())
    position = await kiosk.expect(QueuePosition)
    await adviser.expect(Queue)
    await adviser.send(Accept(consultation_id=position.consultation_id))
    await adviser.expect(Accepted)
    await kiosk.expect(Accepted)
    await kiosk.expect(ResumeGrant)
    await hub.storage.revoke_device("kiosk-1", now=clock())  # as `kiosk-hub device revoke` does
    await kiosk.send(Heartbeat(ts=1))
    error = await kiosk.expect(Error)
    assert (error.code, error.message) == ("unauthorized", "device certificate revoked or expired")
    while not isinstance(message := await adviser.receive(), Ended):
        pass
    assert message == Ended(consultation_id=position.consultation_id, reason="peer_gone")


async def test_a_certificate_expiring_while_connected_closes_the_connection(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    identity: Identity,
    clock: FakeClock,
) -> None:
    kiosk = await signed_in(http, hub, identity)
    clock.advance(31 * DAY)
    await kiosk.send(Heartbeat(ts=1))
    await expect_refused(kiosk, "expired")


async def test_a_valid_certificate_keeps_its_connection_across_rechecks(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    identity: Identity,
    clock: FakeClock,
) -> None:
    kiosk = await signed_in(http, hub, identity)
    for _ in range(3):
        clock.advance(hub.config.heartbeat_s)  # each heartbeat re-checks the certificate
        await kiosk.send(Heartbeat(ts=1))
        await kiosk.expect(Heartbeat)
