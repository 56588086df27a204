"""The limits and checks on what the hub stores: names, passwords, file size limits, secrets."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from urllib.parse import urlsplit

from hub.storage.errors import InvalidLimit, InvalidName, InvalidSetting, WeakPassword
from hub.storage.records import RETENTION_LIMITS, ROLES

DEFAULT_TENANT = "default"
NAME_MAX = 64  # the protocol's limit for names shown to the other side
PASSWORD_MIN = 10
PASSWORD_MAX = 1024
DEVICE_TOKEN_PREFIX = "bkd_"  # noqa: S105 - a public prefix, not a secret
# A device that authenticates with a certificate holds no token: its token_hash column holds
# this marker and random hex, which no SHA-256 hex digest of a token can equal.
NO_TOKEN_PREFIX = "none:"  # noqa: S105 - a marker, not a secret
MIB = 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 25 * MIB  # the migration's column default says the same
MAX_FILE_BYTES_LIMIT = 1024 * MIB  # protocol.messages.MAX_FILE_BYTES_LIMIT
TRUSTEE_CERT_MAX = 8192  # protocol.messages.TRUSTEE_CERT_MAX: the welcome carries it
TRUSTEE_NAME_MAX = 100  # protocol.messages.TRUSTEE_NAME_MAX
TSA_URL_MAX = 300  # protocol.messages.TSA_URL_MAX
# protocol.messages.TSA_URL_PATTERN: http(s) and URL characters only (it reaches the kiosk)
_TSA_URL = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")


def secret_digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (token, session id): safe to store and look up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_name(name: str, what: str) -> str:
    """Validate a display name; raise ``InvalidName`` with a message a technician can act on."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise InvalidName(f"{what} name must not be empty")
    if len(name) > NAME_MAX:
        raise InvalidName(f"{what} name must be at most {NAME_MAX} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name):
        raise InvalidName(f"{what} name must not contain control characters")
    return name


def check_max_file_bytes(value: int) -> int:
    """Refuse a per-file limit below 0 or above ``MAX_FILE_BYTES_LIMIT``."""
    if not 0 <= value <= MAX_FILE_BYTES_LIMIT:
        raise InvalidLimit(
            f"the file size limit must be between 0 and {MAX_FILE_BYTES_LIMIT // MIB} MiB"
        )
    return value


def check_password(password: str) -> None:
    """Refuse passwords that are too short or too long."""
    if len(password) < PASSWORD_MIN:
        raise WeakPassword(f"password must be at least {PASSWORD_MIN} characters long")
    if len(password) > PASSWORD_MAX:
        raise WeakPassword(f"password must be at most {PASSWORD_MAX} characters long")


def check_trustee(cert_der: bytes, name: str) -> tuple[bytes, str]:
    """The shape of a trustee setting: a certificate of at most ``TRUSTEE_CERT_MAX`` bytes and
    a name of 1 to ``TRUSTEE_NAME_MAX`` characters without control characters.

    Whether the certificate is a usable one is ``hub.pki.trustee``'s check, before this.
    """
    if not cert_der or len(cert_der) > TRUSTEE_CERT_MAX:
        raise InvalidSetting(
            f"the trustee certificate must be 1 to {TRUSTEE_CERT_MAX} bytes of DER"
        )
    name = unicodedata.normalize("NFC", name.strip())
    if not name or len(name) > TRUSTEE_NAME_MAX:
        raise InvalidName(f"the trustee name must be 1 to {TRUSTEE_NAME_MAX} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name):
        raise InvalidName("the trustee name must not contain control characters")
    return cert_der, name


def check_tsa_url(url: str) -> str:
    """A timestamp authority URL: http:// or https://, at most ``TSA_URL_MAX`` characters,
    with a host and a valid port if any; ``InvalidSetting`` otherwise."""
    try:
        parts = urlsplit(url)
        usable = bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:  # a bad IPv6 literal or port: urllib's own error, not ours
        usable = False
    if len(url) > TSA_URL_MAX or not _TSA_URL.fullmatch(url) or not usable:
        raise InvalidSetting(
            f"the timestamp authority URL must start with http:// or https://, hold no spaces "
            f"or quotes and be at most {TSA_URL_MAX} characters"
        )
    return url


BRANCH_MAX = 64


def check_branch(branch: str | None) -> str | None:
    """A device's branch label: 1 to ``BRANCH_MAX`` printable characters, or None for none."""
    if branch is None:
        return None
    label = unicodedata.normalize("NFC", branch.strip())
    if not label or len(label) > BRANCH_MAX or not label.isprintable():
        raise InvalidName(
            f"a branch label must be 1 to {BRANCH_MAX} printable characters (no control "
            "characters or line breaks)"
        )
    return label


def check_role(role: str) -> str:
    """One of ``ROLES``; ``InvalidSetting`` otherwise."""
    if role not in ROLES:
        raise InvalidSetting(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def check_retention(changes: Mapping[str, object]) -> dict[str, int]:
    """Retention changes with known keys and whole values within ``RETENTION_LIMITS``."""
    checked: dict[str, int] = {}
    for key, value in changes.items():
        limits = RETENTION_LIMITS.get(key)
        if limits is None:
            raise InvalidSetting(
                f"unknown retention setting {key!r}: use one of {', '.join(RETENTION_LIMITS)}"
            )
        low, high = limits
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidSetting(f"{key} must be a whole number from {low} to {high}")
        checked[key] = value
    return checked
