"""`python -m bench ui`'s call variant: the call screen's frame time with a live 1280x720 call.

One process, as on the device: the kiosk runner (simulated camera at 1280x720, simulated
customer) runs its asyncio loop in a second thread and calls the adviser's console in headless
Chromium through a real hub on loopback; the main thread draws the call screen at 60 Hz with the
adviser's live video and the self view, both handed over by the kiosk's own ``MediaHandover``,
and times each frame's layout + draw + present (dummy SDL driver).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av

from kiosk_ui import viewmodels
from testbed.stack import Stack

if TYPE_CHECKING:
    from appliance.runner.kiosk import Kiosk
    from appliance.ui.media import MediaHandover

WIDTH, HEIGHT = 1280, 800
CAMERA = (1280, 720)
FRAMES = 300
BLOCK_FRAMES = 60
WARMUP_FRAMES = 30
READY_TIMEOUT_S = 90.0


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class _VideoToHandover:
    """A kiosk observer that hands the adviser's decoded frames on, like the UI bridge does,
    to whichever handover is drawn at the moment (``active``)."""

    def __init__(self, active: MediaHandover) -> None:
        self.active = active
        self.first = threading.Event()  # the adviser's first frame arrived

    def changed(self) -> None:
        """Not needed here."""

    def video_frame(self, frame: av.VideoFrame) -> None:
        """The adviser's latest frame: a reference, converted for the UI."""
        self.active.remote_frame(frame)
        self.first.set()

    def screen_frame(self, frame: av.VideoFrame) -> None:
        """Not shown in this benchmark."""

    def chat_received(self, text: str) -> None:
        """Not needed here."""

    def channel_opened(self) -> None:
        """Not needed here."""

    def exchange_changed(self, state: object) -> None:
        """Not needed here."""

    def signature_changed(self, task: object) -> None:
        """Not needed here."""


class _OnUiThread:
    """A handover without ``show_at``: every frame converted at full size on the UI thread and
    scaled by SDL there (how frames reached the UI before issue 17; the baseline)."""

    def __init__(self, media: MediaHandover) -> None:
        self._media = media

    def remote_video(self) -> viewmodels.VideoFrame | None:
        """The adviser's frame, converted here."""
        return self._media.remote_video()

    def screen_video(self) -> viewmodels.VideoFrame | None:
        """Not shown in this benchmark."""
        return None

    def self_view(self) -> viewmodels.VideoFrame | None:
        """The camera's frame, converted here."""
        return self._media.self_view()

    def ink(self) -> viewmodels.Ink:
        """No ink on the call screen."""
        return viewmodels.Ink()


@dataclass
class _CallThread:
    """The kiosk's loop in a second thread: hub connection, console, the call."""

    stack: Stack
    kiosk: Kiosk
    in_call: threading.Event = field(default_factory=threading.Event)
    finish: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def run(self) -> None:
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # handed to the main thread
            self.errors.append(exc)
        finally:
            self.loop.close()
            self.in_call.set()  # never leave the UI thread waiting

    async def _main(self) -> None:
        from testbed.browser import browser, console_page

        kiosk_task = asyncio.create_task(self.kiosk.run(), name="kiosk")
        try:
            async with browser() as chromium, console_page(chromium, self.stack.url) as console:
                await console.login(self.stack.adviser, self.stack.password)
                cid = await console.wait_for_entry(timeout_s=30)
                await console.accept(cid)
                await console.wait_probe("p.firstFrameAt !== null", timeout_s=30)
                self.in_call.set()
                await asyncio.to_thread(self.finish.wait)  # the UI thread says when
                await console.page.click("#btn-end")
        finally:
            self.kiosk.request_stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(kiosk_task, 20)


def _kiosk(stack: Stack) -> Kiosk:
    """The kiosk runner with simulated devices, its camera at ``CAMERA``, queueing by itself."""
    from appliance.call.ice import use_host_addresses
    from appliance.config.kiosk import load_config
    from appliance.custody.session import SessionCustody
    from appliance.runner.devices import build_call_devices
    from appliance.runner.kiosk import Kiosk
    from appliance.runner.simulated_customer import SimulatedCustomer

    config = load_config(
        None,
        {
            "hub_url": f"ws://127.0.0.1:{stack.port}",
            "token_file": str(stack.workdir / "token"),
            "simulate": True,
            "ice_host_addresses": ["127.0.0.1"],
            "vault.path": str(stack.workdir / "vault"),
            "video.width": CAMERA[0],
            "video.height": CAMERA[1],
        },
    )
    use_host_addresses(config.ice_host_addresses)
    camera, microphone, speaker, scanner = build_call_devices(config)
    kiosk = Kiosk(
        config,
        camera,
        microphone,
        custody=SessionCustody(config.vault, production=False),
        speaker=speaker,
        scanner=scanner,
    )
    kiosk.add_observer(SimulatedCustomer(kiosk))
    return kiosk


@dataclass
class _Way:
    """One way of handing frames to the UI: the handover and the feed the UI reads."""

    media: MediaHandover
    feed: viewmodels.MediaFeed


@dataclass
class _Drawn:
    """What one way of handing frames over gave: frame times and the pictures it showed."""

    frame_ms: list[float] = field(default_factory=list)
    remote_seqs: set[int] = field(default_factory=set)
    self_seqs: set[int] = field(default_factory=set)
    remote_size: tuple[int, int] = (0, 0)


def _draw_frames(
    ways: dict[str, _Way],
    observer: _VideoToHandover,
    frames: int,
) -> dict[str, _Drawn]:
    """Draw the call screen at 60 Hz, ``frames`` per way, the ways taking turns in blocks (so
    both see the same load); time each frame's layout + draw + present."""
    import pygame

    from kiosk_ui.app import FPS, KioskUi
    from kiosk_ui.samples import sample_views

    pygame.display.init()
    pygame.font.init()
    drawn = {name: _Drawn() for name in ways}
    try:
        screen = pygame.display.set_mode((WIDTH, HEIGHT))
        uis = {name: KioskUi((WIDTH, HEIGHT)) for name in ways}
        for ui in uis.values():
            ui.local.chat_draft = "Guten Tag"
        view = sample_views("de")["call-chat"]
        clock = pygame.time.Clock()
        for block in range(-(-frames // BLOCK_FRAMES)):
            for name, way in ways.items():
                observer.active = way.media
                ui, out, feed = uis[name], drawn[name], way.feed
                for i in range(-WARMUP_FRAMES if block == 0 else 0, BLOCK_FRAMES):
                    pygame.event.pump()
                    start = time.perf_counter()
                    ui.show(view, screen, feed)
                    pygame.display.flip()
                    elapsed = (time.perf_counter() - start) * 1000
                    if i >= 0 and len(out.frame_ms) < frames:
                        out.frame_ms.append(elapsed)
                        remote, own = feed.remote_video(), feed.self_view()
                        if remote is not None:
                            out.remote_seqs.add(remote.seq)
                            out.remote_size = (remote.width, remote.height)
                        if own is not None:
                            out.self_seqs.add(own.seq)
                    clock.tick(FPS)
    finally:
        pygame.display.quit()
    return drawn


def main(frames: int = FRAMES) -> dict[str, Any]:
    """Run the call variant; returns its part of ``bench ui``'s JSON."""
    from appliance.ui.media import MediaHandover
    from testbed.stack import HarnessError

    os.environ["SDL_VIDEODRIVER"] = "dummy"
    os.environ["SDL_AUDIODRIVER"] = "dummy"
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    with tempfile.TemporaryDirectory(prefix="bench-ui-call-") as tmp:
        stack = Stack(Path(tmp))
        stack.start_hub()
        try:
            kiosk = _kiosk(stack)
            sized = MediaHandover(lambda: kiosk.latest_local_frame)
            plain = MediaHandover(lambda: kiosk.latest_local_frame)
            observer = _VideoToHandover(sized)
            kiosk.add_observer(observer)
            ways = {
                "kiosk": _Way(sized, sized),  # what the kiosk does: scaled off the UI thread
                "before": _Way(plain, _OnUiThread(plain)),  # converted on the UI thread
            }
            call = _CallThread(stack, kiosk)
            thread = threading.Thread(target=call.run, name="kiosk-loop", daemon=True)
            thread.start()
            try:
                if not call.in_call.wait(READY_TIMEOUT_S) or call.errors:
                    raise HarnessError(f"the call did not start: {call.errors[:1]}")
                if not observer.first.wait(20):  # no event loop here: `bench` runs in one
                    raise HarnessError("the adviser's video did not reach the kiosk in 20 s")
                cpu0, t0 = time.process_time(), time.monotonic()
                drawn = _draw_frames(ways, observer, frames)
                cpu_rate = (time.process_time() - cpu0) / (time.monotonic() - t0)
            finally:
                call.finish.set()
                thread.join(timeout=40)
                sized.close()
            if call.errors:
                raise call.errors[0]
        finally:
            stack.stop()
            vault = stack.workdir / "vault"
            if os.path.ismount(vault):
                subprocess.run(["umount", str(vault)], check=False, capture_output=True)
    ours, before = drawn["kiosk"], drawn["before"]
    return {
        "frame_ms_p50_call_720p": round(statistics.median(ours.frame_ms), 2),
        "frame_ms_p95_call_720p": round(pct(ours.frame_ms, 0.95), 2),
        "frame_ms_max_call_720p": round(max(ours.frame_ms), 2),
        "frame_ms_p50_call_720p_before": round(statistics.median(before.frame_ms), 2),
        "frame_ms_p95_call_720p_before": round(pct(before.frame_ms, 0.95), 2),
        "call_720p_process_cpu_s_per_s": round(cpu_rate, 3),
        "call_720p_remote_frames_drawn": len(ours.remote_seqs),
        "call_720p_self_frames_drawn": len(ours.self_seqs),
        "call_720p_remote_video": "{}x{}".format(*before.remote_size),
        "call_720p_camera": "{}x{}".format(*CAMERA),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main()))
