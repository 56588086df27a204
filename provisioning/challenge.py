"""The signed hello and the signed call binding (pure: no I/O).

At every connection the hub sends a fresh 32-byte nonce (``challenge``); the kiosk signs
:func:`hello_payload` over the hub's origin, the tenant and that nonce with its device key
(ECDSA P-256, SHA-256, DER signature). Binding the origin stops a hostile hub from relaying the
signature to another hub; binding the tenant stops a cross-tenant replay; the nonce makes each
signature good for one connection. This works through a TLS-terminating proxy, where mTLS would
not.

:func:`call_payload` is what the kiosk signs for each call (its DTLS fingerprint with the
consultation id and the SAS commitment); the console checks it.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

HELLO_DOMAIN = b"branch-kiosk hello v1\0"
CALL_DOMAIN = b"branch-kiosk call v1\0"
NONCE_BYTES = 32
NONCE_CHARS = 43  # base64url of 32 bytes without padding
SIGNATURE_MAX = 80  # a DER ECDSA P-256 signature is at most 72 bytes
_ORIGIN_SCHEMES = {"http": "http", "ws": "http", "https": "https", "wss": "https"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BadChallenge(ValueError):
    """A nonce, URL or payload field is malformed (the message says which)."""


class BadSignature(ValueError):
    """The signature does not verify for this certificate and payload."""


def new_nonce() -> bytes:
    """32 random bytes for one connection's challenge."""
    return secrets.token_bytes(NONCE_BYTES)


def encode_nonce(nonce: bytes) -> str:
    """The nonce on the wire: base64url without padding (43 characters)."""
    if len(nonce) != NONCE_BYTES:
        raise BadChallenge(f"a nonce is {NONCE_BYTES} bytes")
    return base64.urlsafe_b64encode(nonce).rstrip(b"=").decode("ascii")


def decode_nonce(text: str) -> bytes:
    """Read a wire nonce strictly: 43 base64url characters that decode to 32 bytes."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if len(text) != NONCE_CHARS or any(c not in alphabet for c in text):
        raise BadChallenge(f"a nonce is {NONCE_CHARS} base64url characters")
    nonce = base64.urlsafe_b64decode(text + "=")
    if encode_nonce(nonce) != text:  # non-canonical trailing bits
        raise BadChallenge("the nonce is not canonical base64url")
    return nonce


def canonical_origin(url: str) -> str:
    """``scheme://host[:port]`` in lower case; ws maps to http and wss to https.

    The kiosk's WebSocket URL (``wss://hub.example.org/ws/kiosk``) and the hub's public URL
    (``https://hub.example.org/``) give the same origin; a default port is dropped.
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise BadChallenge("the hub URL is not a valid URL") from None
    scheme = _ORIGIN_SCHEMES.get(parts.scheme.lower())
    if scheme is None or not host:
        raise BadChallenge("the hub URL must be http(s):// or ws(s):// with a host name")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def hello_payload(hub_url: str, tenant: str, nonce: bytes) -> bytes:
    """What the kiosk signs to say hello: domain, hub origin, tenant and the hub's nonce."""
    if len(nonce) != NONCE_BYTES:
        raise BadChallenge(f"a nonce is {NONCE_BYTES} bytes")
    return (
        HELLO_DOMAIN
        + canonical_origin(hub_url).encode("ascii")
        + b"\0"
        + _field(tenant, "tenant")
        + b"\0"
        + nonce
    )


def call_payload(consultation_id: str, dtls_fingerprint: str, sas_commitment: str) -> bytes:
    """What the kiosk signs for a call: consultation id, its DTLS fingerprint, SAS commitment.

    The fingerprint is canonicalised as SDP writes it (``sha-256 AB:CD:...``: algorithm in
    lower case, hex in upper case); the commitment is the 64 lower-case hex digits of the
    adviser's ``sas_commit``. The console builds the same bytes to check the signature.
    """
    commitment = sas_commitment.strip().lower()
    if len(commitment) != 64 or any(c not in "0123456789abcdef" for c in commitment):
        raise BadChallenge("the SAS commitment is 64 hex digits")
    return (
        CALL_DOMAIN
        + _field(consultation_id, "consultation id")
        + b"\0"
        + _canonical_dtls_fingerprint(dtls_fingerprint).encode("ascii")
        + b"\0"
        + commitment.encode("ascii")
    )


def sign_hello(key: ec.EllipticCurvePrivateKey, hub_url: str, tenant: str, nonce: bytes) -> bytes:
    """The DER ECDSA-SHA256 signature over :func:`hello_payload`."""
    return sign(key, hello_payload(hub_url, tenant, nonce))


def verify_hello(
    cert: x509.Certificate, signature: bytes, hub_url: str, tenant: str, nonce: bytes
) -> None:
    """Check a hello signature with the certificate's key; raise :class:`BadSignature`.

    The certificate's chain, validity and revocation are the caller's to check
    (:func:`provisioning.profile.check_device_certificate`).
    """
    verify(cert, signature, hello_payload(hub_url, tenant, nonce))


def sign(key: ec.EllipticCurvePrivateKey, payload: bytes) -> bytes:
    """ECDSA-SHA256 over ``payload``, DER-encoded."""
    return key.sign(payload, ec.ECDSA(hashes.SHA256()))


def verify(cert: x509.Certificate, signature: bytes, payload: bytes) -> None:
    """Verify a DER ECDSA-SHA256 signature with ``cert``'s P-256 key."""
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
        public.curve, ec.SECP256R1
    ):
        raise BadSignature("the certificate's key is not ECDSA P-256")
    if len(signature) > SIGNATURE_MAX:
        raise BadSignature("the signature is too long for ECDSA P-256")
    try:
        public.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise BadSignature("the signature does not verify") from None


def _field(value: str, what: str) -> bytes:
    if not value or "\0" in value:
        raise BadChallenge(f"the {what} must be non-empty and contain no NUL")
    return value.encode("utf-8")


def _canonical_dtls_fingerprint(text: str) -> str:
    algorithm, _, digest = text.strip().partition(" ")
    digest = digest.strip().upper()
    groups = digest.split(":")
    if (
        algorithm.lower() != "sha-256"
        or len(groups) != 32
        or any(len(g) != 2 or any(c not in "0123456789ABCDEF" for c in g) for g in groups)
    ):
        raise BadChallenge("the DTLS fingerprint must be 'sha-256 AB:CD:...' (32 bytes)")
    return f"sha-256 {digest}"


def decode_b64(text: str, what: str, max_bytes: int) -> bytes:
    """Strict standard base64 (the wire format of ``certificate`` and ``signature``)."""
    if len(text) > (max_bytes + 2) // 3 * 4:
        raise BadChallenge(f"the {what} is longer than {max_bytes} bytes")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadChallenge(f"the {what} is not valid base64") from None
