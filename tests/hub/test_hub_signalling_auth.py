"""Signalling over real WebSockets: hello, authentication, revocation (the rest:
test_hub_signalling*.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import aiohttp
import pytest

from hub.signalling import (
    CLOSE_LOGGED_OUT,
    CLOSE_UNAUTHORIZED,
)
from protocol.messages import (
    Hello,
    Queue,
    Welcome,
)
from tests.support.hub import (
    RunningHub,
    SignallingPeer,
    connect_adviser,
    connect_kiosk,
    http_session,
    login,
    running_hub,
    settle,
)
from tests.support.signalling_tests import (
    PASSWORD,
    expect_closed,
    expect_error,
    hub,
)

__all__ = ["hub"]  # the shared fixture, re-exported by name so pytest finds it here


# -- authentication -------------------------------------------------------


async def test_kiosk_welcome(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    token = hub.add_device("kiosk-1")
    async with http.ws_connect(f"{hub.ws_url}/ws/kiosk") as ws:
        peer = SignallingPeer(ws)
        await peer.send(Hello(role="kiosk", token=token, client="test/1"))
        welcome = await peer.expect(Welcome)
    # the kiosk's relay token is random per connection (docs/enrolment.md, "Reports and relay")
    assert welcome.relay_token is not None and len(welcome.relay_token) == 43
    assert dataclasses.replace(welcome, relay_token=None) == Welcome(
        role="kiosk",
        name="kiosk-1",
        tenant="default",
        heartbeat_s=hub.config.heartbeat_s,
        ice_servers=hub.config.ice_servers,
    )


async def test_welcome_carries_the_tenant_file_limit_and_the_grace_period(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path, grace_s=7) as hub:
        hub.add_tenant("small-bank")
        await hub.storage.set_max_file_bytes("small-bank", 3 * 1024 * 1024)
        hub.add_adviser("sam", PASSWORD, tenant="small-bank")
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1", tenant="small-bank"))
        adviser = await connect_adviser(http, hub, "sam", PASSWORD)
        default = await connect_kiosk(http, hub, hub.add_device("kiosk-2"))
        for peer in (kiosk, adviser):
            assert peer.welcome is not None
            assert (peer.welcome.max_file_bytes, peer.welcome.grace_s) == (3 * 1024 * 1024, 7)
        assert default.welcome is not None
        assert default.welcome.max_file_bytes == 25 * 1024 * 1024


@pytest.mark.parametrize(
    "hello",
    [
        Hello(role="kiosk", token="not-a-token"),
        Hello(role="kiosk"),
        Hello(role="adviser", csrf="x"),
    ],
)
async def test_kiosk_bad_hello_is_fatal(
    hub: RunningHub, http: aiohttp.ClientSession, hello: Hello
) -> None:
    hub.add_device("kiosk-1")
    peer = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    await peer.send(hello)
    await expect_error(peer, "unauthorized", fatal=True)
    await expect_closed(peer, CLOSE_UNAUTHORIZED)


async def test_revoked_device_is_refused(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    token = hub.add_device("kiosk-1")
    await hub.storage.revoke_device("kiosk-1")
    peer = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    await peer.send(Hello(role="kiosk", token=token))
    await expect_error(peer, "unauthorized", fatal=True)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (json.dumps({"v": 1, "type": "queue_request"}), "unauthorized"),
        (json.dumps({"v": 1, "type": "heartbeat", "ts": 1}), "unauthorized"),
        ("{not json", "malformed"),
        (json.dumps({"v": 1, "type": "hello", "role": "kiosk", "extra": 1}), "unknown_field"),
        (b"\x00\x01", "malformed"),
    ],
)
async def test_anything_before_hello_is_fatal(
    hub: RunningHub, http: aiohttp.ClientSession, frame: str | bytes, code: str
) -> None:
    peer = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    if isinstance(frame, bytes):
        await peer.ws.send_bytes(frame)
    else:
        await peer.send_raw(frame)
    await expect_error(peer, code, fatal=True)
    await expect_closed(peer, CLOSE_UNAUTHORIZED)


async def test_no_hello_in_time_closes_the_socket(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path, hello_timeout_s=0.3) as hub:
        silent = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
        pinging = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
        for _ in range(5):  # pings do not count as a hello
            await pinging.ws.ping()
            await asyncio.sleep(0.1)
        for peer in (silent, pinging):
            await expect_error(peer, "unauthorized", fatal=True)
            await expect_closed(peer, CLOSE_UNAUTHORIZED)
        await settle()
        assert hub.switchboard.stats()["sockets"] == 0


async def test_adviser_ws_needs_session_cookie(hub: RunningHub) -> None:
    async with http_session() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{hub.ws_url}/ws/adviser", headers={"Origin": hub.url})
        assert refused.value.status == 401


@pytest.mark.parametrize("origin", [None, "http://evil.example", "https://127.0.0.1", "null"])
async def test_adviser_ws_needs_own_origin(
    hub: RunningHub, http: aiohttp.ClientSession, origin: str | None
) -> None:
    await login(http, hub, "alice", PASSWORD)
    headers = {} if origin is None else {"Origin": origin}
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{hub.ws_url}/ws/adviser", headers=headers)
    assert refused.value.status == 403


@pytest.mark.parametrize("csrf", [None, "wrong-token-wrong-token"])
async def test_adviser_hello_needs_session_csrf(
    hub: RunningHub, http: aiohttp.ClientSession, csrf: str | None
) -> None:
    await login(http, hub, "alice", PASSWORD)
    ws = await http.ws_connect(f"{hub.ws_url}/ws/adviser", headers={"Origin": hub.url})
    peer = SignallingPeer(ws)
    await peer.send(Hello(role="adviser", csrf=csrf))
    await expect_error(peer, "unauthorized", fatal=True)
    await expect_closed(peer, CLOSE_UNAUTHORIZED)


async def test_adviser_welcome_then_queue(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    csrf = await login(http, hub, "alice", PASSWORD)
    ws = await http.ws_connect(f"{hub.ws_url}/ws/adviser", headers={"Origin": hub.url})
    peer = SignallingPeer(ws)
    await peer.send(Hello(role="adviser", csrf=csrf))
    welcome = await peer.expect(Welcome)
    assert (welcome.role, welcome.name, welcome.tenant) == ("adviser", "alice", "default")
    assert await peer.expect(Queue) == Queue(entries=())


async def test_logout_closes_adviser_socket(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    async with http.get(f"{hub.url}/api/session") as r:
        csrf = (await r.json())["csrf"]
    async with http.post(f"{hub.url}/api/logout", headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 204
    await expect_closed(adviser, CLOSE_LOGGED_OUT)
