"""A tenant's issuing CA at the hub: made, sealed, unsealed; it checks CSRs, issues, revokes.

The CA's private key exists in the clear only in memory: in the database it is PKCS#8 DER
sealed with AES-256-GCM under a key derived from the hub secret (``hub.pki.secret``), with the
tenant's name as associated data, so a sealed key copied to another tenant's row does not open.
The certificate profile itself lives in ``provisioning.profile`` (shared with the kiosk).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import AttributeOID, NameOID

from hub.pki.secret import CA_KEY_INFO, HubSecret
from hub.storage import NewCertificate, RevokedSerial, Storage, Tenant, TenantCa
from provisioning import profile

SEALED_VERSION = b"\x01"
NONCE_BYTES = 12
CRL_LIFETIME = dt.timedelta(days=1)
CSR_MAX_BYTES = 4096  # a P-256 request is some 300 bytes


class CaError(Exception):
    """A tenant CA could not do what was asked; the message says what to do."""


class CaKeyUnavailable(CaError):
    """The sealed CA key does not open under this hub secret (another ``--secret-file``?)."""


class NoTenantCa(CaError):
    """The tenant has no CA yet: it is made at the next start with ``--secret-file``."""


class CsrRejected(CaError):
    """A certificate request that fails a check; ``reason`` names which, for the error body."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Authority:
    """A tenant CA with its key unsealed, ready to sign (kept in memory only)."""

    tenant: Tenant
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the CA certificate's DER, lower-case hex (what technicians compare)."""
        return profile.fingerprint(self.cert)


# -- sealing --------------------------------------------------------------


def seal_key(secret: HubSecret, key: ec.EllipticCurvePrivateKey, tenant: str) -> bytes:
    """``01 || nonce || AES-256-GCM(PKCS#8 DER)`` with the tenant name as associated data."""
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(secret.key(CA_KEY_INFO)).encrypt(nonce, der, tenant.encode("utf-8"))
    return SEALED_VERSION + nonce + sealed


def unseal_key(secret: HubSecret, sealed: bytes, tenant: str) -> ec.EllipticCurvePrivateKey:
    """The CA key from its sealed form; ``CaKeyUnavailable`` when it does not open."""
    if not sealed.startswith(SEALED_VERSION) or len(sealed) < 1 + NONCE_BYTES + 16:
        raise CaKeyUnavailable(f"the CA key of tenant {tenant!r} is stored in an unknown form")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        der = AESGCM(secret.key(CA_KEY_INFO)).decrypt(nonce, body, tenant.encode("utf-8"))
    except InvalidTag:
        raise CaKeyUnavailable(
            f"the CA key of tenant {tenant!r} does not open with this hub secret: start the hub "
            "with the --secret-file it was made with"
        ) from None
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CaKeyUnavailable(f"the CA key of tenant {tenant!r} is not an EC key")
    return key


# -- making and loading ---------------------------------------------------


def new_tenant_ca(secret: HubSecret, tenant: str, now: dt.datetime) -> tuple[bytes, bytes]:
    """A fresh CA for ``tenant``: (certificate DER, sealed key)."""
    key = ec.generate_private_key(profile.CURVE())
    cert = profile.make_ca_certificate(key, tenant, now)
    return cert.public_bytes(serialization.Encoding.DER), seal_key(secret, key, tenant)


async def ensure_tenant_cas(storage: Storage, secret: HubSecret, *, now: float) -> list[Tenant]:
    """Give every tenant without a CA one (a migration cannot: it has no secret); return them."""
    made = []
    when = _utc(now)
    for tenant in await storage.tenants_without_ca():
        cert_der, sealed = new_tenant_ca(secret, tenant.name, when)
        await storage.store_tenant_ca(tenant.id, cert_der, sealed, now=now)
        made.append(tenant)
    return made


def authority(secret: HubSecret, ca: TenantCa) -> Authority:
    """The stored CA with its key unsealed."""
    cert = x509.load_der_x509_certificate(ca.cert_der)
    return Authority(ca.tenant, cert, unseal_key(secret, ca.key_sealed, ca.tenant.name))


async def load_authority(storage: Storage, secret: HubSecret, tenant: str) -> Authority:
    """The tenant's CA, unsealed; ``NoTenantCa`` when it has none yet."""
    ca = await storage.tenant_ca(tenant)
    if ca is None:
        raise NoTenantCa(
            f"tenant {tenant!r} has no CA yet; it is made when the hub or a command runs "
            "with --secret-file"
        )
    return authority(secret, ca)


def ca_certificate(ca: TenantCa) -> x509.Certificate:
    """The CA certificate alone (no secret needed)."""
    return x509.load_der_x509_certificate(ca.cert_der)


# -- requests and certificates --------------------------------------------


def load_csr(der: bytes) -> x509.CertificateSigningRequest:
    """A DER PKCS#10 request, or ``CsrRejected("malformed")``."""
    if len(der) > CSR_MAX_BYTES:
        raise CsrRejected("malformed", f"the certificate request exceeds {CSR_MAX_BYTES} bytes")
    try:
        return x509.load_der_x509_csr(der)
    except ValueError:
        raise CsrRejected(
            "malformed", "the body is not a DER PKCS#10 certificate request"
        ) from None


def challenge_password(csr: x509.CertificateSigningRequest) -> str | None:
    """The request's PKCS#9 challengePassword (the code's secret), if it has one."""
    try:
        value = csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value
    except (x509.AttributeNotFound, ValueError):
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def check_csr(
    csr: x509.CertificateSigningRequest, allowed_names: tuple[str, ...]
) -> ec.EllipticCurvePublicKey:
    """The request's public key after its checks: self-signature, P-256, subject CN.

    ``allowed_names``: the CNs this request may carry (the O, if any, is ignored: the CA sets
    it). Raises ``CsrRejected`` with the reason ``signature``, ``key_type`` or ``subject``.
    """
    try:
        signature_ok = csr.is_signature_valid
    except (ValueError, TypeError):
        signature_ok = False
    if not signature_ok:
        raise CsrRejected("signature", "the certificate request's self-signature does not verify")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
        public.curve, profile.CURVE
    ):
        raise CsrRejected("key_type", "the device key must be ECDSA P-256 (secp256r1)")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or names[0].value not in allowed_names:
        raise CsrRejected(
            "subject", "the certificate request's subject CN is not the device this code is for"
        )
    return public


def issue(
    ca: Authority,
    public_key: ec.EllipticCurvePublicKey,
    device_name: str,
    *,
    now: float,
    days: int = profile.DEVICE_CERT_DAYS,
) -> tuple[x509.Certificate, NewCertificate]:
    """Sign a device certificate; return it and its row for the database."""
    cert = profile.make_device_certificate(
        ca_cert=ca.cert,
        ca_key=ca.key,
        public_key=public_key,
        device_name=device_name,
        now=_utc(now),
        days=days,
    )
    record = NewCertificate(
        serial=serial_hex(cert),
        spki_sha256=profile.spki_sha256(public_key),
        cert_der=cert.public_bytes(serialization.Encoding.DER),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
    )
    return cert, record


def serial_hex(cert: x509.Certificate) -> str:
    """The serial as the database keeps it: lower-case hex, no leading zeros."""
    return format(cert.serial_number, "x")


def make_crl(ca: Authority, revoked: list[RevokedSerial], *, now: float) -> bytes:
    """The tenant's CRL (DER), signed by its CA, valid for a day; numbered by issue time (ms)."""
    when = _utc(now)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(when)
        .next_update(when + CRL_LIFETIME)
        .add_extension(x509.CRLNumber(int(now * 1000)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(entry.serial, 16))
            .revocation_date(_utc(entry.revoked_at))
            .build()
        )
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
