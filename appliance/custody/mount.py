"""Where the session vault lives: a dedicated tmpfs, mounted by systemd or by us.

``prepare_location`` finds (or, as root, makes) the vault's file system:

- a tmpfs already mounted there (``systemd/run-kiosk-session.mount``): used as is;
- nothing mounted and we are root: we mount a tmpfs (mode 0700, nodev, nosuid, noexec,
  size-capped, ``noswap`` when the kernel knows it, Linux 6.4+), creating missing parent
  directories 0755 so the service user can reach it;
- another file system mounted there (e.g. a test's loop-mounted ext4): used with a warning,
  refused in production;
- not root and nothing mounted: a plain directory with a loud warning (developers only),
  refused in production.

Every tmpfs we mount (first mount or the wipe's remount) belongs to ``owner`` when one is
given (``kiosk wipe --owner kiosk:kiosk`` in kiosk.service); otherwise a remount keeps the
owner of the tmpfs root it replaces and a first mount belongs to root. Without that the
unprivileged kiosk could not write the vault a root wipe had just remounted.

Mounting goes through the small :class:`Mounter` port so failure paths (a busy mount, no
permission) can be tested with a stand-in; :class:`LinuxMounter` calls mount(2) directly.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import grp
import logging
import os
import pwd
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MNT_DETACH = 2


class VaultLocationError(Exception):
    """The vault's location cannot be used; the message says why and what to do."""


class LocationKind(StrEnum):
    """What backs the vault directory."""

    TMPFS = "tmpfs"
    MOUNTED = "mounted"  # some other file system mounted there
    DIRECTORY = "directory"  # developer fallback: a plain directory on whatever holds it


@dataclass(frozen=True)
class VaultLocation:
    """A prepared vault location."""

    path: Path
    kind: LocationKind
    size_bytes: int
    noswap: bool | None  # None: not a tmpfs, the question does not apply
    remountable: bool  # we may unmount and mount a fresh tmpfs there (root, tmpfs)
    owner: tuple[int, int] | None = None  # uid, gid of tmpfs we mount; None: keep / root


class Mounter(Protocol):
    """The mount operations the vault needs."""

    def filesystem_at(self, path: Path) -> tuple[str, frozenset[str]] | None:
        """File system type and options if ``path`` is a mount point.

        The options hold both the per-mount flags (``nodev``, ``nosuid``, ``noexec``) and the
        super-block options (``size=``, ``noswap``).
        """
        ...

    def mount_tmpfs(self, path: Path, options: str) -> None:
        """Mount a tmpfs (nodev, nosuid, noexec) with ``options``; raises ``OSError``."""
        ...

    def unmount(self, path: Path) -> None:
        """Unmount ``path``; raises ``OSError`` (``EBUSY`` while a file is open there)."""
        ...


class LinuxMounter:
    """mount(2) and umount2(2) through libc; mount points from ``/proc/self/mountinfo``."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

    def filesystem_at(self, path: Path) -> tuple[str, frozenset[str]] | None:
        """See :class:`Mounter`.

        Only the mount ``path`` really shows counts: one listed there but covered by a later
        mount on a parent (its device is not the one ``stat`` sees) is not ours to use.
        """
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None  # nothing can be mounted on a path that does not resolve
        device = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
        found = mount_at(path, Path("/proc/self/mountinfo").read_text(), device=device)
        # The kernel lists nodev/nosuid/noexec with the mount, not with the super block.
        return None if found is None else (found[0], found[1] | found[2])

    def mount_tmpfs(self, path: Path, options: str) -> None:
        """See :class:`Mounter`."""
        flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
        rc = self._libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", flags, options.encode())
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def unmount(self, path: Path) -> None:
        """See :class:`Mounter`."""
        if self._libc.umount2(os.fsencode(path), 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))


def mount_at(
    path: Path, mountinfo: str, *, device: str | None = None
) -> tuple[str, frozenset[str], frozenset[str]] | None:
    """Parse ``mountinfo`` (proc(5) format): the topmost mount at ``path``, if any.

    Returns the file system type, the per-mount flags and the super-block options.
    ``device`` ("major:minor"): count only mounts of that device (the one ``path`` shows).
    """
    target = os.path.normpath(path)
    found: tuple[str, frozenset[str], frozenset[str]] | None = None
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) < 10 or "-" not in fields[6:]:
            continue
        mount_point = _unescape(fields[4])
        dash = fields.index("-", 6)
        if device is not None and fields[2] != device:
            continue
        if mount_point == target and len(fields) > dash + 3:
            flags = frozenset(fields[5].split(","))
            options = frozenset(fields[dash + 3].split(","))
            found = (fields[dash + 1], flags, options)  # later lines are mounted on top
    return found


def filesystem_at(path: Path, mountinfo: str) -> tuple[str, frozenset[str]] | None:
    """Parse ``mountinfo``: type and super-block options of the topmost mount at ``path``."""
    found = mount_at(path, mountinfo)
    return None if found is None else (found[0], found[2])


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(field):
        digits = field[i + 1 : i + 4]
        if field[i] == "\\" and len(digits) == 3 and digits.isdigit():
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def resolve_owner(spec: str) -> tuple[int, int]:
    """``USER[:GROUP]`` (names or numbers, like chown) as uid and gid; group: the user's.

    Raises :class:`VaultLocationError` when the user or group does not exist here.
    """
    user, _, group = spec.partition(":")
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, OverflowError):
        raise VaultLocationError(
            f"no user {user!r} on this system for the session tmpfs owner: create it "
            "(kiosk.service runs as User=kiosk) or fix --owner"
        ) from None
    if not group:
        return entry.pw_uid, entry.pw_gid
    try:
        gid = grp.getgrgid(int(group)).gr_gid if group.isdigit() else grp.getgrnam(group).gr_gid
    except (KeyError, OverflowError):
        raise VaultLocationError(
            f"no group {group!r} on this system for the session tmpfs owner: create it or "
            "fix --owner"
        ) from None
    return entry.pw_uid, gid


def tmpfs_options(size_bytes: int, *, noswap: bool, owner: tuple[int, int] | None = None) -> str:
    """The data string for our tmpfs (``owner``: uid and gid of its root; None: ours)."""
    ids = f"uid={owner[0]},gid={owner[1]}," if owner is not None else ""
    return f"mode=0700,{ids}size={size_bytes}" + (",noswap" if noswap else "")


def mount_tmpfs(
    mounter: Mounter, path: Path, size_bytes: int, *, owner: tuple[int, int] | None = None
) -> bool:
    """Mount our tmpfs at ``path``; returns whether ``noswap`` was accepted."""
    try:
        mounter.mount_tmpfs(path, tmpfs_options(size_bytes, noswap=True, owner=owner))
        return True
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
    # Kernels before 6.4 refuse the unknown option: mount without it and say so.
    mounter.mount_tmpfs(path, tmpfs_options(size_bytes, noswap=False, owner=owner))
    log.warning(
        "the kernel does not support tmpfs noswap: session data could reach swap; "
        "the image must keep swap off"
    )
    return False


def prepare_location(
    path: Path,
    size_bytes: int,
    *,
    production: bool,
    mounter: Mounter | None = None,
    privileged: bool | None = None,
    owner: tuple[int, int] | None = None,
) -> VaultLocation:
    """Make ``path`` ready to hold session vaults (see the module docstring).

    ``owner`` (uid, gid) owns every tmpfs we mount there, see :func:`resolve_owner`.
    """
    mounter = mounter if mounter is not None else LinuxMounter()
    privileged = os.geteuid() == 0 if privileged is None else privileged
    try:
        found = mounter.filesystem_at(path)
    except OSError as exc:
        raise VaultLocationError(f"cannot read the mount table: {exc.strerror}") from None
    if found is not None and found[0] == "tmpfs":
        options = found[1]
        if not {"nodev", "nosuid", "noexec"} <= options and production:
            raise VaultLocationError(
                f"the tmpfs at {path} must be mounted nodev,nosuid,noexec in production"
            )
        if not privileged:
            _require_access(path)
        return VaultLocation(
            path,
            LocationKind.TMPFS,
            size_bytes,
            "noswap" in options,
            remountable=privileged,
            owner=owner,
        )
    if found is not None:
        if production:
            raise VaultLocationError(
                f"{path} is a {found[0]} file system; production needs a tmpfs there "
                "(install systemd/run-kiosk-session.mount)"
            )
        log.warning(
            "SESSION VAULT IS NOT ON TMPFS: %s is %s; overwriting cannot be trusted on "
            "journaling or flash storage (developer use only)",
            path,
            found[0],
        )
        if not privileged:
            _require_access(path)
        return VaultLocation(path, LocationKind.MOUNTED, size_bytes, None, remountable=False)
    if privileged:
        try:
            _make_mount_point(path)
            noswap = mount_tmpfs(mounter, path, size_bytes, owner=owner)
        except OSError as exc:
            raise VaultLocationError(f"cannot mount a tmpfs at {path}: {exc.strerror}") from None
        log.info("mounted the session tmpfs at %s (noswap=%s)", path, noswap)
        return VaultLocation(
            path, LocationKind.TMPFS, size_bytes, noswap, remountable=True, owner=owner
        )
    if production:
        raise VaultLocationError(
            f"no tmpfs at {path} and not root: install systemd/run-kiosk-session.mount "
            "(the developer fallback directory is refused in production)"
        )
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as exc:
        raise VaultLocationError(f"cannot create {path}: {exc.strerror}") from None
    log.warning(
        "SESSION VAULT IS A PLAIN DIRECTORY (%s): not root and no tmpfs mounted there; "
        "content is encrypted but may reach disk; developer use only",
        path,
    )
    return VaultLocation(path, LocationKind.DIRECTORY, size_bytes, None, remountable=False)


def _make_mount_point(path: Path) -> None:
    """Create ``path`` (0700, a tmpfs covers it) and missing parents 0755, whatever the umask.

    The parents must let the unprivileged service user through; they hold nothing but the
    mount point, and the tmpfs root (0700, the owner's) guards the content.
    """
    missing = []
    for directory in (path, *path.parents):
        if os.path.lexists(directory):
            break
        missing.append(directory)
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to chmod
        os.chmod(directory, 0o700 if directory == path else 0o755)


def _require_access(path: Path) -> None:
    """Refuse a mounted location this (unprivileged) user cannot use, saying how to fix it."""
    if os.access(path, os.R_OK | os.W_OK | os.X_OK):
        return
    try:
        st = os.stat(path)
        held = f"owned by uid {st.st_uid}, mode {st.st_mode & 0o7777:04o}"
    except OSError as exc:
        held = exc.strerror or "not reachable"
    raise VaultLocationError(
        f"{path} is not usable by this user (uid {os.geteuid()}): {held}; the tmpfs must "
        "belong to the kiosk's user (kiosk.service runs `kiosk wipe --owner USER:GROUP`) "
        "and its parent directories must let that user through"
    )


def remount(location: VaultLocation, mounter: Mounter) -> bool:
    """Unmount the tmpfs and mount a fresh one; returns ``noswap``. Raises ``OSError``.

    The fresh tmpfs belongs to ``location.owner``, or else to whoever owned the one it
    replaces (the service user the unit or an earlier ``kiosk wipe --owner`` gave it to).
    """
    owner = location.owner
    if owner is None:
        st = os.stat(location.path)  # the root of the tmpfs about to be replaced
        owner = (st.st_uid, st.st_gid)
    mounter.unmount(location.path)
    return mount_tmpfs(mounter, location.path, location.size_bytes, owner=owner)
