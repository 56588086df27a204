"""The signalling protocol's limits, patterns and closed vocabularies (roles, end reasons, error
codes), shared by its messages, the hub and the kiosk.

Re-exported by ``protocol.messages``, where the messages that use them live.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "ID_PATTERN",
    "NAME_MAX",
    "SDP_MAX",
    "RESUME_TOKEN_PATTERN",
    "MAX_FILE_BYTES_LIMIT",
    "NONCE_PATTERN",
    "BASE64_PATTERN",
    "CERTIFICATE_B64_MAX",
    "SIGNATURE_B64_MAX",
    "RELAY_TOKEN_PATTERN",
    "TRUSTEE_CERT_MAX",
    "TRUSTEE_CERT_B64_MAX",
    "TRUSTEE_NAME_MAX",
    "TSA_URL_MAX",
    "TSA_URL_PATTERN",
    "REFERENCE_PATTERN",
    "Role",
    "IcePolicy",
    "ArchiveKind",
    "EndReason",
    "ErrorCode",
]

# Consultation ids are hub-generated opaque tokens.
ID_PATTERN = r"[A-Za-z0-9_-]{8,64}"
NAME_MAX = 64
SDP_MAX = 48 * 1024
# Resume tokens: hub-generated, URL-safe base64 of 32 random bytes (docs/reconnection.md).
RESUME_TOKEN_PATTERN = r"[A-Za-z0-9_-]{43}"  # noqa: S105 - a pattern, not a secret
# No tenant may allow more than this for one exchanged file (docs/exchange.md).
MAX_FILE_BYTES_LIMIT = 1024 * 1024 * 1024
# The signed hello (docs/enrolment.md): a hub nonce, a device certificate of at most 4 KiB and
# a DER ECDSA P-256 signature (at most 72 bytes; 80 allowed), both in standard base64.
NONCE_PATTERN = r"[A-Za-z0-9_-]{43}"
BASE64_PATTERN = r"[A-Za-z0-9+/]+={0,2}"
CERTIFICATE_B64_MAX = (4096 + 2) // 3 * 4
SIGNATURE_B64_MAX = (80 + 2) // 3 * 4
# A kiosk connection's bearer credential for /api/relay: 32 random bytes, base64url.
RELAY_TOKEN_PATTERN = r"[A-Za-z0-9_-]{43}"  # noqa: S105 - a pattern, not a secret
# The tenant's trustee for sealed signature evidence (docs/signature.md): a DER certificate of
# at most 8 KiB in standard base64, the name shown to the customer, a timestamp authority URL.
TRUSTEE_CERT_MAX = 8192
TRUSTEE_CERT_B64_MAX = (TRUSTEE_CERT_MAX + 2) // 3 * 4
TRUSTEE_NAME_MAX = 100
TSA_URL_MAX = 300
TSA_URL_PATTERN = r"https?://[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+"
# The conversation reference the goodbye screen shows (docs/signalling.md): ten Crockford
# base32 symbols (no I, L, O, U) in two groups; hub.governance.references makes and parses it.
REFERENCE_PATTERN = r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}"

Role = Literal["kiosk", "adviser"]
IcePolicy = Literal["all", "relay"]
# What a tenant may keep, sealed at the kiosk to its archive certificate (docs/archive.md).
ArchiveKind = Literal["contract", "transcript"]
EndReason = Literal[
    "hangup",  # the adviser or the customer ended the call
    "customer_left",  # the kiosk left (customer abort, inactivity)
    "peer_gone",  # the other side disconnected from the hub
    "failed",  # the peer connection could not be established or broke
    "timeout",  # inactivity
]
ErrorCode = Literal[
    "malformed",
    "too_large",
    "unsupported_version",
    "unknown_type",
    "unknown_field",
    "missing_field",
    "wrong_type",
    "invalid_value",
    "protocol_error",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "rate_limited",
    "internal",
]
