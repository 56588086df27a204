"""Files, documents, scans, photos and screen share between the console and a kiosk.

The console runs in Debian's Chromium against the real hub (its relay carries the sealed
bytes); the kiosk runs in this process with simulated camera and microphone, the SANE test
scanner, a real vault on tmpfs and the simulated customer (it confirms scans and photos by
itself), so the test can look into the kiosk's vault and its ``ExchangeState``. Every file is
checked byte for byte (SHA-256) at the other end. Bad input from the browser side is refused
before anything is uploaded, and a cancel halfway leaves nothing at the kiosk while the call
goes on.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from appliance.config.vault import MIB
from appliance.custody.vault import ArtifactKind
from protocol.channel import CHANNEL, FileOffer
from tests.support.blank_page import blank_page
from tests.support.console_scene import (
    Scene,
    call_scene,
    choose_file,
    pdf_bytes,
    received_entry,
    sent_entry,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- in the page ---------------------------------------------------------------------------

# Drop a file of `size` zero bytes after `head` on the drop zone (big files are made in the page).
DROP_FILE = """
async ([name, type, headB64, size]) => {
  const head = Uint8Array.from(atob(headB64), (c) => c.charCodeAt(0));
  const bytes = new Uint8Array(size);
  bytes.set(head.subarray(0, size));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, { type }));
  const zone = document.getElementById('file-drop');
  for (const kind of ['dragover', 'drop']) {
    zone.dispatchEvent(new DragEvent(kind, { dataTransfer: dt, bubbles: true, cancelable: true }));
  }
}
"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def download(scene: Scene, transfer_id: str, tmp_path: Path) -> tuple[bytes, str]:
    """Click a received file's Download link, as the adviser would: (bytes, file name)."""
    link = f'#received-list .transfer[data-transfer-id="{transfer_id}"] a.download'
    async with scene.page.expect_download() as info:
        await scene.page.click(link)
    got = await info.value
    target = tmp_path / f"download-{transfer_id}"
    await got.save_as(target)
    return target.read_bytes(), got.suggested_filename


async def chat_still_works(scene: Scene) -> None:
    page = scene.page
    before = await page.evaluate(
        "() => document.querySelectorAll('#chat-log .chat-customer').length"
    )
    await page.fill("#chat-input", "Are you still there?")
    await page.click("#chat-send")
    await page.wait_for_function(
        "(n) => document.querySelectorAll('#chat-log .chat-customer').length > n",
        arg=before,
        timeout=15000,
    )
    assert scene.watch.chats[-1] == "Are you still there?"


# -- the tests -------------------------------------------------------------------------------


async def test_a_pdf_pushed_as_document_lands_in_the_kiosks_vault(tmp_path: Path) -> None:
    document = pdf_bytes(3 * MIB + 12345, seed=1)
    async with call_scene(tmp_path) as scene:
        await choose_file(scene, "Kontoauszug März.pdf", "application/pdf", document, show=True)
        transfer_id = await sent_entry(scene, "done")
        page = scene.page
        li = f'#sent-list .transfer[data-transfer-id="{transfer_id}"]'
        assert await page.get_attribute(li, "data-purpose") == "document"
        assert await page.text_content(f"{li} .transfer-status") == "Shown at the kiosk"

        # The kiosk shows it as a document, and its vault holds exactly these bytes.
        state = scene.watch.state
        assert state is not None
        docs = [d for d in state.documents if d.id == transfer_id]
        assert len(docs) == 1 and docs[0].mime == "application/pdf"
        assert docs[0].name == "Kontoauszug März.pdf"
        (artifact,) = [a for a in scene.kiosk.vault.artifacts if a.ref == docs[0].ref]
        assert sha256(scene.vault_bytes(artifact)) == sha256(document)
        # Delivered: the console deleted its blob from the relay.
        await scene.until(lambda: scene.relay_blobs() == 0, "the relay to drop the blob")


async def test_a_file_from_the_kiosk_reaches_the_console_byte_exact(tmp_path: Path) -> None:
    data = pdf_bytes(2 * MIB + 777, seed=2)
    async with call_scene(tmp_path) as scene:
        exchange = scene.kiosk.exchange
        assert exchange is not None
        transfer_id = await exchange.send_file(
            ArtifactKind.FILE_SENT, "Vertrag.pdf", "application/pdf", data
        )
        await received_entry(scene, f'[data-transfer-id="{transfer_id}"]')
        got, name = await download(scene, transfer_id, tmp_path)
        assert (sha256(got), len(got), name) == (sha256(data), len(data), "Vertrag.pdf")
        # The kiosk heard file_done with the same hash.
        await scene.until(
            lambda: any(
                t.id == transfer_id and t.phase == "done"
                for t in (scene.watch.state.transfers if scene.watch.state else ())
            ),
            "file_done at the kiosk",
        )
        # A resumed kiosk offers again: the console answers again but lists it once.
        await exchange.resend_offers()
        await chat_still_works(scene)
        count = await scene.page.evaluate(
            "(id) => document.querySelectorAll("
            "`#received-list .transfer[data-transfer-id='${id}']`).length",
            transfer_id,
        )
        assert count == 1


async def test_a_scan_request_brings_a_pdf_to_the_console(tmp_path: Path) -> None:
    async with call_scene(tmp_path) as scene:
        page = scene.page
        await page.click("#btn-request-scan")
        request = await page.wait_for_selector('#request-list .transfer[data-kind="scan"]')
        request_id = await request.get_attribute("data-transfer-id")
        transfer_id = await received_entry(scene, '[data-purpose="scan"]', timeout_s=90)
        await page.wait_for_selector(
            f'#request-list .transfer[data-transfer-id="{request_id}"][data-state="received"]'
        )
        got, _name = await download(scene, transfer_id, tmp_path)
        assert got.startswith(b"%PDF-")
        (scan,) = scene.artifacts(ArtifactKind.SCAN)
        assert sha256(got) == sha256(scene.vault_bytes(scan)) and len(got) == scan.size


async def test_a_photo_request_brings_a_jpeg_to_the_console(tmp_path: Path) -> None:
    async with call_scene(tmp_path) as scene:
        page = scene.page
        await page.click("#btn-request-photo")
        request = await page.wait_for_selector('#request-list .transfer[data-kind="photo"]')
        request_id = await request.get_attribute("data-transfer-id")
        transfer_id = await received_entry(scene, '[data-purpose="photo"]', timeout_s=60)
        await page.wait_for_selector(
            f'#request-list .transfer[data-transfer-id="{request_id}"][data-state="received"]'
        )
        got, _name = await download(scene, transfer_id, tmp_path)
        assert got.startswith(b"\xff\xd8\xff")
        (photo,) = scene.artifacts(ArtifactKind.PHOTO)
        assert sha256(got) == sha256(scene.vault_bytes(photo)) and len(got) == photo.size
        # The console previews the photo it received.
        await page.wait_for_selector(
            f'#received-list .transfer[data-transfer-id="{transfer_id}"] img.transfer-preview'
        )


async def test_a_request_can_be_cancelled(tmp_path: Path) -> None:
    async with call_scene(tmp_path) as scene:
        page = scene.page
        await page.click("#btn-request-photo")
        await page.click('#request-list .transfer[data-kind="photo"] .request-cancel')
        await page.wait_for_selector('#request-list .transfer[data-state="cancelled"]')
        await scene.until(
            lambda: (
                scene.watch.state is not None
                and (
                    scene.watch.state.request is None
                    or scene.watch.state.request.state == "cancelled"
                )
            ),
            "the kiosk to drop the request",
        )
        await chat_still_works(scene)
        assert await page.query_selector('#received-list .transfer[data-purpose="photo"]') is None


async def test_screen_share_reaches_the_kiosk(tmp_path: Path) -> None:
    async with call_scene(tmp_path) as scene:
        page = scene.page
        await page.click("#btn-share-screen")
        await page.wait_for_selector("#screen-state:not([hidden])")
        assert await page.text_content("#btn-share-screen") == "Stop sharing"
        await scene.until(
            lambda: scene.watch.state is not None and scene.watch.state.screen_share,
            "screen_share at the kiosk",
        )
        await scene.until(lambda: scene.watch.screen_frames >= 15, "screen frames at the kiosk")
        assert scene.watch.screen_size is not None and scene.watch.screen_size[0] >= 320
        await page.click("#btn-share-screen")
        await scene.until(
            lambda: scene.watch.state is not None and not scene.watch.state.screen_share,
            "the end of the screen share at the kiosk",
        )
        assert await page.get_attribute("#btn-share-screen", "aria-pressed") == "false"
        await chat_still_works(scene)


async def test_a_shared_screen_comes_back_after_the_call_heals(tmp_path: Path) -> None:
    async with call_scene(tmp_path) as scene:
        page = scene.page
        await page.click("#btn-share-screen")
        await scene.until(lambda: scene.watch.screen_frames >= 15, "screen frames at the kiosk")
        # The path dies under the call (the console's peer connection is gone); the kiosk
        # notices the silence and offers a new connection, which the console answers.
        await page.evaluate("() => window.__pcs[window.__pcs.length - 1].close()")
        await page.wait_for_function("() => window.__pcs.length >= 2", timeout=20000)
        before = scene.watch.screen_frames
        await page.wait_for_function(
            "(w) => document.getElementById('call-state').textContent === w",
            arg="Connected — end-to-end encrypted (DTLS-SRTP)",
            timeout=20000,
        )
        # Still sharing: the screen track rides the new connection, no click needed.
        assert await page.text_content("#btn-share-screen") == "Stop sharing"
        await scene.until(
            lambda: scene.watch.screen_frames >= before + 15, "screen frames after the heal"
        )
        # The kiosk dropped the shared screen with the dead connection and showed it again
        # when the resumed console, verified, said it still shares.
        await scene.until(
            lambda: scene.watch.sharing[-3:] == [True, False, True], "screen_share again"
        )
        stats = scene.kiosk.stats[-1]
        assert stats.reconnects >= 1 and stats.reconnect_ms, stats

        # A reload loses the capture: back in the call, the kiosk shows no (frozen) screen.
        await page.reload()
        await page.wait_for_selector('#exchange[data-ready="true"]', timeout=30000)
        assert await page.text_content("#btn-share-screen") == "Share screen"
        await scene.until(lambda: scene.kiosk.verification_code is not None, "verified again")
        assert scene.watch.sharing[-1] is False, scene.watch.sharing
        await chat_still_works(scene)


async def test_oversize_and_disallowed_files_are_refused_before_upload(tmp_path: Path) -> None:
    limit = 1 * MIB
    async with call_scene(tmp_path, max_file_bytes=limit) as scene:
        page = scene.page
        uploads: list[str] = []
        page.on("request", lambda r: uploads.append(r.method) if "/api/relay/" in r.url else None)

        await page.evaluate(
            DROP_FILE, ["big.pdf", "application/pdf", b64(b"%PDF-1.4\n"), limit + 1]
        )
        await page.wait_for_selector("#exchange-error:not([hidden])")
        assert "1.0 MB" in (await page.text_content("#exchange-error") or "")

        # Claimed a PDF, but the content is a Windows program: refused by its first bytes.
        await choose_file(
            scene, "invoice.pdf", "application/pdf", b"MZ\x90\x00" + bytes(100), show=False
        )
        await page.wait_for_function(
            "() => document.getElementById('exchange-error').textContent.includes('invoice.pdf')"
        )
        assert "only PDF, JPEG and PNG" in (await page.text_content("#exchange-error") or "")
        await choose_file(scene, "anim.gif", "image/gif", b"GIF89a" + bytes(100), show=False)
        await page.wait_for_function(
            "() => document.getElementById('exchange-error').textContent.includes('anim.gif')"
        )
        await choose_file(scene, "empty.pdf", "application/pdf", b"", show=False)
        await page.wait_for_function(
            "() => document.getElementById('exchange-error').textContent.includes('empty.pdf')"
        )

        # Exactly at the limit is fine, and clears the error.
        at_limit = pdf_bytes(limit - 1024, seed=3)
        at_limit += b"\n" * (limit - len(at_limit))
        await choose_file(scene, "at-limit.pdf", "application/pdf", at_limit, show=False)
        transfer_id = await sent_entry(scene, "done")
        assert await page.is_hidden("#exchange-error")
        assert uploads.count("POST") == 1, uploads
        (received,) = scene.artifacts(ArtifactKind.FILE_RECEIVED)
        assert sha256(scene.vault_bytes(received)) == sha256(at_limit)
        assert transfer_id
        await chat_still_works(scene)


async def test_a_cancel_halfway_leaves_nothing_at_the_kiosk(tmp_path: Path) -> None:
    data = pdf_bytes(1000, seed=4)
    async with call_scene(tmp_path) as scene:
        page = scene.page
        # Slow the console's uploads down so there is a "halfway" to cancel at.
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 0,
                "downloadThroughput": -1,
                "uploadThroughput": 2 * MIB,
            },
        )
        # Made in the page: a big base64 decode there would stall the call's heartbeat.
        await page.evaluate(DROP_FILE, ["slow.pdf", "application/pdf", b64(data[:64]), 8 * MIB])
        li = await page.wait_for_selector('#sent-list .transfer[data-state="uploading"]')
        transfer_id = await li.get_attribute("data-transfer-id")
        # Halfway through the upload (the bar covers sealing, then uploading), cancel.
        await page.wait_for_function(
            """(id) => {
              const li = document.querySelector(`#sent-list .transfer[data-transfer-id="${id}"]`);
              const bar = li.querySelector('progress');
              return li.dataset.state === 'uploading' && bar && bar.value > 0.65 * bar.max;
            }""",
            arg=transfer_id,
        )
        await page.click(f'#sent-list .transfer[data-transfer-id="{transfer_id}"] .transfer-cancel')
        await page.wait_for_selector(
            f'#sent-list .transfer[data-transfer-id="{transfer_id}"][data-state="cancelled"]'
        )
        await cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        await scene.until(
            lambda: all(
                t.phase in ("cancelled", "failed")
                for t in (scene.watch.state.transfers if scene.watch.state else ())
                if t.id == transfer_id
            ),
            "the kiosk to drop the transfer",
        )
        assert scene.artifacts(ArtifactKind.FILE_RECEIVED) == []
        await scene.until(lambda: scene.relay_blobs() == 0, "an empty relay")
        await chat_still_works(scene)

        # And the next file goes through.
        small = pdf_bytes(50_000, seed=5)
        await choose_file(scene, "after.pdf", "application/pdf", small, show=False)
        await page.wait_for_selector('#sent-list .transfer[data-state="done"]', timeout=60000)
        (received,) = scene.artifacts(ArtifactKind.FILE_RECEIVED)
        assert sha256(scene.vault_bytes(received)) == sha256(small)


# Hold back every XMLHttpRequest's "load" (a slow tab): the relay has stored an upload whose
# answer the console has not read, the moment a cancel can lose the blob's id.
HOLD_UPLOAD_ANSWERS_JS = """() => {
  const add = XMLHttpRequest.prototype.addEventListener;
  XMLHttpRequest.prototype.addEventListener = function (type, listener, ...rest) {
    return type === "load" ? undefined : add.call(this, type, listener, ...rest);
  };
}"""


async def test_a_cancel_after_the_relay_stored_the_upload_leaves_nothing(tmp_path: Path) -> None:
    async with call_scene(tmp_path) as scene:
        page = scene.page
        await page.evaluate(HOLD_UPLOAD_ANSWERS_JS)
        await choose_file(
            scene, "late.pdf", "application/pdf", pdf_bytes(50_000, seed=6), show=False
        )
        transfer_id = await sent_entry(scene, "uploading")
        await scene.until(lambda: scene.relay_blobs() == 1, "the blob stored at the relay")
        await page.click(f'#sent-list .transfer[data-transfer-id="{transfer_id}"] .transfer-cancel')
        await page.wait_for_selector(
            f'#sent-list .transfer[data-transfer-id="{transfer_id}"][data-state="cancelled"]'
        )
        # The console never learnt the blob's id; its cancel by the transfer's name found it.
        await scene.until(lambda: scene.relay_blobs() == 0, "an empty relay")
        assert scene.artifacts(ArtifactKind.FILE_RECEIVED) == []
        state = scene.watch.state  # the kiosk was never offered the file
        assert state is None or all(t.phase != "done" for t in state.transfers)
        await chat_still_works(scene)


async def test_the_exchange_is_cleared_when_the_call_ends(tmp_path: Path) -> None:
    async with call_scene(tmp_path) as scene:
        page = scene.page
        exchange = scene.kiosk.exchange
        assert exchange is not None
        await exchange.send_file(
            ArtifactKind.FILE_SENT, "a.pdf", "application/pdf", pdf_bytes(1000, seed=6)
        )
        await received_entry(scene)
        await page.click("#btn-end")
        await page.wait_for_selector("#call-view", state="hidden")
        assert await page.evaluate("() => document.querySelectorAll('.transfer').length") == 0
        assert await page.is_hidden("#exchange-error")


# -- the console's helpers, in isolation -----------------------------------------------------

OFFER_NAMES = """
async (names) => {
  const mod = await import('/static/exchange.js');
  const proto = await (await import('/static/protocol.js')).loadProtocol();
  return names.map((name) => {
    const clean = mod.offerName(name);
    const frame = proto.encode({type: 'file_offer', id: 'tr4nsfer_01', name: clean, size: 1,
      mime: 'application/pdf', sha256: '0'.repeat(64), purpose: 'file',
      blob: 'b'.repeat(32), key: '1'.repeat(64)}, 'channel');
    return [clean, frame];
  });
}
"""


async def test_file_names_are_made_fit_for_a_file_offer() -> None:
    names = [
        "Kontoauszug März.pdf",
        "tab\there\x00and\x1fcontrol.pdf",
        "",
        "   ",
        "😀" * 300 + ".jpeg",
        "x" * 250,
        "a\ud800b.png",
    ]
    async with blank_page() as page:
        results = await page.evaluate(OFFER_NAMES, names)
    cleaned = [clean for clean, _frame in results]
    assert cleaned[0] == "Kontoauszug März.pdf"
    assert cleaned[1] == "tab_here_and_control.pdf"
    assert cleaned[2] == cleaned[3] == "file"
    assert len(cleaned[4]) == 200 and cleaned[4].endswith("😀.jpeg")
    assert cleaned[5] == "x" * 200
    assert cleaned[6] == "a_b.png"
    # Every one of them is a file_offer the kiosk's codec accepts, name unchanged.
    for clean, frame in results:
        offer = CHANNEL.decode(frame)
        assert isinstance(offer, FileOffer) and offer.name == clean
