"""Verify a contract signed at a kiosk: PAdES signature, coverage, sealed evidence, ISO record.

For the bank's back office and a forensic expert (docs/signature-verifier.md). The steps run in
order and the first failure raises :class:`VerifyError` naming its step: "pdf" (readable, one
kiosk signature), "signature" (pyHanko: digest and signature value), "trust" (the chain to the
given tenant CA), "coverage" (the signature covers the whole file but /Contents and is an
incremental update of an earlier document), "evidence" (the sealed biometric evidence is an
associated file of the signed revision), then with the trustee's key "decrypt", "binding" (the
evidence names the exact original bytes and the signing device) and "record" (ISO 19794-7).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from signing import iso19794, sealed, verify_cms
from signing.pdf import EVIDENCE_NAME

_Pdf = TypeVar("_Pdf", generic.ArrayObject, generic.DictionaryObject)
TrusteeKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
# A kiosk's certificate (provisioning.profile): digitalSignature and id-kp-documentSigning
# (RFC 9336); pyHanko's default asks for nonRepudiation, which the device profile leaves out.
DEVICE_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature"},
    extd_key_usage={"1.3.6.1.5.5.7.3.36"},
    explicit_extd_key_usage_required=True,
)
STEPS = ("pdf", "signature", "trust", "coverage", "evidence", "binding", "decrypt", "record")


class VerifyError(Exception):
    """The signed PDF failed ``step`` (one of :data:`STEPS`) for ``reason`` (one sentence)."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """What a valid signed contract says; ``evidence``/``record`` only with the trustee's key."""

    signer_subject: str  # RFC 4514 subject of the device certificate
    signed_at: dt.datetime  # the signature's time (the timestamp's with B-T, else the signer's)
    device: str  # the device certificate's CN
    document_sha256: bytes  # SHA-256 of the original bytes (the update's prefix)
    original_length: int  # the original document is pdf[:original_length]
    field_name: str
    timestamped: bool  # B-T: an RFC 3161 timestamp of a trusted TSA covers the signature
    evidence_length: int  # bytes of the sealed container
    evidence: sealed.Evidence | None = field(default=None, repr=False)
    record: iso19794.SignRecord | None = field(default=None, repr=False)


def verify(
    pdf: bytes,
    *,
    ca: Sequence[x509.Certificate],
    trustee_key: TrusteeKey | None = None,
    tsa_ca: Sequence[x509.Certificate] = (),
    now: dt.datetime | None = None,
) -> Verified:
    """Verify ``pdf`` signed at a kiosk of the tenant CA ``ca``; VerifyError on the first failure.

    ``tsa_ca``: further roots for a B-T signature's timestamp authority (the tenant CA is
    trusted for it too). ``now``: the validation time (default: the current time).
    Synchronous (pyHanko runs its own event loop): from async code, call it in a worker thread.
    """
    reader = _read(pdf)
    embedded = _kiosk_signature(reader)
    status = _validate(embedded, ca, tsa_ca, now)
    original_length = _check_coverage(pdf, embedded, status)
    _check_unsigned_parts(pdf, embedded, [*ca, *tsa_ca])
    container = _evidence(reader, embedded)
    certificate = _signer_certificate(embedded)
    device = _common_name(certificate)
    original_sha256 = hashlib.sha256(pdf[:original_length]).digest()
    timestamp = status.timestamp_validity
    signed_at = timestamp.timestamp if timestamp is not None else _signer_time(status, embedded)
    evidence = record = None
    if trustee_key is not None:
        evidence = _open(container, trustee_key)
        _check_binding(evidence, original_sha256, device)
        record = _record(evidence.record)
    return Verified(
        signer_subject=certificate.subject.rfc4514_string(),
        signed_at=signed_at,
        device=device,
        document_sha256=original_sha256,
        original_length=original_length,
        field_name=str(embedded.field_name),
        timestamped=timestamp is not None,
        evidence_length=len(container),
        evidence=evidence,
        record=record,
    )


def _read(pdf: bytes) -> PdfFileReader:
    if not pdf.startswith(b"%PDF-"):
        raise VerifyError("pdf", "not a PDF file (no %PDF- header)")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=True)
        if reader.encrypted:
            raise VerifyError("pdf", "the PDF is encrypted; a kiosk never signs encrypted PDFs")
        reader.root  # noqa: B018  # resolves the catalog: a broken one fails here, not later
    except VerifyError:
        raise
    except Exception as exc:  # hostile bytes: pyHanko and asn1crypto raise many kinds
        raise VerifyError("pdf", f"unreadable PDF ({type(exc).__name__})") from None
    return reader


def _kiosk_signature(reader: PdfFileReader) -> EmbeddedPdfSignature:
    """The last signature of the document: the kiosk's signs the document's last revision."""
    try:
        signatures = list(reader.embedded_regular_signatures)
    except Exception as exc:  # a broken signature dictionary or CMS: many kinds
        raise VerifyError("pdf", f"unreadable signature ({type(exc).__name__})") from None
    if not signatures:
        raise VerifyError("pdf", "the PDF carries no signature")
    last: EmbeddedPdfSignature = signatures[-1]
    return last


def _validate(
    embedded: EmbeddedPdfSignature,
    ca: Sequence[x509.Certificate],
    tsa_ca: Sequence[x509.Certificate],
    now: dt.datetime | None,
) -> PdfSignatureStatus:
    # Offline: no fetching (the verifier must not phone anyone), revocation soft-fail because
    # the tenant CA publishes no CRL or OCSP endpoint (its CRL is a file: `kiosk-hub tenant crl`).
    context = _context(ca, now)
    ts_context = _context([*ca, *tsa_ca], now)
    try:
        status = validate_pdf_signature(
            embedded, context, ts_context, key_usage_settings=DEVICE_USAGE
        )
    except Exception as exc:  # pyHanko raises many kinds on hostile input
        raise VerifyError("signature", f"cannot be validated ({type(exc).__name__})") from None
    if not status.intact:
        raise VerifyError("signature", "the signed bytes were changed (digest mismatch)")
    if not status.valid:
        raise VerifyError("signature", "the signature value does not match the signed bytes")
    if not status.trusted:
        problem = status.trust_problem_indic
        detail = f" ({problem})" if problem is not None else ""
        raise VerifyError("trust", f"the signer is not certified by the given tenant CA{detail}")
    timestamp = status.timestamp_validity
    if timestamp is not None and not (timestamp.intact and timestamp.valid):
        raise VerifyError("signature", "the signature's timestamp token is invalid")
    if timestamp is not None and not timestamp.trusted:
        raise VerifyError("trust", "the timestamp authority is not certified by the given CA")
    return status


def _context(roots: Sequence[x509.Certificate], now: dt.datetime | None) -> ValidationContext:
    trusted = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in roots
    ]
    return ValidationContext(
        trust_roots=trusted, allow_fetching=False, revocation_mode="soft-fail", moment=now
    )


def _check_coverage(pdf: bytes, embedded: EmbeddedPdfSignature, status: PdfSignatureStatus) -> int:
    """Whole file signed but /Contents, and an update of an earlier revision: its length."""
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        raise VerifyError(
            "coverage", "the signature does not cover the whole file (bytes after it or a gap)"
        )
    reader = embedded.reader
    revision = embedded.signed_revision
    if revision != reader.xrefs.total_revisions - 1:
        raise VerifyError("coverage", "the signature is not in the document's last revision")
    if revision == 0:
        raise VerifyError("coverage", "the signature is not an incremental update of a document")
    # pyHanko writes the update right after the original bytes, starting with its first object:
    # the update begins at the lowest offset its cross-reference section names.
    section = reader.xrefs.get_xref_data(revision)
    offsets = [offset for _generation, offset in section.standard_xrefs.values()]
    start = min([*offsets, reader.xrefs.get_xref_container_info(revision).start_location])
    previous = reader.xrefs.get_xref_container_info(revision - 1)
    ended = pdf.rfind(b"%%EOF", previous.end_location, start) != -1
    if not previous.end_location <= start <= len(pdf) or not ended:
        raise VerifyError("coverage", "the signed update does not follow the original document")
    return start


def _check_unsigned_parts(
    pdf: bytes, embedded: EmbeddedPdfSignature, roots: Sequence[x509.Certificate]
) -> None:
    """What the signature does not protect must be what a kiosk writes (signing.verify_cms)."""
    _, first_length, second_start, _ = (int(n) for n in embedded.byte_range)
    signer = _signer_certificate(embedded)
    try:
        verify_cms.check_contents_string(
            pdf[first_length + 1 : second_start - 1], embedded.pkcs7_content
        )
        verify_cms.check_signed_data(embedded.signed_data, roots, signer)
    except verify_cms.UnsignedPartError as exc:
        raise VerifyError(exc.step, exc.reason) from None
    except Exception as exc:  # hostile DER that pyHanko did not need: asn1crypto's many kinds
        raise VerifyError("signature", f"unreadable CMS ({type(exc).__name__})") from None


def _evidence(reader: PdfFileReader, embedded: EmbeddedPdfSignature) -> bytes:
    """The sealed container: the associated file EVIDENCE_NAME that the signed update added.

    A document signed at a kiosk before carries earlier evidence files of the same name; only
    the one whose stream the signed revision introduced belongs to this signature.
    """
    try:
        refs = _evidence_streams(reader)
        ours = {
            (ref.idnum, ref.generation): ref
            for ref in refs
            if reader.xrefs.get_introducing_revision(ref.reference) == embedded.signed_revision
        }
        if len(ours) != 1:
            what = "no" if not ours else "more than one"
            raise VerifyError("evidence", f"{what} {EVIDENCE_NAME} added by the signed update")
        stream = next(iter(ours.values())).get_object()  # type: ignore[no-untyped-call]
        data = stream.data if isinstance(stream, generic.StreamObject) else None
    except VerifyError:
        raise
    except Exception as exc:  # hostile structure: any pyHanko error means unreadable
        raise VerifyError(
            "evidence", f"unreadable {EVIDENCE_NAME} ({type(exc).__name__})"
        ) from None
    if not data:
        raise VerifyError("evidence", f"{EVIDENCE_NAME} is empty or not a stream")
    return data


def _evidence_streams(reader: PdfFileReader) -> list[generic.IndirectObject]:
    """Embedded-file streams named EVIDENCE_NAME: on the catalog's /AF or in /EmbeddedFiles."""
    root = reader.root
    specs = list(_entry(root, "/AF", generic.ArrayObject))
    tree = _entry(
        _entry(root, "/Names", generic.DictionaryObject), "/EmbeddedFiles", generic.DictionaryObject
    )
    specs.extend(list(_entry(tree, "/Names", generic.ArrayObject))[1::2])
    streams = []
    for spec in specs:
        spec_dict = spec.get_object()
        if not isinstance(spec_dict, generic.DictionaryObject):
            continue
        if EVIDENCE_NAME not in (str(spec_dict.get("/UF", "")), str(spec_dict.get("/F", ""))):
            continue
        raw = _entry(spec_dict, "/EF", generic.DictionaryObject).raw_get("/F")
        if not isinstance(raw, generic.IndirectObject):
            raise VerifyError("evidence", f"{EVIDENCE_NAME} is not an indirect embedded file")
        streams.append(raw)
    return streams


def _entry(container: generic.DictionaryObject, key: str, kind: type[_Pdf]) -> _Pdf:
    """``container[key]`` resolved, or an empty ``kind`` when absent; TypeError when not a kind."""
    value = container[key] if key in container else kind()
    if not isinstance(value, kind):
        raise TypeError(f"{key} is not a {kind.__name__}")
    return value


def _open(container: bytes, key: TrusteeKey) -> sealed.Evidence:
    try:
        return sealed.open_sealed(container, key)
    except sealed.OpenError as exc:
        raise VerifyError("decrypt", f"the sealed evidence cannot be opened ({exc})") from None


def _check_binding(evidence: sealed.Evidence, original_sha256: bytes, device: str) -> None:
    if evidence.document_sha256 != original_sha256:
        raise VerifyError(
            "binding", "the evidence names another document (SHA-256 of the original differs)"
        )
    if evidence.device != device:
        raise VerifyError("binding", "the evidence names another device than the signer's")


def _record(data: bytes) -> iso19794.SignRecord:
    try:
        return iso19794.decode(data)
    except iso19794.RecordError as exc:
        raise VerifyError("record", f"the ISO 19794-7 record is malformed ({exc})") from None


def _signer_certificate(embedded: EmbeddedPdfSignature) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(embedded.signer_cert.dump())
    except Exception:  # ValueError, InvalidVersion...: cryptography's view of bad DER
        raise VerifyError("signature", "the signer's certificate is unreadable") from None


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _signer_time(status: PdfSignatureStatus, embedded: EmbeddedPdfSignature) -> dt.datetime:
    claimed = status.signer_reported_dt or embedded.self_reported_timestamp
    if claimed is None:
        raise VerifyError("signature", "the signature states no signing time")
    return claimed
