"""The database file's permissions: owner only, whatever the umask (it holds password hashes)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

# The database holds password hashes and CSRF tokens: owner only.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
JOURNAL_SUFFIXES = ("-wal", "-shm", "-journal")

# The package's logger: operators filter on "hub.storage", whichever module speaks.
log = logging.getLogger("hub.storage")


def make_private(path: Path) -> None:
    """Make the database at ``path`` readable by its owner only, whatever the umask.

    Missing directories are created 0700 and a missing database file 0600; SQLite gives its
    journal files (``-wal``, ``-shm``, ``-journal``) the database file's mode. An existing
    database or journal open to others is tightened to 0600 with a warning (or only warned
    about when this process may not change it). Existing directories are left as they are.
    """
    missing: list[Path] = []
    directory = path.parent
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to change
        os.chmod(directory, PRIVATE_DIR_MODE)  # the umask may have taken owner bits away
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)
        finally:
            os.close(fd)
    for file in (path, *(path.with_name(path.name + s) for s in JOURNAL_SUFFIXES)):
        _tighten(file)


def _tighten(file: Path) -> None:
    try:
        mode = stat.S_IMODE(file.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077 == 0:
        return
    try:
        os.chmod(file, PRIVATE_FILE_MODE)
    except OSError as exc:
        log.warning(
            "%s is readable by other users (mode %04o) and cannot be changed (%s); "
            "run chmod 600 on it as its owner",
            file,
            mode,
            exc.strerror,
        )
    else:
        log.warning("%s was open to other users (mode %04o); made it 0600", file, mode)
