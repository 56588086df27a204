"""signing.verify: a kiosk-signed contract verifies; every kind of damage fails at its step.

Real parts throughout: the contract signed by signing.pdf with a device of a fresh tenant CA,
the evidence sealed by signing.sealed to an RSA trustee, the ISO record by signing.iso19794.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import parser as asn1_parser
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing import iso19794, sealed
from signing.verify import STEPS, VerifyError, verify
from tests.support import signed_pdfs, trustee_certs
from tests.support.hypothesis_profiles import load_profile

load_profile(os.environ)


@dataclass(frozen=True)
class Signed:
    kit: signed_pdfs.SigningKit = field(repr=False)
    trustee: trustee_certs.Trustee = field(repr=False)
    record: bytes = field(repr=False)
    pdf: bytes = field(repr=False)


def capture() -> iso19794.Capture:
    """A short two-stroke signature at 200 Hz with pressure and tilt."""
    points = []
    for i in range(120):
        down = not 55 <= i < 65  # a pen-up gap between the two strokes
        points.append(
            iso19794.PenPoint(
                t_us=i * 5000,
                x_mm=10.0 + i * 0.5,
                y_mm=20.0 + 5.0 * ((i % 20) / 20),
                pressure=0.6 if down else 0.0,
                tip_down=down,
                tilt=(10.0, -5.0),
            )
        )
    return iso19794.Capture(
        points=tuple(points),
        width_mm=150.0,
        height_mm=90.0,
        pressure_levels=1024,
        rate_hz=200.0,
        constant_pressure=False,
    )


def seal_for(
    kit: signed_pdfs.SigningKit,
    trustee: trustee_certs.Trustee,
    record: bytes,
    *,
    document: bytes | None = None,
    device: str = signed_pdfs.DEVICE_NAME,
) -> bytes:
    evidence = sealed.Evidence(
        record=record,
        document_sha256=hashlib.sha256(
            signed_pdfs.contract() if document is None else document
        ).digest(),
        device=device,
        signed_at=signed_pdfs.SIGNED_AT,
    )
    return sealed.seal(evidence, trustee.certificate)


@pytest.fixture(scope="module")
def signed() -> Signed:
    return signed_once()


@cache
def signed_once() -> Signed:
    """The signed contract, built once (hypothesis tests take no fixtures: it prints them)."""
    kit = signed_pdfs.signing_kit()
    trustee = trustee_certs.rsa_trustee(kit.ca)
    record = iso19794.encode(iso19794.record_from_capture(capture()))
    pdf = signed_pdfs.signed_contract(kit, evidence=seal_for(kit, trustee, record))
    return Signed(kit, trustee, record, pdf)


def test_valid_without_the_trustee_key(signed: Signed) -> None:
    result = verify(signed.pdf, ca=[signed.kit.ca.certificate])
    original = signed_pdfs.contract()
    assert result.device == signed_pdfs.DEVICE_NAME
    assert "CN=kiosk-7" in result.signer_subject
    assert result.original_length == len(original)
    assert signed.pdf[: result.original_length] == original
    assert result.document_sha256 == hashlib.sha256(original).digest()
    assert result.evidence is None and result.record is None
    assert not result.timestamped


def test_valid_with_the_trustee_key_opens_the_record(signed: Signed) -> None:
    result = verify(signed.pdf, ca=[signed.kit.ca.certificate], trustee_key=signed.trustee.key)
    assert result.evidence is not None and result.record is not None
    assert result.evidence.record == signed.record
    assert result.record == iso19794.decode(signed.record)


def test_device_certificate_expired_at_validation_time_fails_at_trust(signed: Signed) -> None:
    later = signed.kit.device.certificate.not_valid_after_utc + dt.timedelta(days=1)
    with pytest.raises(VerifyError) as caught:
        verify(signed.pdf, ca=[signed.kit.ca.certificate], now=later)
    assert caught.value.step == "trust"


def test_wrong_trustee_key_fails_at_decrypt(signed: Signed) -> None:
    other = trustee_certs.rsa_trustee(signed.kit.ca)
    with pytest.raises(VerifyError) as caught:
        verify(signed.pdf, ca=[signed.kit.ca.certificate], trustee_key=other.key)
    assert caught.value.step == "decrypt"


def test_another_ca_fails_at_trust(signed: Signed) -> None:
    other = signed_pdfs.signing_kit("Other Bank")
    with pytest.raises(VerifyError) as caught:
        verify(signed.pdf, ca=[other.ca.certificate])
    assert caught.value.step == "trust"


@pytest.mark.parametrize(
    ("document", "device"),
    [(b"%PDF-1.7 another document", signed_pdfs.DEVICE_NAME), (None, "kiosk-8")],
    ids=["other_document", "other_device"],
)
def test_evidence_of_another_document_or_device_fails_at_binding(
    signed: Signed, document: bytes | None, device: str
) -> None:
    evidence = seal_for(signed.kit, signed.trustee, signed.record, document=document, device=device)
    pdf = signed_pdfs.signed_contract(signed.kit, evidence=evidence)
    with pytest.raises(VerifyError) as caught:
        verify(pdf, ca=[signed.kit.ca.certificate], trustee_key=signed.trustee.key)
    assert caught.value.step == "binding"


def test_malformed_record_fails_at_record(signed: Signed) -> None:
    evidence = seal_for(signed.kit, signed.trustee, b"SDI\0 not a record")
    pdf = signed_pdfs.signed_contract(signed.kit, evidence=evidence)
    with pytest.raises(VerifyError) as caught:
        verify(pdf, ca=[signed.kit.ca.certificate], trustee_key=signed.trustee.key)
    assert caught.value.step == "record"


def test_unsigned_pdf_truncated_and_not_a_pdf_fail_at_pdf(signed: Signed) -> None:
    for data in (signed_pdfs.contract(), b"PK\x03\x04 a zip", b"", signed.pdf[:-300]):
        with pytest.raises(VerifyError) as caught:
            verify(data, ca=[signed.kit.ca.certificate])
        assert caught.value.step in ("pdf", "coverage"), caught.value


def test_signature_outside_the_last_revision_fails_at_coverage(signed: Signed) -> None:
    appended = signed.pdf + b"1000 0 obj\n(x)\nendobj\n"
    with pytest.raises(VerifyError) as caught:
        verify(appended, ca=[signed.kit.ca.certificate])
    assert caught.value.step == "coverage"


def contents_span(pdf: bytes) -> tuple[int, int]:
    """Offsets of the last signature's /Contents hex digits (between < and >)."""
    ranges = re.findall(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+\d+\s*\]", pdf)
    first, second = (int(n) for n in ranges[-1])
    return first + 1, second - 1


def flipped(pdf: bytes, position: int) -> bytes:
    """``pdf`` with one byte changed; a hex digit stays a hex digit (a subtler change)."""
    byte = pdf[position]
    hexdigits = b"0123456789abcdefABCDEF"
    new = (b"1" if byte == ord("0") else b"0")[0] if byte in hexdigits else byte ^ 0x01
    return pdf[:position] + bytes([new]) + pdf[position + 1 :]


def expect_failure(pdf: bytes, signed: Signed) -> VerifyError:
    with pytest.raises(VerifyError) as caught:
        verify(pdf, ca=[signed.kit.ca.certificate], trustee_key=signed.trustee.key)
    assert caught.value.step in STEPS
    assert caught.value.reason
    return caught.value


def test_one_byte_changed_anywhere_fails_with_a_step(signed: Signed) -> None:
    pdf = signed.pdf
    original = len(signed_pdfs.contract())
    start, end = contents_span(pdf)
    positions = {
        *range(0, original, max(1, original // 12)),  # the document the customer read
        original // 2,
        original - 1,
        original,
        *range(original, start, max(1, (start - original) // 12)),  # the signing update
        start,
        start + 1,
        (start + end) // 2,  # the CMS in /Contents, and its zero padding
        end - 1,
        *range(end, len(pdf), max(1, (len(pdf) - end) // 6)),
        len(pdf) - 1,
    }
    steps = {
        position: expect_failure(flipped(pdf, position), signed).step for position in positions
    }
    assert steps[(start + end) // 2] in ("signature", "coverage")
    assert steps[original // 2] in ("signature", "pdf")


def test_case_change_or_padding_in_contents_fails_at_signature(signed: Signed) -> None:
    pdf = signed.pdf
    start, end = contents_span(pdf)
    letter = next(i for i in range(start, end) if chr(pdf[i]) in "abcdefABCDEF")
    swapped = pdf[:letter] + bytes([pdf[letter] ^ 0x20]) + pdf[letter + 1 :]
    assert expect_failure(swapped, signed).step == "signature"
    padded = pdf[: end - 1] + b"1" + pdf[end:]  # the last digit is padding: zero
    assert expect_failure(padded, signed).step == "signature"


def der_end(pdf: bytes) -> int:
    """Offset just after the last hex digit of the DER CMS in /Contents (padding follows)."""
    start, end = contents_span(pdf)
    _, _, _, header, body, _ = asn1_parser.parse(bytes.fromhex(pdf[start:end].decode()))
    return start + 2 * (len(header) + len(body))


@pytest.mark.parametrize("blank", [b" ", b"\n", b"\r", b"\t", b"\f", b"\0"])
def test_whitespace_for_a_padding_digit_fails_at_signature(signed: Signed, blank: bytes) -> None:
    # a reader skips whitespace in a hex string and pads an odd digit count with 0: a blank in
    # place of a padding 0 decodes to the same bytes, so only the string itself shows it
    pdf = signed.pdf
    first, (_, end) = der_end(pdf), contents_span(pdf)
    for position in (first, (first + end) // 2, end - 1):
        assert pdf[position] == ord("0")
        changed = pdf[:position] + blank + pdf[position + 1 :]
        assert expect_failure(changed, signed).step == "signature"


def test_broken_extension_in_the_cms_copy_of_the_ca_fails_at_signature(signed: Signed) -> None:
    # the copy's keyUsage BIT STRING (03 02 01 06) given length 0: asn1crypto raised IndexError
    copy = signed.pdf.index(signed.kit.ca.der.hex().upper().encode())
    key_usage = signed.pdf.index(b"0603551D0F0101FF04040302", copy)  # OID 2.5.29.15, critical
    position = key_usage + len(b"0603551D0F0101FF0404030")
    assert expect_failure(flipped(signed.pdf, position), signed).step == "signature"


@settings(max_examples=15, deadline=None)  # the first example builds the signed PDF
@given(position=st.integers(min_value=0), xor=st.integers(min_value=1, max_value=255))
def test_any_byte_change_fails_with_a_step(position: int, xor: int) -> None:
    signed = signed_once()
    pdf = signed.pdf
    position %= len(pdf)
    expect_failure(pdf[:position] + bytes([pdf[position] ^ xor]) + pdf[position + 1 :], signed)


def test_plot_writes_a_png_and_tells_constant_pressure(signed: Signed, tmp_path: Path) -> None:
    from signing import plot

    record = iso19794.decode(signed.record)
    assert not plot.is_constant_pressure(record)
    mouse = replace(capture(), constant_pressure=True)
    assert plot.is_constant_pressure(iso19794.record_from_capture(mouse))
    path = tmp_path / "dynamics.png"
    plot.plot(record, path)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_timestamped_signature_b_t(signed: Signed) -> None:
    from signing import pdf as signing_pdf

    evidence = seal_for(signed.kit, signed.trustee, signed.record)
    pdf = signing_pdf.sign(
        signed_pdfs.contract(),
        placement=None,
        strokes=signed_pdfs.ink_strokes(),
        signer_name=None,
        signed_at=signed_pdfs.SIGNED_AT,
        device=signed_pdfs.DEVICE_NAME,
        sealed_evidence=evidence,
        signer=signed.kit.signer,
        timestamper=signed_pdfs.dummy_timestamper(signed.kit),
    )
    result = verify(pdf, ca=[signed.kit.ca.certificate], trustee_key=signed.trustee.key)
    assert result.timestamped
    start, end = contents_span(pdf)
    # the timestamp token sits at the end of the CMS: change bytes across its second half
    der_end = start + 2 * len(pdf[start:end].rstrip(b"0")) // 2
    for position in range((start + der_end) // 2, der_end, max(1, (der_end - start) // 20)):
        expect_failure(flipped(pdf, position), signed)


def test_changed_copy_of_the_ca_in_the_cms_fails_at_trust(signed: Signed) -> None:
    # pyHanko trusts the given CA, not the CMS's copy of it: that copy is unsigned bytes
    copy = signed.pdf.index(signed.kit.ca.der.hex().upper().encode())  # pyHanko writes upper
    position = copy + len(signed.kit.ca.der.hex()) - 10  # in the copy's own signature value
    assert expect_failure(flipped(signed.pdf, position), signed).step == "trust"


def test_cms_version_and_digest_algorithms_are_checked(signed: Signed) -> None:
    start, _ = contents_span(signed.pdf)
    # SignedData ::= SEQUENCE { version 1 (020101), digestAlgorithms SET { sha256 } ... }
    version = signed.pdf.index(b"020101", start) + 5
    assert expect_failure(flipped(signed.pdf, version), signed).step == "signature"
    sha256 = signed.pdf.index(b"608648016503040201", start) + 17  # OID 2.16.840.1.101.3.4.2.1
    assert expect_failure(flipped(signed.pdf, sha256), signed).step == "signature"


def test_second_signature_uses_its_own_evidence_and_original(signed: Signed) -> None:
    # the signed contract signed again: the first evidence file is carried over, not ours
    evidence = seal_for(signed.kit, signed.trustee, signed.record, document=signed.pdf)
    again = signed_pdfs.signed_contract(signed.kit, signed.pdf, evidence=evidence)
    result = verify(again, ca=[signed.kit.ca.certificate], trustee_key=signed.trustee.key)
    assert result.original_length == len(signed.pdf)
    assert result.evidence is not None and result.evidence.record == signed.record


def test_signature_without_evidence_fails_at_evidence(signed: Signed) -> None:
    key = signed.kit.device.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(signed.kit.device.der),
        signing_key=asn1_keys.PrivateKeyInfo.load(key),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [asn1_x509.Certificate.load(signed.kit.ca.der)]
        ),
    )
    meta = signers.PdfSignatureMetadata(
        field_name="Plain", subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(signed_pdfs.contract()))
    plain = signers.sign_pdf(writer, meta, signer=signer).getvalue()
    with pytest.raises(VerifyError) as caught:
        verify(plain, ca=[signed.kit.ca.certificate])
    assert caught.value.step == "evidence"
