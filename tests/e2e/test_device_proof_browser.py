"""End to end: the console in Chromium names the customer's device, or says loudly why not.

Hub and kiosk as processes; the kiosk enrolled with a one-time code as a technician does it
(testbed/enrolled.py), so it signs each call with its device key. The console pins
the tenant CA on first use and shows "Customer is at kiosk-7 (default), verified"; when the hub
later serves another CA, it warns, shows calls as not verified, and pins the new one only after
the adviser confirms. A hostile hub in the middle of the call that passes every other automatic
check (tests/support/mitm.py, forging) is caught by the device proof: the kiosk signed another
connection than the one the browser negotiated, and the console ends the call.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning import profile
from testbed.browser import browser, chromium_missing_message, console_page
from testbed.enrolled import EnrolledKiosk, enrol, start_hub_with_secret
from testbed.stack import Stack, wait_until
from tests.support.device_certs import tenant_ca
from tests.support.mitm import ManInTheMiddle, hostile_hub
from tests.support.netns import require_loopback_only_netns
from tests.support.requirements import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

VERIFIED = "Customer is at kiosk-7 (default), verified"
CA_CHANGED = "Device not verified: the tenant CA changed (see the warning above)"
DEVICE_MISMATCH = (
    "The kiosk signed a different connection than this one: someone is in between. "
    "The call was ended for your protection."
)


@pytest.fixture
def enrolled(tmp_path: Path) -> Iterator[tuple[Stack, EnrolledKiosk]]:
    require_loopback_only_netns()
    missing = chromium_missing_message()
    require(missing is None, missing or "")
    stack = Stack(tmp_path / "stack")
    try:
        secret = start_hub_with_secret(stack)
        yield stack, enrol(stack, secret)
    finally:
        stack.stop()


async def take_call(page: Any) -> str:
    """Accept the first waiting customer; return the consultation id."""
    entry = await page.wait_for_selector(".queue-entry[data-consultation-id]", timeout=30000)
    cid: str = await entry.get_attribute("data-consultation-id")
    await page.click(f'.queue-entry[data-consultation-id="{cid}"] button.accept')
    return cid


async def device_line(page: Any, state: str) -> str:
    await page.wait_for_selector(f'#call-device[data-state="{state}"]', timeout=20000)
    return str(await page.text_content("#call-device"))


async def end_call(page: Any) -> None:
    await page.click("#btn-end")
    await page.wait_for_selector("#call-view", state="hidden")


async def test_the_console_names_the_device_and_guards_its_pinned_ca(
    enrolled: tuple[Stack, EnrolledKiosk],
) -> None:
    stack, kiosk = enrolled
    stack.start_kiosk("--identity-dir", str(kiosk.identity_dir))
    shown = profile.display_fingerprint(kiosk.ca_fingerprint)
    async with browser() as chromium, console_page(chromium, stack.url) as console:
        page = console.page
        await console.login(stack.adviser, stack.password)
        # First use: pinned now, and the fingerprint to compare with the technician's printout.
        await page.wait_for_selector('#tenant-ca[data-state="first_use"]')
        assert shown in str(await page.text_content("#tenant-ca"))

        await take_call(page)
        assert await device_line(page, "verified") == VERIFIED
        await page.wait_for_selector("#call-code:not([hidden])", timeout=15000)
        words = await page.text_content("#call-code-words")
        # A reloaded tab resumes the call on a new connection, which the kiosk signs again
        # (over its resume proof): the device is named again, the words stay.
        await page.reload()
        assert await device_line(page, "verified") == VERIFIED
        await page.wait_for_selector("#call-code:not([hidden])", timeout=15000)
        assert await page.text_content("#call-code-words") == words
        await end_call(page)

        # The hub now serves another CA for the tenant (replaced, or an impostor).
        other = tenant_ca("default")
        other_fp = profile.fingerprint(other.certificate)
        answer = {
            "tenant": "default",
            "certificate": base64.b64encode(other.der).decode("ascii"),
            "fingerprint": other_fp,
        }
        await page.route(
            "**/api/tenant-ca",
            lambda route: route.fulfill(content_type="application/json", body=json.dumps(answer)),
        )
        await page.goto(stack.url + "/")
        await page.wait_for_selector("#ca-warning:not([hidden])", timeout=15000)
        warning = str(await page.text_content("#ca-warning"))
        assert shown in warning and profile.display_fingerprint(other_fp) in warning
        assert await page.get_attribute("#tenant-ca", "data-state") == "changed"
        assert await page.is_disabled("#btn-accept-ca")

        # Meanwhile calls go on, but no device is shown as verified; the words still count.
        await take_call(page)
        assert await device_line(page, "warning") == CA_CHANGED
        await page.wait_for_selector("#call-code:not([hidden])", timeout=15000)
        await end_call(page)

        # Accepting takes an explicit confirmation, then the new CA is the pinned one.
        await page.check("#ca-compared")
        await page.click("#btn-accept-ca")
        await page.wait_for_selector("#ca-warning", state="hidden")
        assert await page.get_attribute("#tenant-ca", "data-state") == "pinned"
        pinned = await page.evaluate(
            "(key) => JSON.parse(localStorage.getItem(key)).fingerprint",
            f"branch-kiosk.tenant-ca:{stack.url}:default",
        )
        assert pinned == other_fp
        assert not console.console_errors, console.console_errors

    await wait_until(lambda: len(stack.kiosk_calls()) >= 2, 15, "the kiosk's call statistics")
    assert all(call["verified"] for call in stack.kiosk_calls())


@pytest.mark.usefixtures("loopback_only_netns")  # the attacker's aiortc peers: 127.0.0.1
async def test_a_hostile_hub_in_the_middle_is_caught_by_the_device_proof(
    enrolled: tuple[Stack, EnrolledKiosk],
) -> None:
    stack, kiosk = enrolled
    mitm = ManInTheMiddle(forge=True)  # passes the commitment and reveal checks
    try:
        async with hostile_hub(f"ws://127.0.0.1:{stack.port}", mitm) as relay:
            stack.start_kiosk("--identity-dir", str(kiosk.identity_dir), "--hub", relay)
            async with browser() as chromium, console_page(chromium, stack.url) as console:
                page = console.page
                await console.login(stack.adviser, stack.password)
                await take_call(page)
                await page.wait_for_function(
                    "(words) => document.querySelector('#notice')?.textContent === words",
                    arg=DEVICE_MISMATCH,
                    timeout=30000,
                )
            await wait_until(
                lambda: any(c["end_reason"] for c in stack.kiosk_calls()), 20, "the call's end"
            )
            stack.stop_process(stack.kiosk)  # before the relay closes under its connection
    finally:
        await mitm.close()
    # The console's hang-up reached the kiosk (its bye, relayed by the attacker): over.
    (call,) = stack.kiosk_calls()
    assert call["end_reason"] in ("hangup", "failed")
