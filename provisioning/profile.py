"""The certificate profile of tenant CAs and device certificates (pure: no I/O).

Tenant CA (one per tenant, at the hub; its key sealed under the hub secret):
  ECDSA P-256, self-signed, subject ``CN=Branch Kiosk tenant CA <tenant>, O=<tenant>``,
  basicConstraints CA:true pathlen 0 (critical), keyUsage keyCertSign + cRLSign (critical),
  subjectKeyIdentifier; valid 10 years.
Device certificate (the key is made on the device and never leaves it):
  ECDSA P-256, subject ``CN=<device name>, O=<tenant>``, serial 128 random bits,
  notBefore = issue time - 5 minutes (a device clock a little behind still accepts it),
  notAfter = issue time + 30 days (default), basicConstraints CA:false (critical),
  keyUsage digitalSignature (critical), extendedKeyUsage clientAuth + documentSigning,
  authorityKeyIdentifier + subjectKeyIdentifier.

Decision on contentCommitment (nonRepudiation): left out. The device key signs automatically,
without a person's act of will; the customer's commitment is the pen signature the document
carries, and the device's signature seals what was signed where (RFC 5280 §4.2.1.3 reserves
contentCommitment for a signer's commitment). digitalSignature covers the hello, the call
binding and the document seal; documentSigning (RFC 9336) names the document use.

The CN of the tenant CA is cut to X.509's 64-character limit for long tenant names; the O
always carries the whole tenant name (64 characters at most, as the hub's names are).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CURVE = ec.SECP256R1
CA_VALIDITY = dt.timedelta(days=3652)  # ten years, leap days included
DEVICE_CERT_DAYS = 30
BACKDATE = dt.timedelta(minutes=5)  # clock skew between hub and device
RENEW_FRACTION = 2 / 3
SERIAL_BITS = 128
CA_CN_PREFIX = "Branch Kiosk tenant CA "
NAME_MAX = 64  # X.509 upper bound for CN and O (RFC 5280 appendix A)
# id-kp-documentSigning, RFC 9336 (cryptography has no constant for it).
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
DEVICE_EKU = (ExtendedKeyUsageOID.CLIENT_AUTH, DOCUMENT_SIGNING)
FINGERPRINT_HEX = 64


class BadFingerprint(ValueError):
    """The text is not a SHA-256 fingerprint (64 hex digits, optionally grouped)."""


class CertificateRejected(ValueError):
    """A device certificate fails the profile, the chain, or its validity (the reason says)."""


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lower-case hex without separators."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def display_fingerprint(value: str) -> str:
    """A fingerprint for people to compare: 16 blocks of 4 hex digits, ``ab12 cd34 ...``."""
    hex_digits = parse_fingerprint(value)
    return " ".join(hex_digits[i : i + 4] for i in range(0, FINGERPRINT_HEX, 4))


def parse_fingerprint(text: str) -> str:
    """Read a fingerprint as people copy it (any case; colons, spaces, dashes; ``sha256:``).

    Returns 64 lower-case hex digits or raises :class:`BadFingerprint`.
    """
    body = text.strip().lower()
    for prefix in ("sha256:", "sha-256:", "sha256 ", "sha-256 "):
        body = body.removeprefix(prefix)
    digits = "".join(c for c in body if c not in " :-\t")
    if len(digits) != FINGERPRINT_HEX or any(c not in "0123456789abcdef" for c in digits):
        raise BadFingerprint("a CA fingerprint is 64 hex digits (SHA-256), grouped or not")
    return digits


def spki_sha256(public_key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 hex of the DER SubjectPublicKeyInfo: how the hub finds a device on renewal."""
    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def ca_subject(tenant: str) -> x509.Name:
    """``CN=Branch Kiosk tenant CA <tenant>, O=<tenant>`` (CN cut to 64 characters)."""
    common_name = (CA_CN_PREFIX + tenant)[:NAME_MAX]
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, tenant),
        ]
    )


def device_subject(device_name: str, tenant: str) -> x509.Name:
    """``CN=<device name>, O=<tenant>``."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, device_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, tenant),
        ]
    )


def make_ca_certificate(
    key: ec.EllipticCurvePrivateKey, tenant: str, now: dt.datetime
) -> x509.Certificate:
    """The tenant CA's self-signed certificate for ``key`` (the hub makes and seals the key)."""
    _check_key(key.public_key())
    name = ca_subject(tenant)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(new_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """A CA signs certificates and CRLs only; a device signs (digitalSignature) only."""
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def make_device_certificate(
    *,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    public_key: ec.EllipticCurvePublicKey,
    device_name: str,
    now: dt.datetime,
    days: int = DEVICE_CERT_DAYS,
) -> x509.Certificate:
    """Issue a device certificate; the tenant (O) is the CA's, whatever the request said."""
    _check_key(public_key)
    if days < 1:
        raise ValueError("a device certificate lives at least one day")
    ca_public = ca_key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(device_subject(device_name, tenant_of(ca_cert)))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(new_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(DEVICE_EKU)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def new_serial() -> int:
    """A positive 128-bit random serial (the top bit clear keeps the DER integer 16 bytes)."""
    return secrets.randbits(SERIAL_BITS - 1) | 1


def check_device_certificate(
    cert: x509.Certificate, ca_cert: x509.Certificate, now: dt.datetime
) -> str:
    """Check ``cert`` against the tenant CA and the profile at ``now``; return the device name.

    Raises :class:`CertificateRejected` naming what failed (issuer, signature, key, usage,
    validity). Revocation is the caller's (the hub's database, or the CRL offline).
    """
    check_device_profile(cert, ca_cert)
    check_validity(cert, now)
    return device_name(cert)


def check_device_profile(cert: x509.Certificate, ca_cert: x509.Certificate) -> None:
    """The checks that depend only on the two certificates: issuer, signature, key, usage.

    A result that holds for given bytes holds for good (the hub caches it); validity at a
    time is :func:`check_validity`'s. Raises :class:`CertificateRejected`.
    """
    if cert.issuer != ca_cert.subject:
        raise CertificateRejected("the certificate was not issued by this tenant's CA")
    ca_public = ca_cert.public_key()
    if not isinstance(ca_public, ec.EllipticCurvePublicKey):
        raise CertificateRejected("the tenant CA's key is not an EC key")
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        raise CertificateRejected("the certificate's signature does not verify") from None
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, CURVE):
        raise CertificateRejected("the certificate's key is not ECDSA P-256")
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise CertificateRejected("the certificate lacks the device profile's extensions") from None
    if constraints.ca or not usage.digital_signature:
        raise CertificateRejected("the certificate is not a device certificate")
    if ExtendedKeyUsageOID.CLIENT_AUTH not in extended:
        raise CertificateRejected("the certificate is not for client authentication")


def check_validity(cert: x509.Certificate, now: dt.datetime) -> None:
    """``now`` lies within the certificate's validity; else :class:`CertificateRejected`."""
    if now < cert.not_valid_before_utc:
        raise CertificateRejected("the certificate is not valid yet (check the clock)")
    if now > cert.not_valid_after_utc:
        raise CertificateRejected("the certificate has expired: the device needs a fresh code")


def renew_at(cert: x509.Certificate) -> dt.datetime:
    """When to renew: two thirds into the certificate's lifetime (UTC)."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return start + (end - start) * RENEW_FRACTION


def device_name(cert: x509.Certificate) -> str:
    """The certificate's CN: the device's name at the hub."""
    return _single(cert.subject, NameOID.COMMON_NAME)


def tenant_of(cert: x509.Certificate) -> str:
    """The certificate's O: the tenant (for a device certificate and its CA alike)."""
    return _single(cert.subject, NameOID.ORGANIZATION_NAME)


def _single(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        label = "CN" if oid == NameOID.COMMON_NAME else "O"
        raise CertificateRejected(f"the certificate's subject needs exactly one {label}")
    return values[0].value


def _check_key(public_key: object) -> None:
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, CURVE
    ):
        raise CertificateRejected("keys in this profile are ECDSA P-256")
