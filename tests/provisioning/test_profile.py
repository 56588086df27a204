"""The certificate profile, checked by our code and by openssl as an independent reader."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from provisioning.profile import (
    BACKDATE,
    BadFingerprint,
    CertificateRejected,
    check_device_certificate,
    device_name,
    display_fingerprint,
    fingerprint,
    make_ca_certificate,
    make_device_certificate,
    parse_fingerprint,
    renew_at,
    spki_sha256,
    tenant_of,
)
from tests.support.requirements import require_tool

NOW = dt.datetime(2030, 1, 15, 12, 0, tzinfo=dt.UTC)


def _ca(tenant: str = "Sparkasse Nord") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, make_ca_certificate(key, tenant, NOW)


def _device(
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], name: str = "branch-7", days: int = 30
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_device_certificate(
        ca_cert=ca[1],
        ca_key=ca[0],
        public_key=key.public_key(),
        device_name=name,
        now=NOW,
        days=days,
    )
    return key, cert


def _pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(Encoding.PEM))
    return path


def test_device_certificate_follows_the_profile() -> None:
    ca = _ca()
    _, cert = _device(ca)
    assert device_name(cert) == "branch-7"
    assert tenant_of(cert) == "Sparkasse Nord"
    assert cert.not_valid_before_utc == NOW - BACKDATE
    assert cert.not_valid_after_utc == NOW + dt.timedelta(days=30)
    assert 0 < cert.serial_number < 2**127
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.content_commitment
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [oid.dotted_string for oid in eku] == ["1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.36"]
    assert check_device_certificate(cert, ca[1], NOW) == "branch-7"


def test_openssl_verifies_the_chain_for_client_auth_and_reads_the_extensions(
    tmp_path: Path,
) -> None:
    openssl = require_tool("openssl", "openssl")
    ca = _ca()
    _, cert = _device(ca)
    ca_pem, dev_pem = _pem(tmp_path / "ca.pem", ca[1]), _pem(tmp_path / "dev.pem", cert)
    at = str(int(NOW.timestamp()))
    verify = subprocess.run(
        [
            openssl,
            "verify",
            "-attime",
            at,
            "-purpose",
            "sslclient",
            "-x509_strict",
            "-CAfile",
            str(ca_pem),
            str(dev_pem),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    text = subprocess.run(
        [openssl, "x509", "-in", str(dev_pem), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CA:FALSE" in text
    assert "Digital Signature" in text
    assert "TLS Web Client Authentication" in text
    assert "1.3.6.1.5.5.7.3.36" in text or "Document Signing" in text
    ca_text = subprocess.run(
        [openssl, "x509", "-in", str(ca_pem), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CA:TRUE, pathlen:0" in ca_text
    assert "Certificate Sign, CRL Sign" in ca_text
    openssl_fp = subprocess.run(
        [openssl, "x509", "-in", str(ca_pem), "-noout", "-fingerprint", "-sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert parse_fingerprint(openssl_fp.split("=", 1)[1]) == fingerprint(ca[1])


def test_openssl_refuses_the_chain_after_expiry(tmp_path: Path) -> None:
    openssl = require_tool("openssl", "openssl")
    ca = _ca()
    _, cert = _device(ca, days=1)
    at = str(int((NOW + dt.timedelta(days=2)).timestamp()))
    verify = subprocess.run(
        [
            openssl,
            "verify",
            "-attime",
            at,
            "-CAfile",
            str(_pem(tmp_path / "ca.pem", ca[1])),
            str(_pem(tmp_path / "dev.pem", cert)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode != 0
    assert "expired" in verify.stdout + verify.stderr


def test_long_tenant_names_fit_the_ca_common_name() -> None:
    tenant = "T" * 64
    _, ca_cert = _ca(tenant)
    assert tenant_of(ca_cert) == tenant


def test_renewal_is_due_at_two_thirds_of_the_lifetime() -> None:
    _, cert = _device(_ca(), days=30)
    start = NOW - BACKDATE
    lifetime = NOW + dt.timedelta(days=30) - start
    assert renew_at(cert) == start + lifetime * 2 / 3


@pytest.mark.parametrize(
    ("at", "says"),
    [
        (NOW - dt.timedelta(hours=1), "not valid yet"),
        (NOW + dt.timedelta(days=31), "needs a fresh code"),
    ],
)
def test_check_refuses_outside_the_validity(at: dt.datetime, says: str) -> None:
    ca = _ca()
    _, cert = _device(ca)
    with pytest.raises(CertificateRejected, match=says):
        check_device_certificate(cert, ca[1], at)


def test_check_refuses_another_tenants_ca_and_a_forged_issuer() -> None:
    ca, other = _ca("A"), _ca("B")
    _, cert = _device(ca)
    with pytest.raises(CertificateRejected, match="not issued by this tenant"):
        check_device_certificate(cert, other[1], NOW)
    # Same subject, other key: the name matches, the signature cannot.
    impostor_key = ec.generate_private_key(ec.SECP256R1())
    impostor = make_ca_certificate(impostor_key, "A", NOW)
    with pytest.raises(CertificateRejected, match="signature"):
        check_device_certificate(cert, impostor, NOW)


def test_check_refuses_a_ca_certificate_as_a_device() -> None:
    ca = _ca()
    # The tenant CA's own certificate in the device slot: issuer and signature match, the
    # profile does not.
    with pytest.raises(CertificateRejected, match="extensions|device certificate"):
        check_device_certificate(ca[1], ca[1], NOW)


def test_keys_other_than_p256_are_refused() -> None:
    ca = _ca()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(CertificateRejected, match="P-256"):
        make_device_certificate(
            ca_cert=ca[1],
            ca_key=ca[0],
            public_key=rsa_key.public_key(),  # type: ignore[arg-type]
            device_name="x",
            now=NOW,
        )
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(CertificateRejected, match="P-256"):
        make_device_certificate(
            ca_cert=ca[1], ca_key=ca[0], public_key=p384.public_key(), device_name="x", now=NOW
        )


def test_fingerprint_display_and_parse() -> None:
    _, ca_cert = _ca()
    value = fingerprint(ca_cert)
    assert len(value) == 64 and value == value.lower()
    shown = display_fingerprint(value)
    assert len(shown.split(" ")) == 16
    assert parse_fingerprint(shown) == value
    assert (
        parse_fingerprint("SHA256:" + ":".join(value[i : i + 2].upper() for i in range(0, 64, 2)))
        == value
    )
    with pytest.raises(BadFingerprint):
        parse_fingerprint(value[:-1] + "g")
    with pytest.raises(BadFingerprint):
        parse_fingerprint(value + "00")


def test_spki_sha256_names_the_key_not_the_certificate() -> None:
    ca = _ca()
    key = ec.generate_private_key(ec.SECP256R1())
    first = make_device_certificate(
        ca_cert=ca[1], ca_key=ca[0], public_key=key.public_key(), device_name="d", now=NOW
    )
    second = make_device_certificate(
        ca_cert=ca[1],
        ca_key=ca[0],
        public_key=key.public_key(),
        device_name="d",
        now=NOW + dt.timedelta(days=20),
    )
    assert fingerprint(first) != fingerprint(second)
    assert spki_sha256(key.public_key()) == spki_sha256(second.public_key())  # type: ignore[arg-type]
