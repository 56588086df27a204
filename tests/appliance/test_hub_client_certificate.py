"""The hub client's certificate hello: it answers the hub's challenge with a signature.

A scripted hub plays the new hub (challenge first, checks the signature with provisioning's
verifier) and the older one (no challenge); the real hub's check is in tests/e2e.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.runner.hub_client import Backoff, HubClient, HubRejected
from protocol import messages
from provisioning import profile
from provisioning.challenge import encode_nonce, new_nonce, verify_hello
from provisioning.identity import Identity, IdentityError, IdentityStore
from tests.support.hub_client_run import first_up
from tests.support.loopback_server import serving

NOW = dt.datetime.now(dt.UTC)
Script = Callable[[web.WebSocketResponse], Awaitable[None]]


def _identity(tmp_path: Path) -> Identity:
    store = IdentityStore(tmp_path / "id")
    key = store.enrolment_key()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = profile.make_ca_certificate(ca_key, "Tenant A", NOW)
    cert = profile.make_device_certificate(
        ca_cert=ca, ca_key=ca_key, public_key=key.public_key(), device_name="branch-7", now=NOW
    )
    return store.store(key, cert, ca, "ws://127.0.0.1")


def _welcome() -> str:
    return messages.encode(
        messages.Welcome(role="kiosk", name="branch-7", tenant="t", heartbeat_s=10, ice_servers=())
    )


@asynccontextmanager
async def scripted_hub(script: Script) -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await script(ws)
        return ws

    app = web.Application()
    app.router.add_get("/ws/kiosk", handle)
    async with serving(app) as port:
        yield f"ws://127.0.0.1:{port}/ws/kiosk"


def _backoff() -> Backoff:
    return Backoff(0.05, 0.2, random.Random(1))


async def test_an_enrolled_kiosk_signs_the_hubs_challenge(tmp_path: Path) -> None:
    identity = _identity(tmp_path)
    hellos: list[messages.Hello] = []
    nonce = new_nonce()

    async def new_hub(ws: web.WebSocketResponse) -> None:
        await ws.send_str(messages.encode(messages.Challenge(nonce=encode_nonce(nonce))))
        hello = messages.decode((await ws.receive()).data)
        assert isinstance(hello, messages.Hello)
        hellos.append(hello)
        assert hello.certificate is not None and hello.signature is not None
        cert = x509.load_der_x509_certificate(base64.b64decode(hello.certificate))
        # The hub's public URL, not the kiosk's ws:// one: the origin binds them.
        verify_hello(cert, base64.b64decode(hello.signature), url_seen, "Tenant A", nonce)
        await ws.send_str(_welcome())
        await ws.receive()

    async with scripted_hub(new_hub) as url:
        url_seen = url.replace("ws://", "http://").removesuffix("/ws/kiosk") + "/"
        client = HubClient(url, None, backoff=_backoff(), identity=lambda: identity)
        up = await first_up(client)
    assert up.welcome.name == "branch-7"
    (hello,) = hellos
    assert hello.token is None
    assert base64.b64decode(hello.certificate or "") == identity.certificate_der()


async def test_an_older_hub_without_challenge_gets_the_token(tmp_path: Path) -> None:
    identity = _identity(tmp_path)
    hellos: list[messages.Hello] = []

    async def old_hub(ws: web.WebSocketResponse) -> None:
        hello = messages.decode((await ws.receive()).data)
        assert isinstance(hello, messages.Hello)
        hellos.append(hello)
        await ws.send_str(_welcome())
        await ws.receive()

    async with scripted_hub(old_hub) as url:
        client = HubClient(
            url, "tok", backoff=_backoff(), identity=lambda: identity, challenge_wait_s=0.2
        )
        await first_up(client)
    assert [(h.token, h.certificate) for h in hellos] == [("tok", None)]


async def test_an_older_hub_and_no_token_is_fatal(tmp_path: Path) -> None:
    identity = _identity(tmp_path)

    async def old_hub(ws: web.WebSocketResponse) -> None:
        await ws.receive()

    async with scripted_hub(old_hub) as url:
        client = HubClient(
            url, None, backoff=_backoff(), identity=lambda: identity, challenge_wait_s=0.2
        )
        with pytest.raises(HubRejected, match="older hub"):
            async with asyncio.timeout(10):
                await client.run(lambda _: None)


async def test_a_token_kiosk_skips_the_challenge_it_does_not_need() -> None:
    hellos: list[messages.Hello] = []

    async def new_hub(ws: web.WebSocketResponse) -> None:
        await ws.send_str(messages.encode(messages.Challenge(nonce=encode_nonce(new_nonce()))))
        hello = messages.decode((await ws.receive()).data)
        assert isinstance(hello, messages.Hello)
        hellos.append(hello)
        await ws.send_str(_welcome())
        await ws.receive()

    async with scripted_hub(new_hub) as url:
        client = HubClient(url, "tok", backoff=_backoff())
        await first_up(client)
    assert [(h.token, h.signature) for h in hellos] == [("tok", None)]


async def test_a_refused_certificate_says_to_enrol_again(tmp_path: Path) -> None:
    identity = _identity(tmp_path)

    async def refusing_hub(ws: web.WebSocketResponse) -> None:
        await ws.send_str(messages.encode(messages.Challenge(nonce=encode_nonce(new_nonce()))))
        await ws.receive()
        await ws.send_str(
            messages.encode(messages.Error(code="unauthorized", message="revoked", fatal=True))
        )
        await ws.close()

    async with scripted_hub(refusing_hub) as url:
        client = HubClient(url, None, backoff=_backoff(), identity=lambda: identity)
        with pytest.raises(HubRejected, match=r"certificate.*fresh code"):
            async with asyncio.timeout(10):
                await client.run(lambda _: None)


async def test_a_broken_identity_directory_is_fatal_with_its_reason() -> None:
    def broken() -> Identity | None:
        raise IdentityError("device.key is readable by other users")

    async def new_hub(ws: web.WebSocketResponse) -> None:
        await ws.send_str(messages.encode(messages.Challenge(nonce=encode_nonce(new_nonce()))))
        await ws.receive()

    async with scripted_hub(new_hub) as url:
        client = HubClient(url, None, backoff=_backoff(), identity=broken)
        with pytest.raises(HubRejected, match="readable by other users"):
            async with asyncio.timeout(10):
                await client.run(lambda _: None)
