"""Issuing a trustee certificate: hub.pki.trustee.issue and ``kiosk-hub tenant trustee-issue``
(docs/signature.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from hub.pki import trustee as pki
from hub.pki.ca import Authority
from hub.storage import Tenant, TenantSigning
from tests.support import hub_trustee
from tests.support import trustee_certs as tc
from tests.support.device_certs import Authority as CaKey
from tests.support.hub_enrol import csr_der, with_bad_signature
from tests.support.hub_trustee import NAME, NOW, hub, signing_of, weak_rsa, with_storage, write

# the shared fixtures, re-exported by name so pytest finds them in this module
ca, db, secret = hub_trustee.ca, hub_trustee.db, hub_trustee.secret


def hub_authority(ca: CaKey) -> Authority:
    return Authority(Tenant(1, "default"), ca.certificate, ca.key)


# -- issuing --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "p256", "p384"])
def test_the_tenant_ca_issues_an_encryption_only_certificate(ca: CaKey, kind: str) -> None:
    key = tc.new_key(kind)  # type: ignore[arg-type]
    request = pki.read_request(csr_der(key, "Trustee"))
    cert = pki.issue(hub_authority(ca), request, now=NOW, days=30)
    checked = pki.check_certificate(
        cert.public_bytes(serialization.Encoding.DER), ca=ca.certificate, now=NOW
    )
    assert checked.signed_by_ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    is_rsa = kind == "rsa"
    assert (usage.key_encipherment, usage.key_agreement) == (is_rsa, not is_rsa)
    assert not (usage.digital_signature or usage.key_cert_sign or usage.content_commitment)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    assert cert.subject == request.subject and cert.issuer == ca.certificate.subject
    assert cert.not_valid_after_utc == NOW + dt.timedelta(days=30)
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert not basic.ca


def test_a_trustee_certificate_ends_with_the_ca(ca: CaKey) -> None:
    request = pki.read_request(csr_der(tc.new_key("p256"), "Trustee"))
    cert = pki.issue(hub_authority(ca), request, now=NOW, days=100_000)
    assert cert.not_valid_after_utc == ca.certificate.not_valid_after_utc


@pytest.mark.parametrize("case", ["bad_signature", "small_rsa", "ed25519", "empty_subject"])
def test_bad_requests_are_refused(ca: CaKey, case: str) -> None:
    reason = {
        "bad_signature": "signature",
        "small_rsa": "unsupported_key",
        "ed25519": "unsupported_key",
        "empty_subject": "subject",
    }[case]
    der = {
        "bad_signature": lambda: with_bad_signature(csr_der(tc.new_key("p256"), "Trustee")),
        "small_rsa": lambda: csr_der(weak_rsa(), "Trustee"),
        "ed25519": lambda: _ed25519_csr(),
        "empty_subject": lambda: csr_der(tc.new_key("p256"), None),
    }[case]()
    with pytest.raises(pki.TrusteeRefused) as refused:
        pki.issue(hub_authority(ca), pki.read_request(der), now=NOW)
    assert refused.value.reason == reason


def _ed25519_csr() -> bytes:
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Trustee")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, None)
    return csr.public_bytes(serialization.Encoding.DER)


# -- the command ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "p256"])
def test_issue_then_set_then_show_then_clear(
    db: Path, secret: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    key = tc.new_key(kind)  # type: ignore[arg-type]
    csr = tmp_path / "trustee.csr"
    csr.write_bytes(csr_der(key, "Trustee"))
    out = tmp_path / "trustee.pem"
    argv = ("tenant", "trustee-issue", "default", "--csr", str(csr), "--out", str(out))
    assert hub(db, *argv, "--days", "90", "--secret-file", str(secret)) == 0
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    assert cert.public_key() == key.public_key()
    assert "trustee.pem" in capsys.readouterr().err
    set_argv = ("tenant", "set", "default", "--trustee-cert", str(out), "--trustee-name", NAME)
    assert hub(db, *set_argv, "--tsa-url", "https://tsa.example.org/tsr") == 0
    err = capsys.readouterr().err
    assert NAME in err and "PAdES B-T" in err and "warning" not in err
    der = cert.public_bytes(serialization.Encoding.DER)
    assert signing_of(db) == TenantSigning(der, NAME, "https://tsa.example.org/tsr")
    assert hub(db, "tenant", "show", "default") == 0
    shown = capsys.readouterr().out
    assert f"trustee:         {NAME} (certificate valid until" in shown
    assert "timestamps:      https://tsa.example.org/tsr" in shown
    assert hub(db, "tenant", "set", "default", "--no-tsa") == 0
    assert signing_of(db) == TenantSigning(der, NAME, None)
    expired = tc.trustee(None, days=1, not_before=dt.timedelta(days=-2)).der
    with_storage(db, lambda storage: storage.set_trustee("default", expired, NAME))
    assert hub(db, "tenant", "show", "default") == 0
    assert "kiosks refuse it" in capsys.readouterr().out
    with_storage(db, lambda storage: storage.set_trustee("default", der, NAME))
    assert hub(db, "tenant", "set", "default", "--no-trustee", "--max-file-mib", "7") == 0
    assert "signing at its kiosks is off" in capsys.readouterr().err
    assert signing_of(db) == TenantSigning()
    assert hub(db, "tenant", "list") == 0
    assert capsys.readouterr().out == "default\t7 MiB\n"


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("bad_signature", "self-signature does not verify"),
        ("small_rsa", "at least 2048 bits"),
        ("key", "holds a private key"),
        ("garbage", "not a PKCS#10 certificate request"),
        ("no_tenant", "no tenant named 'nobody'"),
    ],
)
def test_a_refused_request_writes_no_certificate(
    db: Path, secret: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str,
    text: str,
) -> None:  # fmt: skip
    p256 = tc.new_key("p256")
    data, tenant = csr_der(p256, "Trustee"), "default"
    match case:
        case "bad_signature":
            data = with_bad_signature(data)
        case "small_rsa":
            data = csr_der(weak_rsa(), "T")
        case "key":
            data = p256.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        case "garbage":
            data = b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
        case "no_tenant":
            tenant = "nobody"
    csr, out = write(tmp_path / "t.csr", data), tmp_path / "t.pem"
    argv = ("tenant", "trustee-issue", tenant, "--csr", csr, "--out", str(out))
    assert hub(db, *argv, "--secret-file", str(secret)) == 1
    assert text in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.glob(".t.pem.*")) == []
