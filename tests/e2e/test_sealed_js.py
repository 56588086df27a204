"""hub/web/sealed.js writes and reads the same sealed bytes as protocol/sealed.py.

docs/exchange.md fixes the format byte for byte, so a file sealed in the console opens at the
kiosk and the other way round. Runs the console's module in headless Chromium (WebCrypto)
against the Python module: both directions byte-exact (the sealing is deterministic for a given
key and transfer id, so the two blobs must be identical), and the same damaged blobs refused by
both with the same codes.
"""

from __future__ import annotations

import base64
import hashlib
import random
import struct
from collections.abc import Callable
from typing import Any

import pytest

from protocol import sealed
from tests.support.blank_page import blank_page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

TID = "tr4nsfer_0001"
KEY = bytes(range(32))
SMALL_CHUNK = 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


# -- the Python side, in the terms of protocol/sealed.py ---------------------------------------


def py_seal(data: bytes, key: bytes, transfer_id: str, chunk_size: int) -> bytes:
    return sealed.seal_bytes(key, transfer_id, data, chunk_size)


def py_open(blob: bytes, key: bytes, transfer_id: str, size: int, sha256: str) -> str | bytes:
    """The plaintext, or the SealedError's code."""
    opener = sealed.Opener(key, transfer_id, size=size, sha256=sha256)
    try:
        chunks = opener.feed(blob)
        opener.finish()
    except sealed.SealedError as exc:
        return str(exc.code)
    return b"".join(chunks)


# -- the browser side -------------------------------------------------------------------------

# Seal each [id, keyHex, dataB64, chunkSize] and return the blobs as base64.
JS_SEAL = """
async (items) => {
  const mod = await import('/static/sealed.js');
  const b64 = (u8) => { let s = ''; for (let i = 0; i < u8.length; i += 0x8000)
    s += String.fromCharCode(...u8.subarray(i, i + 0x8000)); return btoa(s); };
  const unb64 = (t) => Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
  const out = [];
  for (const [id, key, data, chunkSize] of items) {
    const blob = await mod.seal({id, key, data: unb64(data), chunkSize});
    out.push(b64(new Uint8Array(await blob.arrayBuffer())));
  }
  return out;
}
"""

# Open each [id, keyHex, blobB64, size, sha256] in two ways (whole, and fed in odd pieces):
# returns [base64 plaintext or 'code:...', same for the piecewise opener].
JS_OPEN = """
async (items) => {
  const mod = await import('/static/sealed.js');
  const b64 = (u8) => { let s = ''; for (let i = 0; i < u8.length; i += 0x8000)
    s += String.fromCharCode(...u8.subarray(i, i + 0x8000)); return btoa(s); };
  const unb64 = (t) => Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
  const outcome = async (f) => {
    try { return b64(await f()); } catch (exc) {
      return exc instanceof mod.SealedError ? 'code:' + exc.code : 'other:' + exc;
    }
  };
  const out = [];
  for (const [id, key, blobText, size, sha256] of items) {
    const blob = unb64(blobText);
    const whole = await outcome(async () =>
      (await mod.openSealed({id, key, blob, size, sha256})).bytes);
    const pieces = await outcome(async () => {
      const opener = new mod.Opener({id, key, size, sha256});
      for (let at = 0, step = 1; at < blob.length; at += step, step = step * 3 + 1) {
        await opener.push(blob.subarray(at, at + step));
      }
      return opener.finish();
    });
    out.push([whole, pieces]);
  }
  return out;
}
"""

JS_TYPES = """
async (samples) => {
  const mod = await import('/static/sealed.js');
  const unb64 = (t) => Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
  return samples.map(([data, claimed]) => {
    const bytes = unb64(data);
    let checked;
    try { checked = mod.checkType(bytes, claimed); } catch (exc) { checked = 'code:' + exc.code; }
    return [mod.sniffType(bytes), checked];
  });
}
"""


def sample(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


async def js_seal(page: Any, items: list[tuple[str, bytes, bytes, int]]) -> list[bytes]:
    args = [[tid, key.hex(), b64(data), chunk] for tid, key, data, chunk in items]
    return [unb64(text) for text in await page.evaluate(JS_SEAL, args)]


async def js_open(
    page: Any, items: list[tuple[str, bytes, bytes, int, str]]
) -> list[tuple[str | bytes, str | bytes]]:
    args = [[tid, key.hex(), b64(blob), size, sha] for tid, key, blob, size, sha in items]
    results = await page.evaluate(JS_OPEN, args)

    def decode(text: str) -> str | bytes:
        if text.startswith("code:"):
            return text.removeprefix("code:")
        assert not text.startswith("other:"), text
        return unb64(text)

    return [(decode(whole), decode(pieces)) for whole, pieces in results]


SIZES = [0, 1, SMALL_CHUNK - 1, SMALL_CHUNK, SMALL_CHUNK + 1, 3 * SMALL_CHUNK, 5000]


async def test_python_and_js_seal_identical_bytes() -> None:
    items = [(TID, KEY, sample(size, size), SMALL_CHUNK) for size in SIZES]
    items.append(("x" * 64, bytes(32), sample(700_000, 7), 256 * 1024))
    items.append(("Ab-_0123", KEY[::-1], sample(3 * 1024 * 1024 + 5, 8), 1024 * 1024))
    async with blank_page() as page:
        js_blobs = await js_seal(page, items)
    for (tid, key, data, chunk), js_blob in zip(items, js_blobs, strict=True):
        assert js_blob == py_seal(data, key, tid, chunk), (len(data), chunk)


async def test_each_side_opens_what_the_other_sealed() -> None:
    items = [(TID, KEY, sample(size, size + 100), SMALL_CHUNK) for size in SIZES]
    items.append((TID, KEY, sample(2 * 1024 * 1024 + 3, 9), 256 * 1024))
    async with blank_page() as page:
        js_blobs = await js_seal(page, items)
        to_open = [
            (tid, key, py_seal(data, key, tid, chunk), len(data), hashlib.sha256(data).hexdigest())
            for tid, key, data, chunk in items
        ]
        opened = await js_open(page, to_open)
    for (tid, key, data, _chunk), js_blob, (whole, pieces) in zip(
        items, js_blobs, opened, strict=True
    ):
        assert whole == data and pieces == data
        assert py_open(js_blob, key, tid, len(data), hashlib.sha256(data).hexdigest()) == data


# -- damaged blobs: the same codes on both sides ----------------------------------------------

HEADER = 8
RECORD = 9 + SMALL_CHUNK + 16  # one full record at the small chunk size


def records(blob: bytes) -> list[bytes]:
    """Split a sealed blob into its records (header excluded)."""
    out, pos = [], HEADER
    while pos < len(blob):
        length = struct.unpack(">I", blob[pos + 5 : pos + 9])[0]
        out.append(blob[pos : pos + 9 + length])
        pos += 9 + length
    return out


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


Damage = Callable[[bytes], bytes]

DATA = sample(3 * SMALL_CHUNK + 100, 42)  # three full records and a short final one
SHA = hashlib.sha256(DATA).hexdigest()

DAMAGES: dict[str, tuple[Damage, str]] = {
    "bad magic": (lambda b: b"BKS2" + b[4:], "corrupt"),
    "chunk size below 1024": (lambda b: b[:4] + struct.pack(">I", 1023) + b[8:], "corrupt"),
    "chunk size over 1 MiB": (lambda b: b[:4] + struct.pack(">I", 2**20 + 1) + b[8:], "corrupt"),
    "empty blob": (lambda b: b"", "truncated"),
    "seven bytes of something else": (lambda b: b"GIF89a\x00", "truncated"),
    "header only": (lambda b: b[:HEADER], "truncated"),
    "cut inside the first record": (lambda b: b[: HEADER + 100], "truncated"),
    "cut inside a record header": (lambda b: b[: HEADER + RECORD + 4], "truncated"),
    "last record missing": (lambda b: b[:HEADER] + b"".join(records(b)[:-1]), "truncated"),
    "a record twice": (
        lambda b: b[:HEADER] + b"".join(records(b)[:2] + records(b)[1:]),
        "duplicate",
    ),
    "two records swapped": (
        lambda b: b[:HEADER] + b"".join([records(b)[1], records(b)[0], *records(b)[2:]]),
        "out_of_order",
    ),
    "a record skipped": (
        lambda b: b[:HEADER] + b"".join([records(b)[0], *records(b)[2:]]),
        "out_of_order",
    ),
    "ciphertext bit flipped": (lambda b: flip(b, HEADER + 9 + 10), "corrupt"),
    "tag bit flipped": (lambda b: flip(b, HEADER + RECORD - 1), "corrupt"),
    "final flag set on the first record": (lambda b: flip(b, HEADER + 4), "corrupt"),
    "final flag of 2": (lambda b: b[: HEADER + 4] + b"\x02" + b[HEADER + 5 :], "corrupt"),
    "length over chunk size + 16": (
        lambda b: b[: HEADER + 5] + struct.pack(">I", SMALL_CHUNK + 17) + b[HEADER + 9 :],
        "corrupt",
    ),
    "a short record before the last": (
        lambda b: b[: HEADER + 5] + struct.pack(">I", SMALL_CHUNK) + b[HEADER + 9 :],
        "corrupt",
    ),
    "bytes after the final record": (lambda b: b + b"\x00", "corrupt"),
    "a record after the final record": (lambda b: b + records(b)[0], "corrupt"),
}


@pytest.mark.parametrize("name", list(DAMAGES))
def test_python_refuses_damage_with_the_documented_code(name: str) -> None:
    damage, code = DAMAGES[name]
    blob = damage(py_seal(DATA, KEY, TID, SMALL_CHUNK))
    assert py_open(blob, KEY, TID, len(DATA), SHA) == code


async def test_js_refuses_damage_exactly_as_python() -> None:
    good = py_seal(DATA, KEY, TID, SMALL_CHUNK)
    # Damaged blobs, plus intact blobs opened with the wrong facts.
    cases: list[tuple[str, tuple[str, bytes, bytes, int, str]]] = [
        (name, (TID, KEY, damage(good), len(DATA), SHA)) for name, (damage, _) in DAMAGES.items()
    ]
    cases += [
        ("wrong key", (TID, bytes(32), good, len(DATA), SHA)),
        ("wrong transfer id", ("tr4nsfer_0002", KEY, good, len(DATA), SHA)),
        ("announced size smaller", (TID, KEY, good, len(DATA) - 1, SHA)),
        ("announced size larger", (TID, KEY, good, len(DATA) + 1, SHA)),
        ("hash differs", (TID, KEY, good, len(DATA), "0" * 64)),
    ]
    async with blank_page() as page:
        results = await js_open(page, [item for _, item in cases])
    mismatches = []
    for (name, (tid, key, blob, size, sha)), (whole, pieces) in zip(cases, results, strict=True):
        expected = py_open(blob, key, tid, size, sha)
        assert isinstance(expected, str), f"{name}: Python opened it"
        if not (whole == pieces == expected):
            mismatches.append(f"{name}: python {expected}, js {whole!r} / pieces {pieces!r}")
    assert not mismatches, "\n".join(mismatches)
    codes = {py_open(blob, key, tid, size, sha) for _, (tid, key, blob, size, sha) in cases}
    assert codes == {
        "corrupt",
        "truncated",
        "duplicate",
        "out_of_order",
        "too_large",
        "hash_mismatch",
    }


async def test_js_refuses_seeded_random_damage_as_python() -> None:
    rng = random.Random(20261125)
    good = py_seal(DATA, KEY, TID, SMALL_CHUNK)
    blobs: list[bytes] = []
    for _ in range(120):
        damaged = bytearray(good)
        kind = rng.randrange(3)
        at = rng.randrange(len(damaged))
        if kind == 0:
            damaged[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del damaged[at:]
        else:
            damaged[at:at] = bytes([rng.randrange(256)])
        blobs.append(bytes(damaged))
    async with blank_page() as page:
        results = await js_open(page, [(TID, KEY, b, len(DATA), SHA) for b in blobs])
    for blob, (whole, pieces) in zip(blobs, results, strict=True):
        expected = py_open(blob, KEY, TID, len(DATA), SHA)
        assert whole == pieces == expected, (len(blob), expected, whole, pieces)


PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


async def test_js_sniffs_types_from_content_not_claims() -> None:
    samples = [
        (PDF, "application/pdf", "application/pdf", "application/pdf"),
        (JPEG, "image/jpeg", "image/jpeg", "image/jpeg"),
        (PNG, "image/png", "image/png", "image/png"),
        (PNG, "image/jpeg", "image/png", "code:type_not_allowed"),  # claim disagrees
        (b"GIF89a....", "image/gif", None, "code:type_not_allowed"),
        (b"MZ\x90\x00", "application/pdf", None, "code:type_not_allowed"),  # an .exe as .pdf
        (b"%PDF", "application/pdf", None, "code:type_not_allowed"),  # too short for %PDF-
        (b"", "application/pdf", None, "code:type_not_allowed"),
    ]
    async with blank_page() as page:
        results = await page.evaluate(JS_TYPES, [[b64(d), claim] for d, claim, _, _ in samples])
    for (data, _claim, sniffed, checked), result in zip(samples, results, strict=True):
        assert result == [sniffed, checked], data
