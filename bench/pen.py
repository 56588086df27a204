"""`python -m bench pen`: pen parsers' throughput, and live delivery during a call.

1. Throughput: 1,000,000 recorded pen events through the evdev parser (raw ``input_event``
   bytes, 5 events per report) and 1,000,000 ISDV4 pen packets through the serial parser.
   Baseline, in the same run: the same bytes decoded by a bare ``struct.iter_unpack`` loop.
2. Live: ``seconds`` of pen reports at 500 Hz written by a thread into the descriptor an
   :class:`EvdevTablet` reads (the kiosk's path: ``add_reader`` → parser → sample stream →
   ``async for``), while a VP8 encoder encodes the simulated camera at 30 fps in the same
   process, as a call does. Delivery latency is write → consumer.

``main`` is a coroutine returning the JSON dict.
"""

from __future__ import annotations

import asyncio
import os
import struct
import threading
import time
from fractions import Fraction
from typing import Any

import av

from bench.call_baseline import kiosk_video_encoder
from drivers.camera.simulated import SimulatedCamera
from drivers.tablet import PenSample
from drivers.tablet.evdev import EvdevTablet
from drivers.tablet.evdev_parser import (
    ABS_PRESSURE,
    ABS_X,
    ABS_Y,
    BTN_TOOL_PEN,
    BTN_TOUCH,
    EV_ABS,
    EV_KEY,
    EV_MSC,
    EV_SYN,
    MSC_TIMESTAMP,
    SYN_REPORT,
    AxisRange,
    EvdevPenParser,
    PenAxes,
    encode_input_events,
)
from drivers.tablet.isdv4_parser import Isdv4Capabilities, Isdv4Parser, encode_pen_packet

EVENTS = 1_000_000
RATE_HZ = 500
AXES = PenAxes(
    x=AxisRange(0, 15200, 100),
    y=AxisRange(0, 9500, 100),
    pressure=AxisRange(0, 4095),
)
CAPS = Isdv4Capabilities(26202, 16325, 1023, 0, 0, 1)


def _evdev_recording(events: int) -> bytes:
    out: list[tuple[int, int, int, int, int]] = [
        (0, 0, EV_KEY, BTN_TOOL_PEN, 1),
        (0, 0, EV_KEY, BTN_TOUCH, 1),
    ]
    i = 0
    while len(out) < events:
        t = i * 2000
        out += [
            (t // 1_000_000, t % 1_000_000, EV_ABS, ABS_X, i % 15000),
            (t // 1_000_000, t % 1_000_000, EV_ABS, ABS_Y, (i * 7) % 9000),
            (t // 1_000_000, t % 1_000_000, EV_ABS, ABS_PRESSURE, i % 4096),
            (t // 1_000_000, t % 1_000_000, EV_MSC, MSC_TIMESTAMP, t & 0x7FFFFFFF),
            (t // 1_000_000, t % 1_000_000, EV_SYN, SYN_REPORT, 0),
        ]
        i += 1
    return encode_input_events(out[:events])


def _serial_recording(packets: int) -> bytes:
    return b"".join(
        encode_pen_packet(i % 26000, (i * 7) % 16000, i % 1024, in_range=True, tip=True)
        for i in range(packets)
    )


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def throughput(events: int = EVENTS) -> dict[str, Any]:
    """Parse ``events`` evdev events and ``events`` ISDV4 packets; bare decode as baseline."""
    evdev_bytes = _evdev_recording(events)
    serial_bytes = _serial_recording(events)
    # Reads deliver a few KiB at a time on a real device; parse in such chunks.
    evdev_chunks, serial_chunks = _chunks(evdev_bytes, 24 * 256), _chunks(serial_bytes, 4096)

    start = time.perf_counter()
    parser = EvdevPenParser(AXES)
    evdev_samples = sum(len(parser.feed_bytes(c)) for c in evdev_chunks)
    evdev_s = time.perf_counter() - start
    start = time.perf_counter()
    serial = Isdv4Parser(CAPS)
    serial_samples = sum(len(serial.feed(c, i)) for i, c in enumerate(serial_chunks))
    serial_s = time.perf_counter() - start

    start = time.perf_counter()
    base = sum(1 for _ in struct.iter_unpack("@llHHi", evdev_bytes))
    base += sum(1 for _ in struct.iter_unpack("9B", serial_bytes))
    base_s = time.perf_counter() - start
    # The baseline "decodes" every record; count it per sample for a like-for-like rate.
    samples = evdev_samples + serial_samples
    return {
        "events": events,
        "samples": samples,
        "evdev_samples_per_s": round(evdev_samples / evdev_s),
        "serial_samples_per_s": round(serial_samples / serial_s),
        "samples_per_s": round(samples / (evdev_s + serial_s)),
        "baseline_samples_per_s": round(samples / base_s) if base else 0,
        "baseline_records": base,
    }


class _PipeNode:
    """An input device node fed through a pipe (the benchmark writes the events)."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()

    @property
    def fd(self) -> int:
        return self.read_fd

    @property
    def name(self) -> str:
        return "bench pen"

    def capabilities(self, verbose: bool = False, absinfo: bool = True) -> Any:
        absolute = [
            (ABS_X, (0, 0, 15200, 0, 0, 100)),
            (ABS_Y, (0, 0, 9500, 0, 0, 100)),
            (ABS_PRESSURE, (0, 0, 4095, 0, 0, 0)),
        ]
        return {EV_KEY: [BTN_TOOL_PEN, BTN_TOUCH], EV_ABS: absolute}

    def absinfo(self, axis_num: int) -> Any:
        return (0, 0, 0, 0, 0, 0)

    def active_keys(self, verbose: bool = False) -> Any:
        return []

    def grab(self) -> None:
        pass

    def ungrab(self) -> None:
        pass

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def _write_pen(node: _PipeNode, reports: int, written: list[float], stop: threading.Event) -> None:
    period = 1 / RATE_HZ
    os.write(
        node.write_fd,
        encode_input_events([(0, 0, EV_KEY, BTN_TOOL_PEN, 1), (0, 0, EV_KEY, BTN_TOUCH, 1)]),
    )
    origin = time.perf_counter()
    for i in range(1, reports + 1):
        delay = origin + i * period - time.perf_counter()
        if delay > 0 and stop.wait(delay):
            return
        t = int(time.time() * 1e6)
        data = encode_input_events(
            [
                (t // 1_000_000, t % 1_000_000, EV_ABS, ABS_X, i),
                (t // 1_000_000, t % 1_000_000, EV_ABS, ABS_PRESSURE, 2000),
                (t // 1_000_000, t % 1_000_000, EV_SYN, SYN_REPORT, 0),
            ]
        )
        written[i] = time.perf_counter()
        os.write(node.write_fd, data)


def _encode(encoder: Any, frame: av.VideoFrame) -> int:
    return len(list(encoder.encode(frame)))


async def _encode_video(stop: asyncio.Event) -> int:
    camera = SimulatedCamera(640, 480, 30)
    encoder = kiosk_video_encoder(640, 480)
    await camera.start()
    frames = 0
    while not stop.is_set():
        frame = await camera.frame()
        frame.pts = frames
        frame.time_base = Fraction(1, 30)
        # aiortc encodes in an executor thread, just like this.
        await asyncio.to_thread(_encode, encoder, frame)
        frames += 1
    await camera.stop()
    return frames


async def live(seconds: float) -> dict[str, Any]:
    """Pen reports at 500 Hz through EvdevTablet while VP8 encodes; delivery latency."""
    reports = int(seconds * RATE_HZ)
    node = _PipeNode()
    tablet = EvdevTablet("bench", opener=lambda _path: node, grab=False)
    await tablet.start()
    written = [0.0] * (reports + 1)
    delivered: list[float] = []
    stop_writer = threading.Event()
    stop_video = asyncio.Event()
    video = asyncio.create_task(_encode_video(stop_video))
    await asyncio.sleep(0.5)  # encoder warmed up
    writer = threading.Thread(target=_write_pen, args=(node, reports, written, stop_writer))
    writer.start()
    last = 0
    seen: list[PenSample] = []
    try:
        async with asyncio.timeout(seconds + 10):
            async for sample in tablet.samples():
                now = time.perf_counter()
                index = round(sample.x_mm * 100)
                if 1 <= index <= reports:
                    delivered.append((now - written[index]) * 1000)
                    seen.append(sample)
                    last = index
                if last >= reports:
                    break
    except TimeoutError:
        pass
    finally:
        stop_writer.set()
        await asyncio.to_thread(writer.join)
        stop_video.set()
        frames = await video
        await tablet.stop()
    delivered.sort()
    p99 = delivered[min(len(delivered) - 1, int(0.99 * len(delivered)))] if delivered else None
    return {
        "live_seconds": seconds,
        "live_reports": reports,
        "delivered": len(delivered),
        "dropped": reports - len(delivered),
        "delivery_ms_p50": round(delivered[len(delivered) // 2], 3) if delivered else None,
        "delivery_ms_p99": round(p99, 3) if p99 is not None else None,
        "video_frames_encoded": frames,
        "monotonic": all(a.t_us <= b.t_us for a, b in zip(seen, seen[1:], strict=False)),
    }


async def main(events: int = EVENTS, seconds: float = 10.0) -> dict[str, Any]:
    """Run both parts; the returned dict is the benchmark's JSON line."""
    result = throughput(events)
    result.update(await live(seconds))
    result["ratio"] = round(result["samples_per_s"] / result["baseline_samples_per_s"], 4)
    result["realtime_factor"] = round(result["samples_per_s"] / RATE_HZ, 1)
    result["targets_met"] = (
        result["realtime_factor"] >= 200
        and result["delivery_ms_p99"] is not None
        and result["delivery_ms_p99"] <= 2
        and result["dropped"] == 0
    )
    return result
