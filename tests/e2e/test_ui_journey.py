"""The customer's whole journey on the real touch UI, against the real hub and an adviser peer.

Three threads, as in production plus a "world": the **main thread** runs the pygame UI on SDL's
dummy driver (``run_with_ui``), the **kiosk loop** runs the real ``Kiosk`` with session custody
and the ``UiBridge``, and a **world loop** runs the hub and the aiortc adviser. A robot finger
(called after every presented frame) posts real SDL mouse and finger events at the centres of
the buttons the UI just drew, so the real screens, hit-testing and intents are exercised.

Media flows over 127.0.0.1 only (loopback-only network namespace, like the other call tests).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pygame
import pytest

from appliance.config.kiosk import KioskConfig
from appliance.config.vault import MIB, VaultSettings
from appliance.custody.session import SessionCustody
from appliance.runner.kiosk import Kiosk
from appliance.session.journey import Journey
from appliance.ui.bridge import UiBridge
from appliance.ui.launch import run_with_ui
from kiosk_ui import layout as lay
from kiosk_ui import viewmodels as v
from kiosk_ui.app import KioskUi
from kiosk_ui.viewmodels import Screen
from protocol import messages
from tests.support.adviser import AdviserPeer
from tests.support.call import answer, bridged_kiosk
from tests.support.hub import RunningHub, SignallingPeer, connect_adviser, http_session, running_hub
from tests.support.mounts import unmount

pytestmark = pytest.mark.usefixtures("dummy_sdl")

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
SIZE = (800, 480)
STEP_TIMEOUT_S = 30.0
# Umlauts and ß typed on the on-screen keyboard; also the canary for the privacy checks.
NAME = "Jürgen Weiß"
TOPIC = "girokonto"


class World:
    """An event loop in its own thread for the hub and the adviser."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="world", daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return self.submit(coro).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class AdviserSide:
    """What the adviser saw."""

    consultation_id: str | None = None
    video_frames: int = 0
    intake: list[tuple[str, str]] = field(default_factory=list)
    ended: messages.Ended | None = None
    # Set by the robot once the customer saw the waiting screen: the adviser accepts only then.
    waiting_shown: threading.Event = field(default_factory=threading.Event)


async def next_message(peer: SignallingPeer, kind: type[T], within: float = 60.0) -> T:
    """The next message of ``kind``, skipping anything else on the way."""
    async with asyncio.timeout(within):
        while True:
            message = await peer.receive(within)
            if isinstance(message, kind):
                return message


async def adviser_takes_the_call(hub: RunningHub, seen: AdviserSide) -> None:
    """Wait for the customer in the queue, accept, answer; wait for their hang-up."""
    async with http_session() as http:
        peer = await connect_adviser(http, hub, "ann", PASSWORD)
        adviser: AdviserPeer | None = None
        try:
            async with asyncio.timeout(60):
                while True:
                    queue = await next_message(peer, messages.Queue)
                    if queue.entries:
                        break
            cid = queue.entries[0].consultation_id
            seen.consultation_id = cid
            assert await asyncio.to_thread(seen.waiting_shown.wait, 30)
            await peer.send(messages.Accept(consultation_id=cid))
            adviser = AdviserPeer()  # commits first, reveals when the channel opens
            await peer.send(messages.SasCommit(consultation_id=cid, commitment=adviser.commitment))
            offer = await next_message(peer, messages.Offer, 15)
            await answer(peer, adviser, offer, end_of_candidates=True)
            await adviser.probe.wait_video(15)
            seen.intake = await adviser.wait_intake(15)
            seen.ended = await next_message(peer, messages.Ended, 60)
            seen.video_frames = adviser.probe.video_frames
        finally:
            if adviser is not None:
                await adviser.close()
            await peer.close()


class Robot:
    """A finger that follows a script, one step per presented frame (runs on the UI thread)."""

    def __init__(self, ui: KioskUi, script: Callable[[Robot], Iterator[None]]) -> None:
        self.ui = ui
        self._script = script(self)
        self.finished = False
        self.screens: list[Screen] = []

    def __call__(self) -> None:
        screen = self.ui.view.screen
        if not self.screens or self.screens[-1] is not screen:
            self.screens.append(screen)
        if self.finished:
            return
        try:
            next(self._script)
        except StopIteration:
            self.finished = True
            pygame.event.post(pygame.event.Event(pygame.QUIT))

    # -- script helpers (generators: each ``yield`` waits one frame) --------------------

    def until(self, condition: Callable[[], bool], what: str) -> Iterator[None]:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what} (on {self.ui.view.screen})")
            yield

    def on(self, screen: Screen) -> Iterator[None]:
        yield from self.until(lambda: self.ui.view.screen is screen, f"screen {screen}")

    def tap(self, action: lay.Action, *, finger: bool = False) -> Iterator[None]:
        """Wait until a button for ``action`` is drawn, then press and release it."""
        found: list[lay.Button] = []

        def drawn() -> bool:
            button = self.ui.button_for(action)
            found[:] = [button] if button is not None else []
            return button is not None

        yield from self.until(drawn, f"a button for {action}")
        x, y = found[0].rect.center
        if finger:
            w, h = SIZE
            for kind in (pygame.FINGERDOWN, pygame.FINGERUP):
                pygame.event.post(
                    pygame.event.Event(kind, x=x / w, y=y / h, dx=0.0, dy=0.0, finger_id=0)
                )
        else:
            for kind in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP):
                pygame.event.post(pygame.event.Event(kind, pos=(x, y), button=1, touch=False))
        yield  # the events are handled at the start of the next frame

    def type(self, text: str) -> Iterator[None]:
        for ch in text:
            if ch.isupper():
                yield from self.tap(lay.Key("shift"))
            yield from self.tap(lay.Key(ch), finger=ch.islower())


@dataclass
class Rig:
    """Everything a UI journey runs against."""

    world: World
    hub: RunningHub
    kiosk: Kiosk
    bridge: UiBridge
    custody: SessionCustody
    vault: Path


def build_rig(tmp_path: Path, stack: AsyncExitStack, world: World) -> Rig:
    hub = world.run(stack.enter_async_context(running_hub(tmp_path)))

    async def accounts() -> str:
        hub.add_adviser("ann", PASSWORD)
        return hub.add_device("kiosk-1")

    token = world.run(accounts())
    config = KioskConfig(
        token=token,
        hub_url=hub.ws_url,
        simulate=True,
        ice_host_addresses=("127.0.0.1",),
        reconnect_min_s=0.05,
        reconnect_max_s=0.3,
    )
    vault = tmp_path / "vault"
    vault.mkdir()
    # As root the custody mounts its own tmpfs here (inside the suite's mount namespace).
    custody = SessionCustody(
        VaultSettings(path=vault, size_bytes=16 * MIB, max_file_bytes=MIB, max_session_bytes=MIB),
        production=False,
    )
    kiosk, bridge = bridged_kiosk(config, custody, Journey())
    return Rig(world, hub, kiosk, bridge, custody, vault)


def hub_database_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.glob("hub.sqlite3*"))


@pytest.mark.usefixtures("loopback_only_netns")  # media only on 127.0.0.1
def test_whole_journey_by_touch_with_an_adviser(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world = World()
    stack = AsyncExitStack()
    rig = build_rig(tmp_path, stack, world)
    ui = KioskUi(SIZE)
    seen = AdviserSide()
    wipes: list[v.WipeView] = []

    def script(robot: Robot) -> Iterator[None]:
        yield from robot.on(Screen.ATTRACT)
        yield from robot.until(lambda: rig.custody.ready, "the startup wipe")
        yield from robot.tap(v.Start(), finger=True)
        yield from robot.on(Screen.LANGUAGE)  # the header has a "DE" button too
        yield from robot.tap(v.ChooseLanguage("de"))
        yield from robot.on(Screen.CONSENT)
        yield from robot.tap(lay.Scroll(3))
        yield from robot.tap(v.AcceptConsent(), finger=True)
        yield from robot.on(Screen.INTAKE)
        yield from robot.type(NAME)
        yield from robot.tap(lay.Focus("topic"))
        yield from robot.type(TOPIC)
        assert ui.local.values == {"name": NAME, "topic": TOPIC}
        yield from robot.tap(lay.SubmitForm())
        yield from robot.on(Screen.WAITING)
        seen.waiting_shown.set()
        yield from robot.on(Screen.CALL)
        yield from robot.until(lambda: ui.view.call.connected, "the call to connect")
        yield from robot.until(lambda: rig.bridge.remote_video() is not None, "remote video")
        yield from robot.until(lambda: bool(seen.intake), "the adviser to get the intake")
        yield from robot.tap(v.HangUp())
        yield from robot.on(Screen.GOODBYE)
        yield from robot.until(lambda: ui.view.wipe is not None, "the wipe report")
        assert ui.view.wipe is not None
        wipes.append(ui.view.wipe)
        yield from robot.tap(v.Done(), finger=True)
        yield from robot.on(Screen.ATTRACT)

    robot = Robot(ui, script)
    adviser = world.submit(adviser_takes_the_call(rig.hub, seen))
    try:
        run_with_ui(rig.kiosk, rig.bridge, mode="headless", size=SIZE, ui=ui, on_frame=robot)
        adviser.result(30)
    finally:
        adviser.cancel()
        world.run(stack.aclose())
        db = hub_database_bytes(tmp_path)
        world.close()
        unmount(rig.vault)
    assert robot.finished
    assert robot.screens == [
        Screen.ATTRACT,
        Screen.LANGUAGE,
        Screen.CONSENT,
        Screen.INTAKE,
        Screen.WAITING,
        Screen.CALL,
        Screen.GOODBYE,
        Screen.ATTRACT,
    ]
    # Media flowed both ways; the adviser saw the customer hang up.
    stats = rig.kiosk.stats[-1]
    assert stats.video_frames_received > 0 and stats.end_reason == "customer_left"
    assert seen.video_frames > 0 and seen.ended is not None
    assert seen.ended.reason == "customer_left"
    # What the customer typed reached the adviser end to end, and nowhere else.
    assert seen.intake == [("name", NAME), ("topic", TOPIC)]
    for secret in (NAME, "Weiß", TOPIC):
        assert secret.encode() not in db
        assert secret not in caplog.text
        assert not any(secret in str(r.args) for r in caplog.records)
    # Goodbye showed the verified wipe of this session.
    assert wipes[0].verified and wipes[0].method
    triggers = [r.trigger for r in rig.custody.reports]
    assert triggers[:2] == ["startup", "hangup"] and rig.custody.reports[1].verified
    assert not rig.custody.in_session


def test_declined_consent_stores_and_sends_nothing(tmp_path: Path) -> None:
    world = World()
    stack = AsyncExitStack()
    rig = build_rig(tmp_path, stack, world)
    ui = KioskUi(SIZE)
    quiet: list[str] = []

    async def adviser_watches() -> None:
        async with http_session() as http:
            peer = await connect_adviser(http, rig.hub, "ann", PASSWORD)
            try:
                # Anything the kiosk queues is announced to every adviser of the tenant.
                while True:
                    message = await peer.receive(60)
                    if isinstance(message, messages.Queue) and message.entries:
                        raise AssertionError("the kiosk queued after a declined consent")
            except asyncio.CancelledError:
                quiet.append("no queue entry")
                raise
            finally:
                await peer.close()

    watcher = world.submit(adviser_watches())

    def script(robot: Robot) -> Iterator[None]:
        yield from robot.until(lambda: rig.custody.ready, "the startup wipe")
        yield from robot.until(lambda: rig.kiosk.phase == "queueing", "the hub's welcome")
        yield from robot.tap(v.Start())
        yield from robot.on(Screen.LANGUAGE)
        yield from robot.tap(v.ChooseLanguage("en"))
        yield from robot.tap(v.AcceptConsent())  # accepted ...
        yield from robot.on(Screen.INTAKE)
        yield from robot.type("anna")
        yield from robot.tap(v.Abort())  # ... then the customer walks away from the form
        yield from robot.on(Screen.ATTRACT)
        yield from robot.tap(v.Start())
        yield from robot.on(Screen.LANGUAGE)
        yield from robot.tap(v.ChooseLanguage("de"))
        yield from robot.tap(v.DeclineConsent(), finger=True)
        yield from robot.on(Screen.ATTRACT)
        settle = time.monotonic() + 1.0
        yield from robot.until(lambda: time.monotonic() > settle, "a second of quiet")

    robot = Robot(ui, script)
    try:
        run_with_ui(rig.kiosk, rig.bridge, mode="headless", size=SIZE, ui=ui, on_frame=robot)
        assert not watcher.done(), watcher.exception() if watcher.done() else None
        watcher.cancel()
        with pytest.raises(concurrent.futures.CancelledError):
            watcher.result(5)
    finally:
        world.run(stack.aclose())
        world.close()
        unmount(rig.vault)
    assert robot.finished
    assert rig.bridge.actions == []  # nothing queued, nothing ended: nothing to send
    assert [r.trigger for r in rig.custody.reports] == ["startup", "shutdown"]
    assert all(r.files == 0 for r in rig.custody.reports)
    assert not any(rig.vault.iterdir())
