"""The signed contract (signing.pdf, docs/signature-pdf.md): placement, evidence, PAdES, refusals.

Checked with independent tools where they exist: Debian's pdfsig (poppler) for the signature,
pdfdetach for the associated file; pyHanko's reader for the structure.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import re
import subprocess
from pathlib import Path

import pytest
from aiohttp import web
from asn1crypto import tsp
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import appearance, pdf, sealed
from signing.pdf import BoxPlacement, DocumentError, FieldPlacement
from tests.support import signed_pdfs as kit_pdfs
from tests.support.documents import write_pdf
from tests.support.loopback_server import serving
from tests.support.requirements import require_tool

A4 = (595.0, 842.0)


@pytest.fixture(scope="module")
def kit() -> kit_pdfs.SigningKit:
    return kit_pdfs.signing_kit()


@pytest.fixture(scope="module")
def boxed(kit: kit_pdfs.SigningKit) -> bytes:
    return kit_pdfs.signed_contract(kit, placement=BoxPlacement(2, (100.0, 100.0, 300.0, 180.0)))


@pytest.fixture(scope="module")
def defaulted(kit: kit_pdfs.SigningKit) -> bytes:
    return kit_pdfs.signed_contract(kit, placement=None)


@pytest.fixture(scope="module")
def in_field(kit: kit_pdfs.SigningKit) -> bytes:
    return kit_pdfs.signed_contract(
        kit, kit_pdfs.contract_with_field(), placement=FieldPlacement("")
    )


def pdfsig(data: bytes, tmp_path: Path) -> str:
    tool = require_tool("pdfsig", "poppler-utils")
    path = tmp_path / "signed.pdf"
    path.write_bytes(data)
    run = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    return run.stdout


def signature(data: bytes) -> tuple[PdfFileReader, generic.DictionaryObject]:
    reader = PdfFileReader(io.BytesIO(data))
    sigs = reader.embedded_signatures
    return reader, sigs[-1].sig_field


def widget_rect(data: bytes) -> tuple[int, tuple[float, ...]]:
    """The last signature's page index and /Rect."""
    reader, field = signature(data)
    page_ref = field.raw_get("/P")
    rect = tuple(float(v) for v in field["/Rect"])
    count = pdf.inspect(data).pages
    pages = [
        reader.find_page_for_modification(i)[0]  # type: ignore[no-untyped-call]
        for i in range(count)
    ]
    index = next(i for i, ref in enumerate(pages) if ref.idnum == page_ref.idnum)
    return index, rect


@pytest.mark.parametrize("which", ["boxed", "defaulted", "in_field"])
def test_pdfsig_calls_the_signature_valid_and_the_whole_document_signed(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    out = pdfsig(request.getfixturevalue(which), tmp_path)
    assert "Signature Validation: Signature is Valid." in out, out
    assert "Total document signed" in out, out
    assert "Signature Type: ETSI.CAdES.detached" in out, out
    assert "Signer Certificate Common Name: kiosk-7" in out, out


@pytest.mark.parametrize("which", ["boxed", "defaulted", "in_field"])
def test_the_original_is_a_prefix_and_the_byte_range_covers_all_but_the_contents(
    which: str, request: pytest.FixtureRequest
) -> None:
    signed = request.getfixturevalue(which)
    original = kit_pdfs.contract_with_field() if which == "in_field" else kit_pdfs.contract()
    assert signed.startswith(original)
    _, field = signature(signed)
    start, a, b, c = (int(v) for v in field["/V"]["/ByteRange"])
    assert start == 0 and b + c == len(signed)
    assert re.fullmatch(rb"<[0-9a-fA-F]+>", signed[a:b])
    # ONE revision: the evidence and the signature were added together, after the original
    assert signed[len(original) :].count(b"%%EOF") == 1


def test_a_box_placement_puts_the_field_where_asked(boxed: bytes) -> None:
    assert widget_rect(boxed) == (2, (100.0, 100.0, 300.0, 180.0))


def test_the_default_placement_is_at_the_bottom_right_of_the_last_page(defaulted: bytes) -> None:
    page, (x0, y0, x1, y1) = widget_rect(defaulted)
    assert page == kit_pdfs.CONTRACT_PAGES - 1
    assert 0 <= x0 < x1 <= A4[0] and 0 <= y0 < y1 <= A4[1]
    assert x1 > A4[0] / 2 and y1 < A4[1] / 4


def test_a_field_placement_signs_the_documents_own_field(in_field: bytes) -> None:
    _, field = signature(in_field)
    assert field["/T"] == kit_pdfs.FIELD_NAME
    assert widget_rect(in_field) == (kit_pdfs.CONTRACT_PAGES - 1, kit_pdfs.FIELD_BOX)
    # the field is signed now: signing it again is refused with its own code
    with pytest.raises(DocumentError) as caught:
        pdf.resolve(pdf.inspect(in_field), FieldPlacement(kit_pdfs.FIELD_NAME))
    assert caught.value.code == "field_signed"


def test_the_evidence_is_an_associated_file_of_the_document_in_the_signed_revision(
    boxed: bytes, tmp_path: Path
) -> None:
    reader, _ = signature(boxed)
    embedded = reader.embedded_signatures[0]
    af = reader.root["/AF"]
    assert len(af) == 1
    spec = af[0]
    assert spec["/UF"] == pdf.EVIDENCE_NAME and spec["/AFRelationship"] == "/Data"
    stream_ref = spec.raw_get("/EF").raw_get("/F")
    assert reader.xrefs.get_introducing_revision(stream_ref.reference) == embedded.signed_revision
    assert stream_ref.get_object().data == kit_pdfs.sealed_evidence()
    # an independent reader finds the same bytes
    tool = require_tool("pdfdetach", "poppler-utils")
    (tmp_path / "s.pdf").write_bytes(boxed)
    subprocess.run(
        [tool, "-save", "1", "-o", str(tmp_path / "out.p7m"), str(tmp_path / "s.pdf")],
        check=True,
        timeout=60,
    )
    assert (tmp_path / "out.p7m").read_bytes() == kit_pdfs.sealed_evidence()
    # ... which OpenSSL opens with the trustee's key: the evidence of the original's hash
    key, cert = kit_pdfs.evidence_trustee().write(tmp_path)
    opened = subprocess.run(
        [
            require_tool("openssl", "openssl"),
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "out.p7m"),
            "-inkey",
            str(key),
            "-recip",
            str(cert),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    evidence = sealed.parse_evidence(opened)
    assert evidence.document_sha256 == hashlib.sha256(kit_pdfs.contract()).digest()
    assert evidence.device == kit_pdfs.DEVICE_NAME


def test_the_appearance_is_the_ink_with_name_time_and_device(boxed: bytes) -> None:
    _, field = signature(boxed)
    stream = field["/AP"]["/N"].data
    strokes = kit_pdfs.ink_strokes()
    assert stream.count(b" l\n") + stream.count(b" l ") >= sum(len(s) - 1 for s in strokes)
    assert stream.count(b"\nS") >= len(strokes)
    assert b"(Lukasz Wei\xdf-\xc4hre) Tj" in stream  # WinAnsi, the Polish L transliterated
    assert kit_pdfs.SIGNED_AT.strftime("%Y-%m-%d %H:%M:%S UTC").encode() in stream
    assert b"(kiosk-7) Tj" in stream


def test_a_second_signature_keeps_both_valid_and_both_evidence_files(
    kit: kit_pdfs.SigningKit, boxed: bytes, tmp_path: Path
) -> None:
    twice = kit_pdfs.signed_contract(kit, boxed, evidence=b"second")
    assert twice.startswith(boxed)
    out = pdfsig(twice, tmp_path)
    assert out.count("Signature is Valid.") == 2, out
    reader = PdfFileReader(io.BytesIO(twice))
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    keys = [str(names[i]) for i in range(0, len(names), 2)]
    assert keys == ["biometric-evidence.p7m", "biometric-evidence-2.p7m"]
    assert all(spec.get_object()["/UF"] == pdf.EVIDENCE_NAME for spec in reader.root["/AF"])


def test_b_t_carries_a_timestamp_token_and_stays_valid(
    kit: kit_pdfs.SigningKit, tmp_path: Path
) -> None:
    signed = pdf.sign(
        kit_pdfs.contract(),
        placement=None,
        strokes=kit_pdfs.ink_strokes(),
        signer_name=None,
        signed_at=kit_pdfs.SIGNED_AT,
        device=kit_pdfs.DEVICE_NAME,
        sealed_evidence=kit_pdfs.sealed_evidence(),
        signer=kit.signer,
        timestamper=kit_pdfs.dummy_timestamper(kit),
    )
    reader = PdfFileReader(io.BytesIO(signed))
    unsigned = reader.embedded_signatures[0].signer_info["unsigned_attrs"]
    assert "signature_time_stamp_token" in [attr["type"].native for attr in unsigned]
    assert "Signature is Valid." in pdfsig(signed, tmp_path)


async def test_b_t_through_a_timestamp_authority_over_http_on_loopback(
    kit: kit_pdfs.SigningKit, tmp_path: Path
) -> None:
    tsa = kit_pdfs.dummy_timestamper(kit)
    requests: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        requests.append(request.content_type)
        response = tsa.request_tsa_response(tsp.TimeStampReq.load(await request.read()))
        return web.Response(body=response.dump(), content_type="application/timestamp-reply")

    app = web.Application()
    app.router.add_post("/tsa", answer)
    async with serving(app, access_log=None) as port:
        # as the kiosk does: sign() blocks (pyHanko runs its own loop) in a worker thread
        signed = await asyncio.to_thread(
            pdf.sign,
            kit_pdfs.contract(),
            placement=None,
            strokes=kit_pdfs.ink_strokes(),
            signer_name=None,
            signed_at=kit_pdfs.SIGNED_AT,
            device=kit_pdfs.DEVICE_NAME,
            sealed_evidence=kit_pdfs.sealed_evidence(),
            signer=kit.signer,
            tsa_url=f"http://127.0.0.1:{port}/tsa",
        )
    # pyHanko asks once more to size the signature's placeholder
    assert requests and set(requests) == {"application/timestamp-query"}
    unsigned = (
        PdfFileReader(io.BytesIO(signed)).embedded_signatures[0].signer_info["unsigned_attrs"]
    )
    assert "signature_time_stamp_token" in [attr["type"].native for attr in unsigned]
    assert "Signature is Valid." in pdfsig(signed, tmp_path)


def test_an_unreachable_timestamp_authority_is_a_sign_error(kit: kit_pdfs.SigningKit) -> None:
    with pytest.raises(pdf.SignError, match="PAdES signing failed"):
        pdf.sign(
            kit_pdfs.contract(),
            placement=None,
            strokes=kit_pdfs.ink_strokes(),
            signer_name=None,
            signed_at=kit_pdfs.SIGNED_AT,
            device=kit_pdfs.DEVICE_NAME,
            sealed_evidence=kit_pdfs.sealed_evidence(),
            signer=kit.signer,
            tsa_url="http://127.0.0.1:1/tsa",  # loopback, nothing listens on port 1
        )


def test_inspect_reports_pages_sizes_and_empty_fields() -> None:
    facts = pdf.inspect(kit_pdfs.contract_with_field())
    assert facts.pages == kit_pdfs.CONTRACT_PAGES
    assert facts.sizes == (A4,) * kit_pdfs.CONTRACT_PAGES
    assert facts.fields == (kit_pdfs.FIELD_NAME,) and facts.signed_fields == ()


def test_an_encrypted_pdf_is_refused(kit: kit_pdfs.SigningKit) -> None:
    with pytest.raises(DocumentError) as caught:
        kit_pdfs.signed_contract(kit, kit_pdfs.encrypted_pdf())
    assert caught.value.code == "encrypted_pdf"


def test_a_pageless_pdf_is_refused(kit: kit_pdfs.SigningKit) -> None:
    with pytest.raises(DocumentError) as caught:
        kit_pdfs.signed_contract(kit, kit_pdfs.pageless_pdf())
    assert caught.value.code == "no_pages"


@pytest.mark.parametrize("name", sorted(kit_pdfs.malformed_pdfs()))
def test_malformed_pdfs_are_refused(name: str, kit: kit_pdfs.SigningKit) -> None:
    with pytest.raises(DocumentError) as caught:
        kit_pdfs.signed_contract(kit, kit_pdfs.malformed_pdfs()[name])
    assert caught.value.code == "malformed_pdf"


def cyclic_page_tree() -> bytes:
    return write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Pages /Kids [2 0 R] /Count 1 /MediaBox [0 0 10 10] >>",
        ]
    )


def wide_page_tree(pages: int) -> bytes:
    kids = b" ".join(b"%d 0 R" % (3 + n) for n in range(pages))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
    return write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
            *[page] * pages,
        ]
    )


def test_a_shared_page_object_is_a_cycle_not_two_pages() -> None:
    data = wide_page_tree(2).replace(b"[3 0 R 4 0 R]", b"[3 0 R 3 0 R]")
    with pytest.raises(DocumentError, match="cycle"):
        pdf.inspect(data)


def test_the_page_limit_itself_is_accepted() -> None:
    assert pdf.inspect(wide_page_tree(pdf.MAX_PAGES)).pages == pdf.MAX_PAGES


@pytest.mark.parametrize(
    "data", [cyclic_page_tree(), wide_page_tree(pdf.MAX_PAGES + 1)], ids=["cycle", "too_many"]
)
def test_hostile_page_trees_are_malformed_not_endless(data: bytes) -> None:
    with pytest.raises(DocumentError) as caught:
        pdf.inspect(data)
    assert caught.value.code == "malformed_pdf"


def test_boxes_are_relative_to_the_visible_area(kit: kit_pdfs.SigningKit) -> None:
    cropped = write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 800] /CropBox [50 60 550 760] >>",
        ]
    )
    assert pdf.inspect(cropped).sizes == ((500.0, 700.0),)
    signed = kit_pdfs.signed_contract(kit, cropped, placement=BoxPlacement(0, (0, 0, 100, 50)))
    _, field = signature(signed)
    assert tuple(float(v) for v in field["/Rect"]) == (50.0, 60.0, 150.0, 110.0)


FACTS = pdf.PdfFacts(2, (A4, (300.0, 200.0)), ("Customer", "Witness"), ("Adviser",))


@pytest.mark.parametrize(
    "box",
    [
        BoxPlacement(2, (10, 10, 100, 100)),  # no such page
        BoxPlacement(-1, (10, 10, 100, 100)),
        BoxPlacement(1, (10, 10, 301, 100)),  # past the right edge of the small page
        BoxPlacement(0, (-1, 10, 100, 100)),
        BoxPlacement(0, (100, 100, 50, 150)),  # inverted
        BoxPlacement(0, (10, 10, 20, 100)),  # too narrow to show ink
        BoxPlacement(0, (math.nan, 10, 100, 100)),
        BoxPlacement(0, (10, 10, math.inf, 100)),
    ],
)
def test_boxes_outside_the_page_are_refused(box: BoxPlacement) -> None:
    with pytest.raises(DocumentError) as caught:
        pdf.resolve(FACTS, box)
    assert caught.value.code == "box_outside_page"


def test_field_placements_resolve_or_say_why() -> None:
    assert pdf.resolve(FACTS, FieldPlacement("")) == FieldPlacement("Customer")
    assert pdf.resolve(FACTS, FieldPlacement("Witness")) == FieldPlacement("Witness")
    for name, code in [("Nobody", "no_such_field"), ("Adviser", "field_signed")]:
        with pytest.raises(DocumentError) as caught:
            pdf.resolve(FACTS, FieldPlacement(name))
        assert caught.value.code == code
    with pytest.raises(DocumentError) as caught:
        pdf.resolve(pdf.inspect(kit_pdfs.contract()), FieldPlacement(""))
    assert caught.value.code == "no_such_field"


@given(st.floats(1.0, 5000.0), st.floats(1.0, 5000.0))
def test_the_default_box_always_fits_the_last_page(width: float, height: float) -> None:
    facts = pdf.PdfFacts(1, ((width, height),), ())
    box = pdf.resolve(facts, None)
    assert isinstance(box, BoxPlacement)
    x0, y0, x1, y1 = box.box
    assert box.page == 0 and 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


@given(
    st.integers(-2, 3),
    st.tuples(*[st.floats(allow_nan=True, allow_infinity=True, width=32)] * 4),
)
def test_resolve_returns_a_box_inside_the_page_or_refuses(
    page: int, box: tuple[float, float, float, float]
) -> None:
    try:
        placed = pdf.resolve(FACTS, BoxPlacement(page, box))
    except DocumentError as exc:
        assert exc.code == "box_outside_page"
        return
    assert isinstance(placed, BoxPlacement)
    width, height = FACTS.sizes[placed.page]
    assert 0 <= placed.box[0] < placed.box[2] <= width
    assert 0 <= placed.box[1] < placed.box[3] <= height


MANGLE_BASE = kit_pdfs.contract(1)


@given(
    st.lists(
        st.tuples(st.integers(0, len(MANGLE_BASE) - 1), st.binary(min_size=0, max_size=8)),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, len(MANGLE_BASE)),
)
def test_inspect_on_mangled_pdfs_raises_only_document_errors(
    edits: list[tuple[int, bytes]], cut: int
) -> None:
    data = bytearray(MANGLE_BASE)
    for offset, replacement in edits:
        data[offset : offset + max(len(replacement), 1)] = replacement
    try:
        facts = pdf.inspect(bytes(data[: max(cut, len(data) // 2)]))
    except DocumentError as exc:
        assert exc.code in ("malformed_pdf", "no_pages", "encrypted_pdf")
        return
    assert facts.pages == len(facts.sizes) >= 1


def test_pdf_text_escapes_and_encodes_for_winansi() -> None:
    assert appearance.pdf_text("a(b)c\\") == b"(a\\(b\\)c\\\\)"
    assert appearance.pdf_text("Łódź Ærø") == b"(L\xf3dz \xc6r\xf8)"
    assert appearance.pdf_text("李\n") == b"(? )"


def test_a_single_dot_is_drawn_and_no_ink_draws_nothing() -> None:
    dot = appearance.ink_operators([[(0.5, 0.5)]], 0, 0, 100, 50)
    assert b"50.00 25.00 m" in dot and b"50.00 25.00 l" in dot and b" 1 J" in dot
    assert appearance.ink_operators([[], []], 0, 0, 100, 50) == b""


def test_hostile_ink_stays_inside_the_widget() -> None:
    ops = appearance.ink_operators([[(-5.0, math.nan), (9.0, math.inf)]], 10, 20, 100, 50)
    coords = [float(v) for v in re.findall(rb"(-?[\d.]+) (?:-?[\d.]+) [ml]", ops)]
    assert coords == [10.0, 110.0]


@given(
    st.lists(st.lists(st.tuples(st.floats(), st.floats()), max_size=5), max_size=4),
    st.lists(st.text(max_size=120), max_size=3),
    st.floats(1.0, 2000.0),
    st.floats(1.0, 2000.0),
)
def test_any_ink_and_text_give_a_clipped_balanced_appearance(
    strokes: list[list[tuple[float, float]]], lines: list[str], width: float, height: float
) -> None:
    ops = appearance.appearance_operators(strokes, lines, width, height)
    assert ops.startswith(b"0 0 %.2f %.2f re W n" % (width, height))
    graphics = ops.split(b"\nBT ")[0]  # the text after it may hold any letters
    assert graphics.count(b"q ") == graphics.count(b"Q")
    assert b"nan" not in graphics and b"inf" not in graphics
    assert ops.count(b" Tm (") == len(lines)  # "(" inside a line is escaped


def test_certificates_of_either_length_parity_sign_in_one_pass() -> None:
    # The CMS placeholder is sized from the certificates (no dry run): pyHanko wants an even
    # size, and an enrolled kiosk's chain can add up to an odd one.
    lengths: dict[int, kit_pdfs.SigningKit] = {}
    for n in range(64):  # random serials: keep making kits until both parities turned up
        if len(lengths) == 2:
            break
        kit = kit_pdfs.signing_kit(name="kiosk-" + "7" * (1 + n % 4))
        chain = (kit.signer.certificate, *kit.signer.chain)
        total = sum(len(c.public_bytes(serialization.Encoding.DER)) for c in chain)
        lengths[total % 2] = kit
    assert set(lengths) == {0, 1}, "the test needs both parities"
    for kit in lengths.values():
        original = kit_pdfs.contract()
        assert kit_pdfs.signed_contract(kit, original).startswith(original)
