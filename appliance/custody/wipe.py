"""The wipe routine: crypto-erase, overwrite, unlink, remount, verify; and its report.

``wipe_location`` runs after every session and at start-up (leftovers of a crash)::

    1. zero and drop the session key (every ciphertext copy becomes noise)
    2. overwrite every file in place (``passes`` random passes), fsync once per file
    3. unlink everything below the location
    4. unmount and mount a fresh tmpfs (when we may) for the same owner (``remount``)
    5. verify: no entries, usage back to the baseline, key gone

The random pattern is one AES-CTR keystream buffer generated per wipe and reused for every
file: overwriting is then bound by the file system, not by random number generation.
A :class:`WipeReport` carries counts and a non-reversible session reference, never names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from appliance.custody.mount import LocationKind, Mounter, VaultLocation, remount
from appliance.custody.vault import SessionVault, zero

PATTERN_MAX = 4 * 1024 * 1024

WipeTrigger = Literal[
    "ended",  # the adviser or the hub ended the consultation
    "hangup",  # the customer pressed hang up
    "customer_abort",  # the customer walked away from the UI (UI issue)
    "inactivity",  # nobody touched the screen for too long (UI issue)
    "failed",  # the call failed
    "hub_lost",  # the hub connection dropped mid-consultation
    "shutdown",  # SIGTERM / stop
    "startup",  # leftovers of a crash or power loss
    "manual",  # `kiosk wipe`
]


class WipeError(Exception):
    """A step of the wipe failed; the kiosk must not serve the next customer."""

    def __init__(self, step: str, cause: str) -> None:
        super().__init__(f"wipe failed at {step}: {cause}")
        self.step = step
        self.cause = cause


@dataclass(frozen=True)
class WipeReport:
    """What a wipe did; safe for the audit log and the hub (no personal data)."""

    session_ref: str | None  # HMAC of the consultation id under a per-process key
    trigger: str
    files: int
    bytes: int
    passes: int
    method: str
    location: str  # LocationKind
    remounted: bool
    noswap: bool | None
    readback: bool  # the overwrite was read back and compared
    verified: bool
    duration_s: float

    def to_dict(self) -> dict[str, object]:
        """As a JSON-ready dict."""
        return asdict(self)

    def to_json(self) -> str:
        """One compact JSON line."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)


class SessionReferences:
    """Turns consultation ids into references that cannot be traced back without this process.

    The key is random per process and never stored: the audit log can tell two wipes of the
    same session apart from different sessions, but not which consultation it was.
    """

    def __init__(self) -> None:
        self._key = bytearray(os.urandom(32))

    def reference(self, consultation_id: str) -> str:
        """The reference for ``consultation_id``."""
        mac = hmac.new(bytes(self._key), consultation_id.encode(), hashlib.sha256)
        return mac.hexdigest()[:24]

    def forget(self) -> None:
        """Zero the key (at process end)."""
        zero(self._key)


def random_pattern(size: int) -> bytearray:
    """``size`` bytes of AES-CTR keystream under a throw-away key (fast, unpredictable)."""
    key, nonce = os.urandom(32), os.urandom(16)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
    out = bytearray(size + 15)  # update_into wants room for a block
    written = encryptor.update_into(bytes(size), out)
    del out[written:]
    return out


def used_bytes(path: Path) -> int:
    """Bytes in use on the file system holding ``path``."""
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def wipe_location(
    location: VaultLocation,
    *,
    mounter: Mounter,
    passes: int = 1,
    vault: SessionVault | None = None,
    trigger: WipeTrigger = "manual",
    session_ref: str | None = None,
    baseline_used: int | None = None,
    readback: bool = False,
    usage: Callable[[Path], int] | None = None,
) -> WipeReport:
    """Run the whole routine on ``location``; raises :class:`WipeError` naming the step.

    ``usage`` measures bytes in use (default: statvfs); tests that fake a tmpfs pass their own.
    """
    started = time.perf_counter()
    if vault is not None:
        vault.destroy()
    counts = [0, 0]  # files, bytes
    # One keystream per pass, generated once per wipe and reused for every file.
    patterns: list[bytearray] = []
    try:
        _wipe_tree(location.path, patterns, passes, counts, readback=readback)
    finally:
        for pattern in patterns:
            zero(pattern)
    remounted, noswap = False, location.noswap
    if location.remountable and location.kind is LocationKind.TMPFS:
        try:
            noswap = remount(location, mounter)
        except OSError as exc:
            raise WipeError("remount", exc.strerror or str(exc)) from None
        remounted = True
    try:
        leftover = os.listdir(location.path)
        in_use = (usage or used_bytes)(location.path)
    except OSError as exc:
        raise WipeError("verify", exc.strerror or str(exc)) from None
    if leftover:
        raise WipeError("verify", f"{len(leftover)} entries remain")
    if location.kind is LocationKind.TMPFS and in_use != 0:
        raise WipeError("verify", f"the tmpfs still uses {in_use} bytes")
    if baseline_used is not None and location.kind is LocationKind.MOUNTED:
        if in_use > baseline_used:
            raise WipeError("verify", f"usage {in_use} is above the baseline {baseline_used}")
    if vault is not None and not vault.key_erased:
        raise WipeError("verify", "the session key is still in memory")
    steps = ["crypto-erase"] if vault is not None else []
    if passes:
        steps.append(f"{passes} random pass{'es' if passes > 1 else ''}, fsync")
    if readback:
        steps.append("read-back")
    steps.append("unlink")
    if remounted:
        steps.append("remount")
    return WipeReport(
        session_ref=session_ref,
        trigger=trigger,
        files=counts[0],
        bytes=counts[1],
        passes=passes,
        method=", ".join(steps),
        location=str(location.kind),
        remounted=remounted,
        noswap=noswap,
        readback=readback,
        verified=True,
        duration_s=round(time.perf_counter() - started, 6),
    )


def _wipe_tree(
    top: Path | str, patterns: list[bytearray], passes: int, counts: list[int], *, readback: bool
) -> None:
    """Overwrite and unlink everything below ``top`` (symlinks are removed, never followed)."""
    try:
        entries = list(os.scandir(top))
    except OSError as exc:
        raise WipeError("inventory", exc.strerror or str(exc)) from None
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                _wipe_tree(entry.path, patterns, passes, counts, readback=readback)
                os.rmdir(entry.path)
                continue
            if entry.is_file(follow_symlinks=False):
                if passes and not patterns:
                    patterns.extend(random_pattern(PATTERN_MAX) for _ in range(passes))
                try:
                    counts[1] += _overwrite(entry.path, patterns, readback=readback)
                except OSError as exc:
                    raise WipeError("overwrite", exc.strerror or str(exc)) from None
            os.unlink(entry.path)
            counts[0] += 1
        except OSError as exc:
            raise WipeError("unlink", exc.strerror or str(exc)) from None


def _overwrite(path: str, patterns: list[bytearray], *, readback: bool) -> int:
    """Write each pattern over the whole file (repeating it), fsync once, maybe read back."""
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if not patterns or not size:
            return size
        for pattern in patterns:
            with memoryview(pattern) as view:
                offset = 0
                while offset < size:
                    n = min(len(view), size - offset)
                    offset += os.pwrite(fd, view[:n], offset)
        os.fsync(fd)
        if readback:
            with memoryview(patterns[-1]) as view:
                offset = 0
                while offset < size:
                    n = min(len(view), size - offset)
                    if os.pread(fd, n, offset) != view[:n]:
                        raise WipeError("readback", "overwritten content did not read back")
                    offset += n
    finally:
        os.close(fd)
    return size
