"""The session vault: round trips, opaque names, caps, tampering, closing (no root needed)."""

from __future__ import annotations

import os
from hashlib import sha256
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.config.kiosk import ConfigError, config_from_mapping
from appliance.custody.vault import (
    CHUNK,
    RECORD,
    VAULT_KEY_INFO,
    ArtifactKind,
    SessionVault,
    UnknownArtifact,
    VaultClosed,
    VaultFull,
    VaultTampered,
)
from protocol.sealed import HEADER_SIZE, RECORD_HEADER_SIZE, Opener

MIB = 1024 * 1024


def make_vault(root: Path, *, max_file: int = 8 * MIB, max_session: int = 16 * MIB) -> SessionVault:
    return SessionVault(root, max_file_bytes=max_file, max_session_bytes=max_session)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def disk_bytes(root: Path) -> bytes:
    return (
        b"".join(p.read_bytes() for p in files_under(root))
        + "".join(str(p) for p in root.rglob("*")).encode()
    )


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 16 * CHUNK, 16 * CHUNK + 7, 3 * MIB + 5]
)
def test_round_trip_at_chunk_edges(tmp_path: Path, size: int) -> None:
    vault = make_vault(tmp_path)
    data = os.urandom(size)
    artifact = vault.store(ArtifactKind.PHOTO, "photo.jpg", data)
    assert artifact.size == size
    assert vault.read_bytes(artifact) == data
    assert b"".join(bytes(piece) for piece in vault.read_chunks(artifact)) == data


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pieces=st.lists(st.integers(min_value=0, max_value=3 * CHUNK), max_size=12))
def test_streaming_writes_of_any_shape_round_trip(tmp_path: Path, pieces: list[int]) -> None:
    vault = make_vault(tmp_path)
    data = os.urandom(sum(pieces))
    with vault.create(ArtifactKind.FILE_RECEIVED, "statement.pdf") as writer:
        offset = 0
        for n in pieces:
            writer.write(memoryview(data)[offset : offset + n])
            offset += n
    assert vault.read_bytes(writer.artifact) == data
    vault.destroy()


def test_names_and_content_never_reach_the_disk_in_clear(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    canary = b"CANARY-Jane-Doe-4711"
    for kind in ArtifactKind:
        vault.store(kind, f"{canary.decode()}-{kind}.txt", canary * 100)
    on_disk = disk_bytes(tmp_path)
    assert canary not in on_disk and b"Jane" not in on_disk
    names = {p.name for p in files_under(tmp_path)}
    assert len(names) == len(ArtifactKind) and all(len(n) == 32 for n in names)
    assert [a.kind for a in vault.artifacts] == list(ArtifactKind)
    assert (tmp_path / vault.directory.name).stat().st_mode & 0o777 == 0o700


def test_a_stored_file_is_a_sealed_blob_under_its_own_key(tmp_path: Path) -> None:
    # One chunk format in the project: the relay's (protocol.sealed), keyed per file.
    session_key = os.urandom(32)
    vault = SessionVault(
        tmp_path, max_file_bytes=8 * MIB, max_session_bytes=16 * MIB, key=bytearray(session_key)
    )
    data = os.urandom(2 * CHUNK + 3)
    one, two = (vault.store(ArtifactKind.SCAN, n, data) for n in ("one", "two"))
    blobs = []
    for artifact in (one, two):
        key = HKDF(hashes.SHA256(), 32, salt=None, info=VAULT_KEY_INFO + artifact.ref.encode())
        file_key = key.derive(session_key)
        blob = (vault.directory / artifact.ref).read_bytes()
        opener = Opener(file_key, artifact.ref, size=len(data), sha256=sha256(data).hexdigest())
        assert b"".join(opener.feed(blob)) == data
        opener.finish()
        blobs.append(blob)
    assert blobs[0][:HEADER_SIZE] == b"BKS1" + CHUNK.to_bytes(4, "big")
    assert blobs[0][HEADER_SIZE:] != blobs[1][HEADER_SIZE:]  # same content, other key


def test_file_cap_refuses_and_leaves_nothing_partial(tmp_path: Path) -> None:
    vault = make_vault(tmp_path, max_file=CHUNK * 3, max_session=CHUNK * 10)
    with pytest.raises(VaultFull) as info, vault.create(ArtifactKind.SCAN, "scan") as writer:
        writer.write(bytes(CHUNK * 2))
        writer.write(bytes(CHUNK * 2))
    assert info.value.limit == "file" and "at most 192 KiB" in str(info.value)
    assert files_under(tmp_path) == [] and vault.used_bytes == 0
    # The session goes on: a smaller file still fits.
    small = vault.store(ArtifactKind.SCAN, "scan", b"ok")
    assert vault.read_bytes(small) == b"ok"


def test_session_cap_counts_every_artifact(tmp_path: Path) -> None:
    vault = make_vault(tmp_path, max_file=CHUNK * 4, max_session=CHUNK * 5)
    vault.store(ArtifactKind.PHOTO, "a", bytes(CHUNK * 3))
    with pytest.raises(VaultFull) as info:
        vault.store(ArtifactKind.PHOTO, "b", bytes(CHUNK * 3))
    assert info.value.limit == "session"
    assert len(files_under(tmp_path)) == 1 and vault.used_bytes == CHUNK * 3


def test_an_exception_while_writing_drops_the_artifact(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    with pytest.raises(RuntimeError), vault.create(ArtifactKind.CHAT_TRANSCRIPT, "chat") as w:
        w.write(b"half a transcript")
        raise RuntimeError("UI crashed")
    assert files_under(tmp_path) == [] and vault.artifacts == []


def stored(tmp_path: Path, size: int = 3 * CHUNK + 100) -> tuple[SessionVault, list[Path]]:
    vault = make_vault(tmp_path)
    vault.store(ArtifactKind.SCAN, "one", os.urandom(size))
    vault.store(ArtifactKind.SCAN, "two", os.urandom(size))
    return vault, [vault.directory / a.ref for a in vault.artifacts]


# Byte positions in a stored file (a sealed blob): the blob header's chunk size, the second
# record's index, its final flag, its ciphertext, the last byte (the final record's tag).
SECOND = HEADER_SIZE + RECORD


@pytest.mark.parametrize(
    "position", [5, SECOND + 2, SECOND + 4, SECOND + RECORD_HEADER_SIZE + 10, -1]
)
def test_a_flipped_bit_is_rejected(tmp_path: Path, position: int) -> None:
    vault, (first, _) = stored(tmp_path)
    data = bytearray(first.read_bytes())
    data[position] ^= 1
    first.write_bytes(bytes(data))
    with pytest.raises(VaultTampered):
        vault.read_bytes(vault.artifacts[0])
    assert vault.read_bytes(vault.artifacts[1])  # the other file is untouched


@pytest.mark.parametrize(
    "keep", [RECORD, 2 * RECORD, 2 * RECORD + 5, 0, HEADER_SIZE, HEADER_SIZE + 2 * RECORD]
)
def test_truncation_is_rejected(tmp_path: Path, keep: int) -> None:
    vault, (first, _) = stored(tmp_path)
    first.write_bytes(first.read_bytes()[:keep])
    with pytest.raises(VaultTampered):
        vault.read_bytes(vault.artifacts[0])


@pytest.mark.parametrize("forge_flag", [False, True])
def test_truncation_at_a_record_boundary_is_caught_by_the_final_flag(
    tmp_path: Path, forge_flag: bool
) -> None:
    # Even with a matching length: the last record kept was not sealed as final, and setting
    # its final byte in the record header does not help (the flag is in the aad).
    vault, (first, _) = stored(tmp_path, size=3 * CHUNK)
    kept = bytearray(first.read_bytes()[: HEADER_SIZE + 2 * RECORD])
    if forge_flag:
        kept[SECOND + 4] = 1
    first.write_bytes(bytes(kept))
    artifact = vault.artifacts[0]
    object.__setattr__(artifact, "size", 2 * CHUNK)  # the length matches two full records
    with pytest.raises(VaultTampered):
        vault.read_bytes(artifact)


@pytest.mark.parametrize("renumber", [False, True])
def test_reordered_records_are_rejected(tmp_path: Path, renumber: bool) -> None:
    # Renumbered, the swapped records' headers look in order: the aad still holds the index.
    vault, (first, _) = stored(tmp_path)
    data = first.read_bytes()
    one, two = data[HEADER_SIZE:SECOND], data[SECOND : SECOND + RECORD]
    if renumber:
        one, two = two[:4] + one[4:], one[:4] + two[4:]
    first.write_bytes(data[:HEADER_SIZE] + two + one + data[SECOND + RECORD :])
    with pytest.raises(VaultTampered):
        vault.read_bytes(vault.artifacts[0])


def test_swapped_files_are_rejected(tmp_path: Path) -> None:
    vault, (first, second) = stored(tmp_path)
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    for artifact in vault.artifacts:
        with pytest.raises(VaultTampered):
            vault.read_bytes(artifact)


def test_appended_bytes_are_rejected(tmp_path: Path) -> None:
    vault, (first, _) = stored(tmp_path)
    with first.open("ab") as f:
        f.write(b"more")
    with pytest.raises(VaultTampered):
        vault.read_bytes(vault.artifacts[0])


def test_destroy_zeroes_the_key_and_closes_everything(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    artifact = vault.store(ArtifactKind.INTAKE_FORM, "form", b"name=Jane")
    open_writer = vault.create(ArtifactKind.SIGNATURE, "sig")
    open_writer.write(b"x" * 100)
    # The key buffer is Final (never rebound), so key_erased reads the memory that held it;
    # the e2e memory scan checks that same memory from outside the process.
    assert not vault.destroyed and not vault.key_erased
    vault.destroy()
    assert vault.destroyed and vault.key_erased
    assert vault.artifacts == []
    with pytest.raises(VaultClosed):
        vault.store(ArtifactKind.PHOTO, "late", b"late")
    with pytest.raises((VaultClosed, UnknownArtifact)):
        vault.read_bytes(artifact)
    with pytest.raises(VaultClosed):
        open_writer.write(b"more")
    # The aborted writer's file is gone; the finished one stays for the wipe to overwrite.
    assert len(files_under(tmp_path)) == 1


def test_an_artifact_of_another_vault_is_unknown(tmp_path: Path) -> None:
    one, other = make_vault(tmp_path), make_vault(tmp_path)
    artifact = one.store(ArtifactKind.PHOTO, "p", b"x")
    with pytest.raises(UnknownArtifact):
        other.read_bytes(artifact)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"colour": 1}, "vault.colour"),
        ({"path": 5}, "vault.path"),
        ({"path": "/"}, "vault.path"),
        ({"size_mb": 0}, "vault.size_mb"),
        ({"max_file_mb": True}, "vault.max_file_mb"),
        ({"max_file_mb": 300, "max_session_mb": 200}, "vault.max_file_mb"),
        ({"max_session_mb": 600, "size_mb": 512}, "vault.max_session_mb"),
        ({"overwrite_passes": 9}, "vault.overwrite_passes"),
        ({"overwrite_passes": "1"}, "vault.overwrite_passes"),
    ],
)
def test_bad_vault_settings_name_the_key(section: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_mapping({"token": "t", "vault": section}, base_dir=Path("/etc/kiosk"))
    assert info.value.key == key


def test_vault_settings_defaults_and_relative_path() -> None:
    config = config_from_mapping({"token": "t"}, base_dir=Path("/etc/kiosk"))
    assert config.vault.path == Path("/run/kiosk/session") and config.vault.overwrite_passes == 1
    config = config_from_mapping(
        {"token": "t", "vault": {"path": "vault", "max_file_mb": 2, "overwrite_passes": 3}},
        base_dir=Path("/etc/kiosk"),
    )
    assert config.vault.path == Path("/etc/kiosk/vault")
    assert config.vault.max_file_bytes == 2 * MIB and config.vault.overwrite_passes == 3
