"""The console's side of a signature at the kiosk (hub/web/signature-*.js, docs/signature.md).

In Debian's Chromium: signature-check.js takes apart a real PAdES-signed PDF (pyHanko signs the
demo contract with a device certificate of a tenant CA, as the kiosk does) and refuses every
tampered variant with the check it fails. Then the real exchange panel (index.html's markup,
exchange.js and its parts) runs against a stand-in for the call and the relay: the adviser
sends the contract, asks for a signature through the form, the request message is checked
against the protocol's schema, the kiosk's statuses show in plain words, and the signed PDF
comes back through the real receive path (sealed.js) and is offered for download only when it
passes the check.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tests.support.blank_page import WEB_DIR, blank_page
from tests.support.signed_pdfs import (
    CONTRACT_PAGES,
    DEVICE_NAME,
    SigningKit,
    contract,
    signing_kit,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

BOX = (320.0, 60.0, 540.0, 140.0)


def _der(obj: Any) -> bytes:
    return bytes(obj.public_bytes(serialization.Encoding.DER))


async def pades_sign(kit: SigningKit, data: bytes) -> bytes:
    """``data`` signed PAdES B-B by the kit's device in an incremental update (pyHanko)."""
    key = asn1_keys.PrivateKeyInfo.load(
        kit.device.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(_der(kit.device.certificate)),
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [asn1_x509.Certificate.load(_der(kit.ca.certificate))]
        ),
    )
    meta = signers.PdfSignatureMetadata(
        field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES
    )
    spec = fields.SigFieldSpec(
        "Signature1",
        on_page=CONTRACT_PAGES - 1,
        box=BOX,  # type: ignore[arg-type]  # pyHanko's hint says int; floats work
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    out = await signers.PdfSigner(meta, signer, new_field_spec=spec).async_sign_pdf(writer)
    return bytes(out.getvalue())


_SIGNED: dict[str, bytes] = {}


async def signed_pair() -> tuple[bytes, bytes]:
    """(the contract, the contract signed at "the kiosk"), signed once per module."""
    original = contract()
    if "contract" not in _SIGNED:
        _SIGNED["contract"] = await pades_sign(signing_kit(), original)
    return original, _SIGNED["contract"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def tampered(original: bytes, signed: bytes) -> dict[str, tuple[bytes, bytes]]:
    """(original, signed) pairs the console must refuse, by what was done to them."""
    a, b = _byte_range(signed)[1:3]
    out: dict[str, tuple[bytes, bytes]] = {}
    flipped = bytearray(signed)
    flipped[100] ^= 0x01
    out["prefix_changed"] = (original, bytes(flipped))
    out["other_document"] = (original[:-10] + b"% other\n\n", signed)
    out["appended_after_signature"] = (original, signed + b"\n% added later\n")
    out["no_signature_added"] = (original, original + b"\n% nothing signed\n")
    out["truncated"] = (original, signed[: len(original) + 50])
    # A byte range that leaves the last byte out (same length of text: last digit down).
    text = signed.decode("latin1")
    at = text.rindex("/ByteRange")
    end = text.index("]", at)
    last = text[at:end].split()[-1]
    shorter = str(int(last) - 1).rjust(len(last))
    out["range_short"] = (
        original,
        (text[:at] + text[at:end].replace(last, shorter) + text[end:]).encode("latin1"),
    )
    # The gap is not the /Contents hex string: one hex digit made a letter.
    gap = bytearray(signed)
    gap[a + 5] = ord("g")
    out["contents_not_hex"] = (original, bytes(gap))
    # The hex string holds no CMS (zeros), and a CMS whose signer is missing.
    zeros = bytearray(signed)
    zeros[a + 1 : b - 1] = b"0" * (b - a - 2)
    out["contents_zero"] = (original, bytes(zeros))
    return out


def _byte_range(signed: bytes) -> list[int]:
    match = re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", signed)
    return [int(v) for v in match[-1]]


CHECK = """
async ([cases]) => {
  const { checkSignedPdf, SignedPdfError } = await import('/static/signature-check.js');
  const bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const out = {};
  for (const [name, [original, signed]] of Object.entries(cases)) {
    try {
      const facts = checkSignedPdf(bytes(original), bytes(signed));
      out[name] = {ok: true, subject: facts.subject, device: facts.device,
        signedAt: facts.signedAt && facts.signedAt.toISOString(),
        originalLength: facts.originalLength, byteRange: facts.byteRange};
    } catch (exc) {
      out[name] = {ok: false, error: exc instanceof SignedPdfError, code: exc.code,
        message: String(exc.message)};
    }
  }
  return out;
}
"""


async def test_the_console_accepts_a_signed_pdf_and_refuses_tampered_ones() -> None:
    original, signed = await signed_pair()
    cases = {"good": (original, signed), **tampered(original, signed)}
    async with blank_page() as page:
        got = await page.evaluate(CHECK, [{k: [b64(o), b64(s)] for k, (o, s) in cases.items()}])
    good = got.pop("good")
    assert good["ok"], good
    assert good["device"] == DEVICE_NAME
    assert good["subject"].startswith(f"CN={DEVICE_NAME}")
    assert good["originalLength"] == len(original)
    rng = _byte_range(signed)
    assert good["byteRange"] == rng and rng[2] + rng[3] == len(signed)
    # The console reads the signature's /M, escapes and all: the same time pyHanko wrote.
    signed_at = dt.datetime.fromisoformat(good["signedAt"].replace("Z", "+00:00"))
    written = PdfFileReader(io.BytesIO(signed)).embedded_signatures[-1].self_reported_timestamp
    assert written is not None and signed_at == written
    expected = {
        "prefix_changed": "prefix",
        "other_document": "prefix",
        "appended_after_signature": "not_covered",
        "no_signature_added": "not_signed",
        "truncated": "not_signed",
        "range_short": "not_covered",
        "contents_not_hex": "contents",
        "contents_zero": "cms",
    }
    assert {name: (r["ok"], r.get("error"), r.get("code")) for name, r in got.items()} == {
        name: (False, True, code) for name, code in expected.items()
    }
    assert all(r["message"] for r in got.values())


# -- the exchange panel with a stand-in call and relay --------------------------------------

SETUP = """
async ([markup]) => {
  document.body.innerHTML = markup;
  const { Protocol } = await import('/static/protocol.js');
  const schema = await (await fetch('/static/protocol.schema.json')).json();
  const protocol = new Protocol(schema);
  const { Exchange } = await import('/static/exchange.js');
  const { exchangeElements } = await import('/static/console-elements.js');
  const sealed = await import('/static/sealed.js');
  const blobs = new Map();
  const relay = {
    async upload({ body }) {
      const id = sealed.newId() + sealed.newId();
      blobs.set(id, body);
      return id;
    },
    async download(_c, blob) { return blobs.get(blob).stream(); },
    deleteBlob(_c, blob) { blobs.delete(blob); },
  };
  const sent = [];
  const call = new EventTarget();
  Object.assign(call, {
    id: 'consultation-1', chatReady: true, screenShareReady: false,
    // Every message goes through the protocol's encoder: it must be one the kiosk accepts.
    sendChannel(message) {
      sent.push(JSON.parse(protocol.encode(message, 'channel')));
      return true;
    },
    async setScreenTrack() {},
  });
  const exchange = new Exchange({ elements: exchangeElements(), csrf: () => null,
    maxFileBytes: () => 25 * 1024 * 1024 });
  exchange.sender.link.relay = relay;
  exchange.attach(call);
  call.dispatchEvent(new CustomEvent('verified', { detail: { resumed: false } }));
  const kiosk = (message) => call.dispatchEvent(new CustomEvent('exchange', { detail: {
    message: protocol.decode(protocol.encode(message, 'channel'), 'channel') } }));
  // The kiosk offers `b64` as a file: sealed under a fresh key into the stand-in relay.
  const offer = async (b64, extra) => {
    const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const id = sealed.newId();
    const key = sealed.newKey();
    const blob = sealed.newId() + sealed.newId();
    blobs.set(blob, await sealed.seal({ id, key, data }));
    kiosk({ type: 'file_offer', id, name: 'Vertrag signed.pdf', size: data.length,
      mime: 'application/pdf', sha256: await sealed.sha256Hex(data), purpose: 'signed',
      blob, key: sealed.toHex(key), ...extra });
    return id;
  };
  window.scene = { sent, kiosk, offer, exchange };
}
"""


def exchange_markup() -> str:
    """The exchange panel of the real console page."""
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    start = html.index('<section class="exchange"')
    end = html.index('<aside class="chat"', start)
    return html[start:end]


async def sent_of(page: Any, kind: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = await page.evaluate("() => window.scene.sent")
    return [m for m in messages if m["type"] == kind]


async def kiosk_says(page: Any, message: dict[str, Any]) -> None:
    await page.evaluate("(m) => window.scene.kiosk(m)", message)


async def line(page: Any, request_id: str, state: str) -> Any:
    selector = f'#signature-list [data-signature-id="{request_id}"][data-state="{state}"]'
    return await page.wait_for_selector(selector, timeout=15000)


async def send_contract(page: Any, data: bytes) -> str:
    """The adviser sends the contract; the kiosk confirms it: its transfer id."""
    await page.set_input_files(
        "#file-input",
        files=[{"name": "Vertrag.pdf", "mimeType": "application/pdf", "buffer": data}],
    )
    await page.wait_for_function(
        "() => window.scene.sent.some((m) => m.type === 'file_offer')", timeout=15000
    )
    (offer,) = await sent_of(page, "file_offer")
    await kiosk_says(page, {"type": "file_done", "id": offer["id"], "sha256": offer["sha256"]})
    return str(offer["id"])


async def ask(tab: Any, transfer_id: str, place: str, **values: str) -> dict[str, Any]:
    """Click the PDF's Request signature button, fill the form, submit: the request sent."""
    before = len(await sent_of(tab, "signature_request"))
    await tab.click(
        f'#sent-list [data-transfer-id="{transfer_id}"] [data-action="request-signature"]'
    )
    await tab.select_option("#signature-placement", place)
    for name, value in values.items():
        await tab.fill(f"#signature-{name}", value)
    await tab.click("#signature-submit")
    await tab.wait_for_function(
        "(n) => window.scene.sent.filter((m) => m.type === 'signature_request').length > n",
        arg=before,
        timeout=15000,
    )
    return (await sent_of(tab, "signature_request"))[-1]


async def test_the_adviser_requests_a_signature_and_gets_the_checked_pdf(tmp_path: Path) -> None:
    original, signed = await signed_pair()
    async with blank_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.evaluate(SETUP, [exchange_markup()])
        transfer_id = await send_contract(page, original)

        # Page and box; the page is 1-based for the adviser, 0-based on the wire.
        request = await ask(
            page,
            transfer_id,
            "box",
            page=str(CONTRACT_PAGES),
            x0="320",
            y0="60",
            x1="540",
            y1="140",
            signer="Łukasz Weiß",
        )
        assert request == {
            "v": 1,
            "type": "signature_request",
            "id": request["id"],
            "document": transfer_id,
            "sha256": hashlib.sha256(original).hexdigest(),
            "page": CONTRACT_PAGES - 1,
            "box": list(BOX),
            "signer": "Łukasz Weiß",
        }
        rid = request["id"]
        await line(page, rid, "requested")
        for state, code in [("reading", None), ("signing", None), ("signing", "tablet_gone")]:
            await kiosk_says(
                page, {"type": "signature_status", "id": rid, "state": state, "code": code}
            )
        li = await line(page, rid, "signing")
        assert "tablet is gone" in await li.text_content()
        await kiosk_says(page, {"type": "signature_status", "id": rid, "state": "sealing"})
        await line(page, rid, "sealing")

        # The signed PDF through the real receive path, then "done".
        await page.evaluate(
            "([s, r]) => window.scene.offer(s, {request_id: r})", [b64(signed), rid]
        )
        await kiosk_says(page, {"type": "signature_status", "id": rid, "state": "done"})
        li = await line(page, rid, "verified")
        text = await li.text_content()
        assert f"Signed at the kiosk {DEVICE_NAME} at" in text
        assert f"Signer certificate: CN={DEVICE_NAME}" in text
        async with page.expect_download() as info:
            await page.click(f'[data-signature-id="{rid}"] a[data-action="download-signed"]')
        got = await info.value
        target = tmp_path / "signed.pdf"
        await got.save_as(target)
        assert target.read_bytes() == signed
        assert got.suggested_filename == "Vertrag-signed.pdf"
        # The signed file is not offered as a plain received file.
        assert await page.query_selector("#received-list a.download") is None

        # A signed PDF with bytes appended after its signature: failed, with the reason.
        request = await ask(page, transfer_id, "field", field="")
        assert request["field"] == "" and "page" not in request and "box" not in request
        assert "signer" not in request
        await page.evaluate(
            "([s, r]) => window.scene.offer(s, {request_id: r})",
            [b64(signed + b"\n% later\n"), request["id"]],
        )
        li = await line(page, request["id"], "rejected")
        assert "does not cover the whole file" in await li.text_content()
        assert await li.query_selector("a.download") is None

        # A failure code in plain words; a cancel reaches the kiosk.
        request = await ask(page, transfer_id, "default")
        assert {"field", "page", "box"}.isdisjoint(request)
        await kiosk_says(
            page,
            {
                "type": "signature_status",
                "id": request["id"],
                "state": "failed",
                "code": "no_trustee",
            },
        )
        li = await line(page, request["id"], "failed")
        assert "No trustee is set" in await li.text_content()
        request = await ask(page, transfer_id, "default")
        await page.click(f'#signature-list [data-signature-id="{request["id"]}"] .request-cancel')
        await line(page, request["id"], "cancelled")
        assert (await sent_of(page, "signature_cancel"))[-1]["id"] == request["id"]
        # Declined.
        request = await ask(page, transfer_id, "default")
        await kiosk_says(
            page, {"type": "signature_status", "id": request["id"], "state": "declined"}
        )
        li = await line(page, request["id"], "declined")
        assert "declined" in await li.text_content()
        # The signed PDF damaged on its way (its hash differs): failed, not left waiting.
        request = await ask(page, transfer_id, "default")
        await page.evaluate(
            "([s, r, h]) => window.scene.offer(s, {request_id: r, sha256: h})",
            [b64(signed), request["id"], "f" * 64],
        )
        li = await line(page, request["id"], "rejected")
        assert "could not be received" in await li.text_content()
        assert errors == []


async def test_bad_placement_is_refused_in_the_form_and_a_new_upload_is_asked_after_delivery() -> (
    None
):
    original, _signed = await signed_pair()
    async with blank_page() as page:
        await page.evaluate(SETUP, [exchange_markup()])
        transfer_id = await send_contract(page, original)
        await page.click(
            f'#sent-list [data-transfer-id="{transfer_id}"] [data-action="request-signature"]'
        )
        await page.select_option("#signature-placement", "box")
        for name, value in {"page": "1", "x0": "300", "y0": "60", "x1": "200", "y1": "140"}.items():
            await page.fill(f"#signature-{name}", value)
        await page.click("#signature-submit")
        error = await page.wait_for_selector("#signature-error:not([hidden])")
        assert "x0 < x1" in await error.text_content()
        await page.select_option("#signature-placement", "field")
        await page.fill("#signature-field", "Kunde/Unterschrift")
        await page.click("#signature-submit")
        await page.wait_for_function(
            "() => document.getElementById('signature-error').textContent.includes('64 letters')"
        )
        assert await sent_of(page, "signature_request") == []

        # A new PDF from the form: uploaded first, the request goes once the kiosk has it.
        await page.select_option("#signature-placement", "default")
        await page.set_input_files(
            "#signature-file",
            files=[{"name": "Neu.pdf", "mimeType": "application/pdf", "buffer": original + b"\n"}],
        )
        await page.click("#signature-submit")
        await page.wait_for_selector(
            '#signature-list [data-kind="signature"][data-state="uploading"]'
        )
        await page.wait_for_function(
            "() => window.scene.sent.filter((m) => m.type === 'file_offer').length === 2"
        )
        offer = (await sent_of(page, "file_offer"))[-1]
        assert await sent_of(page, "signature_request") == []
        await kiosk_says(page, {"type": "file_done", "id": offer["id"], "sha256": offer["sha256"]})
        await page.wait_for_function(
            "() => window.scene.sent.some((m) => m.type === 'signature_request')"
        )
        (request,) = await sent_of(page, "signature_request")
        assert request["document"] == offer["id"] and request["sha256"] == offer["sha256"]

        # A PDF the kiosk sent can be asked for a signature too (its id and hash as received).
        kiosk_pdf = original + b"% from the kiosk\n"
        received_id = await page.evaluate(
            "(s) => window.scene.offer(s, {purpose: 'file'})", b64(kiosk_pdf)
        )
        await page.click(
            f'#received-list [data-transfer-id="{received_id}"] [data-action="request-signature"]'
        )
        await page.click("#signature-submit")
        await page.wait_for_function(
            "() => window.scene.sent.filter((m) => m.type === 'signature_request').length === 2"
        )
        request = (await sent_of(page, "signature_request"))[-1]
        assert request["document"] == received_id
        assert request["sha256"] == hashlib.sha256(kiosk_pdf).hexdigest()
