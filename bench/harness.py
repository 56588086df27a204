"""A real hub, a simulated kiosk and the console in headless Chromium, as separate processes.

Shared by the call benchmark and the end-to-end browser tests: everything is started through
the console scripts, exactly as an operator would, on loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# Flags from architecture.md: loopback candidates, no mDNS hiding, fake camera/mic, and no
# background traffic to the outside world.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
PROBE_JS = (Path(__file__).resolve().parent / "console_probe.js").read_text()
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


class HarnessError(RuntimeError):
    """The stack could not be brought up; the message says which part and why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _cli(name: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(BIN / name), *args], input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise HarnessError(f"{name} {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Stack:
    """Hub and kiosk processes with their files under ``workdir``."""

    workdir: Path
    adviser: str = "adviser"
    password: str = "correct horse battery"
    port: int = field(default_factory=free_port)
    hub: subprocess.Popen[bytes] | None = None
    kiosk: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.workdir / "hub.sqlite3"

    @property
    def stats_file(self) -> Path:
        return self.workdir / "kiosk-stats.jsonl"

    @property
    def kiosk_log(self) -> Path:
        return self.workdir / "kiosk.log"

    @property
    def hub_log(self) -> Path:
        return self.workdir / "hub.log"

    def start_hub(self, *extra: str) -> None:
        """Start ``kiosk-hub serve`` (``extra``: more serve options, e.g. TURN settings)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        pw = self.workdir / "adviser.password"
        pw.write_text(self.password + "\n")
        if not (self.workdir / "token").exists():
            _cli(
                "kiosk-hub",
                "adviser",
                "add",
                self.adviser,
                "--password-file",
                str(pw),
                "--db",
                str(self.db),
            )
            token = _cli("kiosk-hub", "device", "add", "kiosk-1", "--db", str(self.db))
            (self.workdir / "token").write_text(token.strip().splitlines()[-1] + "\n")
        with self.hub_log.open("ab") as log:  # the child keeps its own descriptor
            self.hub = subprocess.Popen(
                [
                    str(BIN / "kiosk-hub"),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--db",
                    str(self.db),
                    *extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.hub.poll() is not None:
                raise HarnessError(f"hub exited: {self.hub_log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/csrf", timeout=1):  # noqa: S310
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise HarnessError("hub did not answer within 20 s")

    def start_kiosk(self, *extra: str) -> None:
        with self.kiosk_log.open("ab") as log:
            self.kiosk = subprocess.Popen(
                [
                    str(BIN / "kiosk"),
                    "run",
                    "--simulate",
                    "--no-ui",  # the simulated customer queues and chats by itself
                    "--hub",
                    f"ws://127.0.0.1:{self.port}",
                    "--token-file",
                    str(self.workdir / "token"),
                    "--ice-host",
                    "127.0.0.1",
                    "--stats-file",
                    str(self.stats_file),
                    "--vault",  # a private vault, never the machine's /run/kiosk/session
                    str(self.workdir / "vault"),
                    *extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kiosk_calls(self) -> list[dict[str, Any]]:
        """Per-call statistics the kiosk appended to its stats file (one JSON line per call)."""
        if not self.stats_file.exists():
            return []
        return [json.loads(line) for line in self.stats_file.read_text().splitlines() if line]

    def stop_process(self, proc: subprocess.Popen[bytes] | None) -> int | None:
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    def stop(self) -> None:
        self.stop_process(self.kiosk)
        self.stop_process(self.hub)
        # As root the kiosk mounted a tmpfs for its vault; it stays mounted (as on a device)
        # until we take it down, or the work directory could not be removed.
        vault = self.workdir / "vault"
        if os.path.ismount(vault):
            subprocess.run(["umount", str(vault)], check=False, capture_output=True)  # noqa: S607


class Console:
    """The adviser console in a Playwright page, with the measurement probe injected."""

    def __init__(self, page: Any, url: str) -> None:
        self.page = page
        self.url = url
        self.console_errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))

    def _on_console(self, msg: Any) -> None:
        # Every error counts: a signed-out session check is a 200 answer, not a 401.
        if msg.type == "error":
            self.console_errors.append(msg.text)

    async def login(self, name: str, password: str) -> None:
        await self.page.goto(self.url + "/")
        await self.page.fill("#login-name", name)
        await self.page.fill("#login-password", password)
        await self.page.click("#login-submit")
        await self.page.wait_for_selector("#queue-list", state="visible")
        await self.page.evaluate(PROBE_JS)

    async def wait_for_entry(self, timeout_s: float = 20) -> str:
        """Wait until a kiosk waits in the queue; return its consultation id."""
        entry = await self.page.wait_for_selector(
            ".queue-entry[data-consultation-id]", timeout=timeout_s * 1000
        )
        cid: str = await entry.get_attribute("data-consultation-id")
        return cid

    async def accept(self, consultation_id: str) -> int:
        """Click accept; return the wall-clock ms of the click (Date.now())."""
        selector = f'.queue-entry[data-consultation-id="{consultation_id}"] button.accept'
        clicked: int = await self.page.evaluate(
            """(sel) => { window.__probe.watch(); const t = Date.now();
                          document.querySelector(sel).click(); return t; }""",
            selector,
        )
        return clicked

    async def probe(self) -> dict[str, Any]:
        state: dict[str, Any] = await self.page.evaluate(
            """() => { const p = window.__probe; return { frames: p.frames,
                firstFrameAt: p.firstFrameAt, latencies: p.latencies.slice(),
                barsOk: p.barsOk, barsSeen: p.barsSeen, audioRms: p.audioRms,
                audioPeakRms: p.audioPeakRms, clockReads: p.clockReads }; }"""
        )
        return state

    async def wait_probe(self, predicate: str, timeout_s: float = 20) -> None:
        await self.page.wait_for_function(
            f"() => {{ const p = window.__probe; return {predicate}; }}",
            timeout=timeout_s * 1000,
        )

    async def transport(self) -> dict[str, Any] | None:
        """The call's selected candidate pair and DTLS/SRTP state, from the browser's getStats()."""
        state: dict[str, Any] | None = await self.page.evaluate(_SELECTED_PAIR_JS)
        return state

    async def reset_latencies(self) -> None:
        await self.page.evaluate("() => { window.__probe.latencies = []; }")


# Installed before the console loads: keeps every RTCPeerConnection it makes, for getStats().
_RECORD_PEER_CONNECTIONS_JS = """(() => {
  const Original = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
  // the console makes its certificate first (docs/verification.md): keep the static method
  window.RTCPeerConnection.generateCertificate = (...args) => Original.generateCertificate(...args);
})();"""

_SELECTED_PAIR_JS = """async () => {
  for (const pc of [...(window.__pcs || [])].reverse()) {
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      if (s.type === 'transport' && s.selectedCandidatePairId) {
        const pair = stats.get(s.selectedCandidatePairId);
        return { local: stats.get(pair.localCandidateId).candidateType,
                 remote: stats.get(pair.remoteCandidateId).candidateType,
                 dtls: s.dtlsState, srtp: s.srtpCipher || null,
                 tls: s.tlsVersion || null };
      }
    }
  }
  return null;
}"""


def chromium_missing_message() -> str | None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return "Debian's Chromium is missing: apt-get install chromium (make test does this)"
    return None


@contextlib.asynccontextmanager
async def browser() -> AsyncIterator[Any]:
    """Headless Debian Chromium with fake media devices, driven by Playwright."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@contextlib.asynccontextmanager
async def console_page(browser_: Any, url: str) -> AsyncIterator[Console]:
    context = await browser_.new_context(viewport={"width": 1280, "height": 800})
    await context.grant_permissions(["camera", "microphone"], origin=url)
    page = await context.new_page()
    await page.add_init_script(_RECORD_PEER_CONNECTIONS_JS)
    try:
        yield Console(page, url)
    finally:
        await context.close()


async def wait_until(predicate: Any, timeout_s: float, what: str, interval: float = 0.05) -> None:
    """Poll a sync predicate until true; raise HarnessError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(interval)
    raise HarnessError(f"timed out after {timeout_s:.0f} s waiting for {what}")
