"""What a process left on disk, to prove a canary is nowhere at rest (names and contents)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def files_under(root: Path) -> Iterator[Path]:
    """Every regular file below ``root`` (links are not followed: their target is read where
    it lies)."""
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield path


def everything_in(root: Path) -> bytes:
    """Every file name and every byte under ``root``."""
    files = list(files_under(root))
    return b"".join([str(p).encode() for p in files] + [p.read_bytes() for p in files])
