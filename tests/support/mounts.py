"""Real file systems for the vault tests: a tmpfs or a loop-mounted ext4 image in ``tmp_path``,
and a private mount namespace where a test may mount over system paths such as ``/run``.

Mounting needs root; under CI=true a test that cannot mount fails with what to do, elsewhere
it is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.support.requirements import require, require_tool

ROOT = Path(__file__).resolve().parents[2]


def require_root(what: str) -> None:
    """Mounting file systems needs root."""
    require(os.geteuid() == 0, f"{what} mounts a real file system and must run as root")


def unmount(path: Path) -> None:
    """Unmount ``path`` and everything stacked on it (remounts by the vault stack)."""
    while subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode == 0:
        pass


@contextmanager
def tmpfs(path: Path, size: str = "64m", *, options: str = "") -> Iterator[Path]:
    """A tmpfs mounted at ``path`` (created), like the production one, unmounted afterwards."""
    require_root("this test")
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size},mode=0700,nodev,nosuid,noexec" + (f",{options}" if options else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        unmount(path)


@contextmanager
def loop_ext4(image: Path, mount_point: Path, size: str = "32M") -> Iterator[Path]:
    """An ext4 file system in the file ``image``, loop-mounted at ``mount_point``."""
    require_root("this test")
    missing = [tool for tool in ("mkfs.ext4", "losetup") if shutil.which(tool) is None]
    require(not missing, f"{', '.join(missing)} missing: apt-get install e2fsprogs mount")
    require(
        Path("/dev/loop-control").exists(),
        "no loop device support (/dev/loop-control): run on a kernel with CONFIG_BLK_DEV_LOOP",
    )
    subprocess.run(["truncate", "-s", size, str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    mount_point.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-o", "loop", str(image), str(mount_point)], capture_output=True, text=True
    )
    require(result.returncode == 0, f"cannot loop-mount an ext4 image: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        unmount(mount_point)


class MountNamespace:
    """A private mount namespace, kept alive by a holder process; commands run inside it."""

    def __init__(self, holder_pid: int) -> None:
        self._enter = [
            require_tool("nsenter", "util-linux"),
            f"--mount=/proc/{holder_pid}/ns/mnt",
            f"--wd={ROOT}",
            "--",
        ]
        self._setpriv = require_tool("setpriv", "util-linux")

    def run(
        self,
        argv: Sequence[str],
        *,
        user: tuple[int, int] | None = None,
        umask: int = 0o022,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the namespace: as root, or as ``user`` (uid, gid; no other groups)."""
        drop = []
        if user is not None:
            uid, gid = user
            drop = [self._setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        return subprocess.run(
            [*self._enter, *drop, *argv],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            umask=umask,
        )


@contextmanager
def private_mount_namespace() -> Iterator[MountNamespace]:
    """A new mount namespace (propagation private): nothing mounted there reaches the host.

    It ends, with every mount in it, when the holder process exits at the end of the block.
    """
    require_root("a private mount namespace")
    unshare = require_tool("unshare", "util-linux")
    holder = subprocess.Popen(
        [unshare, "--mount", "--propagation", "private", "--", "sh", "-c", "echo ready; exec cat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin and holder.stdout and holder.stderr  # all three are pipes
    try:
        # Printed only once the namespace exists; end of output means unshare failed.
        if holder.stdout.readline() != "ready\n":
            require(False, f"cannot make a mount namespace: {holder.stderr.read().strip()}")
        yield MountNamespace(holder.pid)
    finally:
        holder.stdin.close()  # `cat` sees end of input and exits
        holder.wait()
        holder.stdout.close()
        holder.stderr.close()
