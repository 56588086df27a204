"""The exchange tests' shared harness: one consultation the adviser accepted on the real hub,
the kiosk's relay client to it and a real session vault (tests/appliance/test_exchange*.py and
test_signature_exchange.py).

The adviser's side is played over HTTP with its session cookie and CSRF token, like the
console does; the data channel is the ``send`` callable and ``handle``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import av

from appliance.custody.vault import SessionVault
from appliance.exchange.service import Exchange
from appliance.exchange.state import ExchangeState
from appliance.exchange.transfer import ExchangeLimits, Relay, RelayClient
from drivers.camera.simulated import SimulatedCamera
from drivers.scanner import (
    DocumentScanner,
    PageSink,
    ProgressCallback,
    ScannerInfo,
    ScanSettings,
)
from protocol.channel import ChannelMessage, FileOffer, RequestStatus
from protocol.messages import (
    Accept,
    Accepted,
    Hello,
    Queue,
    QueuePosition,
    QueueRequest,
    Welcome,
)
from protocol.sealed import MIN_CHUNK, Opener, new_key, seal_bytes
from tests.support.hub import (
    RunningHub,
    SignallingPeer,
    connect_kiosk,
    http_session,
    login,
    running_hub,
)

MIB = 1024 * 1024
PASSWORD = "correct horse battery"
CANARY = "Canary-Kontoauszug-7f3a"
PDF = b"%PDF-1.4\n" + CANARY.encode() + os.urandom(20_000) + b"\n%%EOF\n"
M = TypeVar("M")


def files_under(root: Path) -> list[Path]:
    """Every file below ``root`` (what a failed transfer must not leave behind)."""
    return sorted(p for p in root.rglob("*") if p.is_file())


@dataclass
class Console:
    """The adviser's end: the relay over HTTP (cookie + CSRF) and the channel's messages."""

    hub: RunningHub
    http: aiohttp.ClientSession
    consultation: str
    csrf: str
    received: list[ChannelMessage] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, message: ChannelMessage) -> None:
        """The kiosk's ``send``: what the adviser receives on the data channel."""
        self.received.append(message)
        self.arrived.set()

    async def expect(
        self, kind: type[M], where: Callable[[M], bool] = lambda m: True, within: float = 20
    ) -> M:
        """Wait for a message of ``kind`` (matching ``where``); earlier ones stay listed."""
        async with asyncio.timeout(within):
            while True:
                for message in self.received:
                    if isinstance(message, kind) and where(message):
                        return message
                self.arrived.clear()
                await self.arrived.wait()

    def statuses(self, request_id: str) -> list[str]:
        """The states the kiosk reported for one scan or photo request, in order."""
        return [
            m.state for m in self.received if isinstance(m, RequestStatus) and m.id == request_id
        ]

    async def upload(self, blob: bytes) -> str:
        """Put a sealed blob on the hub's relay as the adviser; returns its id."""
        async with self.http.post(
            f"{self.hub.url}/api/relay/{self.consultation}",
            data=io.BytesIO(blob),
            headers={"X-CSRF-Token": self.csrf, "Content-Type": "application/octet-stream"},
        ) as response:
            assert response.status == 201, await response.text()
            blob_id: str = (await response.json())["blob"]
            return blob_id

    async def fetch(self, offer: FileOffer) -> bytes:
        """Download and open what the kiosk offered (checking everything, as the console)."""
        async with self.http.get(
            f"{self.hub.url}/api/relay/{self.consultation}/{offer.blob}",
            headers={"X-CSRF-Token": self.csrf},
        ) as response:
            assert response.status == 200
            sealed = await response.read()
        opener = Opener(bytes.fromhex(offer.key), offer.id, size=offer.size, sha256=offer.sha256)
        data = b"".join(opener.feed(sealed))
        opener.finish()
        return data

    async def blob_status(self, blob: str) -> int:
        """The HTTP status of fetching ``blob`` (404 once it was deleted)."""
        async with self.http.get(
            f"{self.hub.url}/api/relay/{self.consultation}/{blob}",
            headers={"X-CSRF-Token": self.csrf},
        ) as response:
            return response.status

    async def offer(
        self,
        data: bytes,
        *,
        mime: str = "application/pdf",
        purpose: str = "file",
        tid: str | None = None,
        mangle: Callable[[bytes], bytes] = lambda b: b,
        **changes: Any,
    ) -> FileOffer:
        """Seal ``data`` with a fresh key, upload it (maybe mangled), return the offer."""
        tid = tid or "adv-" + os.urandom(6).hex()
        key = new_key()
        blob = mangle(seal_bytes(key, tid, data, MIN_CHUNK))
        offer = FileOffer(
            id=tid,
            name=f"{CANARY}.pdf",
            size=len(data),
            mime=mime,
            sha256=hashlib.sha256(data).hexdigest(),
            purpose=purpose,  # type: ignore[arg-type]
            blob=await self.upload(blob),
            key=key.hex(),
        )
        return replace(offer, **changes)


class SwitchedRelay:
    """The kiosk's relay, replaceable mid-test (``target``), counting uploads in flight."""

    def __init__(self, target: Relay) -> None:
        self.target = target
        self.uploading = 0
        self.upload_started = asyncio.Event()

    async def upload(
        self, body: AsyncIterator[bytes], length: int, transfer_id: str | None = None
    ) -> str:
        self.uploading += 1
        self.upload_started.set()
        try:
            return await self.target.upload(body, length, transfer_id)
        finally:
            self.uploading -= 1

    def download(self, blob: str) -> AsyncIterator[bytes]:
        return self.target.download(blob)

    async def cancel(self, transfer_id: str) -> None:
        await self.target.cancel(transfer_id)

    async def delete(self, blob: str) -> None:
        await self.target.delete(blob)


class SwitchedScanner:
    """A scanner replaceable mid-test (``target``): a slow one first, then a quick one."""

    def __init__(self, target: DocumentScanner) -> None:
        self.target = target

    async def describe(self) -> ScannerInfo:
        return await self.target.describe()

    async def scan(
        self, settings: ScanSettings, sink: PageSink, progress: ProgressCallback | None = None
    ) -> int:
        return await self.target.scan(settings, sink, progress)

    def cancel(self) -> None:
        self.target.cancel()


class Screen:
    """The ExchangeObserver: every snapshot the kiosk's screen was given."""

    def __init__(self) -> None:
        self.states: list[ExchangeState] = []
        self.changed = asyncio.Event()

    def exchange_changed(self, state: ExchangeState) -> None:
        self.states.append(state)
        self.changed.set()


@dataclass
class Setup:
    """What a test gets: the adviser's console, the kiosk's relay and vault, the screen."""

    console: Console
    relay: RelayClient
    vault: SessionVault
    screen: Screen
    tmp: Path

    def exchange(self, **kwargs: Any) -> Exchange:
        """A kiosk-side Exchange wired to this setup (``kwargs`` override the defaults)."""
        options: dict[str, Any] = {
            "vault": self.vault,
            "send": self.console.send,
            "relay": self.relay,
            "scanner": None,
            "latest_frame": lambda: None,
            "limits": ExchangeLimits(max_file_bytes=MIB),
            "auto_confirm": False,
            "observer": self.screen,
            "photo_countdown_s": 0,
        }
        options.update(kwargs)
        exchange = Exchange(**options)
        SCREENS[exchange] = options["observer"]
        return exchange


# The Screen each exchange was given, for settled() to wait on.
SCREENS: weakref.WeakKeyDictionary[Exchange, Screen] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def exchange_setup(tmp_path: Path) -> AsyncIterator[Setup]:
    """A consultation the adviser accepted on a real hub, with the kiosk's relay and vault."""
    async with running_hub(tmp_path) as hub, http_session() as http:
        hub.add_adviser("alice", PASSWORD)
        token = hub.add_device("kiosk-1")
        kiosk = await connect_kiosk(http, hub, token)
        csrf = await login(http, hub, "alice", PASSWORD)
        ws = await http.ws_connect(f"{hub.ws_url}/ws/adviser", headers={"Origin": hub.url})
        adviser = SignallingPeer(ws)
        await adviser.send(Hello(role="adviser", csrf=csrf))
        await adviser.expect(Welcome)
        await adviser.expect(Queue)
        await kiosk.send(QueueRequest())
        position = await kiosk.expect(QueuePosition)
        await adviser.expect(Queue)
        await adviser.send(Accept(consultation_id=position.consultation_id))
        await kiosk.expect(Accepted)
        await adviser.expect(Accepted)
        console = Console(hub, http, position.consultation_id, csrf)
        (tmp_path / "vault").mkdir()
        vault = SessionVault(tmp_path / "vault", max_file_bytes=8 * MIB, max_session_bytes=32 * MIB)
        async with aiohttp.ClientSession() as kiosk_http:
            relay = RelayClient(
                kiosk_http,
                hub_url=hub.ws_url,
                token=token,
                consultation_id=position.consultation_id,
            )
            yield Setup(console, relay, vault, Screen(), tmp_path)


async def settled(exchange: Exchange, check: Callable[[ExchangeState], bool]) -> ExchangeState:
    """Wait until the exchange's snapshot passes ``check`` (woken by the observer)."""
    screen = SCREENS[exchange]
    async with asyncio.timeout(20):
        while not check(exchange.state):
            screen.changed.clear()
            await screen.changed.wait()
    return exchange.state


async def camera_still() -> av.VideoFrame:
    """One frame of the simulated camera (what ``latest_frame`` hands the exchange)."""
    camera = SimulatedCamera(1280, 720)
    await camera.start()
    try:
        return await camera.frame()
    finally:
        await camera.stop()
