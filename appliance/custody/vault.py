"""The session vault: the only place a consultation's content may be written.

One :class:`SessionVault` per consultation. Every artifact (scan, photo, received or sent file,
chat transcript, intake form, signature data) is encrypted with AES-256-GCM under a key derived
from a random session key that exists only in this process's memory, in a ``bytearray`` that
:meth:`SessionVault.destroy` zeroes: destroying it makes every copy of the ciphertext
unreadable, wherever it went.

On disk an artifact is a sealed blob (``protocol.sealed``, the format files cross the relay
in) with 64 KiB chunks: a header, then one record per chunk whose index and final flag are
authenticated. Its key is HKDF-SHA256(session key, info = ``VAULT_KEY_INFO`` || file name),
one per file as the format requires; the blob id is the file's random on-disk name. The
size, the human name and the kind live only in memory, so a truncated file (wrong length, or
the last record left is not marked final), reordered records (index in the nonce and aad), or
a file swapped for another (another key) fails with :class:`VaultTampered`. File names on disk
are random and say nothing.

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
from pathlib import Path
from types import TracebackType
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.custody.ledger import (
    BATCH,
    CHUNK,
    RECORD,
    Artifact,
    ArtifactKind,
    UnknownArtifact,
    VaultClosed,
    VaultError,
    VaultFull,
    VaultLedger,
    VaultTampered,
    zero,
)
from protocol.sealed import (
    HEADER_SIZE,
    RECORD_HEADER_SIZE,
    TAG_SIZE,
    RecordCipher,
    SealedError,
    blob_header,
    record_header,
    sealed_size,
)

# The vault's public vocabulary is defined with its ledger; its users import it from here.
__all__ = [
    "CHUNK",
    "RECORD",
    "KEY_BYTES",
    "VAULT_KEY_INFO",
    "Artifact",
    "ArtifactKind",
    "ArtifactWriter",
    "SessionVault",
    "UnknownArtifact",
    "VaultClosed",
    "VaultError",
    "VaultFull",
    "VaultTampered",
    "zero",
]

log = logging.getLogger(__name__)

KEY_BYTES = 32
VAULT_KEY_INFO = b"branch-kiosk vault file v1 "  # HKDF info prefix; the file's name follows
_BLOB_HEADER = blob_header(CHUNK)
_MAX_CHUNKS = 2**32  # a record carries a 32-bit chunk index


class SessionVault:
    """Encrypted storage for one consultation, in a fresh opaque directory under ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        max_file_bytes: int,
        max_session_bytes: int,
        key: bytearray | None = None,
    ) -> None:
        """A vault in a fresh directory under ``root``.

        ``key``: the session key, taken over (and zeroed by ``destroy``); a fresh random one
        unless given, which only tests that read the on-disk format do.
        """
        if max_file_bytes <= 0 or max_session_bytes <= 0:
            raise ValueError("vault limits must be positive")
        if key is not None and len(key) != KEY_BYTES:
            raise ValueError(f"a session key has {KEY_BYTES} bytes")
        self._ledger = VaultLedger(
            max_file_bytes=max_file_bytes, max_session_bytes=max_session_bytes
        )
        self.directory = root / secrets.token_hex(16)
        os.mkdir(self.directory, 0o700)
        # The only copy we control; each file's AESGCM keeps its own (see docs/vault.md).
        # Final: never rebound, so destroy() zeroes the very memory key_erased checks.
        self._key: Final[bytearray] = key if key is not None else bytearray(os.urandom(KEY_BYTES))
        self._lock = threading.Lock()

    # -- state ---------------------------------------------------------------

    @property
    def max_file_bytes(self) -> int:
        """The largest single artifact, in plaintext bytes."""
        return self._ledger.max_file_bytes

    @property
    def max_session_bytes(self) -> int:
        """What the whole session may store, in plaintext bytes."""
        return self._ledger.max_session_bytes

    @property
    def destroyed(self) -> bool:
        """True once the key is gone."""
        return self._ledger.closed

    @property
    def key_erased(self) -> bool:
        """True when the key buffer holds no key any more (checked by the wipe)."""
        return self._ledger.closed and not any(self._key)

    @property
    def used_bytes(self) -> int:
        """Plaintext bytes stored or being written."""
        return self._ledger.reserved

    @property
    def artifacts(self) -> list[Artifact]:
        """What this session stored, oldest first."""
        return self._ledger.artifacts()

    # -- writing --------------------------------------------------------------

    def create(self, kind: ArtifactKind, name: str) -> ArtifactWriter:
        """Start a new artifact; use as a context manager, then read ``writer.artifact``."""
        ref = secrets.token_hex(16)
        cipher = self._file_cipher(ref)
        fd = _open_new(self.directory / ref)
        writer = ArtifactWriter(
            self._ledger, self.directory, fd, ref, ArtifactKind(kind), name, cipher
        )
        self._ledger.enrol(writer)
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
        stored = self._ledger.find(artifact)
        cipher = self._file_cipher(stored.ref)
        size = stored.size
        chunks = _chunk_count(size)
        plain = self._ledger.take_buffer()
        buffer = memoryview(plain)
        fd = os.open(self.directory / stored.ref, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            expected = sealed_size(size, CHUNK)
            if os.fstat(fd).st_size != expected:
                raise VaultTampered("a stored file has the wrong length")
            if _read_exact(fd, HEADER_SIZE) != _BLOB_HEADER:
                raise VaultTampered("a stored file has a foreign header")
            index = 0
            while index < chunks:
                want = min(BATCH, chunks - index)
                left = expected - HEADER_SIZE - index * RECORD
                data = memoryview(_read_exact(fd, min(want * RECORD, left)))
                pos = out = 0
                for chunk in range(index, index + want):
                    final = chunk == chunks - 1
                    n = size - chunk * CHUNK if final else CHUNK
                    start = pos + RECORD_HEADER_SIZE
                    end = start + n + TAG_SIZE
                    # The header repeats what the aad authenticates; checked so a record out
                    # of place fails here, before any decryption.
                    if data[pos:start] != record_header(chunk, final, n + TAG_SIZE):
                        raise VaultTampered("a stored file's records are out of place")
                    try:
                        cipher.open_into(chunk, final, data[start:end], buffer[out : out + n])
                    except SealedError:
                        raise VaultTampered("a stored file failed authentication") from None
                    pos, out = end, out + n
                index += want
                yield buffer[:out]
        finally:
            os.close(fd)
            buffer.release()
            self._ledger.give_buffer(plain)

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
            self._ledger.close()
            zero(self._key)
        self._ledger.tear_down()

    # -- internals ------------------------------------------------------------

    def _file_cipher(self, ref: str) -> RecordCipher:
        """The records' cipher of file ``ref``: its own key, derived from the session key."""
        derived = bytearray(KEY_BYTES)
        try:
            with self._lock:  # never derive from a key that destroy() is zeroing
                self._ledger.require_open()
                hkdf = HKDF(
                    hashes.SHA256(), KEY_BYTES, salt=None, info=VAULT_KEY_INFO + ref.encode()
                )
                hkdf.derive_into(self._key, derived)
            return RecordCipher(derived, ref)  # AESGCM copies the key
        finally:
            zero(derived)


class ArtifactWriter:
    """Streams one artifact into the vault; bounded memory, all or nothing.

    Batches of records are sealed into a pooled buffer and written with one pwrite(2) each:
    on small chunks the system calls, not AES-GCM, would dominate. A full file system
    surfaces as :class:`VaultFull` from ``write`` or ``close``, and the partial file is gone.
    """

    def __init__(
        self,
        ledger: VaultLedger,
        directory: Path,
        fd: int,
        ref: str,
        kind: ArtifactKind,
        name: str,
        cipher: RecordCipher,
    ) -> None:
        self._ledger = ledger  # the vault's, shared: quotas, pools, registration
        self._directory = directory
        self._fd: int | None = fd
        self._ref = ref
        self._kind = kind
        self._name = name
        self._cipher: RecordCipher | None = cipher
        self._chunks = 0
        self._size = 0
        self._offset = 0  # ciphertext bytes handed out so far
        self._plain = ledger.take_buffer()
        self._pending = 0  # plaintext bytes staged in self._plain
        self._staged_max = 0  # how much of self._plain ever held plaintext (to zero)
        self._out = ledger.take_out()
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
            self._ledger.reserve(len(view), self._size + len(view))
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
        out, self._out = self._out, bytearray()
        self._release_plain()

        os.close(fd)
        self._cipher = None
        self._ledger.give_out(out)
        artifact = Artifact(self._ref, self._kind, self._name, self._size)
        self._ledger.commit(self, artifact)
        self._artifact = artifact
        return artifact

    def abort(self) -> None:
        """Drop the partial artifact: wait for its writes, close, unlink, release."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        self._cipher = None
        os.close(fd)
        try:
            os.unlink(self._directory / self._ref)
        except FileNotFoundError:
            pass
        self._ledger.abandon(self, self._size)
        self._release_plain()
        self._ledger.give_out(self._out)
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
                raise VaultFull("storage", _fs_size(self._directory)) from None
            raise
        except BaseException:
            self.abort()
            raise

    def _release_plain(self) -> None:
        # Pooled buffers avoid fresh page faults per file; only touched plaintext is zeroed.
        zero(memoryview(self._plain)[: self._staged_max])
        self._ledger.give_buffer(self._plain, zeroed=True)
        self._plain = bytearray()
        self._pending = 0

    def _flush(self, plain: memoryview, *, final: bool) -> None:
        """Seal ``plain`` (whole chunks unless final) into records and write them at once."""
        self._ledger.require_open()
        fd, cipher = self._fd, self._cipher
        if fd is None or cipher is None:
            raise VaultClosed("this artifact is closed")
        count = max(1, -(-len(plain) // CHUNK))
        if self._chunks + count > _MAX_CHUNKS:
            raise VaultFull("file", self._ledger.max_file_bytes)
        out = memoryview(self._out)
        total = 0
        if self._offset == 0:  # the blob's header goes out with its first records
            out[:HEADER_SIZE] = _BLOB_HEADER
            total = HEADER_SIZE
        for i in range(count):
            piece = plain[i * CHUNK : (i + 1) * CHUNK]
            last = final and i == count - 1
            total += cipher.seal_into(self._chunks + i, last, piece, out[total:])
        _pwrite_all(fd, out[:total], self._offset)
        self._offset += total
        self._chunks += count


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    written = 0
    while written < len(data):
        written += os.pwrite(fd, data[written:], offset + written)


def _chunk_count(size: int) -> int:
    # Every record but the last is full; an empty file is one empty final record.
    return max(1, -(-size // CHUNK))


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
