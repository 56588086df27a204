"""The limits and checks on what the hub stores: names, passwords, file size limits, secrets."""

from __future__ import annotations

import hashlib
import unicodedata

from hub.storage.errors import InvalidLimit, InvalidName, WeakPassword

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
