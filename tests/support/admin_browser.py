"""The administration pages in a real browser (tests/e2e/test_admin_browser.py,
test_archive_browser.py): what would show red in the developer tools, and signing in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support.admin_api import PASSWORD, AdminWorld

WAIT_MS = 10_000


@dataclass
class Problems:
    """What would show red in the developer tools; ``allowed``: (status, path) expected;
    ``failed_requests``: also count requests that never got an answer."""

    seen: list[str] = field(default_factory=list)
    allowed: set[tuple[int, str]] = field(default_factory=set)
    failed_requests: bool = True

    def watch(self, page: Any) -> None:
        """Record ``page``'s uncaught errors, console errors and unexpected HTTP errors."""
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.seen.append(f"uncaught: {exc}"))
        page.on("response", self._response)
        if self.failed_requests:
            page.on("requestfailed", lambda r: self.seen.append(f"failed: {r.url} ({r.failure})"))

    def _console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        # Chromium logs every >= 400 answer as "Failed to load resource": the response is judged.
        if msg.text.startswith("Failed to load resource"):
            return
        self.seen.append(f"console error: {msg.text}")

    def _response(self, response: Any) -> None:
        if response.status < 400:
            return
        path = "/" + response.url.split("/", 3)[3]
        if (response.status, path.split("?")[0]) not in self.allowed:
            self.seen.append(f"HTTP {response.status}: {path}")


async def sign_in(chromium: Any, world: AdminWorld, name: str, problems: Problems) -> Any:
    """A fresh browser context signed in as ``name`` on "/", which must land on /admin."""
    context = await chromium.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    problems.watch(page)
    await page.goto(world.hub.url + "/")
    await page.fill("#login-name", name)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(world.hub.url + "/admin", timeout=WAIT_MS)
    await page.wait_for_selector("#page-overview", state="visible", timeout=WAIT_MS)
    return page
