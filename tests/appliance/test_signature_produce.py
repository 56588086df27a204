"""The desk's real producer and trust checks, with the signing library: the recorded stroke
comes out of the signed PDF (verified, opened with the trustee's key) sample for sample."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.signing.produce import DocumentRefused, LibraryProducer, SigningJob
from appliance.signing.trust import (
    SignatureUnavailable,
    TrusteeChoice,
    device_identity,
    pinned_digests,
    trustee_from_welcome,
)
from drivers.tablet import TabletInfo
from drivers.tablet.simulated import load_recording
from protocol.channel import SignatureRequest
from provisioning.identity import IdentityStore
from signing import iso19794, verify
from tests.support import signed_pdfs
from tests.support.device_certs import NOW, device, tenant_ca
from tests.support.trustee_certs import (
    expired_trustee,
    rsa_trustee,
    self_signed_trustee,
    signing_only_trustee,
)

RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "pen" / "signature_3s.jsonl"


def _request(data: bytes, **placement: object) -> SignatureRequest:
    sha = hashlib.sha256(data).hexdigest()
    return SignatureRequest(id="sig-00000001", document="doc-00000001", sha256=sha, **placement)  # type: ignore[arg-type]


def test_the_recorded_stroke_is_sealed_into_a_verifiable_signed_pdf() -> None:
    ca = tenant_ca()
    identity = device(ca, "kiosk-7").identity(ca)
    trustee = rsa_trustee(ca)
    contract = signed_pdfs.contract()
    producer = LibraryProducer()
    placed = producer.check(contract, _request(contract))
    assert placed.page == signed_pdfs.CONTRACT_PAGES - 1
    samples = tuple(s for s in load_recording(RECORDING) if s.in_range)
    info = TabletInfo("simulated tablet", 200.0, 80.0, 2048, 200.0, has_tilt=True)
    job = SigningJob(
        document=contract,
        placed=placed,
        samples=samples,
        tablet=info,
        strokes=(((0.1, 0.5), (0.5, 0.6), (0.9, 0.4)),),
        signer_name="Erika Mustermann",
        signed_at=NOW,
        trustee=trustee.certificate,
        identity=identity,
        tsa_url=None,
    )
    signed = producer.produce(job)
    assert signed.startswith(contract)
    result = verify.verify(signed, ca=[ca.certificate], trustee_key=trustee.key)
    assert result.device == "kiosk-7"
    assert result.document_sha256 == hashlib.sha256(contract).digest()
    assert result.record is not None
    points = iso19794.points_from_record(result.record)
    assert len(points) == len(samples)
    assert [p.tip_down for p in points] == [s.tip_down for s in samples]
    for point, sample in zip(points, samples, strict=True):
        assert point.x_mm == pytest.approx(sample.x_mm, abs=0.02)
        assert point.y_mm == pytest.approx(sample.y_mm, abs=0.02)


@pytest.mark.parametrize(
    ("document", "placement", "code"),
    [
        ("encrypted", {}, "encrypted_pdf"),
        ("pageless", {}, "no_pages"),
        ("truncated", {}, "malformed_pdf"),
        ("contract", {"page": 0, "box": (500.0, 800.0, 900.0, 900.0)}, "box_outside_page"),
        ("contract", {"page": 99, "box": (10.0, 10.0, 100.0, 50.0)}, "box_outside_page"),
        ("contract", {"field": "Nobody"}, "no_such_field"),
    ],
)
def test_a_pdf_that_cannot_be_signed_as_asked_is_refused_with_its_code(
    document: str, placement: dict[str, object], code: str
) -> None:
    loaders: dict[str, Callable[[], bytes]] = {
        "encrypted": signed_pdfs.encrypted_pdf,
        "pageless": signed_pdfs.pageless_pdf,
        "truncated": lambda: signed_pdfs.malformed_pdfs()["truncated"],
        "contract": signed_pdfs.contract,
    }
    data = loaders[document]()
    with pytest.raises(DocumentRefused) as info:
        LibraryProducer().check(data, _request(data, **placement))
    assert info.value.code == code


def test_a_box_becomes_the_screens_fraction_of_the_page() -> None:
    data = signed_pdfs.contract()
    placed = LibraryProducer().check(data, _request(data, page=0, box=(0.0, 0.0, 297.5, 421.0)))
    assert placed.page == 0 and placed.box is not None
    x0, y0, x1, y1 = placed.box
    assert (x0, x1) == pytest.approx((0.0, 0.5), abs=0.01)
    assert (y0, y1) == pytest.approx((0.5, 1.0), abs=0.01)  # the bottom half, origin top-left


def test_the_welcomes_trustee_counts_only_when_the_tenant_ca_signed_it_or_it_is_pinned(
    tmp_path: Path,
) -> None:
    ca = tenant_ca()
    good = rsa_trustee(ca)
    now = dt.datetime.now(dt.UTC)

    def welcome(der: bytes, pinned: tuple[bytes, ...] = ()) -> TrusteeChoice:
        b64 = base64.b64encode(der).decode()
        return trustee_from_welcome(
            b64, "Notariat", anchors=[ca.certificate], pinned=pinned, now=now
        )

    assert welcome(good.der).certificate == good.certificate
    hostile = self_signed_trustee()  # what a hostile hub would hand out
    bad = [hostile, expired_trustee(ca), signing_only_trustee(ca), rsa_trustee(tenant_ca("Other"))]
    for trustee in bad:
        with pytest.raises(SignatureUnavailable) as info:
            welcome(trustee.der)
        assert info.value.code == "trustee_untrusted"
    _key, cert_path = hostile.write(tmp_path)
    assert welcome(hostile.der, pinned_digests(cert_path)).name == "Notariat"
    with pytest.raises(SignatureUnavailable) as info:
        trustee_from_welcome(None, None, anchors=[ca.certificate], pinned=(), now=now)
    assert info.value.code == "no_trustee"
    with pytest.raises(SignatureUnavailable) as info:
        trustee_from_welcome("not base64!", None, anchors=[ca.certificate], pinned=(), now=now)
    assert info.value.code == "trustee_untrusted"
    (tmp_path / "junk.pem").write_bytes(b"-----BEGIN nothing")
    with pytest.raises(ValueError, match="junk.pem is not a certificate"):
        pinned_digests(tmp_path / "junk.pem")


def test_an_unenrolled_kiosk_cannot_sign(tmp_path: Path) -> None:
    with pytest.raises(SignatureUnavailable) as info:
        device_identity(IdentityStore(tmp_path / "nothing"))
    assert info.value.code == "not_enrolled"
    with pytest.raises(SignatureUnavailable):
        device_identity(None)
