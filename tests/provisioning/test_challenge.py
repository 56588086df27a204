"""The signed hello and call binding: round trips, tampering, and openssl as a second verifier."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from provisioning.challenge import (
    BadChallenge,
    BadSignature,
    call_payload,
    canonical_origin,
    decode_nonce,
    encode_nonce,
    hello_payload,
    new_nonce,
    sign,
    sign_hello,
    verify,
    verify_hello,
)
from provisioning.profile import make_ca_certificate, make_device_certificate
from tests.support.requirements import require_tool

NOW = dt.datetime(2030, 1, 15, 12, 0, tzinfo=dt.UTC)
HUB = "wss://hub.example.org/ws/kiosk"
TENANT = "Sparkasse Nord"
DTLS = "sha-256 " + ":".join(["AB"] * 32)
COMMIT = "c0" * 32


@pytest.fixture(scope="module")
def device() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = make_ca_certificate(ca_key, TENANT, NOW)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_device_certificate(
        ca_cert=ca, ca_key=ca_key, public_key=key.public_key(), device_name="branch-7", now=NOW
    )
    return key, cert


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("wss://Hub.Example.org/ws/kiosk", "https://hub.example.org"),
        ("https://hub.example.org/", "https://hub.example.org"),
        ("https://hub.example.org:443", "https://hub.example.org"),
        ("ws://127.0.0.1:8080/ws/kiosk", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("wss://[::1]:8443/ws/kiosk", "https://[::1]:8443"),
    ],
)
def test_canonical_origin(url: str, origin: str) -> None:
    assert canonical_origin(url) == origin


@pytest.mark.parametrize("url", ["ftp://hub", "hub.example.org", "https://", "http://h:99999"])
def test_canonical_origin_refuses(url: str) -> None:
    with pytest.raises(BadChallenge):
        canonical_origin(url)


def test_hello_payload_layout() -> None:
    nonce = bytes(range(32))
    assert hello_payload(HUB, TENANT, nonce) == (
        b"branch-kiosk hello v1\0https://hub.example.org\0Sparkasse Nord\0" + nonce
    )
    with pytest.raises(BadChallenge):
        hello_payload(HUB, "a\0b", nonce)
    with pytest.raises(BadChallenge):
        hello_payload(HUB, TENANT, nonce[:31])


def test_sign_verify_round_trip_across_equivalent_urls(
    device: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    key, cert = device
    nonce = new_nonce()
    signature = sign_hello(key, HUB, TENANT, nonce)
    verify_hello(cert, signature, "https://hub.example.org", TENANT, nonce)


@pytest.mark.parametrize("tamper", ["hub", "tenant", "nonce", "signature", "key"])
def test_tampering_is_detected(
    device: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], tamper: str
) -> None:
    key, cert = device
    nonce = new_nonce()
    signature = sign_hello(key, HUB, TENANT, nonce)
    hub, tenant = HUB, TENANT
    if tamper == "hub":
        hub = "wss://evil.example.org/ws/kiosk"
    elif tamper == "tenant":
        tenant = "Sparkasse Süd"
    elif tamper == "nonce":
        nonce = bytes([nonce[0] ^ 1]) + nonce[1:]
    elif tamper == "signature":
        signature = signature[:-1] + bytes([signature[-1] ^ 1])
    else:
        signature = sign_hello(ec.generate_private_key(ec.SECP256R1()), HUB, TENANT, nonce)
    with pytest.raises(BadSignature):
        verify_hello(cert, signature, hub, tenant, nonce)


def test_garbage_signatures_raise_bad_signature(
    device: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    _, cert = device
    for garbage in (b"", b"\x30\x00", b"x" * 72, b"x" * 200):
        with pytest.raises(BadSignature):
            verify_hello(cert, garbage, HUB, TENANT, new_nonce())


def test_openssl_verifies_a_hello_signature(
    device: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], tmp_path: Path
) -> None:
    openssl = require_tool("openssl", "openssl")
    key, cert = device
    nonce = new_nonce()
    (tmp_path / "payload").write_bytes(hello_payload(HUB, TENANT, nonce))
    (tmp_path / "sig").write_bytes(sign_hello(key, HUB, TENANT, nonce))
    (tmp_path / "pub.pem").write_bytes(
        cert.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    args = [
        openssl,
        "dgst",
        "-sha256",
        "-verify",
        str(tmp_path / "pub.pem"),
        "-signature",
        str(tmp_path / "sig"),
        str(tmp_path / "payload"),
    ]
    assert subprocess.run(args, capture_output=True, check=False).returncode == 0
    (tmp_path / "payload").write_bytes(hello_payload("https://other.example.org", TENANT, nonce))
    assert subprocess.run(args, capture_output=True, check=False).returncode != 0


def test_we_verify_what_openssl_signs(
    device: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], tmp_path: Path
) -> None:
    openssl = require_tool("openssl", "openssl")
    subprocess.run(
        [
            openssl,
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            str(tmp_path / "k.pem"),
        ],
        check=True,
        capture_output=True,
    )
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key((tmp_path / "k.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    cert = make_device_certificate(
        ca_cert=make_ca_certificate(ca_key, TENANT, NOW),
        ca_key=ca_key,
        public_key=key.public_key(),
        device_name="d",
        now=NOW,
    )
    nonce = new_nonce()
    (tmp_path / "payload").write_bytes(hello_payload(HUB, TENANT, nonce))
    signature = subprocess.run(
        [openssl, "dgst", "-sha256", "-sign", str(tmp_path / "k.pem"), str(tmp_path / "payload")],
        capture_output=True,
        check=True,
    ).stdout
    verify_hello(cert, signature, HUB, TENANT, nonce)


@given(st.binary(min_size=32, max_size=32))
def test_nonce_wire_round_trip(nonce: bytes) -> None:
    text = encode_nonce(nonce)
    assert len(text) == 43
    assert decode_nonce(text) == nonce


@given(st.text(max_size=60))
def test_decode_nonce_raises_only_bad_challenge(text: str) -> None:
    try:
        assert len(decode_nonce(text)) == 32
    except BadChallenge:
        pass


def test_decode_nonce_refuses_non_canonical_trailing_bits() -> None:
    text = encode_nonce(bytes(32))
    assert text[-1] == "A"
    with pytest.raises(BadChallenge, match="canonical"):
        decode_nonce(text[:-1] + "B")


def test_call_payload_canonicalises_and_binds_all_three(
    device: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    key, cert = device
    payload = call_payload("c-1", DTLS.lower().replace("sha-256", "SHA-256"), COMMIT.upper())
    assert payload == (b"branch-kiosk call v1\0c-1\0" + DTLS.encode() + b"\0" + COMMIT.encode())
    signature = sign(key, payload)
    verify(cert, signature, call_payload("c-1", DTLS, COMMIT))
    with pytest.raises(BadSignature):
        verify(cert, signature, call_payload("c-2", DTLS, COMMIT))
    with pytest.raises(BadSignature):
        verify(cert, signature, call_payload("c-1", DTLS.replace("AB", "CD", 1), COMMIT))
    with pytest.raises(BadSignature):
        verify(cert, signature, call_payload("c-1", DTLS, "d0" * 32))
    with pytest.raises(BadChallenge):
        call_payload("c-1", "sha-1 AB:CD", COMMIT)
    with pytest.raises(BadChallenge):
        call_payload("c-1", DTLS, "xyz")
