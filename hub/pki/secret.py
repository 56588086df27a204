"""The hub secret (``--secret-file``): the root of the keys that guard CA keys and enrolment codes.

A file of at least 32 random bytes (64+ hex digits, or raw bytes), readable by its owner only.
Nothing is used as is: each purpose gets its own key by HKDF-SHA256 with a fixed ``info``, so a
key leaked from one use says nothing about the others. A PKCS#11 module is the production path
for the CA keys; this file is what works today (docs/enrolment.md, "Hub side").
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_BYTES_MIN = 32
SECRET_FILE_MODE = 0o600
CA_KEY_INFO = b"branch-kiosk ca-key v1"
ENROL_CODE_INFO = b"branch-kiosk enrol-code v1"
_READ_MAX = 4096  # a secret file is a line of hex; anything larger is a mistake


class SecretFileError(Exception):
    """The hub secret file is missing, too short, open to others or unreadable."""


class HubSecret:
    """The hub secret; derives one 32-byte key per purpose (never hands out the secret)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < SECRET_BYTES_MIN:
            raise SecretFileError(f"the hub secret must be at least {SECRET_BYTES_MIN} bytes")
        self._secret = secret

    def __repr__(self) -> str:
        return "HubSecret(<hidden>)"

    def key(self, info: bytes) -> bytes:
        """The 32-byte key for the purpose named by ``info`` (HKDF-SHA256, no salt)."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(self._secret)

    @classmethod
    def load(cls, path: Path) -> HubSecret:
        """Read a secret file; ``SecretFileError`` saying what to do when it is unusable."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise SecretFileError(
                f"the hub secret file {path} does not exist; create one with "
                f"`kiosk-hub secret create {path}`"
            ) from None
        except OSError as exc:
            raise SecretFileError(
                f"cannot read the hub secret file {path}: {exc.strerror}"
            ) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SecretFileError(f"the hub secret file {path} is not a regular file")
            if stat.S_IMODE(info.st_mode) & 0o077:
                raise SecretFileError(
                    f"the hub secret file {path} is readable by other users (mode "
                    f"{stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}` and, since "
                    "others may have read it, consider the tenant CA keys exposed"
                )
            data = os.read(fd, _READ_MAX + 1)
        finally:
            os.close(fd)
        if len(data) > _READ_MAX:
            raise SecretFileError(f"the hub secret file {path} is too large to be a secret file")
        secret = _decode(data)
        if len(secret) < SECRET_BYTES_MIN:
            raise SecretFileError(
                f"the hub secret file {path} holds fewer than {SECRET_BYTES_MIN} bytes; "
                f"create a new one with `kiosk-hub secret create PATH`"
            )
        return cls(secret)


def _decode(data: bytes) -> bytes:
    """Hex (64+ digits, surrounding whitespace ignored) or else the raw bytes."""
    text = data.strip()
    if len(text) >= 2 * SECRET_BYTES_MIN and len(text) % 2 == 0:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    return data


def create_secret_file(path: Path) -> None:
    """Write a new secret (32 random bytes as hex), mode 0600; refuse to overwrite a file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, SECRET_FILE_MODE)
    except FileExistsError:
        raise SecretFileError(
            f"{path} already exists; a new secret would make the tenant CA keys sealed under "
            "the old one unusable. Choose another path"
        ) from None
    except OSError as exc:
        raise SecretFileError(f"cannot create {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, SECRET_FILE_MODE)  # the umask may have taken owner bits away
        os.write(fd, (secrets.token_hex(SECRET_BYTES_MIN) + "\n").encode("ascii"))
    finally:
        os.close(fd)
