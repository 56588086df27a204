"""A relay-only call between the console in Chromium and the kiosk, through coturn on loopback.

The hub mints the TURN credentials and tells both sides to use relayed candidates only; the
browser's connection must then run over a relay candidate pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.browser import browser, chromium_missing_message, console_page
from testbed.stack import Stack
from tests.support.coturn import Coturn, running_coturn
from tests.support.netns import require_loopback_only_netns
from tests.support.requirements import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[Coturn]:
    require_loopback_only_netns()
    missing = chromium_missing_message()
    require(missing is None, missing or "")
    with running_coturn(tmp_path / "turn") as server:
        yield server


async def test_relay_only_call_in_the_browser(tmp_path: Path, turn: Coturn) -> None:
    secret = tmp_path / "turn.secret"
    secret.write_text(turn.secret + "\n")
    stack = Stack(tmp_path / "stack")
    stack.start_hub("--turn-url", turn.url, "--turn-secret-file", str(secret), "--relay-only")
    stack.start_kiosk()
    try:
        async with browser() as chromium, console_page(chromium, stack.url) as console:
            await console.login(stack.adviser, stack.password)
            cid = await console.wait_for_entry()
            await console.accept(cid)
            await console.wait_probe("p.frames >= 30 && p.barsOk !== null", timeout_s=40)
            state = await console.probe()
            assert state["barsOk"], state["barsSeen"]
            pair = await console.transport()
            assert pair is not None, "no selected candidate pair"
            assert pair["local"] == "relay" and pair["remote"] == "relay", pair
            assert pair["dtls"] == "connected" and pair["srtp"], pair
            await console.page.click("#btn-end")
            await console.page.wait_for_selector("#call-view", state="hidden")
    finally:
        stack.stop()
    log = turn.log.read_text(errors="replace")
    assert "ALLOCATE processed, success" in log and "CHANNEL_BIND processed, success" in log
