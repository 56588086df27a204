"""`python -m bench.engine_spike`: would GStreamer's webrtcbin be a cheaper media engine? (issue 17)

A time-boxed spike, not part of the kiosk. For each resolution it starts the GStreamer "kiosk"
(``bench/engine_spike/gst_kiosk.py``, its own process: VP8 camera + Opus out, VP8 + Opus in and
decoded) and calls it from headless Debian Chromium (fake 640x480 camera and microphone; SDP
passed through ``page.evaluate``), all on loopback. It measures the kiosk process's CPU-s per
call-s, the bare vp8enc -> vp8dec baseline in the same run, the latency read from the test
picture's clock in the browser, and checks the properties docs/media-engine.md lists. Run it under
``scripts/loopback-only`` and the bench lock; the last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from appliance.call import sas
from bench.call_proc import (
    ResolutionError,
    StatLine,
    parse_resolution,
    process_cpu_s,
    thread_cpu_s,
    thread_deltas,
)
from testbed.browser import CHROMIUM, CHROMIUM_ARGS

HERE = Path(__file__).resolve().parent / "engine_spike"
PEER_JS = (HERE / "peer.js").read_text()


def per_thread(
    before: dict[int, StatLine], after: dict[int, StatLine], seconds: float
) -> dict[str, float]:
    """CPU-s per call-s by thread name (GStreamer names its streaming threads after pads)."""
    by_name: dict[str, float] = {}
    for comm, ms_per_s in thread_deltas(before, after, seconds).values():
        by_name[comm] = by_name.get(comm, 0.0) + ms_per_s / 1000
    return {k: round(v, 4) for k, v in sorted(by_name.items(), key=lambda kv: -kv[1]) if v > 0}


def four_words_inputs(offer: str, answer: str) -> dict[str, str]:
    """Both DTLS fingerprints, read with the kiosk's own reader (appliance/call/sas.py)."""
    return {"kiosk": sas.sdp_fingerprint(offer), "browser": sas.sdp_fingerprint(answer)}


class GstKiosk:
    """The GStreamer kiosk child process and its JSON-lines conversation."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, *args: str) -> GstKiosk:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "gst_kiosk.py"),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        await self.proc.stdin.drain()

    async def wait_for(self, key: str, timeout_s: float = 20) -> dict[str, Any]:
        """The next message carrying ``key`` (others are kept in ``events``)."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout_s):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"the GStreamer kiosk exited before sending {key!r}")
                msg: dict[str, Any] = json.loads(line)
                self.events.append(msg)
                if key in msg:
                    return msg

    async def stop(self) -> None:
        if self.proc.returncode is None:
            try:
                await self.send({"cmd": "quit"})
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except (TimeoutError, ConnectionError):
                self.proc.kill()
                await self.proc.wait()


async def baseline(width: int, height: int, seconds: float) -> dict[str, float]:
    """The bare GStreamer codec work of a call, CPU-s per call-s by part, in a child process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "gst_kiosk.py"),
        "--mode=baseline",
        f"--width={width}",
        f"--height={height}",
        f"--seconds={seconds}",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    parts: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])["parts"]
    return parts


async def one_call(
    chromium: Any,
    origin: str,
    size: tuple[int, int],
    seconds: float,
    source: str,
    drop: float,
    nack: bool,
) -> dict[str, Any]:
    """One call: GStreamer kiosk offers, Chromium answers; measure the kiosk process over it."""
    width, height = size
    flags = [f"--width={width}", f"--height={height}", f"--source={source}", f"--drop={drop}"]
    kiosk = await GstKiosk.start(*flags, *(["--nack"] if nack else []))
    context = await chromium.new_context()
    try:
        page = await context.new_page()
        await page.goto(origin)
        await page.evaluate(PEER_JS)
        t0 = time.monotonic()
        offer = (await kiosk.wait_for("offer"))["offer"]
        offer_ms = (time.monotonic() - t0) * 1000
        answer = await page.evaluate("(sdp) => window.__peer.answer(sdp)", offer)
        answer_ms = (time.monotonic() - t0) * 1000
        await kiosk.send({"answer": answer})
        await page.wait_for_function("() => window.__peer.frames > 0", timeout=20_000)
        first_frame_ms = (time.monotonic() - t0) * 1000
        await asyncio.sleep(1.0)  # past the ramp-up: measure the steady call
        await page.evaluate("() => { window.__peer.latencies = []; }")
        threads0 = thread_cpu_s(kiosk.proc.pid)
        cpu0, w0 = process_cpu_s(kiosk.proc.pid), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, w1 = process_cpu_s(kiosk.proc.pid), time.monotonic()
        threads = per_thread(threads0, thread_cpu_s(kiosk.proc.pid), w1 - w0)
        await page.evaluate("() => window.__peer.sendFiles()")
        await asyncio.sleep(0.5)
        await kiosk.send({"cmd": "stats"})
        gst_stats = await kiosk.wait_for("stats")
        browser = await page.evaluate("() => window.__peer.report()")
        return {
            "resolution": f"{width}x{height}",
            "source": source,
            "drop": drop,
            "nack": nack,
            "kiosk_cpu_s_per_call_s": (cpu1 - cpu0) / (w1 - w0),
            "per_thread_cpu_s_per_call_s": threads,
            "offer_ready_ms": round(offer_ms, 1),
            "answer_ready_ms": round(answer_ms, 1),
            "offer_to_first_browser_frame_ms": round(first_frame_ms, 1),
            "latency_ms_p50": _pct(browser["latencies"], 0.5),
            "latency_ms_p95": _pct(browser["latencies"], 0.95),
            "latency_samples": len(browser["latencies"]),
            "fingerprints": four_words_inputs(offer, answer),
            "browser": browser,
            "gst": gst_stats,
            "ice": [e["ice"] for e in kiosk.events if "ice" in e],
        }
    finally:
        await context.close()
        await kiosk.stop()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _origin() -> tuple[web.AppRunner, str]:
    """A blank page on 127.0.0.1: getUserMedia needs a secure (localhost) origin."""
    app = web.Application()

    async def blank(_request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>peer</title>", content_type="text/html")

    app.router.add_get("/", blank)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/"


async def main(
    resolutions: list[tuple[int, int]],
    seconds: float,
    calls: int,
    source: str,
    drop: float = 0.0,
    nack: bool = False,
) -> dict[str, Any]:
    """Run ``calls`` calls per resolution and the baseline; return the summary."""
    from playwright.async_api import async_playwright

    runner, origin = await _origin()
    results: list[dict[str, Any]] = []
    try:
        async with async_playwright() as pw:
            chromium = await pw.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                for width, height in resolutions:
                    runs = [
                        await one_call(
                            chromium, origin, (width, height), seconds, source, drop, nack
                        )
                        for _ in range(calls)
                    ]
                    parts = await baseline(width, height, max(seconds, 5.0))
                    base = sum(parts.values())
                    cpu = statistics.median(r["kiosk_cpu_s_per_call_s"] for r in runs)
                    results.append(
                        {
                            "resolution": f"{width}x{height}@30",
                            "kiosk_cpu_s_per_call_s": round(cpu, 4),
                            "baseline_cpu_s_per_call_s": round(base, 4),
                            "cpu_ratio": round(cpu / base, 3),
                            "baseline_parts": {k: round(v, 4) for k, v in parts.items()},
                            "video_only_baseline_cpu_s_per_call_s": round(parts["video_send"], 4),
                            "video_only_cpu_ratio": round(cpu / parts["video_send"], 3),
                            "calls": runs,
                        }
                    )
            finally:
                await chromium.close()
    finally:
        await runner.cleanup()
    return {"bench": "engine_spike", "engine": "gstreamer-webrtcbin", "results": results}


def _size(text: str) -> tuple[int, int]:
    try:
        return parse_resolution(text)
    except ResolutionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--resolution", action="append", type=_size, default=[], help="WxH (repeatable)"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--source", choices=["simulated", "videotestsrc"], default="simulated")
    parser.add_argument("--drop", type=float, default=0.0, help="drop this share of sent video RTP")
    parser.add_argument("--nack", action="store_true", help="the kiosk retransmits on NACK")
    parser.add_argument("--out", type=Path, help="also write the full JSON here")
    args = parser.parse_args()
    sizes: list[tuple[int, int]] = args.resolution or [(640, 480), (1280, 720)]
    result = asyncio.run(main(sizes, args.seconds, args.calls, args.source, args.drop, args.nack))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, default=str))
    summary = {
        **result,
        "results": [{k: v for k, v in r.items() if k != "calls"} for r in result["results"]],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    _cli()
