"""The adviser console in headless Debian Chromium, driven by Playwright, on loopback only.

Shared by the call and transfer benchmarks and the end-to-end tests: Chromium with fake camera
and microphone, loopback candidates allowed, no traffic to the outside world; ``Console`` wraps
a console page with the measurement probe (console_probe.js) injected.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
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
    """What to install when Debian's Chromium is missing; None when it is there."""
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
    """A 1280x800 console page at ``url`` that keeps every peer connection for getStats()."""
    context = await browser_.new_context(viewport={"width": 1280, "height": 800})
    await context.grant_permissions(["camera", "microphone"], origin=url)
    page = await context.new_page()
    await page.add_init_script(_RECORD_PEER_CONNECTIONS_JS)
    try:
        yield Console(page, url)
    finally:
        await context.close()
