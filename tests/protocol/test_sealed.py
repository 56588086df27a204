"""The sealed format: round trips, every way a blob can be wrong, any slicing of the stream."""

from __future__ import annotations

import hashlib
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.channel import TRANSFER_ID_PATTERN
from protocol.sealed import (
    DEFAULT_CHUNK,
    HEADER_SIZE,
    MAX_CHUNK,
    MIN_CHUNK,
    RECORD_HEADER_SIZE,
    TAG_SIZE,
    Opener,
    SealedError,
    new_key,
    seal,
    seal_bytes,
    sealed_size,
)

TID = "transfer-0001"
KEY = bytes(range(32))


def open_all(
    blob: bytes,
    data_size: int,
    sha: str,
    *,
    slices: list[int] | None = None,
    key: bytes = KEY,
    tid: str = TID,
    limit: int | None = None,
) -> bytes:
    """Feed ``blob`` in the given slice sizes (then the rest) and finish."""
    opener = Opener(key, tid, size=data_size, sha256=sha, limit=limit)
    out = bytearray()
    pos = 0
    for n in slices or []:
        for chunk in opener.feed(blob[pos : pos + n]):
            out += chunk
        pos += n
    for chunk in opener.feed(blob[pos:]):
        out += chunk
    opener.finish()
    return bytes(out)


def outcome(blob: bytes, size: int, sha: str, slices: list[int] | None = None) -> bytes | str:
    """The plaintext, or the error code; any other exception fails the test."""
    try:
        return open_all(blob, size, sha, slices=slices)
    except SealedError as exc:
        return exc.code


def records(blob: bytes) -> tuple[bytes, list[bytes]]:
    """Split a well-formed blob into its header and records."""
    header, rest = blob[:HEADER_SIZE], blob[HEADER_SIZE:]
    out = []
    while rest:
        (length,) = struct.unpack_from(">I", rest, 5)
        out.append(rest[: RECORD_HEADER_SIZE + length])
        rest = rest[RECORD_HEADER_SIZE + length :]
    return header, out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- round trips ---------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, MIN_CHUNK - 1, MIN_CHUNK, MIN_CHUNK + 1, 3 * MIN_CHUNK])
def test_round_trip_at_chunk_edges(size: int) -> None:
    data = os.urandom(size)
    blob = seal_bytes(KEY, TID, data, MIN_CHUNK)
    assert len(blob) == sealed_size(size, MIN_CHUNK)
    assert open_all(blob, size, sha(data)) == data
    header, recs = records(blob)
    assert header == b"BKS1" + MIN_CHUNK.to_bytes(4, "big")
    assert [r[4] for r in recs] == [0] * (len(recs) - 1) + [1]
    assert [int.from_bytes(r[:4], "big") for r in recs] == list(range(len(recs)))


def test_empty_file_is_one_empty_final_record() -> None:
    blob = seal_bytes(KEY, TID, b"")
    _, recs = records(blob)
    assert len(recs) == 1 and recs[0][:9] == b"\0\0\0\0\x01\0\0\0\x10"
    assert open_all(blob, 0, sha(b"")) == b""


def test_layout_matches_the_spec_byte_for_byte() -> None:
    # Rebuild the first record from the spec's text with AESGCM directly.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data = b"x" * 1500
    blob = seal_bytes(KEY, TID, data, 1024)
    nonce = b"\0\0\0\0" + (0).to_bytes(8, "big")
    aad = b"BKS1" + bytes([len(TID)]) + TID.encode() + (0).to_bytes(4, "big") + b"\0"
    ciphertext = AESGCM(KEY).encrypt(nonce, data[:1024], aad)
    assert blob[8:17] == b"\0\0\0\0\0" + (1024 + 16).to_bytes(4, "big")
    assert blob[17 : 17 + 1040] == ciphertext


def test_default_chunk_and_sealer_bookkeeping() -> None:
    data = os.urandom(DEFAULT_CHUNK * 2 + 3)
    sealer = seal(new_key(), TID)
    blob = sealer.feed(data[:10]) + sealer.feed(data[10:]) + sealer.finish()
    assert (sealer.size, sealer.sha256) == (len(data), sha(data))
    assert len(blob) == sealed_size(len(data))
    with pytest.raises(ValueError):
        sealer.feed(b"more")


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=9000),
    chunk=st.integers(MIN_CHUNK, 3000),
    pieces=st.lists(st.integers(0, 5000), max_size=6),
)
def test_round_trip_any_size_chunk_and_feeding(data: bytes, chunk: int, pieces: list[int]) -> None:
    key = new_key()
    sealer = seal(key, TID, chunk)
    blob = bytearray()
    pos = 0
    for n in pieces:
        blob += sealer.feed(data[pos : pos + n])
        pos += n
    blob += sealer.feed(data[pos:]) + sealer.finish()
    assert len(blob) == sealed_size(len(data), chunk)
    assert open_all(bytes(blob), len(data), sha(data), key=key) == data


# -- every way a blob can be wrong ---------------------------------------------

SMALL = os.urandom(2 * MIN_CHUNK + 100)  # three records at chunk size 1024
SMALL_BLOB = seal_bytes(KEY, TID, SMALL, MIN_CHUNK)
SMALL_SHA = sha(SMALL)


def expected_codes(position: int) -> set[str]:
    """Which codes a mutation of the byte at ``position`` may give (by the spec's order)."""
    if position < 4:
        return {"corrupt"}
    if position < HEADER_SIZE:
        return {"corrupt", "ok"}  # chunk size is not authenticated; see the test below
    offset = position - HEADER_SIZE
    record_size = RECORD_HEADER_SIZE + MIN_CHUNK + TAG_SIZE
    within = offset % record_size if offset < 2 * record_size else offset - 2 * record_size
    last = offset >= 2 * record_size
    if within < 4:
        return {"duplicate", "out_of_order"}
    if within == 4:
        return {"corrupt"}
    if within < RECORD_HEADER_SIZE:
        # A longer final record waits for bytes that never come.
        return {"corrupt", "truncated"} if last else {"corrupt"}
    return {"corrupt"}


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, len(SMALL_BLOB) - 1), flip=st.integers(1, 255))
def test_any_single_byte_mutation_is_a_typed_error(position: int, flip: int) -> None:
    blob = bytearray(SMALL_BLOB)
    blob[position] ^= flip
    result = outcome(bytes(blob), len(SMALL), SMALL_SHA)
    code = "ok" if result == SMALL else result
    assert code in expected_codes(position), (position, flip, code)


def test_chunk_size_change_is_caught_unless_harmless() -> None:
    # The header's chunk size is not in the AAD: a change either breaks the record layout
    # (corrupt) or, for a one-record file, changes nothing about the plaintext.
    data = b"a" * 100
    blob = bytearray(seal_bytes(KEY, TID, data, MIN_CHUNK))
    blob[4:8] = (2048).to_bytes(4, "big")
    assert outcome(bytes(blob), 100, sha(data)) == data
    blob = bytearray(SMALL_BLOB)
    blob[4:8] = (2048).to_bytes(4, "big")
    assert outcome(bytes(blob), len(SMALL), SMALL_SHA) == "corrupt"


@pytest.mark.parametrize("chunk_size", [0, MIN_CHUNK - 1, MAX_CHUNK + 1, 2**32 - 1])
def test_chunk_size_out_of_range_is_corrupt(chunk_size: int) -> None:
    blob = b"BKS1" + chunk_size.to_bytes(4, "big") + SMALL_BLOB[8:]
    assert outcome(blob, len(SMALL), SMALL_SHA) == "corrupt"


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(0, len(SMALL_BLOB) - 1))
def test_any_truncation_is_truncated(cut: int) -> None:
    assert outcome(SMALL_BLOB[:cut], len(SMALL), SMALL_SHA) == "truncated"


def test_duplicated_and_reordered_records() -> None:
    header, (r0, r1, r2) = records(SMALL_BLOB)
    assert outcome(header + r0 + r0 + r1 + r2, len(SMALL), SMALL_SHA) == "duplicate"
    assert outcome(header + r0 + r1 + r1 + r2, len(SMALL), SMALL_SHA) == "duplicate"
    assert outcome(header + r1 + r0 + r2, len(SMALL), SMALL_SHA) == "out_of_order"
    assert outcome(header + r0 + r2 + r1, len(SMALL), SMALL_SHA) == "out_of_order"
    assert outcome(header + r0 + r2, len(SMALL), SMALL_SHA) == "out_of_order"
    # After the final record nothing may follow, not even a copy of it.
    assert outcome(header + r0 + r1 + r2 + r2, len(SMALL), SMALL_SHA) == "corrupt"
    assert outcome(SMALL_BLOB + b"\0", len(SMALL), SMALL_SHA) == "corrupt"


def test_record_spliced_from_another_transfer_or_key_is_corrupt() -> None:
    other = seal_bytes(KEY, "transfer-0002", SMALL, MIN_CHUNK)
    header, (r0, r1, r2) = records(SMALL_BLOB)
    _, (o0, _, _) = records(other)
    assert outcome(header + o0 + r1 + r2, len(SMALL), SMALL_SHA) == "corrupt"
    with pytest.raises(SealedError) as caught:
        open_all(SMALL_BLOB, len(SMALL), SMALL_SHA, key=new_key())
    assert caught.value.code == "corrupt"


def test_final_flag_moved_is_corrupt() -> None:
    header, (r0, r1, r2) = records(SMALL_BLOB)
    early_final = r1[:4] + b"\x01" + r1[5:]
    assert outcome(header + r0 + early_final, len(SMALL), SMALL_SHA) == "corrupt"
    assert outcome(header + r0 + r1 + r2[:4] + b"\x00" + r2[5:], len(SMALL), SMALL_SHA) in (
        "corrupt",
    )
    assert outcome(header + r0 + r1[:4] + b"\x02" + r1[5:] + r2, len(SMALL), SMALL_SHA) == (
        "corrupt"
    )


def test_size_limit_and_hash_checks() -> None:
    size, digest = len(SMALL), SMALL_SHA
    assert outcome(SMALL_BLOB, size - 1, digest) == "too_large"
    assert outcome(SMALL_BLOB, size + 1, digest) == "corrupt"
    assert outcome(SMALL_BLOB, size, sha(b"other")) == "hash_mismatch"
    with pytest.raises(SealedError) as caught:
        open_all(SMALL_BLOB, size, digest, limit=MIN_CHUNK)
    assert caught.value.code == "too_large"


def test_errors_are_sticky_and_finish_needs_everything() -> None:
    opener = Opener(KEY, TID, size=len(SMALL), sha256=SMALL_SHA)
    with pytest.raises(SealedError):
        opener.feed(b"NOPE0000")
    with pytest.raises(SealedError) as caught:
        opener.feed(SMALL_BLOB)
    assert caught.value.code == "corrupt"
    with pytest.raises(SealedError):
        opener.finish()


@settings(max_examples=100, deadline=None)
@given(junk=st.binary(max_size=200), prefix=st.booleans())
def test_garbage_is_only_ever_a_sealed_error(junk: bytes, prefix: bool) -> None:
    blob = (SMALL_BLOB[:8] if prefix else b"") + junk
    result = outcome(blob, len(SMALL), SMALL_SHA)
    assert isinstance(result, str)


@settings(max_examples=80, deadline=None)
@given(
    mutation=st.one_of(
        st.none(),
        st.tuples(st.integers(0, len(SMALL_BLOB) - 1), st.integers(1, 255)),
    ),
    cut=st.integers(0, len(SMALL_BLOB) + 3),
    slices=st.lists(st.integers(0, 1500), max_size=10),
)
def test_slice_boundaries_do_not_change_the_result(
    mutation: tuple[int, int] | None, cut: int, slices: list[int]
) -> None:
    blob = bytearray(SMALL_BLOB + b"tail")[:cut]
    if mutation is not None and mutation[0] < len(blob):
        blob[mutation[0]] ^= mutation[1]
    whole = outcome(bytes(blob), len(SMALL), SMALL_SHA)
    assert outcome(bytes(blob), len(SMALL), SMALL_SHA, slices) == whole


def test_bad_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError):
        seal(b"short", TID)
    with pytest.raises(ValueError):
        seal(KEY, "no spaces allowed")
    with pytest.raises(ValueError):
        seal(KEY, TID, chunk_size=MIN_CHUNK - 1)
    assert TRANSFER_ID_PATTERN  # ids follow the channel's pattern


def test_an_empty_final_record_after_full_chunks_is_accepted() -> None:
    # Our sealer ends a file of whole chunks with a full final record; the spec also allows
    # a trailing empty final record (a sealer that cannot look ahead), so the opener takes it.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data = os.urandom(2 * MIN_CHUNK)
    aead = AESGCM(KEY)
    blob = b"BKS1" + MIN_CHUNK.to_bytes(4, "big")
    for index, (chunk, final) in enumerate(
        [(data[:MIN_CHUNK], 0), (data[MIN_CHUNK:], 0), (b"", 1)]
    ):
        aad = b"BKS1" + bytes([len(TID)]) + TID.encode() + index.to_bytes(4, "big")
        ciphertext = aead.encrypt(b"\0" * 4 + index.to_bytes(8, "big"), chunk, aad + bytes([final]))
        blob += index.to_bytes(4, "big") + bytes([final]) + len(ciphertext).to_bytes(4, "big")
        blob += ciphertext
    assert open_all(blob, len(data), sha(data)) == data
    assert len(seal_bytes(KEY, TID, data, MIN_CHUNK)) == len(blob) - RECORD_HEADER_SIZE - TAG_SIZE
