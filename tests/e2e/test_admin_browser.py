"""The administration pages in Debian's Chromium against a real hub on loopback (issue 16).

One hub (tests/support/admin_api.py: tenants alpha and beta, each with an administrator, a
data-protection officer, an adviser, a kiosk and ended conversations) and one browser for the
module. The administrator signs in on the console's page and lands on /admin; sees the fleet
with its wipe alarm and a wipe history, labels a kiosk with a branch; changes a retention value
and sees a bad one refused; sees statistics; serves a request (show, restrict, erase). A DPO
sees no account, device, retention or third-party controls but serves requests. Nothing on the
pages logs an error or gets an unexpected HTTP error.

``ADMIN_SCREENSHOTS=dir`` also writes 1280x800 screenshots there (docs/screenshots/admin-*.png).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect

from testbed.browser import browser, chromium_missing_message
from tests.support.admin_api import PASSWORD, AdminWorld, admin_world
from tests.support.admin_browser import WAIT_MS, Problems, sign_in
from tests.support.netns import require_loopback_only_netns
from tests.support.requirements import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

EXTRA_UNLABELLED = 5  # beside the world's 2 per tenant: the unlabelled branch row is shown
LABELLED = 6  # conversations queued after the kiosk got its branch label
MARKUP = "<img src=x onerror=window.__pwned=1>"


@dataclass
class Scene:
    """The hub with its accounts, the browser and the administrator's signed-in page."""

    world: AdminWorld
    chromium: Any
    page: Any
    problems: Problems

    async def goto(self, page_name: str) -> None:
        """Open one administration page (by the navigation, as a person would)."""
        await self.page.click(f'.admin-nav a[data-page="{page_name}"]')
        await self.page.wait_for_selector(f"#page-{page_name}", state="visible", timeout=WAIT_MS)

    async def screenshot(self, name: str) -> None:
        """Write docs' screenshot ``name`` when ADMIN_SCREENSHOTS names a directory."""
        target = os.environ.get("ADMIN_SCREENSHOTS")
        if target:
            await self.page.screenshot(path=str(Path(target) / f"admin-{name}-1280x800.png"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scene(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scene]:
    require_loopback_only_netns()
    missing = chromium_missing_message()
    require(missing is None, missing or "")
    async with admin_world(tmp_path_factory.mktemp("admin-browser")) as world:
        for _ in range(EXTRA_UNLABELLED):
            world.references["alpha"].append(await world.conversation("alpha"))
        # A failed wipe after those calls: the kiosk's alarm, and a row of its wipe history.
        now = world.clock()
        summary = json.dumps({"files_removed": 3, "verified": False})
        device = world.devices["alpha"]
        await world.storage.add_device_report(
            device.id, "wipe", ok=False, summary=summary, at=now - 60, now=now
        )
        async with browser() as chromium:
            problems = Problems()
            page = await sign_in(chromium, world, "alpha-admin", problems)
            try:
                yield Scene(world, chromium, page, problems)
            finally:
                await page.context.close()


async def test_an_admin_lands_on_the_overview_with_the_wipe_alarm(scene: Scene) -> None:
    page = scene.page
    assert await page.text_content("#admin-name") == "alpha-admin"
    assert await page.text_content("#admin-role") == "Administrator"
    alarm = page.locator("#overview-alarm")
    await alarm.wait_for(state="visible", timeout=WAIT_MS)
    assert "1 kiosk has a failed or missing wipe" in (await alarm.text_content() or "")
    assert scene.problems.seen == []


async def test_the_fleet_shows_the_alarm_and_the_wipe_history_and_takes_a_branch(
    scene: Scene,
) -> None:
    page = scene.page
    await scene.goto("devices")
    row = page.locator('tr[data-device="alpha-kiosk"]')
    await row.wait_for(timeout=WAIT_MS)
    assert "row-alarm" in (await row.get_attribute("class") or "")
    assert await page.locator("#devices-alarm").is_visible()
    assert "failed" in (await row.locator(".tag-alarm").last.text_content() or "")
    # Another tenant's kiosk is not part of this fleet.
    assert await page.locator('tr[data-device="beta-kiosk"]').count() == 0

    await row.locator('button[data-action="wipes"]').click()
    detail = page.locator("#device-detail")
    await detail.wait_for(state="visible", timeout=WAIT_MS)
    assert "Wipe history of alpha-kiosk" in (await detail.text_content() or "")
    assert await detail.locator("tr.row-alarm").count() == 1  # the failed report

    await row.locator(".branch-input").fill("Mitte")
    await row.locator('button[type="submit"]').click()
    await page.wait_for_function(
        """() => document.querySelector('tr[data-device="alpha-kiosk"] .branch-input')
                   ?.defaultValue === 'Mitte'""",
        timeout=WAIT_MS,
    )
    devices = {d.name: d for d in await scene.world.storage.devices()}
    assert devices["alpha-kiosk"].branch == "Mitte"
    assert devices["beta-kiosk"].branch is None
    await scene.screenshot("devices")
    assert scene.problems.seen == []


async def test_retention_saves_a_change_and_shows_a_refused_one(scene: Scene) -> None:
    page, world = scene.page, scene.world
    tenant = await world.storage.tenant("alpha")
    await scene.goto("retention")
    field_ = page.locator("#retention-consultations_days")
    await field_.wait_for(timeout=WAIT_MS)
    assert await field_.input_value() == "90"
    hint = await page.locator(".retention-field").first.text_content() or ""
    assert "default 90" in hint and "allowed 7–3650 days" in hint

    await field_.fill("30")
    await page.click("#retention-save")
    await page.locator("#retention-saved").wait_for(state="visible", timeout=WAIT_MS)
    assert (await world.storage.governance.retention(tenant.id)).consultations_days == 30

    scene.problems.allowed.add((400, "/api/admin/retention"))
    await field_.fill("5")
    await page.click("#retention-save")
    error = page.locator("#retention-error")
    await error.wait_for(state="visible", timeout=WAIT_MS)
    assert "from 7 to 3650" in (await error.text_content() or "")
    assert (await world.storage.governance.retention(tenant.id)).consultations_days == 30

    await scene.goto("audit")
    entry = page.locator("#audit-table tr", has_text="retention.consultations_days")
    await entry.first.wait_for(timeout=WAIT_MS)
    cells = await entry.first.locator("td").all_text_contents()
    assert cells[1:3] == ["admin:alpha-admin", "retention.consultations_days"]
    assert cells[4:] == ["90", "30"]
    assert scene.problems.seen == []


async def test_statistics_show_charts_branches_and_a_csv(scene: Scene) -> None:
    page, world = scene.page, scene.world
    for _ in range(LABELLED):  # queued after the label: branch "Mitte"
        await world.conversation("alpha")
    await scene.goto("statistics")
    total = page.locator("#stats-total dd").first
    await total.wait_for(timeout=WAIT_MS)
    unlabelled = 2 + EXTRA_UNLABELLED
    assert await total.text_content() == str(unlabelled + LABELLED)
    rows = await page.locator("#stats-branches tbody tr").all_inner_texts()
    assert sorted(r.split("\t")[:2] for r in rows) == [
        ["Mitte", str(LABELLED)],
        ["no branch label", str(unlabelled)],
    ]
    # Every call was in one hour of one day: one bar each, the empty cells suppressed stubs.
    charts = page.locator("svg.chart")
    assert await charts.count() == 2
    per_hour = charts.nth(1)
    assert await per_hour.locator("rect.bar:not(.bar-suppressed)").count() == 1
    assert await per_hour.locator("rect.bar-suppressed").count() == 23
    assert "fewer than 5" in (await page.text_content("#stats-body") or "")
    await scene.screenshot("statistics")

    href = await page.get_attribute("#stats-csv", "href")
    assert href is not None and "from=" in href and "to=" in href
    csv = await page.request.get(world.hub.url + href)
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    assert scene.problems.seen == []


async def test_a_request_is_shown_restricted_and_erased(scene: Scene) -> None:
    page, world = scene.page, scene.world
    tenant = await world.storage.tenant("alpha")
    reference = world.references["alpha"][0]
    await scene.goto("requests")

    # Another tenant's reference answers like an unknown one.
    scene.problems.allowed.add((404, f"/api/admin/requests/{world.references['beta'][0]}"))
    await page.fill("#request-ref", world.references["beta"][0])
    await page.click("#request-show")
    await page.locator("#request-error").wait_for(state="visible", timeout=WAIT_MS)
    assert await page.locator("#request-doc").is_hidden()

    # Not a reference at all: the hub's reason, nothing shown.
    scene.problems.allowed.add((400, "/api/admin/requests/HELLO"))
    await page.fill("#request-ref", "HELLO")
    await page.click("#request-show")
    await expect(page.locator("#request-error")).to_contain_text("ten letters", timeout=WAIT_MS)

    # As a customer might read it out: lower case, without the dash.
    await page.fill("#request-ref", reference.replace("-", "").lower())
    await page.click("#request-show")
    doc = page.locator("#request-doc")
    await doc.wait_for(state="visible", timeout=WAIT_MS)
    text = await doc.text_content() or ""
    assert reference in text and "alpha-kiosk" in text and "alpha-adviser" in text
    assert "Access-log lines" in text or "access-log lines" in text  # what is not included
    assert await page.locator("#request-error").is_hidden()
    export = await page.get_attribute("#request-export", "href")
    assert export is not None
    held = await page.request.get(world.hub.url + export)
    assert held.status == 200 and json.loads(await held.text())["reference"] == reference
    await scene.screenshot("request")

    await page.click("#request-restrict")
    await page.locator("#request-lift").wait_for(timeout=WAIT_MS)
    conversation = await world.storage.governance.conversation(tenant.id, reference)
    assert conversation is not None and conversation.restricted_at is not None

    await page.click("#request-erase")
    await page.locator("#confirm-dialog").wait_for(state="visible", timeout=WAIT_MS)
    await page.click("#confirm-ok")
    await expect(page.locator("#request-done")).to_contain_text("erased", timeout=WAIT_MS)
    assert await page.locator("#request-doc").is_hidden()
    assert await world.storage.governance.conversation(tenant.id, reference) is None
    assert scene.problems.seen == []


async def test_a_dpo_reads_without_controls_and_serves_requests(scene: Scene) -> None:
    world = scene.world
    page = await sign_in(scene.chromium, world, "alpha-dpo", scene.problems)
    dpo = Scene(world, scene.chromium, page, scene.problems)
    try:
        assert await page.text_content("#admin-role") == "Data-protection officer"
        await dpo.goto("accounts")
        await page.locator('tr[data-account="alpha-adviser"]').wait_for(timeout=WAIT_MS)
        assert await page.locator("#account-form").is_hidden()
        assert await page.locator("#accounts-table button").count() == 0

        # What a kiosk reports is shown as text, never as markup.
        now, device = world.clock(), world.devices["alpha"]
        hostile = json.dumps({"note": MARKUP})
        await world.storage.add_device_report(
            device.id, "wipe", ok=True, summary=hostile, at=now - 30, now=now
        )
        await dpo.goto("devices")
        row = page.locator('tr[data-device="alpha-kiosk"]')
        await row.wait_for(timeout=WAIT_MS)
        assert await page.locator(".branch-input").count() == 0
        actions = await page.locator("#devices-table button").all_text_contents()
        assert set(actions) == {"Wipe history"}
        await row.locator('button[data-action="wipes"]').click()
        await expect(page.locator("#device-detail")).to_contain_text(MARKUP, timeout=WAIT_MS)
        assert await page.locator("#device-detail img").count() == 0
        assert await page.evaluate("() => window.__pwned") is None

        await dpo.goto("retention")
        await page.locator("#retention-consultations_days").wait_for(timeout=WAIT_MS)
        assert await page.locator("#retention-consultations_days").is_disabled()
        assert await page.locator("#retention-save").is_hidden()

        await dpo.goto("third-parties")
        await page.locator('[data-party="turn"]').wait_for(timeout=WAIT_MS)
        assert await page.locator("#turn-enabled").count() == 0

        await dpo.goto("requests")
        await page.fill("#request-ref", world.references["alpha"][1])
        await page.click("#request-show")
        await page.locator("#request-restrict").wait_for(timeout=WAIT_MS)
        assert scene.problems.seen == []
    finally:
        await page.context.close()


async def test_an_adviser_stays_in_the_console_and_is_turned_away_from_admin(
    scene: Scene,
) -> None:
    world = scene.world
    context = await scene.chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = await context.new_page()
        scene.problems.watch(page)
        await page.goto(world.hub.url + "/")
        await page.fill("#login-name", "alpha-adviser")
        await page.fill("#login-password", PASSWORD)
        # the console fetches the tenant CA after sign-in: leaving before it is answered would
        # abort it (a failed request in the developer tools, not a fault of the page)
        async with page.expect_response(lambda r: r.url.endswith("/api/tenant-ca")):
            await page.click("#login-submit")
        await page.wait_for_selector("#queue-view", state="visible", timeout=WAIT_MS)
        assert page.url == world.hub.url + "/"

        await page.goto(world.hub.url + "/admin")
        await page.wait_for_selector("#not-admin-view", state="visible", timeout=WAIT_MS)
        assert await page.locator("#admin-view").is_hidden()
        assert scene.problems.seen == []
    finally:
        await context.close()
