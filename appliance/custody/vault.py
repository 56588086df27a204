"""The session vault: the only place a consultation's content may be written.

One :class:`SessionVault` per consultation. Every artifact (scan, photo, received or sent file,
chat transcript, intake form, signature data) is encrypted with AES-256-GCM under a random key
that exists only in this process's memory, in a ``bytearray`` that :meth:`SessionVault.destroy`
zeroes: destroying it makes every copy of the ciphertext unreadable, wherever it went.

On disk an artifact is a sequence of records, one per 64 KiB chunk of plaintext::

    record = AES-256-GCM(key, nonce = file prefix (8 random bytes) || chunk index (4 bytes),
                         plaintext chunk, aad = file id (16) || chunk index (8) || final flag)

The file id, nonce prefix, size, the human name and the kind live only in memory, so a
truncated file (the last record left is not marked final), reordered records (index in the
nonce and aad), or a file swapped for another (different file id) fails authentication.
File names on disk are random and say nothing.

Memory stays bounded: writers and readers work through vault-owned buffers of a few MiB,
which are zeroed after use. What Python cannot zeroise is listed in ``docs/vault.md``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

CHUNK = 64 * 1024  # plaintext bytes per record
TAG = 16
RECORD = CHUNK + TAG
BATCH = 16  # records per read/write system call (syscalls are the cost on small chunks)
KEY_BYTES = 32
_ZEROS = memoryview(bytes(RECORD * BATCH))  # source for zeroing buffers in place
_MAX_CHUNKS = 2**32  # the nonce carries a 32-bit chunk index


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


@dataclass
class _Entry:
    artifact: Artifact
    file_id: bytes
    prefix: bytes
    chunks: int


class SessionVault:
    """Encrypted storage for one consultation, in a fresh opaque directory under ``root``."""

    def __init__(self, root: Path, *, max_file_bytes: int, max_session_bytes: int) -> None:
        if max_file_bytes <= 0 or max_session_bytes <= 0:
            raise ValueError("vault limits must be positive")
        self.max_file_bytes = max_file_bytes
        self.max_session_bytes = max_session_bytes
        self.directory = root / secrets.token_hex(16)
        os.mkdir(self.directory, 0o700)
        # The only copy we control; AESGCM keeps its own (see docs/vault.md).
        self._key: bytearray = bytearray(os.urandom(KEY_BYTES))
        self._aead: AESGCM | None = AESGCM(self._key)
        self._entries: dict[str, _Entry] = {}
        self._writers: set[ArtifactWriter] = set()
        self._reserved = 0  # plaintext bytes committed plus in flight
        self._spare: list[bytearray] = []  # zeroed plaintext buffers, reused by writers
        self._spare_out: list[bytearray] = []  # ciphertext buffers (not secret), reused
        self._lock = threading.Lock()

    # -- state ---------------------------------------------------------------

    @property
    def destroyed(self) -> bool:
        """True once the key is gone."""
        return self._aead is None

    @property
    def key_erased(self) -> bool:
        """True when the key buffer holds no key any more (checked by the wipe)."""
        return self._aead is None and not any(self._key)

    @property
    def used_bytes(self) -> int:
        """Plaintext bytes stored or being written."""
        return self._reserved

    @property
    def artifacts(self) -> list[Artifact]:
        """What this session stored, oldest first."""
        return [entry.artifact for entry in self._entries.values()]

    # -- writing --------------------------------------------------------------

    def create(self, kind: ArtifactKind, name: str) -> ArtifactWriter:
        """Start a new artifact; use as a context manager, then read ``writer.artifact``."""
        self._require_open()
        ref = secrets.token_hex(16)
        fd = _open_new(self.directory / ref)
        writer = ArtifactWriter(self, fd, ref, ArtifactKind(kind), name)
        self._writers.add(writer)
        return writer

    def store(
        self, kind: ArtifactKind, name: str, data: bytes | bytearray | memoryview
    ) -> Artifact:
        """Store ``data`` in one go."""
        with self.create(kind, name) as writer:
            writer.write(data)
        return writer.artifact

    # -- reading --------------------------------------------------------------

    def read_chunks(self, artifact: Artifact) -> Iterator[memoryview]:
        """Decrypt ``artifact`` piece by piece.

        Each view is valid until the next one is requested (the buffer is reused, then
        zeroed). A tampered record raises :class:`VaultTampered` when it is reached, so a
        consumer that must not act on partial data should use :meth:`read_bytes`.
        """
        entry = self._entry(artifact)
        aead = self._require_open()
        plain = self._take_buffer()
        buffer = memoryview(plain)
        fd = os.open(
            self.directory / entry.artifact.ref, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        )
        try:
            expected = _ciphertext_size(entry.artifact.size)
            if os.fstat(fd).st_size != expected:
                raise VaultTampered("a stored file has the wrong length")
            index = 0
            while index < entry.chunks:
                want = min(BATCH, entry.chunks - index)
                data = _read_exact(fd, min(want * RECORD, expected - index * RECORD))
                out = 0
                for i in range(want):
                    record = data[i * RECORD : (i + 1) * RECORD]
                    n = len(record) - TAG
                    if n < 0:
                        raise VaultTampered("a stored file is truncated")
                    chunk = index + i
                    final = chunk == entry.chunks - 1
                    try:
                        aead.decrypt_into(
                            _nonce(entry.prefix, chunk),
                            record,
                            _aad(entry.file_id, chunk, final),
                            buffer[out : out + n],
                        )
                    except InvalidTag:
                        raise VaultTampered("a stored file failed authentication") from None
                    out += n
                index += want
                yield buffer[:out]
        finally:
            os.close(fd)
            buffer.release()
            self._give_buffer(plain)

    def read_bytes(self, artifact: Artifact) -> bytes:
        """The whole plaintext, returned only if every record authenticates.

        The returned ``bytes`` belongs to the caller and cannot be zeroed; prefer
        :meth:`read_chunks` for large content.
        """
        whole = bytearray()
        try:
            for piece in self.read_chunks(artifact):
                whole += piece
            return bytes(whole)
        finally:
            zero(whole)

    # -- ending ---------------------------------------------------------------

    def destroy(self) -> None:
        """Zero the key, abort writers, drop names and buffers. Files stay for the wipe."""
        with self._lock:
            self._aead = None
            zero(self._key)
        for writer in list(self._writers):
            writer.abort()
        for spare in self._spare:
            zero(spare)
        self._spare.clear()
        self._spare_out.clear()
        self._entries.clear()

    # -- internals (used by ArtifactWriter) -----------------------------------

    def _require_open(self) -> AESGCM:
        aead = self._aead
        if aead is None:
            raise VaultClosed("the session has ended; its vault is closed")
        return aead

    def _entry(self, artifact: Artifact) -> _Entry:
        entry = self._entries.get(artifact.ref)
        if entry is None or entry.artifact != artifact:
            raise UnknownArtifact("this artifact is not in the session vault")
        return entry

    def _reserve(self, extra: int, file_total: int) -> None:
        if file_total > self.max_file_bytes:
            raise VaultFull("file", self.max_file_bytes)
        if self._reserved + extra > self.max_session_bytes:
            raise VaultFull("session", self.max_session_bytes)
        self._reserved += extra

    def _take_out(self) -> bytearray:
        return self._spare_out.pop() if self._spare_out else bytearray(RECORD * BATCH)

    def _take_buffer(self) -> bytearray:
        return self._spare.pop() if self._spare else bytearray(CHUNK * BATCH)

    def _give_buffer(self, buffer: bytearray, *, zeroed: bool = False) -> None:
        if not zeroed:
            zero(buffer)
        if self._aead is not None:
            self._spare.append(buffer)


class ArtifactWriter:
    """Streams one artifact into the vault; bounded memory, all or nothing.

    Batches of records are sealed into a pooled buffer and written with one pwrite(2) each:
    on small chunks the system calls, not AES-GCM, would dominate. A full file system
    surfaces as :class:`VaultFull` from ``write`` or ``close``, and the partial file is gone.
    """

    def __init__(self, vault: SessionVault, fd: int, ref: str, kind: ArtifactKind, name: str):
        self._vault = vault
        self._fd: int | None = fd
        self._ref = ref
        self._kind = kind
        self._name = name
        self._file_id = os.urandom(16)
        self._prefix = os.urandom(8)
        self._chunks = 0
        self._size = 0
        self._offset = 0  # ciphertext bytes handed out so far
        self._plain = vault._take_buffer()
        self._pending = 0  # plaintext bytes staged in self._plain
        self._staged_max = 0  # how much of self._plain ever held plaintext (to zero)
        self._out = vault._take_out()
        self._artifact: Artifact | None = None

    @property
    def artifact(self) -> Artifact:
        """The stored artifact, once the writer closed successfully."""
        if self._artifact is None:
            raise VaultError("the artifact is not complete")
        return self._artifact

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``; :class:`VaultFull` aborts the artifact (nothing of it remains)."""
        if self._fd is None:
            raise VaultClosed("this artifact is closed")
        view = memoryview(data).cast("B")
        with self._failing_aborts():
            self._vault._reserve(len(view), self._size + len(view))
            self._size += len(view)
            staging = memoryview(self._plain)
            while len(view):
                if self._pending == 0 and len(view) > len(staging):
                    # Seal straight from the caller's buffer; keep the tail (maybe final).
                    take = len(staging) * ((len(view) - 1) // len(staging))
                    for start in range(0, take, len(staging)):
                        self._flush(view[start : start + len(staging)], final=False)
                    view = view[take:]
                    continue
                if self._pending == len(staging):
                    self._flush(staging, final=False)
                    self._pending = 0
                    continue
                n = min(len(staging) - self._pending, len(view))
                staging[self._pending : self._pending + n] = view[:n]
                self._pending += n
                self._staged_max = max(self._staged_max, self._pending)
                view = view[n:]

    def close(self) -> Artifact:
        """Seal the final record and register the artifact (its write may still be queued)."""
        if self._artifact is not None:
            return self._artifact
        fd = self._fd
        if fd is None:
            raise VaultClosed("this artifact was aborted")
        with self._failing_aborts():
            self._flush(memoryview(self._plain)[: self._pending], final=True)
        self._fd = None
        vault = self._vault
        out, self._out = self._out, bytearray()
        self._release_plain()

        os.close(fd)
        vault._spare_out.append(out)
        artifact = Artifact(self._ref, self._kind, self._name, self._size)
        vault._entries[self._ref] = _Entry(artifact, self._file_id, self._prefix, self._chunks)
        vault._writers.discard(self)
        self._artifact = artifact
        return artifact

    def abort(self) -> None:
        """Drop the partial artifact: wait for its writes, close, unlink, release."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        os.close(fd)
        try:
            os.unlink(self._vault.directory / self._ref)
        except FileNotFoundError:
            pass
        self._vault._reserved -= self._size
        self._vault._writers.discard(self)
        self._release_plain()
        if not self._vault.destroyed:
            self._vault._spare_out.append(self._out)
        self._out = bytearray()

    def __enter__(self) -> ArtifactWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @contextlib.contextmanager
    def _failing_aborts(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            self.abort()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise VaultFull("storage", _fs_size(self._vault.directory)) from None
            raise
        except BaseException:
            self.abort()
            raise

    def _release_plain(self) -> None:
        # Pooled buffers avoid fresh page faults per file; only touched plaintext is zeroed.
        zero(memoryview(self._plain)[: self._staged_max])
        self._vault._give_buffer(self._plain, zeroed=True)
        self._plain = bytearray()
        self._pending = 0

    def _flush(self, plain: memoryview, *, final: bool) -> None:
        """Seal ``plain`` (whole chunks unless final), reserve its space, queue its write."""
        aead = self._vault._require_open()
        fd = self._fd
        if fd is None:
            raise VaultClosed("this artifact is closed")
        count = max(1, -(-len(plain) // CHUNK))
        if self._chunks + count > _MAX_CHUNKS:
            raise VaultFull("file", self._vault.max_file_bytes)
        out = memoryview(self._out)
        first = self._chunks
        for i in range(count):
            piece = plain[i * CHUNK : (i + 1) * CHUNK]
            index = first + i
            aead.encrypt_into(
                _nonce(self._prefix, index),
                piece,
                _aad(self._file_id, index, final and i == count - 1),
                out[i * RECORD : i * RECORD + len(piece) + TAG],
            )
        total = len(plain) + count * TAG
        _pwrite_all(fd, out[:total], self._offset)
        self._offset += total
        self._chunks += count


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    written = 0
    while written < len(data):
        written += os.pwrite(fd, data[written:], offset + written)


def zero(buffer: bytearray | memoryview) -> None:
    """Overwrite ``buffer`` with zeros in place (never resized, so no copy is left behind)."""
    view = memoryview(buffer)
    step = len(_ZEROS)
    for start in range(0, len(view), step):
        end = min(start + step, len(view))
        view[start:end] = _ZEROS[: end - start]
    view.release()


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


def _aad(file_id: bytes, index: int, final: bool) -> bytes:
    return file_id + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def _ciphertext_size(size: int) -> int:
    chunks = max(1, -(-size // CHUNK))
    return size + chunks * TAG


def _open_new(path: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(path, flags, 0o600)


def _read_exact(fd: int, n: int) -> bytes:
    data = os.read(fd, n)
    while len(data) < n:
        more = os.read(fd, n - len(data))
        if not more:
            raise VaultTampered("a stored file is truncated")
        data += more
    return data


def _fs_size(path: Path) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return st.f_blocks * st.f_frsize


def _human(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MiB"
    if n >= 1024:
        return f"{n / 1024:g} KiB"
    return f"{n} bytes"
