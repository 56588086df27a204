"""The sealed file format: how a file's bytes cross the hub's relay (docs/exchange.md).

The hub stores and forwards only this ciphertext; the key and the plaintext's SHA-256 travel
end to end on the data channel. ``hub/web/sealed.js`` is the browser's twin of this module and
follows the same text of the spec, byte for byte::

    blob    = header record*
    header  = "BKS1" u32be(chunk_size)                  1024 <= chunk_size <= 1 MiB
    record  = u32be(index) u8(final) u32be(length) ciphertext[length]
    ciphertext = AES-256-GCM(key, nonce, chunk, aad)   length = len(chunk) + 16
    nonce   = u32be(0) u64be(index)
    aad     = "BKS1" u8(len(id)) id u32be(index) u8(final)

Both directions are incremental: the :class:`Sealer` turns plaintext pieces into records as
they come (an upload never holds the whole blob), and the :class:`Opener` takes the blob in
whatever slices the network delivers and hands back verified plaintext chunk by chunk. Every
way a blob can be wrong ends in one :class:`SealedError` whose ``code`` is a
``protocol.channel.FileErrorCode``; no other exception escapes for bad input.

:class:`RecordCipher` is the one implementation of a record (its header, nonce and aad): the
sealer and opener use it, and so does the kiosk's session vault for its files at rest
(``appliance.custody.vault``), sealing into and opening from buffers it owns.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocol.channel import TRANSFER_ID_PATTERN, FileErrorCode

MAGIC: Final = b"BKS1"
HEADER_SIZE: Final = 8
RECORD_HEADER_SIZE: Final = 9  # u32 index, u8 final, u32 length
TAG_SIZE: Final = 16
KEY_SIZE: Final = 32
MIN_CHUNK: Final = 1024
MAX_CHUNK: Final = 1024 * 1024
DEFAULT_CHUNK: Final = 256 * 1024
_MAX_INDEX: Final = 2**32 - 1
_ID = re.compile(TRANSFER_ID_PATTERN)
_HEADER = struct.Struct(">4sI")
_RECORD = struct.Struct(">IBI")


class SealedError(Exception):
    """The blob is not what was offered; ``code`` says how (a ``FileErrorCode``).

    The message names only the code and numbers, never content, so it is safe to log.
    """

    def __init__(self, code: FileErrorCode, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code: FileErrorCode = code


def sealed_size(size: int, chunk_size: int = DEFAULT_CHUNK) -> int:
    """The exact length of the blob :class:`Sealer` makes for ``size`` plaintext bytes.

    Needed up front because the relay requires a ``Content-Length``.
    """
    _check_chunk_size(chunk_size)
    records = max(1, -(-size // chunk_size))
    return HEADER_SIZE + records * (RECORD_HEADER_SIZE + TAG_SIZE) + size


def new_key() -> bytes:
    """A fresh random AES-256 key: one per file, which makes the counter nonce safe."""
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, transfer_id: str, chunk_size: int = DEFAULT_CHUNK) -> Sealer:
    """Start sealing one file for transfer ``transfer_id`` under ``key``."""
    return Sealer(key, transfer_id, chunk_size)


def seal_bytes(key: bytes, transfer_id: str, data: bytes, chunk_size: int = DEFAULT_CHUNK) -> bytes:
    """The whole blob for ``data`` at once (small files and tests)."""
    sealer = Sealer(key, transfer_id, chunk_size)
    return sealer.feed(data) + sealer.finish()


def blob_header(chunk_size: int) -> bytes:
    """The 8 bytes a blob starts with: the magic and its chunk size."""
    _check_chunk_size(chunk_size)
    return _HEADER.pack(MAGIC, chunk_size)


def record_header(index: int, final: bool, length: int) -> bytes:
    """The 9 bytes before a record's ciphertext of ``length`` bytes."""
    return _RECORD.pack(index, 1 if final else 0, length)


class RecordCipher:
    """Seals and opens the records of one blob: ``key`` and ``blob_id`` as in the spec.

    Safe only with one key per blob (the nonce is the record index). ``seal_into`` and
    ``open_into`` work in caller-owned buffers, so a caller can keep plaintext where it can
    zero it (the session vault) and batch many records into one system call.
    """

    def __init__(self, key: bytes | bytearray, blob_id: str) -> None:
        self._aead = AESGCM(_check_key(key))
        self._id = _id_bytes(blob_id)

    def seal(self, index: int, final: bool, chunk: bytes | bytearray | memoryview) -> bytes:
        """Record ``index`` (header and ciphertext) for ``chunk``."""
        _check_index(index)
        ciphertext = self._aead.encrypt(_nonce(index), chunk, _aad(self._id, index, final))
        return record_header(index, final, len(ciphertext)) + ciphertext

    def seal_into(
        self, index: int, final: bool, chunk: bytes | bytearray | memoryview, out: memoryview
    ) -> int:
        """Write record ``index`` for ``chunk`` at the start of ``out``; returns its length."""
        _check_index(index)
        length = len(chunk) + TAG_SIZE
        out[:RECORD_HEADER_SIZE] = record_header(index, final, length)
        self._aead.encrypt_into(
            _nonce(index),
            chunk,
            _aad(self._id, index, final),
            out[RECORD_HEADER_SIZE : RECORD_HEADER_SIZE + length],
        )
        return RECORD_HEADER_SIZE + length

    def open(self, index: int, final: bool, ciphertext: bytes | bytearray | memoryview) -> bytes:
        """The plaintext of record ``index`` (``ciphertext`` without the record header)."""
        try:
            return self._aead.decrypt(_nonce(index), ciphertext, _aad(self._id, index, final))
        except InvalidTag:
            raise SealedError("corrupt", f"record {index} failed authentication") from None

    def open_into(
        self,
        index: int,
        final: bool,
        ciphertext: bytes | bytearray | memoryview,
        out: memoryview,
    ) -> None:
        """Verify and decrypt record ``index`` into ``out`` (``len(ciphertext) - 16`` bytes).

        A record that does not authenticate under this key, blob id, index and final flag is
        a :class:`SealedError` ``corrupt``.
        """
        if len(ciphertext) < TAG_SIZE or len(out) != len(ciphertext) - TAG_SIZE:
            raise SealedError("corrupt", "record length out of range")
        try:
            self._aead.decrypt_into(_nonce(index), ciphertext, _aad(self._id, index, final), out)
        except InvalidTag:
            raise SealedError("corrupt", f"record {index} failed authentication") from None


class Sealer:
    """Plaintext in, blob bytes out; the header comes with the first output.

    A full chunk is held back until more plaintext (or :meth:`finish`) shows whether it is the
    last one, so a file of exactly n chunks is n records, the last one final and full.
    """

    def __init__(self, key: bytes, transfer_id: str, chunk_size: int = DEFAULT_CHUNK) -> None:
        _check_chunk_size(chunk_size)
        self._cipher = RecordCipher(key, transfer_id)
        self.chunk_size = chunk_size
        self._pending = bytearray()
        self._index = 0
        self._started = False
        self._finished = False
        self._hash = hashlib.sha256()
        self.size = 0  # plaintext bytes fed so far

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the plaintext fed so far (the whole file after :meth:`finish`)."""
        return self._hash.hexdigest()

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Add plaintext; returns the blob bytes that are now complete (maybe none)."""
        if self._finished:
            raise ValueError("this sealer has finished")
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self.size += len(view)
        self._pending += view
        out = bytearray(self._start())
        chunk = self.chunk_size
        consumed = 0
        while len(self._pending) - consumed > chunk:
            out += self._record(bytes(self._pending[consumed : consumed + chunk]), False)
            consumed += chunk
        del self._pending[:consumed]
        return bytes(out)

    def finish(self) -> bytes:
        """The final record (0..chunk_size bytes of plaintext): the blob is complete."""
        if self._finished:
            raise ValueError("this sealer has finished")
        out = self._start() + self._record(bytes(self._pending), True)
        self._pending = bytearray()
        self._finished = True
        return out

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return blob_header(self.chunk_size)

    def _record(self, chunk: bytes, final: bool) -> bytes:
        record = self._cipher.seal(self._index, final, chunk)
        self._index += 1
        return record


class Opener:
    """Blob slices in, verified plaintext chunks out; checks in the spec's order.

    ``size`` and ``sha256`` are what the ``file_offer`` announced; ``limit`` is the receiver's
    own cap on plaintext bytes. After the first error every call raises it again.
    """

    def __init__(
        self,
        key: bytes,
        transfer_id: str,
        *,
        size: int,
        sha256: str,
        limit: int | None = None,
    ) -> None:
        self._cipher = RecordCipher(key, transfer_id)
        self._size = size
        self._sha256 = sha256.lower()
        self._limit = limit
        self._buffer = bytearray()
        self._chunk_size = 0  # 0 until the header was read
        self._index = 0
        self._final = False
        self._received = 0  # plaintext bytes verified so far
        self._hash = hashlib.sha256()
        self._error: SealedError | None = None
        self._done = False

    @property
    def received(self) -> int:
        """Plaintext bytes verified and handed out so far."""
        return self._received

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Take the next bytes of the blob; returns the plaintext chunks they completed."""
        self._raise_if_failed()
        try:
            if self._final and len(data):
                raise SealedError("corrupt", "bytes after the final record")
            self._buffer += data
            return self._drain()
        except SealedError as exc:
            self._fail(exc)
            raise

    def finish(self) -> str:
        """The blob ended: check completeness, size and hash; returns the hex SHA-256."""
        self._raise_if_failed()
        try:
            if not self._final:
                raise SealedError("truncated", "the blob ended before its final record")
            if self._received != self._size:
                raise SealedError("corrupt", "the plaintext size differs from the offer")
            digest = self._hash.hexdigest()
            if not hmac.compare_digest(digest, self._sha256):
                raise SealedError("hash_mismatch", "the plaintext hash differs from the offer")
        except SealedError as exc:
            self._fail(exc)
            raise
        self._done = True
        return digest

    def _drain(self) -> list[bytes]:
        out: list[bytes] = []
        consumed = 0
        buf = self._buffer
        try:
            if self._chunk_size == 0:
                if len(buf) < HEADER_SIZE:
                    return out
                magic, chunk_size = _HEADER.unpack_from(buf, 0)
                if magic != MAGIC or not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
                    raise SealedError("corrupt", "not a sealed blob")
                self._chunk_size = chunk_size
                consumed = HEADER_SIZE
            while not self._final and len(buf) - consumed >= RECORD_HEADER_SIZE:
                index, final, length = _RECORD.unpack_from(buf, consumed)
                self._check_record(index, final, length)
                start = consumed + RECORD_HEADER_SIZE
                if len(buf) - start < length:
                    break
                out.append(self._open(bytes(buf[start : start + length]), index, final))
                consumed = start + length
            if self._final and len(buf) > consumed:
                raise SealedError("corrupt", "bytes after the final record")
        finally:
            del buf[:consumed]
        return out

    def _check_record(self, index: int, final: int, length: int) -> None:
        if index < self._index:
            raise SealedError("duplicate", f"record {index} again")
        if index > self._index:
            raise SealedError("out_of_order", f"record {index} before {self._index}")
        if length > self._chunk_size + TAG_SIZE or length < TAG_SIZE:
            raise SealedError("corrupt", "record length out of range")
        if final not in (0, 1):
            raise SealedError("corrupt", "bad final flag")
        if final == 0 and length != self._chunk_size + TAG_SIZE:
            raise SealedError("corrupt", "a record before the last is not full")

    def _open(self, ciphertext: bytes, index: int, final: int) -> bytes:
        plain = self._cipher.open(index, final == 1, ciphertext)
        total = self._received + len(plain)
        if total > self._size or (self._limit is not None and total > self._limit):
            raise SealedError("too_large", "more plaintext than announced or allowed")
        self._received = total
        self._hash.update(plain)
        self._index += 1
        self._final = final == 1
        return plain

    def _fail(self, exc: SealedError) -> None:
        self._error = exc
        self._buffer = bytearray()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise SealedError(self._error.code, "already failed")
        if self._done:
            raise SealedError("corrupt", "bytes after the final record")


def _check_chunk_size(chunk_size: int) -> None:
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise ValueError(f"chunk size {chunk_size} outside {MIN_CHUNK}..{MAX_CHUNK}")


def _check_index(index: int) -> None:
    if not 0 <= index <= _MAX_INDEX:
        raise ValueError("too many chunks for one blob")


def _check_key(key: bytes | bytearray) -> bytes | bytearray:
    # Not copied: a caller that keeps its key in a bytearray can still zero it.
    if len(key) != KEY_SIZE:
        raise ValueError("a sealed blob's key is 32 bytes")
    return key


def _id_bytes(transfer_id: str) -> bytes:
    if not _ID.fullmatch(transfer_id):
        raise ValueError("not a transfer id")
    return transfer_id.encode("ascii")


def _nonce(index: int) -> bytes:
    return b"\x00\x00\x00\x00" + index.to_bytes(8, "big")


def _aad(transfer_id: bytes, index: int, final: bool) -> bytes:
    return (
        MAGIC
        + bytes((len(transfer_id),))
        + transfer_id
        + index.to_bytes(4, "big")
        + (b"\x01" if final else b"\x00")
    )
