"""PDFs and keys for the signing tests: a tenant CA, a kiosk's device key, sample documents.

The CA and device certificate come from tests.support.device_certs (the hub's own profile,
provisioning.profile: ECDSA P-256, documentSigning). The documents: the demo contract of
kiosk_ui.sample_contract (10 pages), the same with an empty signature field, an encrypted
one, a page-less one and malformed bytes. ``signed_contract`` signs one as the kiosk does,
with a real sealed container (``sealed_evidence``: the ink strokes as an ISO 19794-7 record,
sealed by signing.sealed to ``evidence_trustee``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import fields
from pyhanko.sign.timestamps import DummyTimeStamper

from kiosk_ui.sample_contract import sample_contract
from signing import iso19794, sealed
from signing.pdf import DeviceSigner, Placement
from tests.support import trustee_certs
from tests.support.device_certs import NOW, Authority, Device, device, tenant_ca
from tests.support.documents import write_pdf

CONTRACT_PAGES = 10
FIELD_NAME = "Customer"
FIELD_BOX = (320.0, 60.0, 540.0, 140.0)  # on the last page
SIGNED_AT = NOW
DEVICE_NAME = "kiosk-7"


@dataclass(frozen=True)
class SigningKit:
    """A tenant CA, a device of it, and the device as ``signing.pdf`` takes it."""

    ca: Authority
    device: Device = field(repr=False)

    @property
    def signer(self) -> DeviceSigner:
        return DeviceSigner(self.device.key, self.device.certificate, (self.ca.certificate,))

    @property
    def ca_pem(self) -> bytes:
        return self.ca.certificate.public_bytes(serialization.Encoding.PEM)


def signing_kit(tenant: str = "Acme Bank", name: str = DEVICE_NAME) -> SigningKit:
    """A fresh tenant CA and a device certificate it issued (as enrolment makes them)."""
    ca = tenant_ca(tenant)
    return SigningKit(ca, device(ca, name))


@cache
def contract(pages: int = CONTRACT_PAGES) -> bytes:
    """The demo contract (kiosk_ui.sample_contract), ``pages`` A4 pages."""
    return sample_contract(pages=pages)


@cache
def contract_with_field(name: str = FIELD_NAME) -> bytes:
    """The contract plus an empty signature field ``name`` on its last page (FIELD_BOX)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(contract()))
    spec = fields.SigFieldSpec(
        name,
        on_page=CONTRACT_PAGES - 1,
        box=FIELD_BOX,  # type: ignore[arg-type]  # pyHanko's hint says int; floats work
    )
    fields.append_signature_field(writer, spec)
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def encrypted_pdf() -> bytes:
    """A one-page PDF encrypted with a user password (AES-256, PDF 2.0)."""
    # pyHanko's writer API is untyped: the ignores below are for its calls only
    writer = PdfFileWriter()  # type: ignore[no-untyped-call]
    content = writer.add_object(generic.StreamObject(stream_data=b"0 0 m 10 10 l S"))
    page = PageObject(content, (0, 0, 595, 842))  # type: ignore[no-untyped-call]
    writer.insert_page(page)  # type: ignore[no-untyped-call]
    writer.encrypt("owner-secret", "user-secret")  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def pageless_pdf() -> bytes:
    """A well-formed PDF whose page tree is empty."""
    return write_pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    )


def malformed_pdfs() -> dict[str, bytes]:
    """Bytes that are not a readable PDF, by what is wrong with them."""
    whole = contract()
    return {
        "empty": b"",
        "not_pdf": b"PK\x03\x04 a zip, not a PDF",
        "header_only": b"%PDF-1.7\n%%EOF\n",
        "truncated": whole[: len(whole) // 2],
        "no_catalog": write_pdf([b"<< /Type /Pages /Kids [] /Count 0 >>"]),
        "pages_not_dict": write_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"42"]),
    }


def ink_strokes() -> list[list[tuple[float, float]]]:
    """A plausible signature in 0..1 of the box (y down): a looping stroke and an underline."""
    loop = [(0.1 + 0.7 * i / 80, 0.5 + 0.3 * math.sin(i / 5) * math.cos(i / 17)) for i in range(81)]
    underline = [(0.15 + 0.6 * i / 10, 0.88) for i in range(11)]
    return [loop, underline]


INK_AREA_MM = (150.0, 60.0)  # the pen tablet's active area the ink strokes are drawn on
INK_RATE_HZ = 200.0


def ink_capture(strokes: Sequence[Sequence[tuple[float, float]]] | None = None) -> iso19794.Capture:
    """``strokes`` (default :func:`ink_strokes`) as a tablet capture at INK_RATE_HZ: pressure
    varying along each stroke, a pen-up sample after each, 200 ms between strokes."""
    period_us = round(1e6 / INK_RATE_HZ)
    width, height = INK_AREA_MM
    points: list[iso19794.PenPoint] = []
    t_us = 0
    for stroke in ink_strokes() if strokes is None else strokes:
        for index, (x, y) in enumerate(stroke):
            pressure = 0.4 + 0.3 * math.sin(index / 7) ** 2
            points.append(iso19794.PenPoint(t_us, x * width, y * height, pressure, True))
            t_us += period_us
        x, y = stroke[-1]
        points.append(iso19794.PenPoint(t_us, x * width, y * height, 0.0, False))
        t_us += 200_000
    return iso19794.Capture(tuple(points), width, height, 1024, INK_RATE_HZ, False)


@cache
def evidence_trustee() -> trustee_certs.Trustee:
    """The RSA trustee :func:`sealed_evidence` seals to (signed by a tenant CA of its own)."""
    return trustee_certs.rsa_trustee(tenant_ca())


def evidence_for(
    document: bytes, recipient: trustee_certs.Trustee, capture: iso19794.Capture | None = None
) -> bytes:
    """The evidence of ``capture`` (default :func:`ink_capture`) over ``document``, sealed."""
    record = iso19794.encode(iso19794.record_from_capture(capture or ink_capture()))
    evidence = sealed.Evidence(record, hashlib.sha256(document).digest(), DEVICE_NAME, SIGNED_AT)
    return sealed.seal(evidence, recipient.certificate)


@cache
def sealed_evidence() -> bytes:
    """The contract's evidence sealed to :func:`evidence_trustee` with signing.sealed.

    Cached: a seal is random (fresh key and nonce), and tests compare the embedded bytes."""
    return evidence_for(contract(), evidence_trustee())


def signed_contract(
    kit: SigningKit,
    data: bytes | None = None,
    *,
    placement: Placement = None,
    signer_name: str | None = "Łukasz Weiß-Ähre",
    evidence: bytes | None = None,
    strokes: Sequence[Sequence[tuple[float, float]]] | None = None,
) -> bytes:
    """``data`` (default: the contract) signed by the kit's device, as the kiosk signs."""
    from signing import pdf

    return pdf.sign(
        contract() if data is None else data,
        placement=placement,
        strokes=ink_strokes() if strokes is None else strokes,
        signer_name=signer_name,
        signed_at=SIGNED_AT,
        device=DEVICE_NAME,
        sealed_evidence=sealed_evidence() if evidence is None else evidence,
        signer=kit.signer,
    )


def dummy_timestamper(kit: SigningKit) -> DummyTimeStamper:
    """pyHanko's in-process TSA, its certificate issued by the kit's CA (timeStamping EKU).

    RSA: pyHanko's DummyTimeStamper signs with RSA only."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")]))
        .issuer_name(kit.ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(kit.ca.key, hashes.SHA256())
    )
    key_der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(key_der),
        certs_to_embed=None,
    )
