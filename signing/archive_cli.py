"""``kiosk-archive``: open an item a kiosk sealed to the tenant's archive (docs/archive.md).

``kiosk-archive open FILE --key KEY.pem [--password-file P] [--cert CERT] [--out PATH]``
decrypts the CMS the kiosk sealed (a signed contract's PDF or a chat transcript as UTF-8 text)
with the tenant's archive key and writes it to PATH (default: FILE with ``.pdf`` or ``.txt``).
Exit 0: written; 1: the file is not an archived item, or the key does not open it (the reason
code and why); 2: usage or I/O error. Nothing of the content is ever printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from protocol.messages import MAX_FILE_BYTES_LIMIT
from signing.cli_input import Parser, UsageError, private_key, read_file
from signing.sealed import OpenError, open_bytes

OPENED, REFUSED, USAGE = 0, 1, 2
# What a hub accepts for one archived item: the largest tenant file limit plus the CMS around it.
ARCHIVE_MAX = MAX_FILE_BYTES_LIMIT + 64 * 1024


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="kiosk-archive",
        description="Open what a branch kiosk sealed to the tenant's archive certificate.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    opening = commands.add_parser(
        "open", help="decrypt one archived item (a signed PDF or a chat transcript)"
    )
    opening.add_argument("file", type=Path, help="the archived item (CMS, DER) from the hub")
    opening.add_argument(
        "--key", type=Path, required=True, help="the archive's private key (PEM/DER)"
    )
    opening.add_argument("--password-file", type=Path, help="file holding the key's password")
    opening.add_argument(
        "--cert",
        type=Path,
        help="the archive certificate (needed only when the item names it by issuer and serial)",
    )
    opening.add_argument(
        "--out", type=Path, help="where to write the content (default: FILE.pdf or FILE.txt)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns (and, as a console script, exits with) 0, 1 or 2."""
    try:
        args = _parser().parse_args(argv)
        data = read_file(args.file)
        key = private_key(args.key, args.password_file, role="an archive key")
        cert = _certificate(args.cert) if args.cert else None
    except UsageError as exc:
        print(f"kiosk-archive: {exc}", file=sys.stderr)
        return USAGE
    try:
        content = open_bytes(data, key, certificate=cert, max_bytes=ARCHIVE_MAX)
    except OpenError as exc:
        print(f"kiosk-archive: cannot open {args.file}: {exc.reason}: {exc}", file=sys.stderr)
        return REFUSED
    out: Path = args.out or args.file.with_suffix(suffix(content))
    try:
        _write(out, content)
    except OSError as exc:
        print(f"kiosk-archive: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return USAGE
    print(f"wrote {out} ({len(content)} bytes)")
    return OPENED


def suffix(content: bytes) -> str:
    """``.pdf`` for a signed contract, ``.txt`` for anything else (a transcript)."""
    return ".pdf" if content.startswith(b"%PDF-") else ".txt"


def _write(path: Path, content: bytes) -> None:
    # owner-only from the first byte: it is a customer's contract or conversation
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)


def _certificate(path: Path) -> x509.Certificate:
    data = read_file(path)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise UsageError(f"{path} holds no certificate (PEM or DER)") from None


if __name__ == "__main__":
    sys.exit(main())
