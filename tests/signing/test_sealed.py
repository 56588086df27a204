"""The biometric evidence sealed to the trustee (signing.sealed, docs/signature-sealing.md).

Round trips for every supported trustee key, OpenSSL 3 opening what we write (and us opening
what OpenSSL writes), and the bad input: wrong keys, every flipped byte, truncations, garbage.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import given
from hypothesis import strategies as st

from signing import sealed
from signing.sealed import Evidence, OpenError, SealError
from tests.support import device_certs
from tests.support import trustee_certs as tc
from tests.support.requirements import require_tool

SIGNED_AT = dt.datetime(2026, 12, 7, 10, 11, 12, 345000, tzinfo=dt.UTC)
EVIDENCE = Evidence(
    record=b"SDI\x00" + bytes(range(256)) * 3,
    document_sha256=hashlib.sha256(b"%PDF-1.7 the contract").digest(),
    device="kiosk-7",
    signed_at=SIGNED_AT,
)
KINDS = ["rsa2048", "rsa3072", "p256", "p384"]


@pytest.fixture(scope="module")
def ca() -> device_certs.Authority:
    return device_certs.tenant_ca()


@pytest.fixture(scope="module")
def trustees(ca: device_certs.Authority) -> dict[str, tc.Trustee]:
    rsa3072 = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return {
        "rsa2048": tc.rsa_trustee(ca),
        "rsa3072": tc.trustee(ca, "rsa", key=rsa3072),
        "p256": tc.ec_trustee(ca, "p256"),
        "p384": tc.ec_trustee(ca, "p384"),
    }


@pytest.fixture(scope="module")
def containers(trustees: dict[str, tc.Trustee]) -> dict[str, bytes]:
    return {kind: sealed.seal(EVIDENCE, t.certificate) for kind, t in trustees.items()}


def _openssl_decrypt(blob: bytes, trustee: tc.Trustee, directory: Path) -> bytes:
    openssl = require_tool("openssl", "openssl")
    key, cert = trustee.write(directory)
    container = directory / "evidence.p7m"
    container.write_bytes(blob)
    done = subprocess.run(
        [openssl, "cms", "-decrypt", "-inform", "DER", "-in", str(container)]
        + ["-inkey", str(key), "-recip", str(cert)],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


# -- round trips -----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip(
    kind: str, trustees: dict[str, tc.Trustee], containers: dict[str, bytes]
) -> None:
    assert sealed.open_sealed(containers[kind], trustees[kind].key) == EVIDENCE


@pytest.mark.parametrize("kind", KINDS)
def test_openssl_opens_what_we_seal(
    kind: str, trustees: dict[str, tc.Trustee], containers: dict[str, bytes], tmp_path: Path
) -> None:
    plaintext = _openssl_decrypt(containers[kind], trustees[kind], tmp_path)
    assert plaintext == sealed.evidence_der(EVIDENCE)
    assert sealed.parse_evidence(plaintext) == EVIDENCE


@pytest.mark.parametrize("kind", ["rsa", "p256"])
def test_trustee_without_key_identifier_is_named_by_issuer_and_serial(
    kind: tc.Kind, ca: device_certs.Authority, tmp_path: Path
) -> None:
    trustee = tc.trustee(ca, kind, key_identifier=False)
    blob = sealed.seal(EVIDENCE, trustee.certificate)
    assert sealed.parse_evidence(_openssl_decrypt(blob, trustee, tmp_path)) == EVIDENCE
    assert sealed.open_sealed(blob, trustee.key, certificate=trustee.certificate) == EVIDENCE
    # the same key under another certificate (another serial) is not the one named
    other = tc.trustee(ca, kind, key=trustee.key, key_identifier=False)
    with pytest.raises(OpenError) as refused:
        sealed.open_sealed(blob, trustee.key, certificate=other.certificate)
    assert refused.value.reason == "no_recipient"


@pytest.mark.parametrize(
    ("kind", "keyopts"),
    [
        ("rsa2048", ["rsa_padding_mode:oaep", "rsa_oaep_md:sha256", "rsa_mgf1_md:sha256"]),
        ("p384", ["ecdh_kdf_md:sha256"]),
    ],
)
def test_we_open_what_openssl_seals(
    kind: str, keyopts: list[str], trustees: dict[str, tc.Trustee], tmp_path: Path
) -> None:
    openssl = require_tool("openssl", "openssl")
    _, cert = trustees[kind].write(tmp_path)
    (tmp_path / "evidence.der").write_bytes(sealed.evidence_der(EVIDENCE))
    options = [arg for option in keyopts for arg in ("-keyopt", option)]
    subprocess.run(
        [openssl, "cms", "-encrypt", "-aes-256-gcm", "-binary", "-outform", "DER"]
        + ["-in", str(tmp_path / "evidence.der"), "-out", str(tmp_path / "x.p7m")]
        + ["-recip", str(cert), *options],
        check=True,
        capture_output=True,
    )
    blob = (tmp_path / "x.p7m").read_bytes()
    assert sealed.open_sealed(blob, trustees[kind].key) == EVIDENCE


def test_every_seal_has_its_own_key_and_nonce(trustees: dict[str, tc.Trustee]) -> None:
    first = sealed.seal(EVIDENCE, trustees["p256"].certificate)
    assert first != sealed.seal(EVIDENCE, trustees["p256"].certificate)


# -- the wrong key ------------------------------------------------------------


@pytest.mark.parametrize(("sealed_to", "opened_with"), [("rsa2048", "rsa3072"), ("p256", "p384")])
def test_another_trustees_key_does_not_open(
    sealed_to: str,
    opened_with: str,
    trustees: dict[str, tc.Trustee],
    containers: dict[str, bytes],
    ca: device_certs.Authority,
) -> None:
    with pytest.raises(OpenError) as refused:
        sealed.open_sealed(containers[sealed_to], trustees[opened_with].key)
    assert refused.value.reason == "no_recipient"
    # a key of the same kind and size that the container does not name
    stranger = tc.trustee(ca, "rsa" if sealed_to.startswith("rsa") else "p256").key
    with pytest.raises(OpenError) as refused:
        sealed.open_sealed(containers[sealed_to], stranger)
    assert refused.value.reason == "no_recipient"


def test_a_key_that_cannot_unwrap_is_the_wrong_key(
    ca: device_certs.Authority, trustees: dict[str, tc.Trustee]
) -> None:
    # named by issuer and serial, unchecked without the certificate: the unwrap itself fails
    for kind in ("rsa", "p256"):
        blob = sealed.seal(EVIDENCE, tc.trustee(ca, kind, key_identifier=False).certificate)
        wrong = trustees["rsa2048" if kind == "rsa" else "p256"].key
        with pytest.raises(OpenError) as refused:
            sealed.open_sealed(blob, wrong)
        assert refused.value.reason == "wrong_key"


def test_an_rsa_key_finds_no_recipient_in_an_ec_container(
    trustees: dict[str, tc.Trustee], containers: dict[str, bytes]
) -> None:
    with pytest.raises(OpenError) as refused:
        sealed.open_sealed(containers["p256"], trustees["rsa2048"].key)
    assert refused.value.reason == "no_recipient"


def test_an_unsupported_private_key_is_refused(containers: dict[str, bytes]) -> None:
    for key in (ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP521R1())):
        with pytest.raises(OpenError) as refused:
            sealed.open_sealed(containers["p256"], key)  # type: ignore[arg-type]
        assert refused.value.reason == "unsupported_key"


# -- tampered, truncated, malformed ------------------------------------------


def _flipped(blob: bytes, position: int, mask: int) -> bytes:
    changed = bytearray(blob)
    changed[position] ^= mask
    return bytes(changed)


def _refused(opener: Callable[[bytes], Evidence], blob: bytes) -> str:
    """The reason ``opener`` refuses ``blob``; any other outcome fails the test."""
    try:
        opener(blob)
    except OpenError as exc:
        return exc.reason
    pytest.fail("a changed container opened")


@pytest.mark.parametrize("kind", ["rsa2048", "p256"])
def test_every_flipped_byte_is_refused(
    kind: str, trustees: dict[str, tc.Trustee], containers: dict[str, bytes]
) -> None:
    blob, key = containers[kind], trustees[kind].key
    positions: list[int] = list(range(len(blob)))
    if kind.startswith("rsa"):
        # each byte of the OAEP-encrypted key costs an RSA decryption and meets the same check:
        # a sample of them, every other byte
        wrapped = blob.index(_encrypted_key(blob))
        positions = [*range(wrapped), *range(wrapped, wrapped + 256, 17)]
        positions += range(wrapped + 256, len(blob))
    reasons = {
        _refused(lambda b: sealed.open_sealed(b, key), _flipped(blob, i, 0x01)) for i in positions
    }
    assert {"malformed", "tampered", "no_recipient"} <= reasons


def _encrypted_key(blob: bytes) -> bytes:
    content = cms.ContentInfo.load(blob)["content"]
    return bytes(content["recipient_infos"][0].chosen["encrypted_key"].native)


@given(st.data())
def test_any_change_of_one_byte_is_refused(
    trustees: dict[str, tc.Trustee], containers: dict[str, bytes], data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(["rsa2048", "p384"]))
    blob, key = containers[kind], trustees[kind].key
    position = data.draw(st.integers(0, len(blob) - 1))
    mask = data.draw(st.integers(1, 255))
    _refused(lambda b: sealed.open_sealed(b, key), _flipped(blob, position, mask))


def test_every_truncation_and_extension_is_refused(
    trustees: dict[str, tc.Trustee], containers: dict[str, bytes]
) -> None:
    blob, key = containers["p256"], trustees["p256"].key
    for length in range(len(blob)):
        assert _refused(lambda b: sealed.open_sealed(b, key), blob[:length]) == "malformed"
    assert _refused(lambda b: sealed.open_sealed(b, key), blob + b"\x00") == "malformed"


@given(st.binary(max_size=600))
def test_garbage_is_refused(trustees: dict[str, tc.Trustee], garbage: bytes) -> None:
    _refused(lambda b: sealed.open_sealed(b, trustees["p256"].key), garbage)


def test_an_oversized_container_is_refused_unread(trustees: dict[str, tc.Trustee]) -> None:
    blob = b"\x30\x84" + (sealed.SEALED_MAX).to_bytes(4, "big") + bytes(sealed.SEALED_MAX)
    assert _refused(lambda b: sealed.open_sealed(b, trustees["p256"].key), blob) == "malformed"


def test_ber_lengths_are_refused(
    trustees: dict[str, tc.Trustee], containers: dict[str, bytes]
) -> None:
    blob, key = containers["p256"], trustees["p256"].key
    assert blob[:2] == b"\x30\x82"
    padded = b"\x30\x83\x00" + blob[2:]  # the same length in one byte more
    indefinite = b"\x30\x80" + blob[4:] + b"\x00\x00"
    for changed in (padded, indefinite):
        assert _refused(lambda b: sealed.open_sealed(b, key), changed) == "malformed"


def test_a_key_wrap_that_is_no_algorithm_identifier_is_malformed(
    trustees: dict[str, tc.Trustee], containers: dict[str, bytes]
) -> None:
    # asn1crypto keeps these parameters unparsed until used: the error must still be ours
    blob, key = containers["p256"], trustees["p256"].key
    wrap = blob.index(bytes.fromhex("060960864801650304012d")) - 2
    assert blob[wrap : wrap + 2] == b"\x30\x0b"
    changed = _flipped(blob, wrap, 0x80)  # SEQUENCE -> a context-specific tag
    assert _refused(lambda b: sealed.open_sealed(b, key), changed) == "malformed"


def test_enveloped_data_is_not_sealed_evidence(trustees: dict[str, tc.Trustee]) -> None:
    # cryptography's own builder: EnvelopedData, PKCS#1 v1.5, CBC (what we do not accept)
    blob = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(sealed.evidence_der(EVIDENCE))
        .add_recipient(trustees["rsa2048"].certificate)
        .encrypt(serialization.Encoding.DER, [])
    )
    reason = _refused(lambda b: sealed.open_sealed(b, trustees["rsa2048"].key), blob)
    assert reason == "wrong_content_type"


# -- the evidence ---------------------------------------------------------------

evidences = st.builds(
    Evidence,
    record=st.binary(min_size=1, max_size=300),
    document_sha256=st.binary(min_size=32, max_size=32),
    device=st.text(
        st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), min_size=1, max_size=128
    ).filter(str.isprintable),
    signed_at=st.datetimes(
        min_value=dt.datetime(1970, 1, 1),
        max_value=dt.datetime(9999, 12, 31),
        timezones=st.just(dt.UTC),
    ),
)


@given(evidences)
def test_evidence_round_trips(evidence: Evidence) -> None:
    assert sealed.parse_evidence(sealed.evidence_der(evidence)) == evidence


def test_evidence_layout_is_the_documented_sequence() -> None:
    der = sealed.evidence_der(EVIDENCE)
    record_header = b"\x04\x82\x03\x04"  # OCTET STRING, 772 bytes
    time = b"\x18\x1320261207101112.345Z"
    assert der.startswith(b"\x30\x82")
    assert der[4:7] == b"\x02\x01\x01"  # version 1
    assert der[7 : 11 + 772] == record_header + EVIDENCE.record
    assert der.endswith(b"\x04\x20" + EVIDENCE.document_sha256 + b"\x0c\x07kiosk-7" + time)


@pytest.mark.parametrize(
    "change",
    [
        {"record": b""},
        {"record": bytes(sealed.RECORD_MAX + 1)},
        {"document_sha256": bytes(31)},
        {"device": ""},
        {"device": "kiosk\n7"},
        {"device": "k" * 129},
        {"signed_at": SIGNED_AT.replace(tzinfo=None)},
        {"signed_at": SIGNED_AT.astimezone(dt.timezone(dt.timedelta(hours=1)))},
    ],
    ids=[
        "empty_record",
        "record_too_long",
        "short_hash",
        "no_device",
        "device_newline",
        "device_too_long",
        "naive_time",
        "not_utc",
    ],
)
def test_invalid_evidence_is_not_sealed(
    change: dict[str, Any], trustees: dict[str, tc.Trustee]
) -> None:
    evidence = dataclasses.replace(EVIDENCE, **change)
    with pytest.raises(SealError) as refused:
        sealed.seal(evidence, trustees["p256"].certificate)
    assert refused.value.reason == "bad_evidence"


def test_other_versions_and_non_der_evidence_are_refused() -> None:
    der = sealed.evidence_der(EVIDENCE)
    assert der[4:7] == b"\x02\x01\x01"
    for changed in (
        der[:6] + b"\x02" + der[7:],  # version 2
        b"\x30\x83\x00" + der[2:],  # a length in more bytes than DER allows
        der + b"\x00",
        _without_zone(der),
    ):
        with pytest.raises(OpenError) as refused:
            sealed.parse_evidence(changed)
        assert refused.value.reason == "bad_evidence"


def _without_zone(der: bytes) -> bytes:
    """``der`` with its time's "Z" dropped: a local time of nobody knows where."""
    assert der.endswith(b"\x18\x1320261207101112.345Z") and der[:2] == b"\x30\x82"
    body = der[4:-21] + b"\x18\x1220261207101112.345"
    return b"\x30\x82" + len(body).to_bytes(2, "big") + body


@given(st.binary(max_size=400))
def test_parse_evidence_raises_only_its_error(garbage: bytes) -> None:
    try:
        sealed.parse_evidence(garbage)
    except OpenError as exc:
        assert exc.reason == "bad_evidence"


@given(st.integers(0, 10_000), st.integers(1, 255))
def test_a_changed_evidence_parses_or_is_refused(position: int, mask: int) -> None:
    der = sealed.evidence_der(EVIDENCE)
    try:
        sealed.parse_evidence(_flipped(der, position % len(der), mask))
    except OpenError as exc:
        assert exc.reason == "bad_evidence"


# -- recipients we cannot seal to ---------------------------------------------------


@pytest.mark.parametrize(
    "make_key",
    [
        ed25519.Ed25519PrivateKey.generate,
        lambda: dsa.generate_private_key(key_size=1024),  # noqa: S505
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
        lambda: ec.generate_private_key(ec.SECP521R1()),
    ],
    ids=["ed25519", "dsa", "rsa1024", "p521"],
)
def test_unsupported_recipient_keys_are_refused(
    make_key: Callable[[], object], ca: device_certs.Authority
) -> None:
    key = make_key()
    certificate: x509.Certificate = tc.foreign_key_certificate(ca, key.public_key())  # type: ignore[attr-defined]
    with pytest.raises(SealError) as refused:
        sealed.seal(EVIDENCE, certificate)
    assert refused.value.reason == "unsupported_key"
