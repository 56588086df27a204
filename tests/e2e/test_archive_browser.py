"""The archive in the administration pages, in Debian's Chromium against a real hub on loopback
(docs/archive.md): the administrator sets the archive certificate and switches keeping signed
contracts on; a data-protection officer sees that read-only, and downloads a conversation's
sealed item from the request page (the bytes the kiosk uploaded, audited)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from signing import sealed
from testbed.browser import browser, chromium_missing_message
from tests.support import trustee_certs
from tests.support.admin_api import AdminWorld, admin_world
from tests.support.admin_browser import WAIT_MS, Problems, sign_in
from tests.support.archive_certs import issued_archive_key
from tests.support.hub_enrol import hub_secret
from tests.support.netns import require_loopback_only_netns
from tests.support.requirements import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

SELF_SIGNED = trustee_certs.trustee(None, name="Self-signed archive")
SEALED = sealed.seal_bytes(b"%PDF-1.7 a signed contract", SELF_SIGNED.certificate)


@dataclass
class Scene:
    world: AdminWorld
    chromium: Any
    problems: Problems


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scene(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scene]:
    require_loopback_only_netns()
    missing = chromium_missing_message()
    require(missing is None, missing or "")
    directory = tmp_path_factory.mktemp("archive-browser")
    secret_file, _secret = hub_secret(directory)
    async with admin_world(directory, secret_file=secret_file) as world:
        async with browser() as chromium:
            # the refused self-signed certificate below
            yield Scene(
                world,
                chromium,
                Problems(allowed={(400, "/api/admin/archive")}, failed_requests=False),
            )


async def _retention(page: Any) -> None:
    await page.click('.admin-nav a[data-page="retention"]')
    await page.wait_for_selector("#archive-certificate", timeout=WAIT_MS)


async def test_the_admin_sets_the_certificate_and_keeps_contracts(scene: Scene) -> None:
    page = await sign_in(scene.chromium, scene.world, "alpha-admin", scene.problems)
    try:
        await _retention(page)
        assert "none" in (await page.text_content("#archive-certificate") or "")
        assert await page.input_value("#retention-archive_days") == "3650"
        await page.fill("#archive-pem", SELF_SIGNED.pem.decode("ascii"))  # kiosks would refuse
        await page.check("#archive-contracts")
        await page.click("#archive-save")
        await page.wait_for_selector("#archive-error", state="visible", timeout=WAIT_MS)
        assert "tenant CA did not issue" in (await page.text_content("#archive-error") or "")
        key = await issued_archive_key(
            scene.world.api.authorities, "alpha", now=scene.world.clock(), name="Alpha Bank archive"
        )
        await page.fill("#archive-pem", key.pem.decode("ascii"))
        await page.check("#archive-contracts")
        await page.click("#archive-save")
        await page.wait_for_selector("#archive-saved", state="visible", timeout=WAIT_MS)
        assert "Alpha Bank archive" in (await page.text_content("#archive-certificate") or "")
        tenant_id = scene.world.devices["alpha"].tenant.id
        settings = await scene.world.storage.governance.archive_settings(tenant_id)
        assert settings.kinds == ("contract",) and settings.cert_der is not None
    finally:
        await page.context.close()
    assert scene.problems.seen == []


async def test_a_dpo_reads_the_settings_and_downloads_an_item(scene: Scene, tmp_path: Path) -> None:
    world = scene.world
    tenant_id = world.devices["alpha"].tenant.id
    reference = world.references["alpha"][0]
    [item] = [
        await world.storage.governance.add_archive(
            tenant_id, cid, "contract", SEALED, now=world.clock()
        )
        for cid in [reference.replace("-", "").lower() + "x" * 12]  # AdminWorld's ids
    ]
    page = await sign_in(scene.chromium, world, "alpha-dpo", scene.problems)
    try:
        await _retention(page)
        assert await page.locator("#archive-contracts").is_disabled()
        assert await page.locator("#archive-save").count() == 0
        await page.click('.admin-nav a[data-page="requests"]')
        await page.fill("#request-ref", reference)
        await page.press("#request-ref", "Enter")
        link = page.locator("#request-archive a.archive-download")
        await link.wait_for(timeout=WAIT_MS)
        async with page.expect_download(timeout=WAIT_MS) as download_info:
            await link.click()
        download = await download_info.value
        target = tmp_path / "item.p7m"
        await download.save_as(target)
        assert target.read_bytes() == SEALED
        assert download.suggested_filename == f"contract-{item.id}.p7m"
        entries = await world.storage.governance.audit(tenant_id)
        assert any(e.action == "archive.download" and e.actor == "dpo:alpha-dpo" for e in entries)
    finally:
        await page.context.close()
    assert scene.problems.seen == []
