"""`python -m bench call`: calls through the real hub with the console in headless Chromium.

Measures, per call, adviser clicks accept -> first decoded frame at both ends (setup), the
kiosk's capture clock read back from frames decoded in the browser (latency), and the kiosk
process's CPU per second of call while it sends its camera at ``--resolution`` and receives the
adviser's 640x480 video (Chromium's fake camera; the size and codec the browser actually sent
are reported). Then the same with the stand-in hardware encoder (``[devices.camera] backend =
"h264-standin"``): the kiosk's own CPU, and the stand-in child's apart. The baseline, in the same
run, is bench/call_baseline.py (bare PyAV with the kiosk's codec settings; its docstring says
exactly what it holds). ``--profile DIR`` adds one more call per variant under py-spy, not
counted, summarised per thread and kind of work (bench/call_profile.py).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import call_baseline, call_profile
from bench.call_proc import children, parse_resolution, process_cpu_s, thread_cpu_s, tree_cpu_s
from testbed.browser import browser, console_page
from testbed.stack import HarnessError, Stack, wait_until

FPS = 30
STANDIN = "h264-standin"
STANDIN_WORKER = b"h264_standin_worker"
DEVICES_CONFIG = Path("appliance/config/devices.py")

# What Chromium sends and receives, from its own getStats().
_VIDEO_STATS_JS = """async () => {
  const out = {};
  for (const pc of [...(window.__pcs || [])].reverse()) {
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      if (s.kind !== 'video' || !['outbound-rtp', 'inbound-rtp'].includes(s.type)) continue;
      if (out[s.type] || !s.frameWidth) continue;
      const codec = s.codecId && stats.get(s.codecId);
      out[s.type] = `${s.frameWidth}x${s.frameHeight}@${Math.round(s.framesPerSecond || 0)} ` +
                    (codec ? codec.mimeType : '?');
    }
    if (out['outbound-rtp'] || out['inbound-rtp']) return out;
  }
  return out;
}"""


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def kiosk_config(backend: str, width: int, height: int, legacy: bool, codec: str = "VP8") -> str:
    """The kiosk's config file for a camera ``backend`` at ``width`` x ``height``, 30 fps, its
    raw frames encoded with ``codec`` ("VP8" or "H264": ``[video] codec``).

    ``legacy``: a tree before the camera's own size fields, where only ``[video]`` sets it (and
    the codec cannot be chosen: VP8).
    """
    if legacy:
        if codec != "VP8":
            raise ValueError("a tree from before issue 17 encodes VP8 only")
        return f"[video]\nwidth = {width}\nheight = {height}\nfps = {FPS}\n"
    return (
        f'[video]\ncodec = "{codec.lower()}"\n\n'
        f'[devices.camera]\nbackend = "{backend}"\n'
        f"width = {width}\nheight = {height}\nfps = {FPS}\n"
    )


def standin_pids(kiosk_pid: int) -> list[int]:
    """The kiosk's stand-in encoder children (by their command line)."""
    found = []
    for pid in children(kiosk_pid):
        try:
            if STANDIN_WORKER in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except FileNotFoundError:
            continue
    return found


def standin_available(tree: Path | None) -> bool:
    """Whether the tree under test has the stand-in hardware encoder."""
    root = tree or Path(__file__).resolve().parents[1]
    return (root / "drivers" / "camera" / "h264_standin.py").exists()


async def _profiled_call(
    pid: int, seconds: float, out: Path
) -> tuple[dict[str, dict[str, float]], float]:
    """py-spy over one call window; (summary per thread, the window's CPU-s per s)."""
    cpu0, before, t0 = process_cpu_s(pid), thread_cpu_s(pid), time.monotonic()
    await call_profile.record(pid, seconds, out)
    cpu1, after, t1 = process_cpu_s(pid), thread_cpu_s(pid), time.monotonic()
    stacks = call_profile.parse_raw(await asyncio.to_thread(out.read_text))
    return call_profile.summarise(stacks, before, after, t1 - t0), (cpu1 - cpu0) / (t1 - t0)


async def run_calls(
    calls: int,
    call_seconds: float,
    workdir: Path,
    config: str,
    profile: Path | None = None,
    tree: Path | None = None,
) -> dict[str, Any]:
    """``calls`` measured calls (plus one under py-spy with ``profile``) with one kiosk."""
    stack = Stack(workdir, source_tree=tree)
    stack.start_hub()
    stack.start_kiosk(config=config)
    assert stack.kiosk is not None
    out: dict[str, Any] = {"setups": [], "latencies": [], "cpu": [], "encoder_cpu": []}
    try:
        async with browser() as chromium, console_page(chromium, stack.url) as console:
            await console.login(stack.adviser, stack.password)
            for n in range(calls + (profile is not None)):
                cid = await console.wait_for_entry(timeout_s=30)
                await asyncio.sleep(0.5)  # the customer waits; the kiosk pre-gathers meanwhile
                clicked = await console.accept(cid)
                await console.wait_probe("p.firstFrameAt !== null", timeout_s=20)
                browser_first = (await console.probe())["firstFrameAt"] - clicked
                await console.reset_latencies()
                pid = stack.kiosk.pid
                if n == calls and profile is not None:
                    summary, rate = await _profiled_call(pid, call_seconds, profile)
                    out["profile"], out["profiled_cpu"] = summary, rate
                else:
                    encoders = standin_pids(pid)
                    if STANDIN in config and not encoders:
                        raise HarnessError(f"no stand-in encoder child: see {stack.kiosk_log}")
                    cpu0, enc0, t0 = process_cpu_s(pid), tree_cpu_s(encoders), time.monotonic()
                    await asyncio.sleep(call_seconds)
                    cpu1, enc1, t1 = process_cpu_s(pid), tree_cpu_s(encoders), time.monotonic()
                    out["cpu"].append((cpu1 - cpu0) / (t1 - t0))
                    out["encoder_cpu"].append((enc1 - enc0) / (t1 - t0))
                    out["latencies"].extend((await console.probe())["latencies"])
                    out["video"] = await console.page.evaluate(_VIDEO_STATS_JS)
                await console.page.click("#btn-end")
                await wait_until(lambda n=n: len(stack.kiosk_calls()) > n, 15, "the kiosk's stats")
                if n < calls:
                    kiosk_first = stack.kiosk_calls()[n]["first_remote_video_at_ms"] - clicked
                    out["setups"].append(max(browser_first, kiosk_first))
    finally:
        stack.stop()
    return out


def _summary(measured: dict[str, Any], prefix: str) -> dict[str, Any]:
    video = measured.get("video") or {}
    return {
        f"{prefix}setup_ms_p50": round(pct(measured["setups"], 0.5), 1),
        f"{prefix}setup_ms_p95": round(pct(measured["setups"], 0.95), 1),
        f"{prefix}latency_ms_p50": round(pct(measured["latencies"], 0.5), 1),
        f"{prefix}latency_ms_p95": round(pct(measured["latencies"], 0.95), 1),
        f"{prefix}latency_samples": len(measured["latencies"]),
        f"{prefix}adviser_video_sent": video.get("outbound-rtp"),
        f"{prefix}kiosk_video_received": video.get("inbound-rtp"),
    }


async def main(
    calls: int = 10,
    call_seconds: float = 5.0,
    resolution: str = "640x480",
    profile: Path | None = None,
    hw: str = "auto",
    tree: Path | None = None,
    codec: str = "VP8",
) -> dict[str, Any]:
    """Run the software (raw frames encoded with ``codec``) and (``hw``: auto | on | off)
    hardware variants, then the baseline with the same codec."""
    width, height = parse_resolution(resolution)
    # A tree from before the camera's own size fields (issue 17) sizes it with [video].
    legacy = tree is not None and "CameraWidth" not in (tree / DEVICES_CONFIG).read_text()
    with_hw = hw == "on" or (hw == "auto" and standin_available(tree))
    if profile is not None:
        await asyncio.to_thread(profile.mkdir, parents=True, exist_ok=True)
    tag = f"{width}x{height}"
    result: dict[str, Any] = {"bench": "call", "resolution": f"{tag}@{FPS}", "codec": codec}
    with tempfile.TemporaryDirectory(prefix="bench-call-") as tmp:
        sw = await run_calls(
            calls,
            call_seconds,
            Path(tmp) / "sw",
            kiosk_config("simulated", width, height, legacy, codec),
            None if profile is None else profile / f"software-{tag}.raw",
            tree,
        )
        hwm = None
        if with_hw:
            hwm = await run_calls(
                calls,
                call_seconds,
                Path(tmp) / "hw",
                kiosk_config(STANDIN, width, height, legacy),
                None if profile is None else profile / f"hardware-{tag}.raw",
                tree,
            )
    kiosk_cpu = statistics.median(sw["cpu"])
    result["calls"] = len(sw["setups"])
    result.update(_summary(sw, ""))
    result["kiosk_cpu_s_per_call_s"] = round(kiosk_cpu, 4)
    baseline = await call_baseline.measure(width, height, call_seconds, tree, codec)
    result.update(baseline)
    result["cpu_ratio"] = round(kiosk_cpu / baseline["baseline_cpu_s_per_call_s"], 3)
    if hwm is not None:
        result["hw_cpu_s_per_call_s"] = round(statistics.median(hwm["cpu"]), 4)
        result["hw_encoder_cpu_s_per_call_s"] = round(statistics.median(hwm["encoder_cpu"]), 4)
        result.update(_summary(hwm, "hw_"))
    else:
        result["hw_cpu_s_per_call_s"] = result["hw_encoder_cpu_s_per_call_s"] = None
    if profile is not None:
        summaries = {"software": sw.get("profile"), "hardware": (hwm or {}).get("profile")}
        windows = {"software": sw.get("profiled_cpu"), "hardware": (hwm or {}).get("profiled_cpu")}
        result["profile"] = {
            name: {
                "window_cpu_s_per_call_s": round(windows[name] or 0.0, 4),
                "threads": s,
                "kinds": call_profile.by_kind(s),
            }
            for name, s in summaries.items()
            if s is not None
        }
        (profile / f"summary-{tag}.json").write_text(json.dumps(result, indent=1) + "\n")
    return result
