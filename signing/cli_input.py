"""What the offline signing commands (``kiosk-verify``, ``kiosk-archive``) share: reading their
input files and keys, and turning bad arguments into one typed usage error (exit 2)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class UsageError(Exception):
    """Bad arguments or an input file that cannot be read or loaded: exit 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(message)


def read_file(path: Path) -> bytes:
    """The bytes of ``path``; :class:`UsageError` naming it when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def private_key(path: Path, password_file: Path | None, *, role: str) -> PrivateKey:
    """The RSA or EC private key (PEM or DER) at ``path``, decrypted with the password in
    ``password_file`` (one trailing newline dropped); ``role`` names the key in errors."""
    data = read_file(path)
    password = read_file(password_file).rstrip(b"\r\n") if password_file else None
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password)
        else:
            key = serialization.load_der_private_key(data, password)
    except TypeError:
        raise UsageError(f"{path}: encrypted key needs --password-file") from None
    except ValueError:
        raise UsageError(f"{path}: not a private key, or the password is wrong") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise UsageError(f"{path}: {role} is RSA or EC")
    return key
