"""The UI bridge: views published by the loop, intents posted from the UI thread, video handed
over by reference, out of service from the first failed wipe, and shutdown without deadlock."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pygame
import pytest

from appliance.config.kiosk import KioskConfig
from appliance.config.vault import MIB, VaultSettings
from appliance.custody.session import SessionCustody
from appliance.runner.kiosk import Kiosk
from appliance.session import consultation as c
from appliance.session import journey as j
from appliance.ui.bridge import UiBridge
from appliance.ui.launch import run_with_ui
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from kiosk_ui import viewmodels as v
from kiosk_ui.viewmodels import Screen
from tests.support.fake_kiosk import FakeKiosk

VALUES = (("name", "Jürgen Weiß"), ("topic", "Konto"))


def closed_port() -> int:
    """A loopback port nobody listens on: the kiosk keeps reconnecting, never reaching a hub."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def offline_kiosk(custody: SessionCustody | None = None) -> Kiosk:
    config = KioskConfig(
        token="t0ken",
        hub_url=f"ws://127.0.0.1:{closed_port()}",
        simulate=True,
        reconnect_min_s=0.05,
        reconnect_max_s=0.2,
    )
    return Kiosk(
        config,
        SimulatedCamera(),
        SimulatedMicrophone(),
        custody=custody,
        queue_on_request=True,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bridge_with(
    kiosk: FakeKiosk,
    clock: Callable[[], float] | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
) -> UiBridge:
    return UiBridge(kiosk, j.Journey(hub_up=True), clock=clock or Clock(), loop=loop)


async def shows(bridge: UiBridge, screen: Screen, within: float = 5.0) -> None:
    """Wait until the published view shows ``screen``."""
    for _ in range(int(within / 0.02)):
        if bridge.current_view().screen is screen:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still on {bridge.current_view().screen}, expected {screen}")


def test_every_event_publishes_a_new_immutable_view() -> None:
    kiosk = FakeKiosk()
    bridge = bridge_with(kiosk)
    first = bridge.current_view()
    assert first.screen is Screen.ATTRACT and bridge in kiosk.observers
    bridge.handle(v.Start())
    second = bridge.current_view()
    assert second is not first and second.screen is Screen.LANGUAGE
    assert first.screen is Screen.ATTRACT  # what the UI already holds never changes
    for intent in (v.ChooseLanguage("en"), v.AcceptConsent(), v.SubmitIntake(VALUES)):
        bridge.handle(intent)
    assert bridge.current_view().screen is Screen.WAITING and kiosk.calls == ["queue"]
    bridge.handle(v.Abort())
    # Without custody nothing was stored: the bridge reports an empty wipe at once.
    assert kiosk.calls == ["queue", "leave", "end:customer_abort"]
    view = bridge.current_view()
    assert view.screen is Screen.GOODBYE and view.wipe is not None and view.wipe.files == 0


def test_intake_goes_to_the_adviser_only_when_the_channel_opens() -> None:
    kiosk = FakeKiosk()
    bridge = bridge_with(kiosk)
    bridge.channel_opened()  # no customer yet: nothing to send
    for intent in (v.Start(), v.ChooseLanguage("de"), v.AcceptConsent(), v.SubmitIntake(VALUES)):
        bridge.handle(intent)
    bridge.channel_opened()  # still waiting: not in a call
    assert kiosk.intakes == []
    bridge.handle(j.AdviserAccepted())
    bridge.channel_opened()
    assert kiosk.intakes == [VALUES]
    bridge.handle(v.HangUp())
    bridge.channel_opened()  # the session is over and its form gone
    assert kiosk.intakes == [VALUES] and bridge.journey.state.values == ()


def test_verification_code_and_refusal_reach_the_screen() -> None:
    kiosk = FakeKiosk()
    bridge = bridge_with(kiosk)
    for intent in (v.Start(), v.ChooseLanguage("de"), v.AcceptConsent(), v.SubmitIntake(VALUES)):
        bridge.handle(intent)
    kiosk.consultation.handle(c.Welcomed())
    kiosk.consultation.handle(c.Accepted("consult-0001", "Ann"))
    bridge.changed()
    assert bridge.current_view().call.verification_code is None
    kiosk.verification_code = "dog lake globe onion"
    bridge.changed()
    assert bridge.current_view().call.verification_code == "dog lake globe onion"
    # The kiosk refused the adviser: the call ends, goodbye says why in plain words.
    kiosk.verification_code = None
    kiosk.last_call_unverified = True
    kiosk.consultation.handle(c.CallFailed())
    bridge.changed()
    view = bridge.current_view()
    assert view.screen is Screen.GOODBYE and view.unverified


def test_the_code_is_hidden_while_reconnecting_until_the_proof() -> None:
    kiosk = FakeKiosk()
    bridge = bridge_with(kiosk)
    for intent in (v.Start(), v.ChooseLanguage("de"), v.AcceptConsent(), v.SubmitIntake(VALUES)):
        bridge.handle(intent)
    cid = "consult-0001"
    for event in (
        c.Welcomed(),
        c.Accepted(cid, "Ann"),
        c.CommitmentReceived(cid, "commitment"),
        c.CallPrepared(),
        c.AnswerReceived(cid, "sdp"),
        c.MediaConnected(),
        c.AdviserVerified(cid),
        c.ResumeGranted(cid),
    ):
        kiosk.consultation.handle(event)
        bridge.changed()
    kiosk.verification_code = "dog lake globe onion"
    bridge.changed()
    assert bridge.current_view().call.verification_code == "dog lake globe onion"
    # The path dies: the kiosk's code is None until the resumed call's proof checks out.
    kiosk.consultation.handle(c.DeadPath("silence"))
    kiosk.verification_code = None
    bridge.changed()
    view = bridge.current_view()
    assert view.call.reconnecting and view.call.verification_code is None
    kiosk.consultation.handle(c.CallPrepared())
    kiosk.consultation.handle(c.AnswerReceived(cid, "sdp2"))
    kiosk.consultation.handle(c.MediaConnected())
    bridge.changed()
    assert bridge.current_view().call.verification_code is None  # connected is not proven
    kiosk.consultation.handle(c.Reverified(cid))
    kiosk.verification_code = "dog lake globe onion"
    bridge.changed()
    view = bridge.current_view()
    assert not view.call.reconnecting
    assert view.call.verification_code == "dog lake globe onion"


def test_failed_wipe_shows_out_of_service_and_a_repair_brings_attract_back() -> None:
    kiosk = FakeKiosk()
    bridge = bridge_with(kiosk)
    bridge.handle(j.Tick())
    assert bridge.current_view().screen is Screen.ATTRACT
    kiosk.service_problem = "wipe failed: device busy"
    bridge.handle(j.Tick())
    view = bridge.current_view()
    assert view.screen is Screen.OUT_OF_SERVICE and view.problem == "wipe failed: device busy"
    session = view.session
    bridge.handle(j.Tick())
    assert bridge.current_view().session == session  # reported once, not on every tick
    kiosk.service_problem = None
    bridge.handle(j.Tick())
    assert bridge.current_view().screen is Screen.ATTRACT


async def test_startup_wipe_failure_shows_out_of_service(tmp_path: Path) -> None:
    # Production refuses a plain directory: the very first wipe cannot be verified.
    settings = VaultSettings(path=tmp_path / "vault", size_bytes=16 * MIB)
    custody = SessionCustody(settings, production=True, privileged=False)
    kiosk = offline_kiosk(custody)
    bridge = UiBridge(kiosk, j.Journey(), custody=custody)
    ticker = asyncio.create_task(bridge.run())
    task = asyncio.create_task(kiosk.run())
    try:
        await shows(bridge, Screen.OUT_OF_SERVICE)
        assert "tmpfs" in (bridge.current_view().problem or "")
        bridge.report(v.Start())  # the customer cannot start a session
        await asyncio.sleep(0.1)
        assert bridge.current_view().screen is Screen.OUT_OF_SERVICE
    finally:
        kiosk.request_stop()
        async with asyncio.timeout(5):
            await task
        ticker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ticker


async def test_intents_cross_from_another_thread_in_order() -> None:
    kiosk = FakeKiosk()
    bridge = bridge_with(kiosk, time.monotonic)
    bridge.report(v.Start())  # before the loop runs: dropped, never raises
    ticker = asyncio.create_task(bridge.run())
    await asyncio.sleep(0)
    intents: list[v.Intent] = [
        v.Start(),
        v.ChooseLanguage("en"),
        v.AcceptConsent(),
        v.SubmitIntake(VALUES),
    ]

    def post_all() -> None:
        for intent in intents:
            bridge.report(intent)

    ui_thread = threading.Thread(target=post_all)
    ui_thread.start()
    ui_thread.join()
    await shows(bridge, Screen.WAITING)
    assert kiosk.calls == ["queue"] and bridge.current_view().language == "en"
    ticker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ticker


def test_report_after_the_loop_closed_is_harmless() -> None:
    loop = asyncio.new_event_loop()
    bridge = bridge_with(FakeKiosk(), loop=loop)  # as if run() had started on it
    loop.close()
    bridge.report(v.Start())
    assert bridge.current_view().screen is Screen.ATTRACT


def test_video_frames_are_handed_over_by_reference_and_converted_once() -> None:
    bridge = bridge_with(FakeKiosk())
    assert bridge.remote_video() is None
    rgb = np.zeros((48, 64, 3), dtype=np.uint8)
    rgb[:, :, 0] = 200
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    bridge.video_frame(frame)  # on the loop: only a reference is kept
    assert bridge.media.latest_remote is frame
    seen: list[v.VideoFrame | None] = []
    reader = threading.Thread(target=lambda: seen.extend([bridge.remote_video()] * 1))
    reader.start()
    reader.join()
    first = seen[0]
    assert first is not None and (first.width, first.height) == (64, 48)
    assert len(first.rgb) == 64 * 48 * 3 and first.rgb[0] > 150  # red survived yuv420p
    assert bridge.remote_video() is first  # the same frame is converted once
    bridge.video_frame(frame.reformat(width=32, height=24))
    second = bridge.remote_video()
    assert second is not None and second.seq > first.seq and second.width == 32


def test_privacy_switches_reach_the_kiosk_and_the_self_view_shows_the_camera() -> None:
    kiosk = FakeKiosk()
    bridge = bridge_with(kiosk)
    for intent in (v.Start(), v.ChooseLanguage("en"), v.AcceptConsent(), v.SubmitIntake(VALUES)):
        bridge.handle(intent)
    bridge.handle(j.AdviserAccepted())
    for toggle in (v.ToggleMute(), v.ToggleCamera(), v.ToggleMute()):
        bridge.handle(toggle)
    assert bridge.actions[-3:] == [j.SetMute(True), j.SetCamera(True), j.SetMute(False)]
    assert kiosk.calls[-3:] == ["muted:True", "camera_off:True", "muted:False"]
    assert bridge.self_view() is None
    rgb = np.zeros((24, 32, 3), dtype=np.uint8)
    rgb[:, :, 2] = 220
    kiosk.latest_local_frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    first = bridge.self_view()
    assert first is not None and (first.width, first.height) == (32, 24) and first.rgb[2] > 150
    assert bridge.self_view() is first  # converted once per frame


@pytest.mark.usefixtures("dummy_sdl")
def test_closing_the_window_stops_the_kiosk_without_deadlock() -> None:
    kiosk = offline_kiosk()
    bridge = UiBridge(kiosk, j.Journey())
    frames: list[float] = []

    def close_after_a_few_frames() -> None:
        frames.append(time.monotonic())
        if len(frames) == 5:
            pygame.event.post(pygame.event.Event(pygame.QUIT))

    # A deadlock would hang here until pytest's timeout fails the test.
    run_with_ui(kiosk, bridge, mode="headless", size=(800, 480), on_frame=close_after_a_few_frames)
    assert len(frames) >= 5
    assert kiosk.phase is c.Phase.STOPPED


@pytest.mark.usefixtures("dummy_sdl")
def test_a_kiosk_that_stops_closes_the_window() -> None:
    kiosk = offline_kiosk()
    bridge = UiBridge(kiosk, j.Journey())
    frames: list[int] = []

    def stop_from_the_loop() -> None:
        frames.append(1)
        if len(frames) == 3:
            loop = bridge.loop
            assert loop is not None
            loop.call_soon_threadsafe(kiosk.request_stop)
        assert len(frames) < 600, "the window did not close after the kiosk stopped"

    run_with_ui(kiosk, bridge, mode="headless", size=(800, 480), on_frame=stop_from_the_loop)
    assert kiosk.phase is c.Phase.STOPPED


@pytest.mark.usefixtures("dummy_sdl")
def test_an_error_in_the_ui_thread_still_stops_the_kiosk() -> None:
    kiosk = offline_kiosk()
    bridge = UiBridge(kiosk, j.Journey())

    def broken() -> None:
        raise RuntimeError("the UI thread failed")

    with pytest.raises(RuntimeError, match="UI thread failed"):
        run_with_ui(kiosk, bridge, mode="headless", size=(800, 480), on_frame=broken)
    assert kiosk.phase is c.Phase.STOPPED
