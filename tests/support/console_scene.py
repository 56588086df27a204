"""A verified call with the console in Chromium and the kiosk in this process (tests/e2e).

The console runs in Debian's Chromium against the real hub (its relay carries the sealed
bytes); the kiosk runs in this process with simulated camera and microphone, the SANE test
scanner, a real vault on tmpfs and the simulated customer (it confirms scans and photos by
itself), so a test can look into the kiosk's vault and its ``ExchangeState``. ``call_scene``
brings the three through accept and verification to an open exchange.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from appliance.call.ice import restore_host_addresses, use_host_addresses
from appliance.config.kiosk import KioskConfig
from appliance.config.vault import MIB, VaultSettings
from appliance.custody.session import SessionCustody
from appliance.custody.vault import Artifact, ArtifactKind
from appliance.exchange.state import ExchangeState
from appliance.runner.kiosk import Kiosk
from appliance.runner.simulated_customer import SimulatedCustomer
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from drivers.scanner.sane import SaneScanner
from hub.relay import RELAY
from testbed.browser import Console, browser, chromium_missing_message, console_page
from testbed.stack import HarnessError, wait_until
from tests.support.documents import write_pdf
from tests.support.hub import RunningHub, running_hub
from tests.support.mounts import tmpfs
from tests.support.netns import require_loopback_only_netns
from tests.support.requirements import require, require_tool

ADVISER = "ann"
PASSWORD = "correct horse battery staple"


def pdf_bytes(payload_size: int, seed: int) -> bytes:
    """A valid PDF whose one stream object carries ``payload_size`` random bytes."""
    payload = random.Random(seed).randbytes(payload_size)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % 0,  # replaced below
    ]
    content = zlib.compress(b"BT /F1 12 Tf 72 720 Td (Branch Kiosk) Tj ET")
    objects[3] = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content
    objects[3] += b"\nendstream"
    objects.append(b"<< /Length %d >>\nstream\n" % len(payload) + payload + b"\nendstream")
    return write_pdf(objects)


@dataclass
class KioskWatch:
    """The kiosk observer of the scene: exchange snapshots, shared-screen frames, chat."""

    state: ExchangeState | None = None
    screen_frames: int = 0
    screen_size: tuple[int, int] | None = None
    chats: list[str] = field(default_factory=list)
    sharing: list[bool] = field(default_factory=list)  # screen_share, each change

    def changed(self) -> None:
        pass

    def video_frame(self, frame: av.VideoFrame) -> None:
        pass

    def chat_received(self, text: str) -> None:
        self.chats.append(text)

    def channel_opened(self) -> None:
        pass

    def exchange_changed(self, state: ExchangeState | None) -> None:
        self.state = state
        sharing = state is not None and state.screen_share
        if not self.sharing or self.sharing[-1] != sharing:
            self.sharing.append(sharing)

    def screen_frame(self, frame: av.VideoFrame) -> None:
        self.screen_frames += 1
        self.screen_size = (frame.width, frame.height)


@dataclass
class Scene:
    """One verified call: the console's page, the kiosk in this process, the hub."""

    hub: RunningHub
    kiosk: Kiosk
    watch: KioskWatch
    console: Console
    consultation_id: str

    @property
    def page(self) -> Any:
        return self.console.page

    def relay_blobs(self) -> int:
        return self.hub.app[RELAY].stats()["blobs"]

    def artifacts(self, kind: ArtifactKind) -> list[Artifact]:
        return [a for a in self.kiosk.vault.artifacts if a.kind == kind]

    def vault_bytes(self, artifact: Artifact) -> bytes:
        return self.kiosk.vault.read_bytes(artifact)

    async def until(self, predicate: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
        """Wait until ``predicate()`` holds (the kiosk runs on this loop meanwhile); a timeout
        says where the kiosk stood, so that a rare failure in CI can be read from its log."""
        try:
            await wait_until(predicate, timeout_s, what)
        except HarnessError as exc:
            kiosk = self.kiosk
            raise HarnessError(
                f"{exc}; the kiosk: phase {kiosk.phase.name}, words shown "
                f"{kiosk.verification_code is not None}, exchange {kiosk.exchange is not None}"
            ) from exc


@asynccontextmanager
async def call_scene(tmp_path: Path, *, max_file_bytes: int | None = None) -> AsyncIterator[Scene]:
    """Hub, kiosk and console, through accept and verification to an open exchange."""
    require_loopback_only_netns()
    missing = chromium_missing_message()
    require(missing is None, missing or "")
    scanimage = require_tool("scanimage", "sane-utils")
    previous = use_host_addresses(["127.0.0.1"])
    try:
        with tmpfs(tmp_path / "vault", "192m") as vault_dir:
            async with running_hub(tmp_path) as hub:
                if max_file_bytes is not None:
                    await hub.storage.set_max_file_bytes("default", max_file_bytes)
                token = hub.add_device("kiosk-1")
                hub.add_adviser(ADVISER, PASSWORD)
                config = KioskConfig(
                    token=token,
                    hub_url=hub.ws_url,
                    simulate=True,
                    ice_host_addresses=("127.0.0.1",),
                    reconnect_min_s=0.05,
                    reconnect_max_s=0.2,
                    vault=VaultSettings(
                        path=vault_dir,
                        size_bytes=192 * MIB,
                        max_file_bytes=64 * MIB,
                        max_session_bytes=160 * MIB,
                    ),
                )
                scan_dir = tmp_path / "scan"
                scan_dir.mkdir()
                kiosk = Kiosk(
                    config,
                    SimulatedCamera(),
                    SimulatedMicrophone(),
                    custody=SessionCustody(config.vault, production=False),
                    scanner=SaneScanner("test", scanimage=scanimage, work_dir=scan_dir),
                )
                kiosk.add_observer(SimulatedCustomer(kiosk))
                watch = KioskWatch()
                kiosk.add_observer(watch)
                task = asyncio.create_task(kiosk.run())
                try:
                    async with browser() as chromium, console_page(chromium, hub.url) as console:
                        await console.login(ADVISER, PASSWORD)
                        cid = await console.wait_for_entry()
                        await console.accept(cid)
                        page = console.page
                        await page.wait_for_selector("#call-code:not([hidden])", timeout=30000)
                        await page.wait_for_selector('#exchange[data-ready="true"]', timeout=15000)
                        scene = Scene(hub, kiosk, watch, console, cid)
                        await scene.until(lambda: kiosk.exchange is not None, "the exchange")
                        yield scene
                        assert not console.console_errors, console.console_errors
                finally:
                    kiosk.request_stop()
                    async with asyncio.timeout(15):
                        await task
    finally:
        restore_host_addresses(previous)


# -- the console's file lists ------------------------------------------------------------


async def choose_file(scene: Scene, name: str, mime: str, data: bytes, *, show: bool) -> None:
    """Pick a file in the console's file input, as the adviser would (Show at kiosk or not)."""
    await scene.page.set_checked("#file-show-at-kiosk", show)
    await scene.page.set_input_files(
        "#file-input", files=[{"name": name, "mimeType": mime, "buffer": data}]
    )


async def sent_entry(scene: Scene, state: str, timeout_s: float = 60) -> str:
    """Wait for a sent entry in ``state``; its transfer id."""
    li = await scene.page.wait_for_selector(
        f'#sent-list .transfer[data-state="{state}"]', timeout=timeout_s * 1000
    )
    transfer_id: str = await li.get_attribute("data-transfer-id")
    return transfer_id


async def received_entry(scene: Scene, selector: str = "", timeout_s: float = 60) -> str:
    """Wait for a received entry that is done (and matches ``selector``); its transfer id."""
    li = await scene.page.wait_for_selector(
        f'#received-list .transfer[data-state="done"]{selector}', timeout=timeout_s * 1000
    )
    transfer_id: str = await li.get_attribute("data-transfer-id")
    return transfer_id
