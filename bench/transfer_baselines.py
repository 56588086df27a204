"""The two baselines of `python -m bench transfer`, measured in the same run as the project.

- ``aiortc_default_mib_s``: the same bytes from a plain aiortc data channel (default
  settings: ordered, reliable, 16 KiB messages, waiting on ``bufferedAmount`` like aiortc's
  own examples) in this process to Chromium. aiortc's SCTP is pure Python.
- ``ws_mib_s``: the same bytes from a plain aiohttp WebSocket server on 127.0.0.1 to
  Chromium: the ceiling of any path through the hub.

Both are timed in the browser, from the first byte asked for to the last byte received.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import WSMsgType, web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

MESSAGE = 16 * 1024  # the size aiortc's and the browsers' examples use
HIGH_WATER = 1024 * 1024

_RECEIVER_JS = """
async ({offer}) => {
  const pc = new RTCPeerConnection({iceServers: []});
  window.__bench = {pc, got: 0, start: null, end: null};
  pc.ondatachannel = (e) => {
    const ch = e.channel;
    ch.binaryType = "arraybuffer";
    ch.onmessage = (m) => {
      const b = window.__bench;
      if (b.start === null) b.start = performance.now();
      b.got += m.data.byteLength;
      b.end = performance.now();
    };
  };
  await pc.setRemoteDescription({type: "offer", sdp: offer});
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === "complete") resolve();
    };
  });
  return pc.localDescription.sdp;
}
"""

_WS_JS = """
async ({url, total}) => {
  return await new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    let got = 0, start = null;
    ws.onopen = () => { start = performance.now(); ws.send("go"); };
    ws.onmessage = (m) => {
      got += m.data.byteLength;
      if (got >= total) { resolve({got, ms: performance.now() - start}); ws.close(); }
    };
    ws.onerror = () => reject(new Error("websocket failed"));
  });
}
"""


async def aiortc_default_mib_s(browser: Any, data: bytes) -> float:
    """MiB/s of ``data`` over a plain aiortc data channel into Chromium."""
    context = await browser.new_context()
    page = await context.new_page()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        channel = pc.createDataChannel("bench")
        opened = asyncio.Event()
        channel.on("open", opened.set)
        low = asyncio.Event()
        channel.bufferedAmountLowThreshold = HIGH_WATER // 2
        channel.on("bufferedamountlow", low.set)
        await pc.setLocalDescription(await pc.createOffer())
        answer = await page.evaluate(_RECEIVER_JS, {"offer": pc.localDescription.sdp})
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.wait_for(opened.wait(), 20)
        for offset in range(0, len(data), MESSAGE):
            while channel.bufferedAmount > HIGH_WATER:
                low.clear()
                await low.wait()
            channel.send(data[offset : offset + MESSAGE])
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            got = await page.evaluate("window.__bench.got")
            if got >= len(data):
                break
            await asyncio.sleep(0.1)
        state = await page.evaluate("({got: __bench.got, ms: __bench.end - __bench.start})")
        if state["got"] < len(data):
            raise RuntimeError("the plain data channel did not deliver everything in 300 s")
        return float(len(data) / (1024 * 1024) / (state["ms"] / 1000))
    finally:
        await pc.close()
        await context.close()


async def ws_mib_s(browser: Any, data: bytes, port: int) -> float:
    """MiB/s of ``data`` over a plain aiohttp WebSocket on loopback into Chromium."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, compress=False)
        await ws.prepare(request)
        msg = await ws.receive()
        if msg.type == WSMsgType.TEXT:
            view = memoryview(data)
            for offset in range(0, len(data), 256 * 1024):
                await ws.send_bytes(bytes(view[offset : offset + 256 * 1024]))
        with contextlib.suppress(Exception):
            await ws.receive()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    context = await browser.new_context()
    page = await context.new_page()
    try:
        result = await page.evaluate(
            _WS_JS, {"url": f"ws://127.0.0.1:{port}/ws", "total": len(data)}
        )
        return float(len(data) / (1024 * 1024) / (result["ms"] / 1000))
    finally:
        await context.close()
        await runner.cleanup()
