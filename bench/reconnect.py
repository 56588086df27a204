"""`python -m bench reconnect`: the kiosk's network is pulled for 2 s, again and again.

The kiosk runs as its own process in a child network namespace one veth link away
(testbed/netns.py), so cutting the link takes away its signalling and its media at once, as a
branch's failing uplink would. The hub and the adviser console (headless Chromium) stay on
this side. Per outage:

- ``detect_ms``: from the cut to the kiosk saying it lost the call's path (its data-channel
  heartbeat, docs/reconnection.md); read from the kiosk's status lines as they arrive. With a
  2 s cut and a 3 s silence limit the old path sometimes comes back first (SCTP retransmits in
  time) and the call simply carries on: such outages count in ``survived_without_reconnect``;
- ``reconnect_ms``: from the link coming back to the console decoding the kiosk's video again:
  on the new peer connection once the kiosk is verified again (resume proof), or on the old
  one when it survived;
- ``outage_to_video_ms``: from the cut to that first new frame.

The baseline is what the kiosk would have without its heartbeat: aiortc learns of a dead path
only from ICE consent freshness (RFC 7675), which aioice declares after
``CONSENT_FAILURES × CONSENT_INTERVAL`` (6 × 5 s); that figure is read from the installed
aioice in the same run, and ``detect_ratio`` compares the two.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aioice import ice as aioice_ice

from testbed.browser import browser, console_page
from testbed.netns import child_netns, forward_tcp
from testbed.stack import BIN, HarnessError, Stack

OUTAGE_S = 2.0
# After the link is back: how long to wait for the kiosk to call the path dead before counting
# the outage as one the old path survived.
SETTLE_S = 5.0
LOST = "reconnecting the call"
BACK = "in call again"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class StatusLines:
    """The kiosk's stdout, each line stamped with the wall clock when it arrived."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(proc, log), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        assert proc.stdout is not None
        with log.open("ab") as out:
            for raw in proc.stdout:
                out.write(raw)
                out.flush()
                with self._lock:
                    self.lines.append((time.time() * 1000, raw.decode(errors="replace")))

    def first_after(self, since_ms: float, text: str) -> float | None:
        with self._lock:
            return next((t for t, line in self.lines if t >= since_ms and text in line), None)


async def _until(what: str, timeout_s: float, check: Any) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await check()
        if value is not None:
            return value
        await asyncio.sleep(0.02)
    raise HarnessError(f"timed out after {timeout_s:.0f} s waiting for {what}")


async def run_outages(workdir: Path, outages: int) -> dict[str, Any]:
    stack = Stack(workdir)
    stack.start_hub()
    detects: list[float] = []
    reconnects: list[float] = []
    totals: list[float] = []
    survived = 0
    with child_netns() as ns:
        async with forward_tcp(ns.host_addr, stack.port) as port:
            stack.kiosk = _start(
                ns.command(
                    str(BIN / "kiosk"),
                    "run",
                    "--simulate",
                    "--no-ui",
                    "--hub",
                    f"ws://{ns.host_addr}:{port}",
                    "--token-file",
                    str(workdir / "token"),
                    "--ice-host",
                    ns.child_addr,
                    "--stats-file",
                    str(stack.stats_file),
                    "--vault",
                    str(workdir / "vault"),
                )
            )
            status = StatusLines(stack.kiosk, stack.kiosk_log)
            try:
                async with browser() as chromium, console_page(chromium, stack.url) as console:
                    await console.login(stack.adviser, stack.password)
                    cid = await console.wait_for_entry(timeout_s=30)
                    await console.accept(cid)
                    await console.wait_probe("p.frames > 30", timeout_s=30)
                    for _ in range(outages):
                        await asyncio.sleep(2.0)  # the call runs a while between outages
                        cut_ms = time.time() * 1000
                        ns.cut()
                        await asyncio.sleep(OUTAGE_S)
                        ns.heal()
                        healed_ms = time.time() * 1000
                        before = (await console.probe())["frames"]
                        # Either the kiosk calls the path dead (3 s without a beat) and heals
                        # it with a new peer connection, or the old path comes back first
                        # (SCTP retransmits in time) and the call simply carries on.
                        detected, first_frame_ms = await _settle(status, console, cut_ms, before)
                        if detected is not None:
                            detects.append(detected - cut_ms)
                            await _until(
                                "the kiosk to resume",
                                90,
                                lambda cut_ms=cut_ms: _value(status.first_after(cut_ms, BACK)),
                            )
                            before = (await console.probe())["frames"]
                        else:
                            survived += 1
                        video_ms = first_frame_ms if detected is None else None
                        if video_ms is None:
                            video_ms = await _until(
                                "video again", 90, lambda before=before: _new_frame(console, before)
                            )
                        reconnects.append(video_ms - healed_ms)
                        totals.append(video_ms - cut_ms)
                    await console.page.click("#btn-end")
            except HarnessError as exc:
                tail = "".join(line for _, line in status.lines[-40:])
                tail += "\n--- hub ---\n" + stack.hub_log.read_text(errors="replace")[-4000:]
                raise HarnessError(f"{exc}; the kiosk's last words:\n{tail}") from None
            finally:
                stack.stop()
    return {"detect": detects, "reconnect": reconnects, "total": totals, "survived": survived}


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


async def _settle(
    status: StatusLines, console: Any, cut_ms: float, frames_before: int
) -> tuple[float | None, float | None]:
    """Watch SETTLE_S after the link is back: (when the kiosk called the path dead, or None;
    when the first frame after the heal was decoded, or None)."""
    first_frame: float | None = None
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        detected = status.first_after(cut_ms, LOST)
        if detected is not None:
            return detected, None
        if first_frame is None:
            first_frame = await _new_frame(console, frames_before)
        await asyncio.sleep(0.02)
    return None, first_frame


async def _value(value: float | None) -> float | None:
    return value


async def _new_frame(console: Any, before: int) -> float | None:
    state = await console.probe()
    return time.time() * 1000 if state["frames"] > before else None


async def main(outages: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-reconnect-") as tmp:
        measured = await run_outages(Path(tmp), outages)
    consent_s = aioice_ice.CONSENT_FAILURES * aioice_ice.CONSENT_INTERVAL
    return {
        "bench": "reconnect",
        "outages": len(measured["reconnect"]),
        "detected": len(measured["detect"]),
        "survived_without_reconnect": measured["survived"],
        "outage_s": OUTAGE_S,
        "detect_ms_p50": round(_pct(measured["detect"], 0.5), 1),
        "detect_ms_p95": round(_pct(measured["detect"], 0.95), 1),
        "reconnect_ms_p50": round(statistics.median(measured["reconnect"]), 1),
        "reconnect_ms_p95": round(_pct(measured["reconnect"], 0.95), 1),
        "outage_to_video_ms_p50": round(statistics.median(measured["total"]), 1),
        "baseline_ice_consent_detect_ms": round(consent_s * 1000, 1),
        "detect_ratio": round(_pct(measured["detect"], 0.5) / (consent_s * 1000), 3),
    }
