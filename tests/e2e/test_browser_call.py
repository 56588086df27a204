"""End to end: hub and simulated kiosk as processes, the adviser in Debian's Chromium.

An adviser logs in, sees the waiting kiosk, accepts; both sides decode the other's frames (the
browser sees the kiosk's test picture, not black, and reads its capture clock), both hear the
other; a chat message goes each way; the adviser ends the call; the kiosk queues again. A canary
in the chat proves that no conversation content reaches a log or the hub's database.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.browser import browser, chromium_missing_message, console_page
from testbed.stack import Stack, wait_until
from tests.support.netns import require_loopback_only_netns
from tests.support.requirements import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    require_loopback_only_netns()
    missing = chromium_missing_message()
    require(missing is None, missing or "")
    s = Stack(tmp_path / "stack")
    s.start_hub()
    s.start_kiosk()
    yield s
    s.stop()


async def test_adviser_and_kiosk_see_hear_and_chat(stack: Stack) -> None:
    canary = f"CANARY-{secrets.token_hex(8)}"
    async with browser() as chromium, console_page(chromium, stack.url) as console:
        page = console.page
        await console.login(stack.adviser, stack.password)
        cid = await console.wait_for_entry()
        clicked = await console.accept(cid)

        # The browser decodes the kiosk's picture: frames, the colour bars, the capture clock.
        await console.wait_probe(
            "p.frames >= 45 && p.barsOk !== null && p.clockReads >= 5 && p.audioPeakRms > 0.02",
            timeout_s=30,
        )
        state = await console.probe()
        assert state["barsOk"], f"not the kiosk's test picture: {state['barsSeen']}"
        # Each capture clock read back names a moment of this call (after the accept, not in
        # the future): the picture is live, not a stale or garbled stamp. Speed: bench call.
        span = await page.evaluate("Date.now()") - clicked
        latencies = state["latencies"]
        assert len(latencies) >= 5 and all(0 <= ms <= span for ms in latencies), latencies
        assert await page.text_content("#call-state") == (
            "Connected — end-to-end encrypted (DTLS-SRTP)"
        )
        # Privacy promise 1: the browser's own stats show DTLS up and SRTP protecting media,
        # on a direct path between browser and kiosk (the hub is not in it).
        # Both ends checked each other's reveal: the console shows four words in its header
        # (the kiosk's are in its stats line, compared below).
        await page.wait_for_selector("#call-code:not([hidden])", timeout=15000)
        console_code = (await page.text_content("#call-code-words")) or ""
        assert len(console_code.split()) == 4, console_code
        transport = await console.transport()
        assert transport is not None, "no selected candidate pair"
        assert transport["dtls"] == "connected" and transport["srtp"], transport
        assert transport["local"] == "host" and transport["remote"] == "host", transport

        # Chat both ways: the simulated customer greets and answers each message.
        await page.fill("#chat-input", f"Guten Tag {canary}")
        await page.click("#chat-send")
        await page.wait_for_function(
            "() => document.querySelectorAll('#chat-log .chat-customer').length >= 2",
            timeout=15000,
        )
        await page.wait_for_function(
            "() => document.querySelectorAll('#chat-log .chat-you').length >= 1"
        )

        await page.click("#btn-end")
        await page.wait_for_selector("#call-view", state="hidden")
        # The kiosk queues again with a fresh consultation.
        await page.wait_for_function(
            "(old) => [...document.querySelectorAll('.queue-entry')]"
            ".some(e => e.dataset.consultationId !== old)",
            arg=cid,
            timeout=20000,
        )
        assert not console.console_errors, console.console_errors

    await wait_until(lambda: len(stack.kiosk_calls()) >= 1, 15, "the kiosk's call statistics")
    call = stack.kiosk_calls()[0]
    assert call["consultation_id"] == cid
    assert call["video_frames_received"] >= 30
    assert call["non_black_seen"] is True, str(call)
    assert call["remote_audio_rms"] > 0.001  # Chromium's fake microphone beeps periodically
    assert call["chat_in"] >= 1 and call["chat_out"] >= 2
    assert call["end_reason"] == "hangup"
    assert call["verified"] is True and call["verification_failed"] is None
    assert call["verification_code"] == console_code

    stack.stop()
    for path in (stack.kiosk_log, stack.hub_log, stack.stats_file, stack.db):
        assert canary.encode() not in path.read_bytes(), f"conversation content in {path.name}"
    for wal in stack.workdir.glob("hub.sqlite3*"):
        assert canary.encode() not in wal.read_bytes()
    # The hub relayed offers and answers but kept none of them.
    for path in (stack.hub_log, *stack.workdir.glob("hub.sqlite3*")):
        data = path.read_bytes()
        assert b"a=fingerprint" not in data and b"a=ice-pwd" not in data, path.name
