"""The "Show at kiosk" box is a choice for one send, not a mode that sticks.

A ticked box pushes the file full screen to the customer. Left ticked after a send, the next
file (maybe one the customer should not see on the big screen yet) would be pushed too. The box
is cleared as soon as a send starts, whether the file goes through or is refused, so every
document shown at the kiosk, a retry included, is a deliberate tick. Real call: Debian's
Chromium, the real hub and relay, the kiosk simulated in this process
(tests/support/console_scene.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.console_scene import Scene, call_scene, pdf_bytes, sent_entry

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


async def pick(scene: Scene, name: str, mime: str, data: bytes) -> None:
    """Choose a file in the console's file input, leaving the checkbox as it is."""
    await scene.page.set_input_files(
        "#file-input", files=[{"name": name, "mimeType": mime, "buffer": data}]
    )


def shown_at_kiosk(scene: Scene) -> set[str]:
    state = scene.watch.state
    return set() if state is None else {d.id for d in state.documents}


async def test_show_at_kiosk_is_cleared_after_each_send(tmp_path: Path) -> None:
    async with call_scene(tmp_path) as scene:
        page = scene.page
        await page.check("#file-show-at-kiosk")
        await pick(scene, "Angebot.pdf", "application/pdf", pdf_bytes(20_000, seed=11))
        first = await sent_entry(scene, "done")
        assert not await page.is_checked("#file-show-at-kiosk")
        await scene.until(lambda: shown_at_kiosk(scene) == {first}, "the document at the kiosk")

        # The next file, box untouched: delivered, not pushed to the customer's screen.
        await pick(scene, "Notizen.pdf", "application/pdf", pdf_bytes(20_000, seed=12))
        li = await page.wait_for_selector(
            f'#sent-list .transfer[data-state="done"]:not([data-transfer-id="{first}"])'
        )
        assert await li.get_attribute("data-purpose") == "file"
        assert await li.eval_on_selector(".transfer-status", "e => e.textContent") == "Delivered"
        assert shown_at_kiosk(scene) == {first}

        # A refused file clears it too: the retry with the right file is ticked on purpose.
        await page.check("#file-show-at-kiosk")
        await pick(scene, "anim.gif", "image/gif", b"GIF89a" + bytes(100))
        await page.wait_for_function(
            "() => document.getElementById('exchange-error').textContent.includes('anim.gif')"
        )
        assert not await page.is_checked("#file-show-at-kiosk")
