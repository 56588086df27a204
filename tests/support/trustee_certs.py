"""Trustee certificates for the sealing tests (docs/signature-sealing.md): the one place for them.

A trustee holds the key that opens the biometric evidence; the tenant CA signs its encryption
certificate. Made here with ``cryptography``: RSA (keyEncipherment) and EC P-256/P-384
(keyAgreement) trustees signed by a given CA, plus the refusals' cases (expired, not yet valid,
signing-only, self-signed). ``Trustee.write`` leaves ``trustee.key`` / ``trustee.pem`` for
``openssl cms``. Key generation costs (RSA ~0.1 s): build them in module-scoped fixtures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from provisioning import profile

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)

Kind = Literal["rsa", "p256", "p384"]
TrusteeKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class Issuer(Protocol):
    """A CA that signs: tests.support.device_certs.Authority, or a Trustee used as an issuer."""

    @property
    def key(self) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey: ...

    @property
    def certificate(self) -> x509.Certificate: ...


@dataclass(frozen=True)
class Trustee:
    """A trustee's private key and its certificate."""

    key: TrusteeKey = field(repr=False)
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def sha256(self) -> bytes:
        """The certificate's DER SHA-256 (what a kiosk pins)."""
        return hashlib.sha256(self.der).digest()

    def key_pem(self, password: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM (encrypted with ``password`` when given)."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def write(self, directory: Path, stem: str = "trustee") -> tuple[Path, Path]:
        """Write ``<stem>.key`` and ``<stem>.pem`` into ``directory``; return (key, cert) paths."""
        directory.mkdir(parents=True, exist_ok=True)
        key_path, cert_path = directory / f"{stem}.key", directory / f"{stem}.pem"
        key_path.write_bytes(self.key_pem())
        cert_path.write_bytes(self.pem)
        return key_path, cert_path


def new_key(kind: Kind = "rsa") -> TrusteeKey:
    """A fresh trustee key: RSA 2048, or EC on P-256 / P-384."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1() if kind == "p256" else ec.SECP384R1())


def encryption_usage(key: TrusteeKey) -> x509.KeyUsage:
    """keyEncipherment for RSA, keyAgreement for EC: what check_trustee requires."""
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=is_rsa,
        data_encipherment=False,
        key_agreement=not is_rsa,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


SIGNING_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def trustee(
    ca: Issuer | None,
    kind: Kind = "rsa",
    *,
    name: str = "Acme Bank biometric trustee",
    now: dt.datetime = NOW,
    not_before: dt.timedelta = dt.timedelta(minutes=-5),
    days: int = 365,
    usage: x509.KeyUsage | None | Literal["encryption"] = "encryption",
    key: TrusteeKey | None = None,
    key_identifier: bool = True,
    is_ca: bool = False,
) -> Trustee:
    """A trustee certificate signed by ``ca`` (self-signed when ``ca`` is None).

    ``usage`` "encryption" gives :func:`encryption_usage`; None leaves keyUsage out.
    ``key_identifier`` False leaves the subjectKeyIdentifier out (containers then name the
    trustee by issuer and serial); ``is_ca`` marks it a CA certificate (refused as a trustee).
    """
    key = key or new_key(kind)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme Bank"),
        ]
    )
    issuer_name = ca.certificate.subject if ca else subject
    signing_key = ca.key if ca else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(profile.new_serial())
        .not_valid_before(now + not_before)
        .not_valid_after(now + not_before + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if key_identifier:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    if usage == "encryption":
        usage = encryption_usage(key)
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    return Trustee(key, builder.sign(signing_key, hashes.SHA256()))


def rsa_trustee(ca: Issuer, **kwargs: object) -> Trustee:
    """An RSA 2048 trustee (keyEncipherment) signed by ``ca``."""
    return trustee(ca, "rsa", **kwargs)  # type: ignore[arg-type]


def ec_trustee(ca: Issuer, curve: Literal["p256", "p384"] = "p256", **kwargs: object) -> Trustee:
    """An EC trustee (keyAgreement) on P-256 or P-384 signed by ``ca``."""
    return trustee(ca, curve, **kwargs)  # type: ignore[arg-type]


def expired_trustee(ca: Issuer, kind: Kind = "rsa") -> Trustee:
    """Signed by ``ca``, valid for ten days that ended yesterday."""
    return trustee(ca, kind, not_before=dt.timedelta(days=-11), days=10)


def future_trustee(ca: Issuer, kind: Kind = "rsa") -> Trustee:
    """Signed by ``ca``, valid only from tomorrow."""
    return trustee(ca, kind, not_before=dt.timedelta(days=1))


def signing_only_trustee(ca: Issuer, kind: Kind = "rsa") -> Trustee:
    """Signed by ``ca`` but its keyUsage is digitalSignature only: not for encryption."""
    return trustee(ca, kind, usage=SIGNING_USAGE)


def self_signed_trustee(kind: Kind = "rsa") -> Trustee:
    """A trustee that signed its own certificate (a hostile hub's own): untrusted unless pinned."""
    return trustee(None, kind)


def foreign_key_certificate(
    ca: Issuer, public_key: CertificatePublicKeyTypes, usage: x509.KeyUsage | None = None
) -> x509.Certificate:
    """A certificate ``ca`` signs for any kind of key (Ed25519, DSA, RSA 1024, P-521...): the
    unsupported keys' cases. ``usage`` defaults to keyEncipherment and keyAgreement both."""
    usage = usage or x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=True,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Odd key trustee")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(profile.new_serial())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(ca.key, hashes.SHA256())
    )
