"""A blank page in headless Chromium that can import the console's modules (hub/web at /static/).

For the tests that run the console's JavaScript against the Python it must agree with
(protocol.js, sealed.js, verification.js, resume.js): no hub, no login, just the modules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from testbed.browser import browser, chromium_missing_message
from tests.support.requirements import require

WEB_DIR = Path(__file__).resolve().parents[2] / "hub" / "web"
BLANK_PAGE = "<!doctype html><meta charset=utf-8><title>protocol.js</title>"


@asynccontextmanager
async def static_server() -> AsyncIterator[str]:
    """Serve hub/web at /static/ and a blank page at / on 127.0.0.1, port chosen by the OS."""

    async def blank(_request: web.Request) -> web.Response:
        return web.Response(text=BLANK_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", blank)
    app.router.add_static("/static/", WEB_DIR)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def blank_page() -> AsyncIterator[Any]:
    """A page on the blank page of ``static_server``; Chromium missing fails under CI."""
    missing = chromium_missing_message()
    require(missing is None, missing or "")
    async with static_server() as url, browser() as chromium:
        page = await chromium.new_page()
        await page.goto(url)
        yield page
