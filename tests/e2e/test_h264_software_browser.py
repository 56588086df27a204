"""End to end: `[video] codec = "h264"`: the kiosk encodes H.264 itself, Chromium decodes it.

The kiosk runs `kiosk run --simulate` with its simulated (raw) camera, encoded by libx264 in the
kiosk (appliance.call.codecs, constrained Baseline, ultrafast, zerolatency); the console must
negotiate H.264 and decode the test picture with its clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from testbed.browser import browser, chromium_missing_message, console_page
from testbed.stack import Stack
from tests.support.requirements import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CONFIG = '[video]\ncodec = "h264"\n'
INBOUND_MIME_JS = """async () => {
  const pc = window.__pcs[window.__pcs.length - 1];
  if (!pc) return null;
  const stats = await pc.getStats();
  for (const s of stats.values()) {
    if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded) {
      const codec = s.codecId ? stats.get(s.codecId) : null;
      return { mime: codec ? codec.mimeType : null, frames: s.framesDecoded };
    }
  }
  return null;
}"""


async def test_the_kiosks_software_h264_decodes_in_chromium(tmp_path: Path) -> None:
    missing = chromium_missing_message()
    require(missing is None, missing or "")
    stack = Stack(tmp_path / "stack")
    stack.start_hub()
    try:
        stack.start_kiosk(config=CONFIG)
        async with browser() as chromium, console_page(chromium, stack.url) as console:
            await console.login(stack.adviser, stack.password)
            cid = await console.wait_for_entry(timeout_s=30)
            await console.accept(cid)
            await console.wait_probe(
                "p.frames >= 30 && p.barsOk !== null && p.clockReads >= 3", timeout_s=40
            )
            state = await console.probe()
            assert state["barsOk"], f"not the kiosk's test picture: {state['barsSeen']}"
            inbound: dict[str, Any] | None = await console.page.evaluate(INBOUND_MIME_JS)
            assert inbound is not None and inbound["mime"] == "video/H264", inbound
            assert not console.console_errors, console.console_errors
    finally:
        stack.stop()
