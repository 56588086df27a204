"""The kiosk's hub client against the real hub, and against a scripted misbehaving one."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from appliance.runner.hub_client import (
    Backoff,
    HubClient,
    HubDown,
    HubEvent,
    HubMessage,
    HubRejected,
    HubUp,
)
from protocol import messages
from tests.support.hub import running_hub


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Recorder:
    """Collects hub events and lets a test wait for one kind."""

    def __init__(self) -> None:
        self.events: list[HubEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: HubEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait(self, kind: type, count: int = 1) -> None:
        async with asyncio.timeout(10):
            while sum(isinstance(e, kind) for e in self.events) < count:
                self._changed.clear()
                await self._changed.wait()

    def messages(self) -> list[messages.AnyMessage]:
        return [e.message for e in self.events if isinstance(e, HubMessage)]


def fast_backoff() -> Backoff:
    return Backoff(0.05, 0.2, random.Random(1))


def test_backoff_grows_with_jitter_and_resets() -> None:
    backoff = Backoff(1.0, 8.0, random.Random(42))
    delays = [backoff.next_delay() for _ in range(6)]
    steps = [1, 2, 4, 8, 8, 8]
    for delay, step in zip(delays, steps, strict=True):
        assert step / 2 <= delay <= step
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert backoff.next_delay() <= 1.0
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)


@asynccontextmanager
async def client_running(
    client: HubClient, recorder: Recorder
) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(client.run(recorder))
    try:
        yield task
    finally:
        await client.close()
        async with asyncio.timeout(5):
            await asyncio.gather(task, return_exceptions=True)


async def test_welcome_queue_and_clean_close(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        token = hub.add_device("kiosk-1")
        client = HubClient(f"{hub.ws_url}/ws/kiosk", token, backoff=fast_backoff())
        recorder = Recorder()
        async with client_running(client, recorder) as task:
            await recorder.wait(HubUp)
            up = recorder.events[0]
            assert isinstance(up, HubUp) and up.welcome.name == "kiosk-1"
            assert client.connected
            assert await client.send(messages.QueueRequest())
            await recorder.wait(HubMessage)
            (position,) = recorder.messages()
            assert isinstance(position, messages.QueuePosition) and position.position == 1
        assert task.done() and task.exception() is None
        assert not client.connected
        assert not await client.send(messages.QueueRequest())  # dropped, no exception


async def test_refused_token_is_fatal_after_one_attempt(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        hub.add_device("kiosk-1")
        client = HubClient(f"{hub.ws_url}/ws/kiosk", "wrong-token", backoff=fast_backoff())
        recorder = Recorder()
        with pytest.raises(HubRejected, match="enrol"):
            async with asyncio.timeout(5):
                await client.run(recorder)
        assert recorder.events == []


async def test_reconnects_when_the_hub_comes_up_and_after_a_restart(tmp_path: Path) -> None:
    port = free_port()
    token: str | None = None
    async with running_hub(tmp_path, port=port) as hub:
        token = hub.add_device("kiosk-1")
    client = HubClient(f"ws://127.0.0.1:{port}/ws/kiosk", token, backoff=fast_backoff())
    recorder = Recorder()
    async with client_running(client, recorder):
        await asyncio.sleep(0.3)  # hub down: a few attempts with backoff, no events
        assert recorder.events == []
        async with running_hub(tmp_path, port=port):
            await recorder.wait(HubUp)
        await recorder.wait(HubDown)  # hub stopped
        async with running_hub(tmp_path, port=port):
            await recorder.wait(HubUp, 2)
    kinds = [type(e) for e in recorder.events]
    assert kinds[:3] == [HubUp, HubDown, HubUp]


Handler = Callable[[web.WebSocketResponse], Awaitable[None]]


@asynccontextmanager
async def scripted_hub(script: Handler) -> AsyncIterator[str]:
    """A WebSocket server that plays ``script`` after reading the hello."""

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        hello = await ws.receive()
        assert isinstance(messages.decode(hello.data), messages.Hello)
        await script(ws)
        return ws

    app = web.Application()
    app.router.add_get("/ws/kiosk", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"ws://127.0.0.1:{port}/ws/kiosk"
    finally:
        await runner.cleanup()


def welcome(heartbeat_s: int = 10) -> str:
    return messages.encode(
        messages.Welcome(
            role="kiosk", name="k", tenant="t", heartbeat_s=heartbeat_s, ice_servers=()
        )
    )


async def test_bad_frames_from_the_hub_are_dropped_and_reported() -> None:
    replies: asyncio.Queue[str] = asyncio.Queue()

    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str(welcome())
        await ws.send_str("not json")
        await ws.send_str('{"v":1,"type":"queue_position","consultation_id":"x"}')
        await ws.send_str(
            messages.encode(
                messages.QueuePosition(consultation_id="abcdefgh", position=1, waiting=1)
            )
        )
        for _ in range(2):
            reply = await ws.receive(timeout=5)
            replies.put_nowait(reply.data)
        await ws.receive()  # until the client closes

    async with scripted_hub(script) as url:
        client = HubClient(url, "t", backoff=fast_backoff())
        recorder = Recorder()
        async with client_running(client, recorder):
            await recorder.wait(HubMessage)
            async with asyncio.timeout(5):
                errors = [messages.decode(await replies.get()) for _ in range(2)]
    assert [type(m) for m in recorder.messages()] == [messages.QueuePosition]
    codes = [e.code for e in errors if isinstance(e, messages.Error)]
    assert codes == ["malformed", "invalid_value"]


async def test_silent_hub_is_dropped_after_three_heartbeats() -> None:
    connections = 0

    async def script(ws: web.WebSocketResponse) -> None:
        nonlocal connections
        connections += 1
        await ws.send_str(welcome(heartbeat_s=1))
        async for _ in ws:  # read heartbeats, never answer
            pass

    async with scripted_hub(script) as url:
        client = HubClient(url, "t", backoff=fast_backoff())
        recorder = Recorder()
        async with client_running(client, recorder):
            await recorder.wait(HubDown)
            down = next(e for e in recorder.events if isinstance(e, HubDown))
            assert "silent" in down.reason
            await recorder.wait(HubUp, 2)  # and it reconnects
    assert connections >= 2


async def test_non_welcome_first_frame_retries() -> None:
    attempts = 0
    retried = asyncio.Event()

    async def script(ws: web.WebSocketResponse) -> None:
        nonlocal attempts
        attempts += 1
        if attempts >= 3:
            retried.set()
        await ws.send_str(messages.encode(messages.Heartbeat(ts=1)))
        await ws.close()

    async with scripted_hub(script) as url:
        client = HubClient(url, "t", backoff=fast_backoff())
        recorder = Recorder()
        async with client_running(client, recorder):
            async with asyncio.timeout(5):
                await retried.wait()
    assert recorder.events == []


async def test_handshake_refusal_by_a_proxy_is_retried_not_fatal() -> None:
    attempts = 0
    retried = asyncio.Event()

    async def refuse(request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        if attempts >= 3:
            retried.set()
        return web.Response(status=401)

    app = web.Application()
    app.router.add_get("/ws/kiosk", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        client = HubClient(
            f"ws://127.0.0.1:{runner.addresses[0][1]}/ws/kiosk", "t", backoff=fast_backoff()
        )
        recorder = Recorder()
        async with client_running(client, recorder) as task:
            async with asyncio.timeout(5):
                await retried.wait()
            assert not task.done()  # still trying: a proxy's 401 is not the hub's verdict
        assert recorder.events == []
    finally:
        await runner.cleanup()


async def test_unreachable_hub_keeps_retrying_without_raising() -> None:
    client = HubClient(f"ws://127.0.0.1:{free_port()}/ws/kiosk", "t", backoff=fast_backoff())
    recorder = Recorder()
    async with client_running(client, recorder) as task:
        await asyncio.sleep(0.4)
        assert not task.done()
    assert recorder.events == []


async def test_fast_reconnect_cuts_a_long_backoff_short_while_a_call_heals(
    tmp_path: Path,
) -> None:
    port = free_port()
    async with running_hub(tmp_path, port=port) as hub:
        token = hub.add_device("kiosk-1")
    # A backoff far longer than the hang guard below: only the fast mode can beat it.
    client = HubClient(
        f"ws://127.0.0.1:{port}/ws/kiosk", token, backoff=Backoff(60.0, 120.0, random.Random(1))
    )
    recorder = Recorder()
    assert not client.fast_reconnect
    async with client_running(client, recorder):
        await asyncio.sleep(0.2)  # the first attempt failed: a 30..60 s pause has begun
        async with running_hub(tmp_path, port=port):
            client.fast_reconnect = True  # a call is reconnecting
            await recorder.wait(HubUp)
        await recorder.wait(HubDown)
        async with running_hub(tmp_path, port=port):
            await recorder.wait(HubUp, 2)  # and every later pause is capped too
        client.fast_reconnect = False
        assert not client.fast_reconnect
