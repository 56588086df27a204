"""`python -m bench wipe`: the session wipe on 256 MiB in 200 files, against its floors.

Measured in the same run on the same tmpfs (mounted by the bench in a temp dir as root,
else a directory under /dev/shm):

- ``encrypt_mib_s``: vault writes (AES-256-GCM, chunked) vs ``raw_write_mib_s``, plain writes
  of the same data into the same number of files;
- ``wipe_s``: the whole routine (crypto-erase, one random pass, fsync, unlink, remount as
  root, verify) vs ``raw_overwrite_s``: one plain pass of the same pattern over identical files
  (the floor for any overwrite), and ``shred_s``: ``shred -n 3 -z -u`` on identical files;
- ``ready_s``: from ``end_session`` to custody ready for the next customer (a new vault open).

``main`` is a coroutine (it drives the async custody API) returning the JSON dict.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.config.vault import MIB, VaultSettings
from appliance.custody.mount import LinuxMounter
from appliance.custody.session import SessionCustody
from appliance.custody.vault import ArtifactKind, SessionVault
from appliance.custody.wipe import random_pattern

TOTAL = 256 * MIB
FILES = 200


def _sizes() -> list[int]:
    base, extra = divmod(TOTAL, FILES)
    return [base + (1 if i < extra else 0) for i in range(FILES)]


def _plain_files(root: Path, data: memoryview, sizes: list[int]) -> float:
    started = time.perf_counter()
    for i, size in enumerate(sizes):
        fd = os.open(root / f"plain-{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            written = 0
            while written < size:
                written += os.write(fd, data[written:size])
        finally:
            os.close(fd)
    return time.perf_counter() - started


def _vault_files(vault: SessionVault, data: memoryview, sizes: list[int]) -> float:
    started = time.perf_counter()
    for i, size in enumerate(sizes):
        vault.store(ArtifactKind.FILE_RECEIVED, f"file-{i}", data[:size])
    return time.perf_counter() - started


def _raw_overwrite(paths: list[Path], pattern: bytearray) -> float:
    view = memoryview(pattern)
    started = time.perf_counter()
    for path in paths:
        fd = os.open(path, os.O_WRONLY)
        try:
            size = os.fstat(fd).st_size
            offset = 0
            while offset < size:
                offset += os.pwrite(fd, view[: min(len(view), size - offset)], offset)
        finally:
            os.close(fd)
    return time.perf_counter() - started


def _clear(root: Path) -> None:
    for entry in root.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


async def main() -> dict[str, Any]:
    """Run the benchmark; returns the result dict (last stdout line as JSON)."""
    privileged = os.geteuid() == 0
    # Not root: /dev/shm is the tmpfs we can use (mkdtemp makes a private 0700 directory).
    shm = None if privileged else "/dev/shm"  # noqa: S108
    base = Path(tempfile.mkdtemp(prefix="bench-wipe-", dir=shm))
    where = base / "session"
    mounter = LinuxMounter()
    settings = VaultSettings(
        path=where,
        size_bytes=3 * TOTAL,
        max_file_bytes=16 * MIB,
        max_session_bytes=TOTAL + MIB,
        overwrite_passes=1,
    )
    data = memoryview(os.urandom(max(_sizes())))
    sizes = _sizes()
    try:
        custody = SessionCustody(settings, production=False, mounter=mounter)
        await custody.startup()
        location = custody.location
        assert location is not None
        # Writes: plain vs vault, alternated, best of 3 each (tmpfs page allocation is noisy).
        raw_w: list[float] = []
        enc_w: list[float] = []
        for _ in range(3):
            raw_w.append(_plain_files(where, data, sizes))
            _clear(where)
            vault = custody.open_session(f"bench-{len(enc_w)}")
            enc_w.append(_vault_files(vault, data, sizes))
            await custody.end_session("manual")
        # The routine on a full session (best of 3), then its floor and shred on identical files.
        wipe_runs: list[float] = []
        ready_runs: list[float] = []
        verified = True
        for i in range(3):
            vault = custody.open_session(f"bench-wipe-{i}")
            _vault_files(vault, data, sizes)
            started = time.perf_counter()
            report = await custody.end_session("ended")
            wiped = time.perf_counter()
            custody.open_session(f"bench-next-{i}")  # the next customer may start
            ready_runs.append(time.perf_counter() - started)
            wipe_runs.append(wiped - started)
            verified = verified and report is not None and report.verified
        await custody.end_session("manual")
        ciphertext = [size + 16 * -(-size // (64 * 1024)) for size in sizes]
        pattern = random_pattern(min(4 * MIB, max(ciphertext)))
        raw_runs: list[float] = []
        for _ in range(3):
            _plain_files(where, memoryview(os.urandom(max(ciphertext))), ciphertext)
            paths = sorted(where.iterdir())
            raw_runs.append(_raw_overwrite(paths, pattern))
            _clear(where)
        _plain_files(where, memoryview(os.urandom(max(ciphertext))), ciphertext)
        paths = sorted(where.iterdir())
        started = time.perf_counter()
        shred = await asyncio.create_subprocess_exec(
            "shred", "-n", "3", "-z", "-u", *map(str, paths)
        )
        if await shred.wait() != 0:
            raise RuntimeError("shred failed")
        shred_s = time.perf_counter() - started
        await custody.close()
    finally:
        if _is_mount(where):
            mounter.unmount(where)
        shutil.rmtree(base, ignore_errors=True)
    wipe_s, raw_s = min(wipe_runs), min(raw_runs)
    mib = TOTAL / MIB
    return {
        "bytes": TOTAL,
        "files": FILES,
        "location": str(location.kind),
        "wipe_s": round(wipe_s, 4),
        "raw_overwrite_s": round(raw_s, 4),
        "ratio": round(wipe_s / raw_s, 3),
        "shred_s": round(shred_s, 4),
        "speedup_vs_shred": round(shred_s / wipe_s, 2),
        "ready_s": round(min(ready_runs), 4),
        "verified": verified,
        "encrypt_mib_s": round(mib / min(enc_w), 1),
        "raw_write_mib_s": round(mib / min(raw_w), 1),
        "encrypt_vs_raw": round(min(raw_w) / min(enc_w), 3),
    }


def _is_mount(path: Path) -> bool:
    try:
        return LinuxMounter().filesystem_at(path) is not None
    except OSError:
        return False
