"""The console's sign-in page loads in Debian's Chromium without a single error.

A signed-out session check is an answer, not a failure: a red ``401 (Unauthorized)`` on every
page load teaches advisers (and whoever reads their browser console) to ignore red lines.
Everything the page logs as an error, every uncaught exception, every response >= 400 and
every request that failed is collected, on a fresh load and on a reload after signing out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from testbed.browser import browser, chromium_missing_message
from tests.support.hub import running_hub
from tests.support.netns import require_loopback_only_netns
from tests.support.requirements import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ADVISER = "ann"
PASSWORD = "correct horse battery staple"


def collect_problems(page: Any) -> list[str]:
    """Everything on ``page`` that would show red in the browser's developer tools."""
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(f"console error: {msg.text}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} ({r.failure})"))
    return problems


async def test_the_sign_in_page_loads_without_errors(tmp_path: Path) -> None:
    require_loopback_only_netns()
    missing = chromium_missing_message()
    require(missing is None, missing or "")
    async with running_hub(tmp_path) as hub, browser() as chromium:
        hub.add_adviser(ADVISER, PASSWORD)
        context = await chromium.new_context(viewport={"width": 1280, "height": 800})
        try:
            page = await context.new_page()
            problems = collect_problems(page)
            await page.goto(hub.url + "/")
            await page.wait_for_selector("#login-view", state="visible")
            await page.wait_for_load_state("networkidle")  # the pre-login CSRF fetch too
            assert problems == []

            # Signed in, then out: the reload after it is as clean as the first load.
            await page.fill("#login-name", ADVISER)
            await page.fill("#login-password", PASSWORD)
            await page.click("#login-submit")
            await page.wait_for_selector("#queue-view", state="visible")
            await page.click("#btn-logout")
            await page.wait_for_selector("#login-view", state="visible")
            await page.reload()
            await page.wait_for_selector("#login-view", state="visible")
            await page.wait_for_load_state("networkidle")
            assert problems == []
        finally:
            await context.close()
