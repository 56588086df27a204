"""`python -m bench ui`: frame time of the call screen and ink latency of the signature screen.

Synchronous ``main()``. The call screen at 1280x800 with 640x480 remote video arriving at
30 fps (new frame every other 60 Hz frame), self view and chat open; each frame is laid out,
drawn and presented (dummy SDL driver). Ink: a pen sample is added, and its latency runs until
the frame that shows it is presented. Baseline in the same run: a bare frombuffer + scale +
blit of the same video frames. Then the same screen with a live 1280x720 call in the same
process (``bench.ui_call``: ``frame_ms_p95_call_720p``).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace
from typing import Any

WIDTH, HEIGHT = 1280, 800
FRAMES = 300


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(frames: int = FRAMES, *, call: bool = True) -> dict[str, Any]:
    """Run the measurement (with the live call variant unless ``call`` is false); returns
    the JSON dict."""
    result = _sample_frames(frames)
    if call:
        from bench import ui_call

        result.update(ui_call.main(frames))
    return result


def _sample_frames(frames: int) -> dict[str, Any]:
    """The call screen with sample video, the bare blit baseline, and ink."""
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    os.environ["SDL_AUDIODRIVER"] = "dummy"
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from kiosk_ui import viewmodels as v
    from kiosk_ui.app import KioskUi
    from kiosk_ui.samples import SampleFeed, sample_views

    pygame.display.init()
    pygame.font.init()
    screen = pygame.display.set_mode((WIDTH, HEIGHT))
    feed = SampleFeed(640, 480)
    views = sample_views("de")
    call_view = views["call-chat"]
    ui = KioskUi((WIDTH, HEIGHT))
    ui.local.chat_draft = "Guten Tag"

    def new_frame(i: int) -> None:
        feed.current = i // 2  # 30 fps video on a 60 Hz display
        frame = feed.frames[feed.current % len(feed.frames)]
        feed.frames[feed.current % len(feed.frames)] = replace(frame, seq=feed.current)

    call_ms: list[float] = []
    for i in range(frames):
        new_frame(i)
        start = time.perf_counter()
        ui.show(call_view, screen, feed)
        pygame.display.flip()
        call_ms.append((time.perf_counter() - start) * 1000)

    baseline_ms: list[float] = []
    for i in range(frames):
        frame = feed.frames[(i // 2) % len(feed.frames)]
        start = time.perf_counter()
        raw = pygame.image.frombuffer(frame.rgb, (frame.width, frame.height), "RGB")
        screen.blit(pygame.transform.scale(raw, (WIDTH, HEIGHT)), (0, 0))
        pygame.display.flip()
        baseline_ms.append((time.perf_counter() - start) * 1000)

    # Ink: one pen sample per frame (tablets report at 100-200 Hz; the frame takes the newest).
    sig_view: v.KioskView = views["signature"]
    feed.strokes = [()]
    ink_ms: list[float] = []
    for i in range(frames):
        sample_at = time.perf_counter()
        x, y = 0.05 + 0.9 * (i % 100) / 100, 0.5 + 0.3 * ((i % 7) - 3) / 3
        feed.strokes[-1] = (*feed.strokes[-1], (x, y))
        feed.seq += 1
        ui.show(sig_view, screen, feed)
        pygame.display.flip()
        ink_ms.append((time.perf_counter() - sample_at) * 1000)
        if i % 100 == 99:
            feed.strokes.append(())
    pygame.display.quit()
    p50 = statistics.median(call_ms)
    base = statistics.median(baseline_ms)
    return {
        "frame_ms_p50": round(p50, 2),
        "frame_ms_p95": round(_pct(call_ms, 0.95), 2),
        "ink_latency_ms_p95": round(_pct(ink_ms, 0.95), 2),
        "ink_latency_ms_p50": round(statistics.median(ink_ms), 2),
        "baseline_frame_ms_p50": round(base, 2),
        "ratio": round(p50 / base, 2) if base > 0 else None,
        "frames": frames,
        "resolution": f"{WIDTH}x{HEIGHT}",
        "video": "640x480@30",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main()))
