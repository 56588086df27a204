"""End to end: the hardware H.264 path (a stand-in encoder) against Debian's Chromium.

Debian's Chromium must decode H.264 (checked first). The kiosk runs `kiosk run --simulate`
with `[devices.camera] backend = "h264-standin"`, so its video leaves as packets encoded in a
child process (docs/hardware-video.md); the console decodes them (H.264 negotiated, frames,
the test picture). Then the kiosk's media is lost for a moment: it runs in a child network
namespace (testbed/netns.py) whose link is cut. The console's answer carries no generic NACK
(its `createAnswer` is wrapped in this test), so the lost packets cannot be retransmitted and
the only way back is a keyframe: Chromium sends PLI or FIR, the stand-in's very next frame is
an IDR (the kiosk logs each request with the frame that answered it), and the console's
video decodes again.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from testbed.browser import Console, browser, chromium_missing_message, console_page
from testbed.stack import BIN, Stack
from tests.support.netns import ChildNetns, child_netns, forward_tcp
from tests.support.requirements import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CAMERA = '[devices.camera]\nbackend = "h264-standin"\nwidth = 640\nheight = 480\nfps = 30\n'
# Without generic NACK a lost packet is gone, so loss can only heal with a keyframe.
NO_NACK_JS = """(() => {
  const original = RTCPeerConnection.prototype.createAnswer;
  RTCPeerConnection.prototype.createAnswer = async function (...args) {
    const answer = await original.apply(this, args);
    const sdp = answer.sdp.replace(/a=rtcp-fb:\\d+ nack\\r\\n/g, '');
    return { type: answer.type, sdp };
  };
})();"""
# The console's inbound video: codec, frames, keyframes, and the feedback it sent.
INBOUND_JS = """async () => {
  const pc = window.__pcs[window.__pcs.length - 1];
  if (!pc) return null;
  const stats = await pc.getStats();
  for (const s of stats.values()) {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      const codec = s.codecId ? stats.get(s.codecId) : null;
      return { mime: codec ? codec.mimeType : null, frames: s.framesDecoded || 0,
               keyframes: s.keyFramesDecoded || 0, pli: s.pliCount || 0, fir: s.firCount || 0,
               nack: s.nackCount || 0, lost: s.packetsLost || 0 };
    }
  }
  return null;
}"""
ANSWERED = re.compile(r"keyframe request (\d+): frame (\d+) is an IDR \(next frame\)")


@asynccontextmanager
async def kiosk_in_child_netns(
    stack: Stack, ns: ChildNetns, config: str
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`kiosk run --simulate --no-ui` in ``ns``, reaching the hub through a relay."""
    (stack.workdir / "kiosk.toml").write_text(config, encoding="utf-8")
    async with forward_tcp(ns.host_addr, stack.port) as relay_port:
        argv = ns.command(
            str(BIN / "kiosk"),
            "run",
            "--simulate",
            "--no-ui",
            "--config",
            str(stack.workdir / "kiosk.toml"),
            "--hub",
            f"ws://{ns.host_addr}:{relay_port}",
            "--token-file",
            str(stack.workdir / "token"),
            "--ice-host",
            ns.child_addr,
            "--stats-file",
            str(stack.stats_file),
            "--vault",
            str(stack.workdir / "vault"),
        )
        with stack.kiosk_log.open("ab") as log:
            kiosk = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
        stack.kiosk = kiosk
        try:
            yield kiosk
        finally:
            kiosk.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(kiosk.wait, 15)
            except subprocess.TimeoutExpired:
                kiosk.kill()
                kiosk.wait()


async def inbound(console: Console) -> dict[str, Any]:
    state: dict[str, Any] | None = await console.page.evaluate(INBOUND_JS)
    assert state is not None, "the console has no inbound video"
    return state


async def wait_inbound(
    console: Console, predicate: Callable[[dict[str, Any]], bool], what: str, timeout_s: float
) -> dict[str, Any]:
    """Poll the inbound video stats until ``predicate`` holds; fail naming ``what``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate(state := await inbound(console)):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}: {state}")
        await asyncio.sleep(0.1)
    return state


async def test_h264_from_the_standin_decodes_and_heals_with_a_keyframe(tmp_path: Path) -> None:
    missing = chromium_missing_message()
    require(missing is None, missing or "")
    stack = Stack(tmp_path / "stack")
    with child_netns() as ns:
        stack.start_hub()
        try:
            async with (
                kiosk_in_child_netns(stack, ns, CAMERA),
                browser() as chromium,
                console_page(chromium, stack.url) as console,
            ):
                page = console.page
                # Debian's Chromium decodes H.264 (constrained baseline): check it first.
                codecs = await page.evaluate(
                    "() => RTCRtpReceiver.getCapabilities('video').codecs"
                    ".map((c) => [c.mimeType, c.sdpFmtpLine || ''])"
                )
                assert any(
                    mime == "video/H264" and "profile-level-id=42e0" in fmtp
                    for mime, fmtp in codecs
                ), codecs
                await page.add_init_script(NO_NACK_JS)  # before the console loads
                await console.login(stack.adviser, stack.password)
                cid = await console.wait_for_entry(timeout_s=30)
                await console.accept(cid)

                # The kiosk's pre-encoded H.264 decodes: the test picture, its clock.
                await console.wait_probe(
                    "p.frames >= 30 && p.barsOk !== null && p.clockReads >= 3", timeout_s=40
                )
                state = await console.probe()
                assert state["barsOk"], f"not the kiosk's test picture: {state['barsSeen']}"
                before = await inbound(console)
                assert before["mime"] == "video/H264", before

                # Loss: the kiosk's link goes down for a moment, then comes back.
                feedback = before["pli"] + before["fir"]
                await asyncio.to_thread(cut_child_side, ns)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(heal_child_side, ns)
                asked = await wait_inbound(
                    console, lambda s: s["pli"] + s["fir"] > feedback, "a PLI or FIR", 30
                )
                # The console's video recovers: a keyframe decoded and frames after it.
                after = await wait_inbound(
                    console,
                    lambda s: (
                        s["keyframes"] > before["keyframes"] and s["frames"] >= asked["frames"] + 30
                    ),
                    "a keyframe and 30 frames decoded after it",
                    30,
                )
                assert after["lost"] > before["lost"], (before, after)
                assert after["nack"] == 0, after  # no NACK: the keyframe healed it
                assert not console.console_errors, console.console_errors
        finally:
            stack.stop()

    log = stack.kiosk_log.read_text(encoding="utf-8", errors="replace")
    answered = ANSWERED.findall(log)
    # The call's first IDR, then at least one for the browser's PLI/FIR after the loss; each
    # answered by the stand-in's very next frame, none late.
    assert len(answered) >= 2, log[-3000:]
    assert "is NOT an IDR" not in log


def cut_child_side(ns: ChildNetns) -> None:
    """The kiosk's end of the link goes down: nothing passes either way."""
    subprocess.run(ns.command(ns.ip, "link", "set", ns.child_dev, "down"), check=True, timeout=10)


def heal_child_side(ns: ChildNetns) -> None:
    """The kiosk's end comes back, with its address and route."""
    subprocess.run(ns.command(ns.ip, "link", "set", ns.child_dev, "up"), check=True, timeout=10)
