"""Check a kiosk's certificate hello: chain, validity, revocation and the signed challenge.

The kiosk signs ``provisioning.challenge.hello_payload(origin, tenant, nonce)``: the hub's
origin as the hub sees itself (``--public-url``, else the request's scheme and Host), the tenant
from its certificate, and this connection's nonce. So a signature cannot be replayed on another
connection, another hub or for another tenant. The certificate must chain to that tenant's CA,
be valid by the hub's clock, be one this hub issued and stored, and be neither revoked nor its
device. The chain and profile are checked once per certificate (``hub.pki.checked``); the
rest at every hello. Refusals carry fixed texts only: nothing the client sent is echoed or
logged.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from hub.pki.authorities import Authorities
from hub.pki.ca import serial_hex
from hub.pki.checked import Checked
from hub.storage import DeviceCertificate, NotFound, Storage
from provisioning import challenge, profile

CERTIFICATE_MAX_BYTES = 4096


class HelloRefused(Exception):
    """A certificate hello that does not prove a live device; the message is safe to send."""


async def check_certificate_hello(
    storage: Storage,
    authorities: Authorities,
    *,
    certificate: str | None,
    signature: str | None,
    origin: str,
    nonce: bytes,
    now: float,
) -> DeviceCertificate:
    """The stored certificate of the device that signed this connection's challenge.

    Raises ``HelloRefused`` saying what failed; ``StorageError`` when the database cannot
    answer (the caller closes with "try again").
    """
    if not certificate or not signature:
        raise HelloRefused("send certificate and signature together")
    try:
        der = challenge.decode_b64(certificate, "certificate", CERTIFICATE_MAX_BYTES)
        sig = challenge.decode_b64(signature, "signature", challenge.SIGNATURE_MAX)
    except challenge.BadChallenge as exc:
        raise HelloRefused(str(exc)) from None
    cert, tenant = await _chain_and_profile(authorities, der)
    try:
        profile.check_validity(cert, dt.datetime.fromtimestamp(now, dt.UTC))
        challenge.verify_hello(cert, sig, origin, tenant, nonce)
    except profile.CertificateRejected as exc:
        raise HelloRefused(str(exc)) from None
    except (challenge.BadSignature, challenge.BadChallenge):
        raise HelloRefused(
            "the signature does not match this connection's challenge, hub URL and tenant"
        ) from None
    stored = await storage.device_certificate(serial_hex(cert))
    if stored is None or stored.cert_der != der:
        raise HelloRefused("this hub has no record of that certificate; enrol the kiosk again")
    if stored.revoked_at is not None or stored.device.revoked:
        raise HelloRefused("the certificate was revoked; the kiosk needs a fresh enrolment code")
    return stored


async def _chain_and_profile(authorities: Authorities, der: bytes) -> tuple[x509.Certificate, str]:
    """The certificate and its tenant, once it chains to that tenant's CA and fits the profile.

    Those checks depend only on the bytes and the CA, so a certificate that passed them is
    remembered (``Authorities.checked``) and not checked again while its CA stays the same.
    """
    checked = authorities.checked.get(der)
    if checked is not None:
        try:
            ca_cert = await authorities.certificate(checked.tenant)
        except NotFound:
            ca_cert = None
        if ca_cert is not None and ca_cert == checked.ca:
            return checked.cert, checked.tenant
    try:
        cert = x509.load_der_x509_certificate(der)
        tenant = profile.tenant_of(cert)
    except (ValueError, profile.CertificateRejected):
        raise HelloRefused("the certificate is not a device certificate (DER X.509)") from None
    try:
        ca_cert = await authorities.certificate(tenant)
    except NotFound:
        ca_cert = None
    if ca_cert is None:
        raise HelloRefused("the certificate was not issued by a tenant CA of this hub")
    try:
        profile.check_device_profile(cert, ca_cert)
    except profile.CertificateRejected as exc:
        raise HelloRefused(str(exc)) from None
    authorities.checked.add(der, Checked(cert, tenant, ca_cert))
    return cert, tenant
