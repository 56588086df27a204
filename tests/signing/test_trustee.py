"""Which trustee certificate a kiosk seals to (signing.trustee, docs/signature-sealing.md).

Accepted when the tenant CA signed it or the kiosk pins it; refused, each with its code, when
expired, not yet valid, not for encryption, untrusted, of an unsupported key, or malformed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from signing.trustee import CERT_MAX, Trustee, TrusteeError, check_trustee, display_name
from tests.support import device_certs
from tests.support import trustee_certs as tc

NOW = tc.NOW


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def ca() -> device_certs.Authority:
    return device_certs.tenant_ca()


@pytest.fixture(scope="module")
def other_ca() -> device_certs.Authority:
    return device_certs.tenant_ca("Other Bank")


@pytest.fixture(scope="module")
def rsa_trustee(ca: device_certs.Authority) -> tc.Trustee:
    return tc.rsa_trustee(ca)


def _refusal(
    cert_der: bytes, anchors: list[x509.Certificate], pinned: tuple[bytes, ...] = ()
) -> str:
    with pytest.raises(TrusteeError) as refused:
        check_trustee(cert_der, anchors=anchors, pinned=pinned, now=NOW)
    assert str(refused.value)  # says why
    return refused.value.code


# -- accepted --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "p256", "p384"])
def test_a_trustee_the_tenant_ca_signed_is_accepted(
    kind: tc.Kind, ca: device_certs.Authority, other_ca: device_certs.Authority
) -> None:
    trustee = tc.trustee(ca, kind)
    anchors = [other_ca.certificate, ca.certificate]
    assert check_trustee(trustee.der, anchors=anchors, now=NOW) == trustee.certificate


def test_a_pinned_trustee_is_accepted_without_the_ca() -> None:
    trustee = tc.self_signed_trustee("p256")
    accepted = check_trustee(trustee.der, anchors=[], pinned=[trustee.sha256], now=NOW)
    assert accepted == trustee.certificate


def test_the_trustee_names_itself_for_the_customer(ca: device_certs.Authority) -> None:
    trustee = tc.rsa_trustee(ca)
    named = Trustee(trustee.certificate, display_name(trustee.certificate))
    assert named.name == "Acme Bank"
    assert named.sha256 == hashlib.sha256(trustee.der).digest()


# -- untrusted -------------------------------------------------------------------


def test_a_self_signed_trustee_is_untrusted(ca: device_certs.Authority) -> None:
    assert _refusal(tc.self_signed_trustee().der, [ca.certificate]) == "untrusted"


def test_a_trustee_of_another_ca_is_untrusted(
    ca: device_certs.Authority, other_ca: device_certs.Authority
) -> None:
    assert _refusal(tc.rsa_trustee(other_ca).der, [ca.certificate]) == "untrusted"


def test_a_trustee_naming_the_ca_but_signed_by_another_key_is_untrusted(
    ca: device_certs.Authority,
) -> None:
    # a hostile hub's CA with the tenant CA's name: the name matches, the signature does not
    impostor = device_certs.Authority(ec.generate_private_key(ec.SECP256R1()), ca.certificate)
    assert _refusal(tc.rsa_trustee(impostor).der, [ca.certificate]) == "untrusted"


def test_another_pin_does_not_trust(ca: device_certs.Authority) -> None:
    trustee = tc.self_signed_trustee("p256")
    assert _refusal(trustee.der, [ca.certificate], (hashlib.sha256(b"x").digest(),)) == "untrusted"


# -- validity, usage, key -------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (tc.expired_trustee, "expired"),
        (tc.future_trustee, "not_yet_valid"),
        (tc.signing_only_trustee, "not_for_encryption"),
        (lambda ca: tc.trustee(ca, usage=None), "not_for_encryption"),
        (
            lambda ca: tc.trustee(ca, "p256", usage=tc.encryption_usage(tc.new_key("rsa"))),
            "not_for_encryption",
        ),
        (lambda ca: tc.trustee(ca, "rsa", is_ca=True), "not_for_encryption"),
    ],
    ids=["expired", "not_yet_valid", "signing_only", "no_key_usage", "ec_without_agreement", "ca"],
)
def test_refusals_of_a_ca_signed_trustee(
    make: Callable[[device_certs.Authority], tc.Trustee], code: str, ca: device_certs.Authority
) -> None:
    assert _refusal(make(ca).der, [ca.certificate]) == code


def test_a_pin_does_not_excuse_an_expired_trustee(ca: device_certs.Authority) -> None:
    trustee = tc.expired_trustee(ca)
    assert _refusal(trustee.der, [], (trustee.sha256,)) == "expired"


@pytest.mark.parametrize(
    "make_key",
    [
        ed25519.Ed25519PrivateKey.generate,
        lambda: dsa.generate_private_key(key_size=2048),
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
        lambda: ec.generate_private_key(ec.SECP521R1()),
    ],
    ids=["ed25519", "dsa", "rsa1024", "p521"],
)
def test_unsupported_keys_are_refused(
    make_key: Callable[[], dsa.DSAPrivateKey], ca: device_certs.Authority
) -> None:
    cert = tc.foreign_key_certificate(ca, make_key().public_key())
    assert _refusal(_der(cert), [ca.certificate]) == "unsupported_key"


# -- malformed --------------------------------------------------------------------------


def test_pem_empty_and_oversized_input_is_malformed(ca: device_certs.Authority) -> None:
    trustee = tc.rsa_trustee(ca)
    for data in (trustee.pem, b"", trustee.der[:-1], trustee.der + bytes(CERT_MAX)):
        assert _refusal(data, [ca.certificate]) == "malformed"


@given(st.binary(max_size=300))
def test_garbage_is_malformed(garbage: bytes) -> None:
    with pytest.raises(TrusteeError) as refused:
        check_trustee(garbage, anchors=[], now=NOW)
    assert refused.value.code == "malformed"


@given(st.data())
def test_a_changed_certificate_is_refused_or_still_checked(
    ca: device_certs.Authority, rsa_trustee: tc.Trustee, data: st.DataObject
) -> None:
    # one changed byte: a TrusteeError (mostly untrusted: the CA's signature breaks), never another
    der = bytearray(rsa_trustee.der)
    position = data.draw(st.integers(0, len(der) - 1))
    der[position] ^= data.draw(st.integers(1, 255))
    _refused_or_unchanged(bytes(der), ca, rsa_trustee.certificate)


def _refused_or_unchanged(
    der: bytes, ca: device_certs.Authority, original: x509.Certificate
) -> None:
    """A changed certificate is refused, unless it changed only where the CA's signature does
    not look: the signature BIT STRING's unused-bits count (what was signed and the signature
    itself are then unchanged)."""
    try:
        accepted = check_trustee(der, anchors=[ca.certificate], now=NOW)
    except TrusteeError:
        return
    assert accepted.tbs_certificate_bytes == original.tbs_certificate_bytes
    assert accepted.signature == original.signature


def test_every_flipped_byte_of_a_certificate_is_refused(
    ca: device_certs.Authority, rsa_trustee: tc.Trustee
) -> None:
    for position in range(len(rsa_trustee.der)):
        der = bytearray(rsa_trustee.der)
        der[position] ^= 0x01
        _refused_or_unchanged(bytes(der), ca, rsa_trustee.certificate)


def test_a_negative_serial_number_is_malformed(rsa_trustee: tc.Trustee) -> None:
    der = bytearray(rsa_trustee.der)
    assert der[13] == 0x02 and der[15] < 0x80  # tbsCertificate's serialNumber INTEGER
    der[15] |= 0x80  # RFC 5280 §4.1.2.2: positive; cryptography only warns
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # as in production: the suite's "error" filter would hide it
        assert _refusal(bytes(der), []) == "malformed"


def test_now_must_be_aware(ca: device_certs.Authority) -> None:
    with pytest.raises(ValueError, match="timezone"):
        check_trustee(tc.rsa_trustee(ca).der, anchors=[], now=dt.datetime(2026, 1, 1))
