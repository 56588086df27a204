"""The vault's vocabulary and bookkeeping: what an artifact is, how storing one can fail,
and the ledger a :class:`~appliance.custody.vault.SessionVault` shares with its writers.

No key lives here: the ledger counts bytes, tracks writers and artifacts, and pools buffers
(plaintext ones zeroed before they are pooled).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from protocol.sealed import HEADER_SIZE, RECORD_HEADER_SIZE, TAG_SIZE

if TYPE_CHECKING:
    from appliance.custody.vault import ArtifactWriter

CHUNK = 64 * 1024  # plaintext bytes per record
RECORD = RECORD_HEADER_SIZE + CHUNK + TAG_SIZE  # one full record on disk
BATCH = 16  # records per read/write system call (syscalls are the cost on small chunks)
_ZEROS = memoryview(bytes(CHUNK * BATCH))  # source for zeroing buffers in place


class ArtifactKind(StrEnum):
    """What an artifact is; every kind of session content goes through the vault."""

    SCAN = "scan"
    PHOTO = "photo"
    FILE_RECEIVED = "file_received"
    FILE_SENT = "file_sent"
    CHAT_TRANSCRIPT = "chat_transcript"
    INTAKE_FORM = "intake_form"
    SIGNATURE = "signature"


class VaultError(Exception):
    """Something went wrong with the session vault."""


class VaultClosed(VaultError):
    """The vault was destroyed (the session ended); nothing can be stored or read any more."""


class VaultFull(VaultError):
    """An artifact does not fit; nothing of it was kept.

    ``limit`` says which: ``"file"`` (per-file cap), ``"session"`` (per-session cap) or
    ``"storage"`` (the tmpfs itself is full). The message is safe to show and to log.
    """

    def __init__(self, limit: Literal["file", "session", "storage"], limit_bytes: int) -> None:
        what = {
            "file": "a single file may hold at most",
            "session": "one consultation may store at most",
            "storage": "the kiosk's session storage is full at",
        }[limit]
        super().__init__(f"not stored: {what} {_human(limit_bytes)}")
        self.limit = limit
        self.limit_bytes = limit_bytes


class VaultTampered(VaultError):
    """A stored artifact was modified, truncated, reordered or swapped; it is not returned."""


class UnknownArtifact(VaultError):
    """The artifact does not belong to this vault (or was already discarded)."""


@dataclass(frozen=True)
class Artifact:
    """One stored item. ``name`` is what a person supplied: it lives only in memory."""

    ref: str  # the opaque on-disk name
    kind: ArtifactKind
    name: str
    size: int  # plaintext bytes


class VaultLedger:
    """One vault's bookkeeping, shared by its :class:`SessionVault` and its writers only.

    The vault's customers never get one: it keeps the quotas, the writers in flight, the
    finished artifacts and the pooled buffers (plaintext ones are zeroed before they are
    pooled). It holds no key.
    """

    def __init__(self, *, max_file_bytes: int, max_session_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.max_session_bytes = max_session_bytes
        self._closed = False
        self._entries: dict[str, Artifact] = {}
        self._writers: set[ArtifactWriter] = set()
        self._reserved = 0  # plaintext bytes committed plus in flight
        self._spare: list[bytearray] = []  # zeroed plaintext buffers, reused by writers
        self._spare_out: list[bytearray] = []  # ciphertext buffers (not secret), reused

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran: nothing may be stored or read any more."""
        return self._closed

    @property
    def reserved(self) -> int:
        """Plaintext bytes stored or being written."""
        return self._reserved

    def artifacts(self) -> list[Artifact]:
        """The finished artifacts, oldest first."""
        return list(self._entries.values())

    def find(self, artifact: Artifact) -> Artifact:
        """``artifact`` as this vault registered it; :class:`UnknownArtifact` otherwise."""
        stored = self._entries.get(artifact.ref)
        if stored is None or stored != artifact:
            raise UnknownArtifact("this artifact is not in the session vault")
        return stored

    def require_open(self) -> None:
        """Raise :class:`VaultClosed` once the vault is closed."""
        if self._closed:
            raise VaultClosed("the session has ended; its vault is closed")

    def reserve(self, extra: int, file_total: int) -> None:
        """Count ``extra`` bytes against the quotas; :class:`VaultFull` counts nothing."""
        if file_total > self.max_file_bytes:
            raise VaultFull("file", self.max_file_bytes)
        if self._reserved + extra > self.max_session_bytes:
            raise VaultFull("session", self.max_session_bytes)
        self._reserved += extra

    def take_buffer(self) -> bytearray:
        """A zeroed plaintext buffer of ``CHUNK * BATCH`` bytes; give it back when done."""
        return self._spare.pop() if self._spare else bytearray(CHUNK * BATCH)

    def give_buffer(self, buffer: bytearray, *, zeroed: bool = False) -> None:
        """Take back a plaintext buffer, zeroing it unless the caller already did."""
        if not zeroed:
            zero(buffer)
        if not self._closed:
            self._spare.append(buffer)

    def take_out(self) -> bytearray:
        """A ciphertext buffer for one batch of records and the blob header."""
        return self._spare_out.pop() if self._spare_out else bytearray(HEADER_SIZE + RECORD * BATCH)

    def give_out(self, buffer: bytearray) -> None:
        """Take back a ciphertext buffer (dropped once the vault is closed)."""
        if not self._closed:
            self._spare_out.append(buffer)

    def enrol(self, writer: ArtifactWriter) -> None:
        """Track ``writer`` so that :meth:`tear_down` can abort it."""
        self._writers.add(writer)

    def commit(self, writer: ArtifactWriter, artifact: Artifact) -> None:
        """Register the finished ``artifact`` of ``writer``."""
        self._entries[artifact.ref] = artifact
        self._writers.discard(writer)

    def abandon(self, writer: ArtifactWriter, size: int) -> None:
        """Forget an aborted ``writer`` and give its ``size`` bytes back to the session quota."""
        self._reserved -= size
        self._writers.discard(writer)

    def close(self) -> None:
        """From now on :meth:`require_open` raises and returned buffers are dropped."""
        self._closed = True

    def tear_down(self) -> None:
        """Abort the writers in flight, zero and drop the pooled buffers, forget the artifacts."""
        for writer in list(self._writers):
            writer.abort()
        for spare in self._spare:
            zero(spare)
        self._spare.clear()
        self._spare_out.clear()
        self._entries.clear()


def zero(buffer: bytearray | memoryview) -> None:
    """Overwrite ``buffer`` with zeros in place (never resized, so no copy is left behind)."""
    view = memoryview(buffer)
    step = len(_ZEROS)
    for start in range(0, len(view), step):
        end = min(start + step, len(view))
        view[start:end] = _ZEROS[: end - start]
    view.release()


def _human(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MiB"
    if n >= 1024:
        return f"{n / 1024:g} KiB"
    return f"{n} bytes"
