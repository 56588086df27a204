"""The signed contract: inspect a PDF, place the signature, sign it PAdES with the device key.

``sign`` appends ONE incremental update to the exact bytes the customer read: the sealed
biometric evidence as an associated file of the document, the signature field with the
customer's ink as its appearance, and the PAdES signature over the whole file
(docs/signature-pdf.md). pyHanko does the PDF work; nothing here logs document content.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.appearance import ink_style

DocumentErrorCode = Literal[
    "encrypted_pdf",
    "malformed_pdf",
    "no_pages",
    "box_outside_page",
    "no_such_field",
    "field_signed",
]
EVIDENCE_NAME = "biometric-evidence.p7m"


class DocumentError(Exception):
    """The PDF cannot be signed as asked; ``code`` is the protocol's signature error code."""

    def __init__(self, code: DocumentErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: DocumentErrorCode = code


@dataclass(frozen=True)
class FieldPlacement:
    """Sign in the document's own empty signature field ``name`` ("" = the first one)."""

    name: str


@dataclass(frozen=True)
class BoxPlacement:
    """Sign in a new field: 0-based ``page``; ``box`` x0, y0, x1, y1 in PDF points.

    The origin is the bottom-left corner of the page as shown (its CropBox).
    """

    page: int
    box: tuple[float, float, float, float]


Placement = FieldPlacement | BoxPlacement | None


@dataclass(frozen=True)
class PdfFacts:
    """What a placement is checked against: page count, page sizes, signature fields."""

    pages: int
    sizes: tuple[tuple[float, float], ...]
    fields: tuple[str, ...]  # empty signature fields, in document order
    signed_fields: tuple[str, ...] = ()  # signature fields that already carry a signature


@dataclass(frozen=True)
class DeviceSigner:
    """The kiosk's key and the certificate the tenant CA issued it; ``chain``: the CA."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]


class SignError(Exception):
    """Signing failed for a reason that is not the document's (key, timestamp authority...).

    The kiosk reports it as ``signing_failed``; the message names the step, never content.
    """


AF_RELATIONSHIP = "/Data"  # the ink on the page is drawn from this data (docs/signature-pdf.md)
EVIDENCE_MIME = "application/pkcs7-mime"
NEW_FIELD_PREFIX = "KioskSignature"
# Default placement: a box at the bottom right of the last page, a third inch from the edges.
DEFAULT_SIZE = (220.0, 80.0)
DEFAULT_MARGIN = 24.0
MIN_BOX = (36.0, 18.0)  # smaller than this, no ink or text is legible
# Bounds for hostile page trees (pyHanko parses ~2000 objects a second on a Pi-class CPU);
# a contract has far fewer pages, and the kiosk's viewer shows at most 50.
MAX_PAGES = 1000
MAX_TREE_NODES = 2 * MAX_PAGES


def inspect(data: bytes) -> PdfFacts:
    """Page count, page sizes and signature fields of ``data``.

    DocumentError ``encrypted_pdf``, ``malformed_pdf`` (anything pyHanko cannot read, a page
    tree that is not one, or one over MAX_PAGES) or ``no_pages``.
    """
    reader = _reader(data)
    try:
        sizes = _page_sizes(reader)
        empty = tuple(name for name, _, _ in fields.enumerate_sig_fields(reader, False))
        signed = tuple(name for name, _, _ in fields.enumerate_sig_fields(reader, True))
    except DocumentError:
        raise
    except Exception as exc:  # a hostile file can break pyHanko in any way: all are "malformed"
        raise DocumentError(
            "malformed_pdf", f"the PDF's structure is broken ({type(exc).__name__})"
        ) from None
    if not sizes:
        raise DocumentError("no_pages", "the PDF has no pages")
    return PdfFacts(len(sizes), sizes, empty, signed)


def _reader(data: bytes) -> PdfFileReader:
    if b"%PDF-" not in data[:1024]:  # where ISO 32000 readers look for the header
        raise DocumentError("malformed_pdf", "not a PDF: no %PDF- header in its first 1024 bytes")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        encrypted = reader.encrypt_dict is not None
        _ = reader.root
    except Exception as exc:  # see inspect(): any failure to parse is a malformed PDF
        raise DocumentError(
            "malformed_pdf", f"the PDF cannot be read ({type(exc).__name__})"
        ) from None
    if encrypted:
        raise DocumentError("encrypted_pdf", "the PDF is encrypted: ask for an unencrypted copy")
    return reader


def _page_sizes(reader: PdfFileReader) -> tuple[tuple[float, float], ...]:
    """Width and height of each page's visible area (CropBox, else MediaBox), in tree order."""
    sizes: list[tuple[float, float]] = []
    seen: set[int] = set()
    # (node, inherited MediaBox, inherited CropBox); a stack walks the tree without recursion
    stack: list[tuple[generic.PdfObject, object, object]] = [
        (reader.root.raw_get("/Pages"), None, None)
    ]
    while stack:
        ref, media, crop = stack.pop()
        if isinstance(ref, generic.IndirectObject):
            if ref.idnum in seen:
                raise DocumentError("malformed_pdf", "the page tree has a cycle")
            seen.add(ref.idnum)
        if len(seen) > MAX_TREE_NODES:
            raise DocumentError("malformed_pdf", f"the page tree has over {MAX_TREE_NODES} nodes")
        node = _deref(ref)
        if not isinstance(node, generic.DictionaryObject):
            raise DocumentError(
                "malformed_pdf", "the page tree has a node that is not a dictionary"
            )
        media = node.get("/MediaBox", media)
        crop = node.get("/CropBox", crop)
        kind = node.get("/Type")
        if kind == "/Page" or (kind is None and "/Kids" not in node):
            sizes.append(_visible_size(media, crop))
            if len(sizes) > MAX_PAGES:
                raise DocumentError("malformed_pdf", f"the PDF has over {MAX_PAGES} pages")
            continue
        kids = node.get("/Kids")
        if not isinstance(kids, generic.ArrayObject):
            raise DocumentError("malformed_pdf", "a page tree node has no /Kids array")
        stack.extend((kid, media, crop) for kid in reversed(kids))
    return tuple(sizes)


def _deref(value: object) -> object:
    """The object an indirect reference points to (pyHanko's get_object is untyped)."""
    if isinstance(value, generic.IndirectObject):
        return value.get_object()  # type: ignore[no-untyped-call]
    return value


def _rect(value: object) -> tuple[float, float, float, float] | None:
    value = _deref(value)
    if not isinstance(value, generic.ArrayObject) or len(value) != 4:
        return None
    try:
        x0, y0, x1, y1 = (float(_deref(v)) for v in value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return None
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _visible_size(media: object, crop: object) -> tuple[float, float]:
    box = _visible_box(media, crop)
    return box[2] - box[0], box[3] - box[1]


def _visible_box(media: object, crop: object) -> tuple[float, float, float, float]:
    media_box = _rect(media)
    if media_box is None:
        raise DocumentError("malformed_pdf", "a page has no valid /MediaBox")
    crop_box = _rect(crop) or media_box
    # the visible area is the CropBox clipped to the MediaBox (ISO 32000-2, 14.11.2)
    x0, y0 = max(media_box[0], crop_box[0]), max(media_box[1], crop_box[1])
    x1, y1 = min(media_box[2], crop_box[2]), min(media_box[3], crop_box[3])
    if x1 <= x0 or y1 <= y0:
        raise DocumentError("malformed_pdf", "a page's visible area is empty")
    return x0, y0, x1, y1


def resolve(facts: PdfFacts, placement: Placement) -> FieldPlacement | BoxPlacement:
    """The concrete place to sign: the named (or first) empty field, a checked box, or the
    default box at the bottom right of the last page.

    DocumentError ``no_such_field``, ``field_signed`` or ``box_outside_page``.
    """
    if placement is None:
        width, height = facts.sizes[-1]
        w = min(DEFAULT_SIZE[0], width - 2 * DEFAULT_MARGIN)
        h = min(DEFAULT_SIZE[1], height - 2 * DEFAULT_MARGIN)
        if w < MIN_BOX[0] or h < MIN_BOX[1]:
            # a tiny page: the whole page is the box
            w, h = width, height
        x0 = width - DEFAULT_MARGIN - w if w < width else 0.0
        y0 = DEFAULT_MARGIN if h < height else 0.0
        return BoxPlacement(facts.pages - 1, (x0, y0, x0 + w, y0 + h))
    if isinstance(placement, FieldPlacement):
        if placement.name == "":
            if not facts.fields:
                raise DocumentError("no_such_field", "the PDF has no empty signature field")
            return FieldPlacement(facts.fields[0])
        if placement.name in facts.fields:
            return placement
        if placement.name in facts.signed_fields:
            raise DocumentError("field_signed", "that signature field is already signed")
        raise DocumentError("no_such_field", "the PDF has no signature field of that name")
    page, box = placement.page, placement.box
    if not 0 <= page < facts.pages:
        raise DocumentError(
            "box_outside_page", f"page {page} is not in the document (0..{facts.pages - 1})"
        )
    width, height = facts.sizes[page]
    x0, y0, x1, y1 = box
    if not all(math.isfinite(v) for v in box):
        raise DocumentError("box_outside_page", "the box's coordinates are not numbers")
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise DocumentError(
            "box_outside_page", f"the box is not inside the page (0 0 {width:g} {height:g})"
        )
    if x1 - x0 < MIN_BOX[0] or y1 - y0 < MIN_BOX[1]:
        raise DocumentError(
            "box_outside_page", f"the box is smaller than {MIN_BOX[0]:g} x {MIN_BOX[1]:g} points"
        )
    return placement


def sign(
    data: bytes,
    *,
    placement: Placement,
    strokes: Sequence[Sequence[tuple[float, float]]],
    signer_name: str | None,
    signed_at: datetime,
    device: str,
    sealed_evidence: bytes,
    signer: DeviceSigner,
    tsa_url: str | None = None,
    timestamper: TimeStamper | None = None,
) -> bytes:
    """``data`` plus ONE incremental update: the sealed evidence as an associated file of the
    document, the signature field with the customer's ink, and the PAdES signature.

    B-B; B-T when ``tsa_url`` (or ``timestamper``, the tests' seam) is given. The original bytes
    are a prefix of the result. DocumentError for the document (see inspect, resolve); SignError
    for anything else. Blocking (pyHanko runs its own event loop): call it from a worker thread.
    """
    facts = inspect(data)
    target = resolve(facts, placement)
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        _embed_evidence(writer, sealed_evidence, signed_at)
        field_name, field_spec = _field(writer, target)
    except DocumentError:
        raise
    except Exception as exc:  # pyHanko's structure errors on an unusual but readable file
        raise DocumentError(
            "malformed_pdf", f"the PDF cannot be updated ({type(exc).__name__})"
        ) from None
    lines = [line for line in (signer_name, _when(signed_at), device) if line]
    stamper = timestamper or (HTTPTimeStamper(tsa_url, timeout=10) if tsa_url else None)
    pdf_signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(
            field_name=field_name,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            location=device,
        ),
        signer=_simple_signer(signer),
        timestamper=stamper,
        stamp_style=ink_style(strokes, lines),
        new_field_spec=field_spec,
    )
    try:
        out = pdf_signer.sign_pdf(writer, bytes_reserved=_reserve(signer, stamper))
    except Exception as exc:  # the key, the TSA (network) or pyHanko: the kiosk says signing_failed
        # the type only: a TSA's answer is a third party's bytes, and messages reach logs
        raise SignError(f"PAdES signing failed ({type(exc).__name__})") from exc
    signed: bytes = out.getvalue()
    if not signed.startswith(data):
        raise SignError("the signed PDF does not keep the original bytes as its prefix")
    return signed


def _reserve(signer: DeviceSigner, stamper: TimeStamper | None) -> int | None:
    """Bytes for the CMS in /Contents; None: let pyHanko find out.

    pyHanko sizes the placeholder by signing once in a dry run, which doubles the cost of a
    signature. Without a timestamp token the CMS is bounded by the certificates it carries plus
    the signed attributes and one ECDSA or RSA signature, so it is reserved up front.
    """
    if stamper is not None:  # a token's size is the authority's: measure it
        return None
    certificates = (signer.certificate, *signer.chain)
    size = sum(len(c.public_bytes(serialization.Encoding.DER)) for c in certificates) + 4096
    return size + size % 2  # pyHanko takes an even number only


def _when(signed_at: datetime) -> str:
    return signed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _embed_evidence(writer: IncrementalPdfFileWriter, sealed: bytes, signed_at: datetime) -> None:
    """The sealed container as an embedded file, on the catalog's /AF (PDF 2.0 / PDF/A-3)."""
    # the name tree's key (and /F) must be unique; /UF is always EVIDENCE_NAME
    key = _free_name(_embedded_names(writer), EVIDENCE_NAME)
    stream = embed.EmbeddedFileObject.from_file_data(
        writer,
        data=sealed,
        mime_type=EVIDENCE_MIME,
        params=embed.EmbeddedFileParams(
            embed_size=True, creation_date=signed_at, modification_date=signed_at
        ),
    )
    spec = embed.FileSpec(
        file_spec_string=key,
        file_name=EVIDENCE_NAME,
        embedded_data=stream,
        description="Writing dynamics of this signature (ISO/IEC 19794-7), sealed to the trustee",
        af_relationship=generic.NameObject(AF_RELATIONSHIP),
    )
    try:
        embed.embed_file(writer, spec)
    except NotImplementedError:
        raise DocumentError(
            "malformed_pdf", "the PDF's embedded-files name tree has /Kids, which is not supported"
        ) from None


def _embedded_names(writer: IncrementalPdfFileWriter) -> set[str]:
    try:
        names = writer.root["/Names"]["/EmbeddedFiles"]["/Names"]
    except KeyError:
        return set()
    return {str(names[i]) for i in range(0, len(names), 2)}


def _free_name(taken: set[str], name: str) -> str:
    """``name``, or ``stem-2.ext``... when a previous signature already used it."""
    stem, dot, ext = name.partition(".")
    n = 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}{dot}{ext}"
    return name


def _field(
    writer: IncrementalPdfFileWriter, target: FieldPlacement | BoxPlacement
) -> tuple[str, fields.SigFieldSpec | None]:
    if isinstance(target, FieldPlacement):
        return target.name, None
    taken = _field_names(writer)
    name = NEW_FIELD_PREFIX
    n = 1
    while name in taken:
        n += 1
        name = f"{NEW_FIELD_PREFIX}{n}"
    # placement boxes are relative to the visible area: shift by the CropBox's corner
    page_ref = writer.find_page_for_modification(target.page)[0]  # type: ignore[no-untyped-call]
    page = _deref(page_ref)
    if not isinstance(page, generic.DictionaryObject):
        raise DocumentError("malformed_pdf", f"page {target.page} is not a dictionary")
    x_off, y_off, _, _ = _visible_box(_inherited(page, "/MediaBox"), _inherited(page, "/CropBox"))
    x0, y0, x1, y1 = target.box
    box = (x0 + x_off, y0 + y_off, x1 + x_off, y1 + y_off)
    spec = fields.SigFieldSpec(name, on_page=target.page, box=box)  # type: ignore[arg-type]
    return name, spec


def _inherited(page: generic.DictionaryObject, key: str) -> object:
    node: object = page
    for _ in range(64):  # page trees are shallow; a cycle was refused by inspect()
        if not isinstance(node, generic.DictionaryObject):
            return None
        if key in node:
            return node[key]
        node = _deref(node.get("/Parent"))
    return None


def _field_names(writer: IncrementalPdfFileWriter) -> set[str]:
    """The terminal names of the AcroForm's top-level fields (new fields go there too)."""
    try:
        top = writer.root["/AcroForm"]["/Fields"]
    except KeyError:
        return set()
    names = set()
    for ref in top:
        item = ref.get_object()
        if isinstance(item, generic.DictionaryObject) and "/T" in item:
            names.add(str(item["/T"]))
    return names


def _simple_signer(signer: DeviceSigner) -> signers.SimpleSigner:
    key_der = signer.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chain = [
        asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
        for cert in signer.chain
    ]
    return signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(
            signer.certificate.public_bytes(serialization.Encoding.DER)
        ),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(chain),  # type: ignore[no-untyped-call]
    )
