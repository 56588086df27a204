"""`python -m bench call`: calls through the real hub with the console in headless Chromium.

Measures, per call, adviser clicks accept → first decoded frame at both ends (setup), the
kiosk's capture clock read back from frames decoded in the browser (latency), and the kiosk
process's CPU per second of call. The baseline, in the same run: plain PyAV encoding and
decoding of the same simulated frames with the codec and settings aiortc uses (VP8/libvpx).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

from testbed.browser import browser, console_page
from testbed.stack import Stack, wait_until

WIDTH, HEIGHT, FPS = 640, 480, 30
# aiortc's libvpx settings (aiortc/codecs/vpx.py) at its maximum bitrate, which its
# congestion control reaches on loopback.
VP8_BITRATE = 1_500_000
CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _vp8_encoder() -> Any:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = WIDTH, HEIGHT
    codec.bit_rate = VP8_BITRATE
    codec.pix_fmt = "yuv420p"
    codec.gop_size = 3000
    codec.qmin, codec.qmax = 2, 56
    codec.options = {
        "bufsize": str(VP8_BITRATE),
        "cpu-used": "-6",
        "deadline": "realtime",
        "lag-in-frames": "0",
        "minrate": str(VP8_BITRATE),
        "maxrate": str(VP8_BITRATE),
        "noise-sensitivity": "4",
        "overshoot-pct": "15",
        "partitions": "0",
        "static-thresh": "1",
        "undershoot-pct": "100",
    }
    codec.thread_count = 1
    return codec


async def capture_frames(seconds: float) -> list[av.VideoFrame]:
    """The simulated camera's real frames, captured at its own pace."""
    from drivers.camera.simulated import SimulatedCamera

    camera = SimulatedCamera(width=WIDTH, height=HEIGHT, fps=FPS)
    await camera.start()
    frames = []
    try:
        for _ in range(int(seconds * FPS)):
            frames.append(await camera.frame())
    finally:
        await camera.stop()
    return frames


def baseline_cpu_s_per_s(frames: list[av.VideoFrame]) -> float:
    """CPU seconds per second of video to encode and decode ``frames`` with plain PyAV."""
    encoder = _vp8_encoder()
    decoder = av.CodecContext.create("libvpx", "r")
    start = time.process_time()
    for i, frame in enumerate(frames):
        frame.pts = i
        for packet in encoder.encode(frame):
            for decoded in decoder.decode(packet):
                np.asarray(decoded.planes[0])  # touch the picture like a consumer would
    used = time.process_time() - start
    return used / (len(frames) / FPS)


async def run_calls(calls: int, call_seconds: float, workdir: Path) -> dict[str, Any]:
    stack = Stack(workdir)
    stack.start_hub()
    stack.start_kiosk()
    assert stack.kiosk is not None
    setups: list[float] = []
    latencies: list[float] = []
    cpu_rates: list[float] = []
    try:
        async with browser() as chromium, console_page(chromium, stack.url) as console:
            await console.login(stack.adviser, stack.password)
            for n in range(calls):
                cid = await console.wait_for_entry(timeout_s=30)
                await asyncio.sleep(0.5)  # the customer waits; the kiosk pre-gathers meanwhile
                clicked = await console.accept(cid)
                await console.wait_probe("p.firstFrameAt !== null", timeout_s=20)
                state = await console.probe()
                browser_first = state["firstFrameAt"] - clicked
                await console.reset_latencies()
                cpu0, t0 = process_cpu_s(stack.kiosk.pid), time.monotonic()
                await asyncio.sleep(call_seconds)
                cpu1, t1 = process_cpu_s(stack.kiosk.pid), time.monotonic()
                cpu_rates.append((cpu1 - cpu0) / (t1 - t0))
                state = await console.probe()
                latencies.extend(state["latencies"])
                await console.page.click("#btn-end")
                await wait_until(lambda n=n: len(stack.kiosk_calls()) > n, 15, "the kiosk's stats")
                kiosk_call = stack.kiosk_calls()[n]
                kiosk_first = kiosk_call["first_remote_video_at_ms"] - clicked
                setups.append(max(browser_first, kiosk_first))
    finally:
        stack.stop()
    return {"setups": setups, "latencies": latencies, "cpu_rates": cpu_rates}


async def main(calls: int = 10, call_seconds: float = 5.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-call-") as tmp:
        measured = await run_calls(calls, call_seconds, Path(tmp))
    frames = await capture_frames(call_seconds)
    baseline = baseline_cpu_s_per_s(frames)
    kiosk_cpu = statistics.median(measured["cpu_rates"])
    return {
        "bench": "call",
        "calls": len(measured["setups"]),
        "resolution": f"{WIDTH}x{HEIGHT}@{FPS}",
        "setup_ms_p50": round(_pct(measured["setups"], 0.5), 1),
        "setup_ms_p95": round(_pct(measured["setups"], 0.95), 1),
        "latency_ms_p50": round(_pct(measured["latencies"], 0.5), 1),
        "latency_ms_p95": round(_pct(measured["latencies"], 0.95), 1),
        "latency_samples": len(measured["latencies"]),
        "kiosk_cpu_s_per_call_s": round(kiosk_cpu, 4),
        "baseline_cpu_s_per_call_s": round(baseline, 4),
        "cpu_ratio": round(kiosk_cpu / baseline, 3),
    }
