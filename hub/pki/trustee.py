"""A tenant's trustee at the hub: its certificate checked before it is stored, and issued.

The trustee holds the private key that opens the sealed biometric evidence of a signature
(docs/signature.md); the hub and the kiosks only ever see its certificate. ``check_certificate``
is what ``kiosk-hub tenant set --trustee-cert`` runs: it refuses what no kiosk would accept
(does not parse, expired, not for encryption, an unsupported key) and says whether the tenant CA
signed it (if not, kiosks accept it only when it is pinned in their configuration).
``issue`` is ``kiosk-hub tenant trustee-issue``: the tenant CA signs the trustee's own request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID

from hub.pki.ca import Authority
from hub.storage import TRUSTEE_CERT_MAX
from provisioning import profile

TRUSTEE_DAYS = 825  # the CA/Browser Forum's former cap; a trustee's is renewed by its owner
FILE_MAX = 64 * 1024  # a certificate or request file; anything larger is not one
RSA_BITS_MIN = 2048
RSA_BITS_MAX = 16384
EC_CURVES = (ec.SECP256R1, ec.SECP384R1)  # what signing.sealed can agree keys on (RFC 5753)


class TrusteeRefused(Exception):
    """A trustee certificate or request the hub will not use; ``reason`` names the check.

    Reasons: ``malformed``, ``private_key``, ``too_large``, ``expired``, ``not_yet_valid``,
    ``not_for_encryption``, ``unsupported_key``, ``signature``, ``subject``, ``ca_expired``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class CheckedTrustee:
    """A trustee certificate that passed: its DER, expiry and whether the tenant CA signed it."""

    certificate: x509.Certificate
    der: bytes
    signed_by_ca: bool

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER, lower-case hex (what a kiosk pins, what the audit names)."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def not_after(self) -> dt.datetime:
        """When it expires (UTC)."""
        return self.certificate.not_valid_after_utc


# -- reading --------------------------------------------------------------


def read_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes; ``TrusteeRefused`` for anything else."""
    if len(data) > FILE_MAX:
        raise TrusteeRefused("too_large", "the file is too large to be a certificate")
    if b"PRIVATE KEY-----" in data:
        raise TrusteeRefused(
            "private_key",
            "the file holds a private key, not a certificate: give the trustee's certificate "
            "and keep its key away from the hub",
        )
    try:
        with warnings.catch_warnings():
            # e.g. a serial number that is not positive: RFC 5280 forbids it, kiosks refuse it
            warnings.simplefilter("error", CryptographyDeprecationWarning)
            if data.lstrip().startswith(b"-----BEGIN"):
                cert = x509.load_pem_x509_certificate(data)
            else:
                cert = x509.load_der_x509_certificate(data)
        # cryptography parses these lazily: a broken one would fail later, in another check
        _ = (cert.issuer, cert.subject, cert.extensions)
        _ = (cert.not_valid_before_utc, cert.not_valid_after_utc)
    except (
        ValueError,
        x509.InvalidVersion,
        CryptographyDeprecationWarning,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
    ):
        raise TrusteeRefused(
            "malformed", "the file is not an X.509 certificate (PEM or DER)"
        ) from None
    return cert


def read_request(data: bytes) -> x509.CertificateSigningRequest:
    """A PKCS#10 request from PEM or DER bytes; ``TrusteeRefused`` for anything else."""
    if len(data) > FILE_MAX:
        raise TrusteeRefused("too_large", "the file is too large to be a certificate request")
    if b"PRIVATE KEY-----" in data:
        raise TrusteeRefused(
            "private_key",
            "the file holds a private key, not a certificate request: the trustee makes the "
            "request (openssl req -new) and keeps the key",
        )
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except ValueError:
        raise TrusteeRefused(
            "malformed", "the file is not a PKCS#10 certificate request (PEM or DER)"
        ) from None


# -- checking -------------------------------------------------------------


def check_certificate(
    data: bytes, *, ca: x509.Certificate | None, now: dt.datetime
) -> CheckedTrustee:
    """Check a trustee certificate (PEM or DER) as a kiosk would, at ``now``.

    Refused (``TrusteeRefused``): not a certificate, larger than the welcome carries, expired
    or not yet valid, an unsupported key, not an encryption certificate (keyEncipherment for
    RSA, keyAgreement for EC). Whether ``ca`` (the tenant CA; None: it has none yet) signed it
    is reported, not refused.
    """
    cert = read_certificate(data)
    der = cert.public_bytes(serialization.Encoding.DER)
    if len(der) > TRUSTEE_CERT_MAX:
        raise TrusteeRefused(
            "too_large", f"the certificate exceeds {TRUSTEE_CERT_MAX} bytes: kiosks refuse it"
        )
    if now > cert.not_valid_after_utc:
        raise TrusteeRefused(
            "expired",
            f"the certificate expired on {_day(cert.not_valid_after_utc)}: ask the trustee "
            "for a current one",
        )
    if now < cert.not_valid_before_utc:
        raise TrusteeRefused(
            "not_yet_valid",
            f"the certificate is valid only from {_day(cert.not_valid_before_utc)}; kiosks "
            "would refuse it until then",
        )
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm:
        raise TrusteeRefused(
            "unsupported_key", "the trustee key must be RSA (2048 bits or more), EC P-256 or P-384"
        ) from None
    except (ValueError, TypeError):
        raise TrusteeRefused(
            "malformed", "the certificate's public key does not parse: the file is damaged"
        ) from None
    public = _check_key(key)
    _check_usage(cert, is_rsa=isinstance(public, rsa.RSAPublicKey))
    return CheckedTrustee(cert, der, ca is not None and _signed_by(cert, ca))


def _check_key(public: object) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    if isinstance(public, rsa.RSAPublicKey):
        if not RSA_BITS_MIN <= public.key_size <= RSA_BITS_MAX:
            raise TrusteeRefused(
                "unsupported_key", f"an RSA trustee key needs at least {RSA_BITS_MIN} bits"
            )
        return public
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, EC_CURVES):
        return public
    raise TrusteeRefused(
        "unsupported_key", "the trustee key must be RSA (2048 bits or more), EC P-256 or P-384"
    )


def _check_usage(cert: x509.Certificate, *, is_rsa: bool) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    wanted = "keyEncipherment" if is_rsa else "keyAgreement"
    ok = usage is not None and (usage.key_encipherment if is_rsa else usage.key_agreement)
    if not ok:
        raise TrusteeRefused(
            "not_for_encryption",
            f"the certificate is not an encryption certificate: its keyUsage lacks {wanted}",
        )


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        # the issuer is parsed on first use: a damaged one is "not signed by the CA"
        if cert.issuer != ca.subject:
            return False
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# -- issuing --------------------------------------------------------------


def issue(
    ca: Authority,
    request: x509.CertificateSigningRequest,
    *,
    now: dt.datetime,
    days: int = TRUSTEE_DAYS,
) -> x509.Certificate:
    """The tenant CA signs a trustee's request: an encryption certificate for its key.

    The request's self-signature must verify and its key be RSA 2048+ or EC P-256/P-384; the
    subject is the request's; keyUsage keyEncipherment (RSA) or keyAgreement (EC), extended key
    usage emailProtection (S/MIME, which CMS tools expect); valid ``days``, at most until the
    CA itself expires. The hub never sees the trustee's private key.
    """
    if days < 1:
        raise ValueError("a trustee certificate lives at least one day")
    try:
        signature_ok = request.is_signature_valid
    except (ValueError, TypeError):
        signature_ok = False
    if not signature_ok:
        raise TrusteeRefused(
            "signature", "the certificate request's self-signature does not verify"
        )
    public = _check_key(request.public_key())
    if not request.subject.rdns:
        raise TrusteeRefused("subject", "the certificate request has an empty subject")
    not_after = min(now + dt.timedelta(days=days), ca.cert.not_valid_after_utc)
    if not_after <= now + dt.timedelta(days=1):
        raise TrusteeRefused(
            "ca_expired", "the tenant CA expires within a day: it cannot issue a trustee"
        )
    is_rsa = isinstance(public, rsa.RSAPublicKey)
    return (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(profile.new_serial())
        .not_valid_before(now - profile.BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_encryption_usage(is_rsa=is_rsa), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def _encryption_usage(*, is_rsa: bool) -> x509.KeyUsage:
    """keyEncipherment for RSA key transport, keyAgreement for EC (ECDH); nothing else."""
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


def _day(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")
