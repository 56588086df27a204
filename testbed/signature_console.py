"""The adviser's side of a signature in the real console (hub/web/signature-*.js), as a person
clicks it: send a PDF, "Request signature" on it, follow the request's state, download the result.

Every request's entry in ``#signature-list`` carries ``data-signature-id`` and ``data-state``
("requested", "reading", "signing", "sealing", then "verified" once the signed PDF arrived and
passed the console's check, or "declined", "failed", "cancelled", "rejected"). A MutationObserver
stamps the moment each state is first seen (``Date.now()``), for the benchmark.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from testbed.stack import HarnessError

_WATCH_JS = """() => {
  if (window.__signatureStates) return;
  window.__signatureStates = {};
  const list = document.getElementById("signature-list");
  const stamp = () => {
    for (const li of list.querySelectorAll("[data-signature-id]")) {
      const seen = (window.__signatureStates[li.dataset.signatureId] ||= {});
      if (!(li.dataset.state in seen)) seen[li.dataset.state] = Date.now();
    }
  };
  stamp();
  new MutationObserver(stamp).observe(list, {subtree: true, childList: true, attributes: true});
}"""
_STATES_JS = "(id) => (window.__signatureStates || {})[id] ?? null"
_FINAL = ("verified", "declined", "failed", "cancelled", "rejected")


async def send_pdf(page: Any, name: str, data: bytes, timeout_s: float = 60) -> str:
    """Send ``data`` from the console's file picker (not shown at the kiosk); its transfer id."""
    before = await page.evaluate(
        "() => [...document.querySelectorAll('#sent-list .transfer[data-transfer-id]')]"
        ".map((li) => li.dataset.transferId)"
    )
    await page.set_checked("#file-show-at-kiosk", False)
    await page.set_input_files(
        "#file-input", files=[{"name": name, "mimeType": "application/pdf", "buffer": data}]
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = await page.evaluate(
            "() => [...document.querySelectorAll('#sent-list .transfer[data-state=\"done\"]')]"
            ".map((li) => li.dataset.transferId)"
        )
        fresh = [tid for tid in done if tid not in before]
        if fresh:
            return str(fresh[0])
        await asyncio.sleep(0.05)
    raise HarnessError(f"the console did not finish sending {name} within {timeout_s} s")


async def request_signature(
    page: Any, transfer_id: str, *, signer: str = "", field: str | None = None
) -> str:
    """Click "Request signature" on a sent file's entry and submit the form; the request id."""
    await page.evaluate(_WATCH_JS)
    before = set(await page.evaluate("() => Object.keys(window.__signatureStates)"))
    entry = f'.transfer[data-transfer-id="{transfer_id}"]'
    await page.click(f'{entry} button[data-action="request-signature"]')
    await page.wait_for_selector("#signature-form", state="visible")
    if field is not None:
        await page.select_option("#signature-placement", "field")
        await page.fill("#signature-field", field)
    else:
        await page.select_option("#signature-placement", "default")
    await page.fill("#signature-signer", signer)
    await page.click("#signature-submit")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ids = set(await page.evaluate("() => Object.keys(window.__signatureStates)"))
        if ids - before:
            return str(sorted(ids - before)[0])
        await asyncio.sleep(0.02)
    raise HarnessError("no signature request appeared in #signature-list")


async def wait_final(page: Any, request_id: str, timeout_s: float = 120) -> dict[str, float]:
    """Wait until the request reaches a final state; every state seen, with its time (ms)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = await page.evaluate(_STATES_JS, request_id)
        if states and any(s in states for s in _FINAL):
            return {str(k): float(v) for k, v in states.items()}
        await asyncio.sleep(0.02)
    states = await page.evaluate(_STATES_JS, request_id)
    raise HarnessError(f"signature {request_id} did not finish in {timeout_s} s: {states}")


async def download_signed(page: Any, request_id: str, target: Path) -> bytes:
    """Click the verified request's download link; the signed PDF's bytes (saved at target)."""
    link = f'[data-signature-id="{request_id}"] a[data-action="download-signed"]'
    async with page.expect_download() as info:
        await page.click(link)
    got = await info.value
    await got.save_as(target)
    return await asyncio.to_thread(target.read_bytes)
