"""Start a real hub in-process on 127.0.0.1 and talk to it like a kiosk or a console would.

async with running_hub(tmp_path) as hub:
    token = hub.add_device("kiosk-1")
    async with aiohttp.ClientSession() as http:
        kiosk = await connect_kiosk(http, hub, token)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from hub.admission import HubSite, make_runner
from hub.app import STORAGE, OpenStorage, create_app
from hub.config import HubConfig
from hub.signalling import SWITCHBOARD, Switchboard
from hub.storage import Adviser, SqliteStorage, Storage, Tenant
from protocol.messages import (
    Accept,
    Accepted,
    AnyMessage,
    Challenge,
    ConsultationReference,
    Hello,
    Queue,
    QueuePosition,
    QueueRequest,
    Resume,
    ResumeGrant,
    Welcome,
    decode,
    encode,
)

M = TypeVar("M")
T = TypeVar("T")
RECEIVE_TIMEOUT_S = 5.0


@dataclass
class RunningHub:
    """A hub serving on 127.0.0.1; its storage is shared with the test."""

    url: str
    ws_url: str
    config: HubConfig
    app: web.Application

    @property
    def storage(self) -> Storage:
        """The hub's own database (the same engine the server uses)."""
        return self.app[STORAGE]

    @property
    def switchboard(self) -> Switchboard:
        """The signalling state, for assertions on counts."""
        return self.app[SWITCHBOARD]

    def add_tenant(self, name: str) -> Tenant:
        """Create a tenant (beside the running hub, as ``kiosk-hub tenant add`` does)."""
        return self._beside(lambda s: s.add_tenant(name, now=time.time()))

    def add_adviser(self, name: str, password: str, tenant: str = "default") -> Adviser:
        """Create an adviser who can log into the console (as ``kiosk-hub adviser add``)."""
        return self._beside(lambda s: s.add_adviser(name, password, tenant=tenant, now=time.time()))

    def add_device(self, name: str, tenant: str = "default") -> str:
        """Register a kiosk and return its device token (as ``kiosk-hub device add``)."""
        _device, token = self._beside(lambda s: s.add_device(name, tenant=tenant, now=time.time()))
        return token

    def set_turn(self, enabled: bool, tenant: str = "default") -> None:
        """Switch TURN relaying on or off for a tenant (as ``kiosk-hub tenant set --turn``)."""

        async def switch(s: Storage) -> None:
            found = await s.tenant(tenant)
            await s.governance.set_turn(found.id, enabled, actor="cli:test", now=time.time())

        self._beside(switch)

    def _beside(self, operation: Callable[[Storage], Awaitable[T]]) -> T:
        """Run one storage operation on a connection of its own, on a thread of its own.

        Test set-up, like the management commands beside a running hub: callable without
        ``await`` (the test's loop waits, as it did when storage was synchronous).
        """

        async def run() -> T:
            storage = await SqliteStorage.open(self.config.db_path)
            try:
                return await operation(storage)
            finally:
                await storage.close()

        with ThreadPoolExecutor(1, thread_name_prefix="hub-test-setup") as pool:
            return pool.submit(asyncio.run, run()).result()


@asynccontextmanager
async def running_hub(
    tmp_path: Path,
    *,
    clock: Callable[[], float] = time.time,
    open_storage: OpenStorage = SqliteStorage.open,
    **config_overrides: Any,
) -> AsyncIterator[RunningHub]:
    """Run a hub with its database in ``tmp_path`` on a free loopback port."""
    # Device tokens on (off in production): the tests' kiosks predate enrolment and use them.
    settings: dict[str, Any] = {
        "db_path": tmp_path / "hub.sqlite3",
        "port": 0,
        "allow_device_tokens": True,
    }
    settings.update(config_overrides)
    config = HubConfig(**settings)
    app = create_app(config, clock=clock, open_storage=open_storage)
    runner = make_runner(app)  # as `kiosk-hub serve` does: connection limits, quiet errors
    await runner.setup()
    try:
        site = HubSite(runner, "127.0.0.1", config.port)
        await site.start()
        port = int(runner.addresses[0][1])
        yield RunningHub(
            url=f"http://127.0.0.1:{port}",
            ws_url=f"ws://127.0.0.1:{port}",
            config=config,
            app=app,
        )
    finally:
        await runner.cleanup()


@asynccontextmanager
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that keeps cookies set by 127.0.0.1 (aiohttp drops them by default).

    WebSockets it opened and a test left open are closed with it: left to the garbage
    collector, they warn "Unclosed connection" in whichever later test collects them.
    """
    sockets: list[aiohttp.ClientWebSocketResponse] = []  # held: none is collected unclosed

    class TrackedWebSocket(aiohttp.ClientWebSocketResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            sockets.append(self)

    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), ws_response_class=TrackedWebSocket
    ) as session:
        try:
            yield session
        finally:
            for ws in sockets:
                with contextlib.suppress(Exception):  # one that fails does not keep the rest open
                    await ws.close()


class SignallingPeer:
    """A WebSocket to the hub that sends and receives protocol messages."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.welcome: Welcome | None = None  # set by connect_adviser
        # /ws/kiosk opens with the hub's challenge: kept here, not returned by receive()
        self.challenge: Challenge | None = None
        # a queued kiosk's conversation references come beside the rest (their own task at
        # the hub): kept here, returned only by expect(ConsultationReference)
        self.references: list[ConsultationReference] = []
        self._held: list[AnyMessage] = []  # read while waiting for a reference; next in line
        self._first = True

    async def read_challenge(self) -> Challenge:
        """The first frame of ``/ws/kiosk``, which must be the hub's ``challenge``."""
        self._first = False
        challenge = await self.expect(Challenge)
        self.challenge = challenge
        return challenge

    async def send(self, message: AnyMessage) -> None:
        """Send one encoded message."""
        await self.ws.send_str(encode(message))

    async def send_raw(self, text: str) -> None:
        """Send a text frame as is (for bad-input tests)."""
        await self.ws.send_str(text)

    async def receive(self, within: float = RECEIVE_TIMEOUT_S) -> AnyMessage:
        """The next message; fails on close or timeout."""
        if self._held:
            return self._held.pop(0)
        while isinstance(message := await self._next(within), ConsultationReference):
            self.references.append(message)
        return message

    async def frame(self, within: float = RECEIVE_TIMEOUT_S) -> aiohttp.WSMessage:
        """The next raw frame (a close, say); a conversation reference is kept aside."""
        while True:
            frame = await self.ws.receive(timeout=within)
            if frame.type is aiohttp.WSMsgType.TEXT and '"reference"' in frame.data:
                message = decode(frame.data)
                if isinstance(message, ConsultationReference):
                    self.references.append(message)
                    continue
            return frame

    async def _next(self, within: float) -> AnyMessage:
        """The next frame's message, references included (the challenge is kept aside)."""
        frame = await self.ws.receive(timeout=within)
        if frame.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"expected a text frame, got {frame.type!r} {frame.data!r}")
        message = decode(frame.data)
        first, self._first = self._first, False
        if first and isinstance(message, Challenge):
            self.challenge = message
            return await self._next(within)
        return message

    async def expect(self, kind: type[M], within: float = RECEIVE_TIMEOUT_S) -> M:
        """The next message, which must be of type ``kind`` (references: the oldest kept)."""
        if kind is ConsultationReference:
            return await self._reference(within)  # type: ignore[return-value]
        message = await self.receive(within)
        if not isinstance(message, kind):
            raise AssertionError(f"expected {kind.__name__}, got {message!r}")
        return message

    async def _reference(self, within: float) -> ConsultationReference:
        """The oldest reference kept or still to come; what comes first is kept in line."""
        held: list[AnyMessage] = []
        try:
            async with asyncio.timeout(within):
                while not self.references:
                    message = await self._next(within)
                    if isinstance(message, ConsultationReference):
                        self.references.append(message)
                    else:
                        held.append(message)
        finally:
            self._held = held + self._held
        return self.references.pop(0)

    async def expect_silence(self, seconds: float = 0.2) -> None:
        """Assert that nothing arrives for a short while (a conversation reference is kept)."""
        if self._held:
            raise AssertionError(f"expected no message, got {self._held[0]!r}")
        try:
            frame = await self.frame(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected no message, got {frame.type!r} {frame.data!r}")

    async def close(self) -> None:
        """Close the WebSocket."""
        await self.ws.close()


async def connect_kiosk(http: aiohttp.ClientSession, hub: RunningHub, token: str) -> SignallingPeer:
    """Open ``/ws/kiosk`` and authenticate; returns after the welcome."""
    peer = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    await peer.send(Hello(role="kiosk", token=token))
    peer.welcome = await peer.expect(Welcome)
    return peer


async def login(http: aiohttp.ClientSession, hub: RunningHub, name: str, password: str) -> str:
    """Log in through the JSON API (with the double-submit CSRF); return the session's csrf."""
    async with http.get(f"{hub.url}/api/csrf") as response:
        pre = (await response.json())["csrf"]
    async with http.post(
        f"{hub.url}/api/login",
        json={"name": name, "password": password},
        headers={"X-CSRF-Token": pre},
    ) as response:
        if response.status != 200:
            raise AssertionError(f"login failed with {response.status}")
        csrf: str = (await response.json())["csrf"]
        return csrf


async def connect_adviser(
    http: aiohttp.ClientSession, hub: RunningHub, name: str, password: str
) -> SignallingPeer:
    """Log in, open ``/ws/adviser`` and say hello; returns after welcome (queue not read)."""
    csrf = await login(http, hub, name, password)
    ws = await http.ws_connect(f"{hub.ws_url}/ws/adviser", headers={"Origin": hub.url})
    peer = SignallingPeer(ws)
    await peer.send(Hello(role="adviser", csrf=csrf))
    peer.welcome = await peer.expect(Welcome)
    return peer


@dataclass
class PairedCall:
    """A kiosk and an adviser in one consultation, with their resume tokens."""

    kiosk: SignallingPeer
    adviser: SignallingPeer
    consultation_id: str
    kiosk_grant: ResumeGrant
    adviser_grant: ResumeGrant


async def pair_call(
    http: aiohttp.ClientSession,
    hub: RunningHub,
    device_token: str,
    adviser: str,
    password: str,
) -> PairedCall:
    """Connect a kiosk and an adviser, queue, accept; read up to both ``resume_grant``s.

    The adviser's queue announcements are read; nothing else is left unread.
    """
    kiosk = await connect_kiosk(http, hub, device_token)
    console = await connect_adviser(http, hub, adviser, password)
    await console.expect(Queue)
    await kiosk.send(QueueRequest())
    position = await kiosk.expect(QueuePosition)
    await console.expect(Queue)
    await console.send(Accept(consultation_id=position.consultation_id))
    await console.expect(Accepted)
    adviser_grant = await console.expect(ResumeGrant)
    await console.expect(Queue)  # without the accepted kiosk
    await kiosk.expect(Accepted)
    kiosk_grant = await kiosk.expect(ResumeGrant)
    return PairedCall(kiosk, console, position.consultation_id, kiosk_grant, adviser_grant)


async def resume(peer: SignallingPeer, grant: ResumeGrant) -> None:
    """Send ``resume`` with a grant's consultation id and token (the answer is not read)."""
    await peer.send(Resume(consultation_id=grant.consultation_id, token=grant.token))


async def settle() -> None:
    """Give the hub a moment to process frames already sent."""
    await asyncio.sleep(0.05)


class FakeClock:
    """A clock for ``create_app(clock=...)`` that moves only when told."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll until ``check`` holds (the hub's database, a bridge's view); fails naming ``what``."""
    try:
        async with asyncio.timeout(15):
            while not await check():  # noqa: ASYNC110 - polls the hub's database
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"no {what} within 15 s") from None
