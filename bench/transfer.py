"""`python -m bench transfer`: a 20 MiB file kiosk → adviser console while the call's video runs.

The project's path: the kiosk seals the file (AES-256-GCM), uploads it to the hub's relay, and
offers it on the data channel; the console in headless Chromium downloads, opens and checks
it (docs/exchange.md). Timed from the kiosk being told to send to the console holding the
verified file; repeated, and the median reported. Meanwhile the console's probe counts decoded
frames and reads the kiosk's capture clock, so the call's health during the transfer is
measured against the same call idle. Baselines in the same run (bench/transfer_baselines.py):
the same bytes over a plain aiortc data channel and over a plain aiohttp WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.transfer_baselines import aiortc_default_mib_s, ws_mib_s
from testbed.browser import browser, console_page
from testbed.stack import HarnessError, Stack, free_port, wait_until

SIZE = 20 * 1024 * 1024
IDLE_S = 4.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def payload(size: int = SIZE) -> bytes:
    """A PDF-shaped file (the allow-list sniffs the content), incompressible like a scan."""
    head, tail = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", b"\n%%EOF\n"
    return head + os.urandom(size - len(head) - len(tail)) + tail


class KioskDriver:
    """The simulated kiosk as a process (bench/kiosk_driver.py), told to send files."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        log = stack.kiosk_log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.kiosk_driver",
                "--hub",
                f"ws://127.0.0.1:{stack.port}",
                "--token-file",
                str(stack.workdir / "token"),
                "--ice-host",
                "127.0.0.1",
                "--stats-file",
                str(stack.stats_file),
                "--vault",
                str(stack.workdir / "vault"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=Path(__file__).resolve().parent.parent,
        )
        stack.kiosk = self.proc  # so Stack.stop() stops it too

    async def send(self, path: Path) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"send {path}\n".encode())
        self.proc.stdin.flush()
        while True:  # libraries may print banners on stdout; our lines are JSON objects
            line = await asyncio.get_running_loop().run_in_executor(None, self.proc.stdout.readline)
            if not line:
                raise HarnessError("the kiosk driver exited")
            if line.startswith(b"{"):
                result: dict[str, Any] = json.loads(line)
                return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()


# Stamps the moment each received file's entry turns "done" (verified in the browser).
_WATCH_RECEIVED_JS = """() => {
  window.__doneAt = {};
  const list = document.getElementById("received-list");
  const stamp = () => {
    for (const li of list.querySelectorAll('li[data-state="done"][data-transfer-id]')) {
      if (!(li.dataset.transferId in window.__doneAt)) {
        window.__doneAt[li.dataset.transferId] = Date.now();
      }
    }
  };
  new MutationObserver(stamp).observe(list, {subtree: true, childList: true, attributes: true});
}"""
_RECEIVED_JS = "(id) => (window.__doneAt || {})[id] ?? null"


# Frames the browser's decoder produced for the kiosk's camera (getStats, not the page's
# rendering callbacks, which a busy main thread would skip).
_DECODED_JS = """async () => {
  const pcs = window.__pcs || [];
  const pc = pcs[pcs.length - 1];
  if (!pc) return 0;
  let decoded = 0;
  for (const s of (await pc.getStats()).values()) {
    if (s.type === "inbound-rtp" && s.kind === "video" && s.framesDecoded > decoded) {
      decoded = s.framesDecoded;
    }
  }
  return decoded;
}"""


async def _frames(console: Any) -> tuple[int, float]:
    decoded = await console.page.evaluate(_DECODED_JS)
    return int(decoded), time.monotonic()


async def run_project(workdir: Path, repeats: int) -> dict[str, Any]:
    stack = Stack(workdir)
    stack.start_hub()
    driver = KioskDriver(stack)
    rates: list[float] = []
    try:
        async with browser() as chromium, console_page(chromium, stack.url) as console:
            await console.login(stack.adviser, stack.password)
            cid = await console.wait_for_entry(timeout_s=30)
            await console.accept(cid)
            await console.wait_probe("p.frames > 30", timeout_s=30)
            await console.page.wait_for_selector("#call-code-words:not(:empty)", timeout=20000)
            # The call idle.
            await console.reset_latencies()
            f0, t0 = await _frames(console)
            await asyncio.sleep(IDLE_S)
            f1, t1 = await _frames(console)
            fps_idle = (f1 - f0) / (t1 - t0)
            idle_latencies = (await console.probe())["latencies"]
            # The call while files go across, back to back.
            await console.page.evaluate(_WATCH_RECEIVED_JS)
            await console.reset_latencies()
            f0, t0 = await _frames(console)
            for n in range(repeats):
                path = workdir / f"file-{n}.pdf"
                data = payload()
                path.write_bytes(data)
                started_ms = time.time() * 1000
                sent = await driver.send(path)
                if sent.get("event") != "sent":
                    raise HarnessError(f"the kiosk could not send: {sent}")
                done_at: list[float] = []

                async def received(tid: str = sent["id"], done_at: list[float] = done_at) -> bool:
                    at = await console.page.evaluate(_RECEIVED_JS, tid)
                    if at is not None:
                        done_at.append(float(at))
                    return at is not None

                deadline = time.monotonic() + 120
                while not await received():
                    if time.monotonic() > deadline:
                        raise HarnessError("the console did not get the file within 120 s")
                    await asyncio.sleep(0.02)
                rates.append(len(data) / (1024 * 1024) / ((done_at[0] - started_ms) / 1000))
            f1, t1 = await _frames(console)
            fps_during = (f1 - f0) / (t1 - t0)
            during_latencies = (await console.probe())["latencies"]
            await console.page.click("#btn-end")
            await wait_until(lambda: len(stack.kiosk_calls()) > 0, 15, "the kiosk's stats")
    finally:
        driver.close()
        stack.stop()
    return {
        "rates": rates,
        "fps_idle": fps_idle,
        "fps_during": fps_during,
        "window_s": t1 - t0,
        "idle_latencies": idle_latencies,
        "during_latencies": during_latencies,
    }


async def main(repeats: int = 5) -> dict[str, Any]:
    from appliance.call.ice import use_host_addresses

    use_host_addresses(["127.0.0.1"])
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        project = await run_project(Path(tmp), repeats)
    data = payload()
    async with browser() as chromium:
        ws = await ws_mib_s(chromium, data, free_port())
        plain = await aiortc_default_mib_s(chromium, data)
    mib_s = statistics.median(project["rates"])
    return {
        "bench": "transfer",
        "file_mib": SIZE / (1024 * 1024),
        "transfers": len(project["rates"]),
        "mib_s": round(mib_s, 1),
        "aiortc_default_mib_s": round(plain, 2),
        "ws_mib_s": round(ws, 1),
        "fps_idle": round(project["fps_idle"], 1),
        "fps_during": round(project["fps_during"], 1),
        "fps_ratio": round(project["fps_during"] / project["fps_idle"], 3),
        "during_window_s": round(project["window_s"], 2),
        "latency_ms_p95_idle": round(_pct(project["idle_latencies"], 0.95), 1),
        "latency_ms_p95_during": round(_pct(project["during_latencies"], 0.95), 1),
        "latency_samples_during": len(project["during_latencies"]),
    }
