"""hub.pki.trustee's certificate check and hub.storage.checks' trustee and timestamp-URL checks,
with hypothesis properties: typed refusals for any input (docs/signature.md)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from hub.pki import trustee as pki
from hub.storage import InvalidName, InvalidSetting
from hub.storage.checks import check_trustee, check_tsa_url
from protocol.messages import Welcome, decode, encode
from tests.support import hub_trustee
from tests.support import trustee_certs as tc
from tests.support.device_certs import Authority as CaKey
from tests.support.device_certs import tenant_ca
from tests.support.hub_trustee import NOW, weak_rsa

# the shared fixtures, re-exported by name so pytest finds them in this module
ca, trustees = hub_trustee.ca, hub_trustee.trustees


# -- the certificate check ------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "p256", "p384"])
def test_an_encryption_certificate_of_the_tenant_ca_passes(
    ca: CaKey, trustees: dict[str, tc.Trustee], kind: str
) -> None:
    t = trustees[kind]
    for data in (t.der, t.pem):
        checked = pki.check_certificate(data, ca=ca.certificate, now=NOW)
        assert checked.der == t.der and checked.signed_by_ca
        assert checked.fingerprint == t.sha256.hex()


def test_a_certificate_the_tenant_ca_did_not_sign_passes_but_says_so(
    ca: CaKey, trustees: dict[str, tc.Trustee]
) -> None:
    self_signed = trustees["self_signed"].der
    assert not pki.check_certificate(self_signed, ca=ca.certificate, now=NOW).signed_by_ca
    other = tenant_ca("default")  # the same name, another key: not the tenant CA
    assert not pki.check_certificate(
        trustees["rsa"].der, ca=other.certificate, now=NOW
    ).signed_by_ca
    assert not pki.check_certificate(trustees["rsa"].der, ca=None, now=NOW).signed_by_ca


@pytest.mark.parametrize(
    ("case", "reason", "text"),
    [
        ("expired", "expired", "expired on"),
        ("future", "not_yet_valid", "valid only from"),
        ("signing_only", "not_for_encryption", "lacks keyEncipherment"),
        ("no_usage", "not_for_encryption", "not an encryption certificate"),
    ],
)
def test_unusable_certificates_are_refused_with_the_reason(
    ca: CaKey, trustees: dict[str, tc.Trustee], case: str, reason: str, text: str
) -> None:
    with pytest.raises(pki.TrusteeRefused) as refused:
        pki.check_certificate(trustees[case].der, ca=ca.certificate, now=NOW)
    assert refused.value.reason == reason and text in str(refused.value)


def test_an_ec_certificate_needs_key_agreement(ca: CaKey) -> None:
    key = tc.new_key("p256")
    for usage in (tc.SIGNING_USAGE, tc.encryption_usage(tc.new_key("rsa"))):
        t = tc.trustee(ca, key=key, usage=usage)
        with pytest.raises(pki.TrusteeRefused, match="lacks keyAgreement"):
            pki.check_certificate(t.der, ca=ca.certificate, now=NOW)


def test_unsupported_keys_are_refused(ca: CaKey) -> None:
    small = weak_rsa()
    p521 = ec.generate_private_key(ec.SECP521R1())
    for key in (small, p521):
        t = tc.trustee(ca, key=key)
        with pytest.raises(pki.TrusteeRefused) as refused:
            pki.check_certificate(t.der, ca=ca.certificate, now=NOW)
        assert refused.value.reason == "unsupported_key"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "malformed"),
        (b"not a certificate", "malformed"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "malformed"),
        (b"\x30\x82\x01\x00" + b"\x00" * 10, "malformed"),
        (b"-----BEGIN PRIVATE KEY-----\n", "private_key"),
        (b"\x30" * (pki.FILE_MAX + 1), "too_large"),
    ],
)
def test_what_is_not_a_certificate_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(pki.TrusteeRefused) as refused:
        pki.check_certificate(data, ca=None, now=NOW)
    assert refused.value.reason == reason


@given(st.binary(max_size=600))
def test_any_bytes_give_a_certificate_or_a_typed_refusal(data: bytes) -> None:
    try:
        pki.read_certificate(data)
    except pki.TrusteeRefused as refused:
        assert refused.reason in ("malformed", "private_key", "too_large")


def one_byte_corruptions(der: bytes) -> list[bytes]:
    """Every byte of ``der`` flipped three ways (low bit, high bit, all bits)."""
    out = []
    for i in range(len(der)):
        for mask in (0x01, 0x80, 0xFF):
            bad = bytearray(der)
            bad[i] ^= mask
            out.append(bytes(bad))
    return out


@pytest.mark.parametrize("kind", ["rsa", "p256"])
def test_a_trustee_certificate_with_any_byte_flipped_is_checked_or_refused(
    ca: CaKey, trustees: dict[str, tc.Trustee], kind: str
) -> None:
    """A bad version, a negative serial, an unloadable key, a damaged issuer: a refusal."""
    reasons = set()
    for bad in one_byte_corruptions(trustees[kind].der):
        try:
            pki.check_certificate(bad, ca=ca.certificate, now=NOW)
        except pki.TrusteeRefused as refused:
            reasons.add(refused.reason)
    assert "malformed" in reasons


# -- the timestamp URL and the trustee name ------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://tsa.example.org",
        "https://",
        "https://tsa.example.org/a b",
        'https://tsa.example.org/"',
        "https://tsa.example.org/\n",
        "tsa.example.org",
        "https://" + "a" * 300,
        "javascript:alert(1)",
        "https://[",
        "https://[::1/tsa",
        "https://tsa.example.org:99999/",
        "https://tsa.example.org:port/",
    ],
)
def test_a_bad_timestamp_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidSetting, match="timestamp authority URL"):
        check_tsa_url(url)


@given(st.text(alphabet="[]:/@?#%.a1-", max_size=40))
def test_any_url_is_accepted_or_refused_with_a_typed_error(tail: str) -> None:
    for url in ("https://" + tail, "http://tsa.example.org" + tail):
        try:
            check_tsa_url(url)
        except InvalidSetting:
            pass


@given(st.text(max_size=320), st.text(max_size=120))
def test_what_the_checks_accept_the_welcome_carries(url: str, name: str) -> None:
    """Whatever the hub stores, a kiosk's welcome can carry: never a hello it cannot decode."""
    try:
        url = check_tsa_url("https://" + url)
    except InvalidSetting:
        url = "https://tsa.example.org"
    try:
        _der, name = check_trustee(b"\x30\x00", name)
    except (InvalidName, InvalidSetting):
        name = "trustee"
    welcome = Welcome(
        role="kiosk",
        name="k",
        tenant="t",
        heartbeat_s=10,
        ice_servers=(),
        trustee_name=name,
        tsa_url=url,
    )
    assert decode(encode(welcome)) == welcome
