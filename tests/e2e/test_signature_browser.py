"""End to end: a contract signed at the kiosk, checked by tools that are not ours.

Hub and kiosk as processes (testbed/signing.py): the kiosk enrolled with a one-time code, the
tenant's trustee issued by the tenant CA and set at the hub. The adviser in the real console
(Chromium) sends a PDF and asks for a signature; the kiosk's simulated customer replays a
recorded stroke on the simulated tablet and confirms; the console receives the signed PDF,
checks it and offers it. Then Debian's ``pdfsig`` says the signature is valid, ``pdfdetach``
takes the sealed container out and ``openssl cms -decrypt`` opens it with the trustee's key:
the ISO record in it is the replayed stroke, bound to the SHA-256 of the bytes the console
sent. A second request, for an encrypted PDF, fails with a reason the adviser can read, and
the call goes on. After the call and its wipe, the stroke's samples are in no log, not in the
hub's database or relay, not in the vault.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.tablet.simulated import load_recording
from kiosk_ui.sample_contract import sample_contract
from signing.iso19794 import decode, points_from_record
from signing.sealed import parse_evidence
from testbed.browser import browser, chromium_missing_message, console_page
from testbed.signature_console import download_signed, request_signature, send_pdf, wait_final
from testbed.signing import RECORDING, SigningStack, signing_stack, start_kiosk
from testbed.stack import wait_until
from tests.support.memory import scan
from tests.support.netns import require_loopback_only_netns
from tests.support.requirements import require, require_tool
from tests.support.signed_pdfs import encrypted_pdf

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[SigningStack]:
    require_loopback_only_netns()
    missing = chromium_missing_message()
    require(missing is None, missing or "")
    made = signing_stack(tmp_path / "stack")
    try:
        yield made
    finally:
        made.stack.stop()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


def _files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield path


async def test_a_contract_signed_at_the_kiosk_stands_up_to_pdfsig_and_openssl(
    setup: SigningStack, tmp_path: Path
) -> None:
    pdfsig = require_tool("pdfsig", "poppler-utils")
    pdfdetach = require_tool("pdfdetach", "poppler-utils")
    openssl = require_tool("openssl", "openssl")
    stack = setup.stack
    contract = sample_contract("Kontoeröffnung / account opening", pages=3)
    start_kiosk(setup)
    signed_path = tmp_path / "signed.pdf"
    async with browser() as chromium, console_page(chromium, stack.url) as console:
        page = console.page
        await console.login(stack.adviser, stack.password)
        await console.accept(await console.wait_for_entry(timeout_s=30))
        await page.wait_for_selector("#call-code-words:not(:empty)", timeout=20000)

        document = await send_pdf(page, "Kontoeröffnung.pdf", contract)
        request = await request_signature(page, document, signer="Erika Mustermann")
        states = await wait_final(page, request)
        assert "verified" in states, states
        assert {"reading", "signing", "sealing"} <= set(states), states
        entry = f'[data-signature-id="{request}"]'
        shown = await page.text_content(f"{entry} .signature-signed") or ""
        assert "Signed at the kiosk kiosk-7" in shown
        signed = await download_signed(page, request, signed_path)

        # A PDF the kiosk cannot sign: a readable reason, and the call goes on.
        locked = await send_pdf(page, "Gesperrt.pdf", encrypted_pdf())
        refused = await request_signature(page, locked)
        assert "failed" in await wait_final(page, refused)
        assert await page.get_attribute(f'[data-signature-id="{refused}"]', "data-code") == (
            "encrypted_pdf"
        )
        assert await page.is_visible("#call-view")

        await page.click("#btn-end")
        await wait_until(lambda: len(stack.kiosk_calls()) > 0, 20, "the kiosk's stats")
    hub = stack.hub
    assert hub is not None and hub.poll() is None

    # The console's copy is an incremental update of exactly what it sent.
    assert signed.startswith(contract) and len(signed) > len(contract)
    checked = _run(pdfsig, str(signed_path))
    assert "Signature is Valid." in checked.stdout, checked.stdout + checked.stderr

    saved = _run(pdfdetach, "-saveall", "-o", str(tmp_path), str(signed_path))
    assert saved.returncode == 0, saved.stderr
    sealed = tmp_path / "biometric-evidence.p7m"
    opened = tmp_path / "evidence.der"
    decrypted = _run(
        openssl, "cms", "-decrypt", "-inform", "DER", "-in", str(sealed),
        "-inkey", str(setup.trustee_key), "-recip", str(setup.trustee_pem), "-out", str(opened),
    )  # fmt: skip
    assert decrypted.returncode == 0, decrypted.stderr
    evidence = parse_evidence(opened.read_bytes())
    assert evidence.document_sha256 == hashlib.sha256(contract).digest()
    assert evidence.device == "kiosk-7"

    # The record is the replayed stroke: every pen-down sample, where and how hard.
    replayed = [s for s in load_recording(RECORDING) if s.tip_down]
    points = [p for p in points_from_record(decode(evidence.record)) if p.tip_down]
    assert len(points) == len(replayed)
    for got, want in zip(points, replayed, strict=True):
        assert abs(got.x_mm - want.x_mm) < 0.05 and abs(got.y_mm - want.y_mm) < 0.05
        assert abs(got.pressure - want.pressure) < 0.01
    # The recording's 5 ms steps are whole multiples of the record's 0.5 ms: kept exactly.
    t0_got, t0_want = points[0].t_us, replayed[0].t_us
    assert [g.t_us - t0_got for g in points] == [w.t_us - t0_want for w in replayed]

    # Privacy canary: the samples as the record holds them, and as a log line would show them.
    samples = evidence.record[-256:-64]
    assert len(samples) == 192
    assert scan(hub.pid, samples) == [], "the hub's memory (its relay) holds the samples"
    for path in _files(stack.workdir):
        data = path.read_bytes()
        assert samples not in data, f"the stroke's samples are in {path}"
        for word in (b"x_mm", b"PenSample", b"PenPoint", b"Erika Mustermann"):
            if path.suffix in (".log", ".sqlite3", ".jsonl") or "log" in path.name:
                assert word not in data, f"{word!r} is in {path}"
    vault = stack.workdir / "vault"
    assert not vault.exists() or not any(_files(vault)), "the vault still holds files"
