"""The vault and the wipe on real file systems: tmpfs (full, busy, remounted) and ext4 at rest.

These mount file systems and need root (CI=true fails without it, elsewhere they skip).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.custody import SessionCustody
from appliance.mount import LinuxMounter, LocationKind, prepare_location
from appliance.vault import ArtifactKind, SessionVault, VaultFull
from appliance.vault_settings import MIB, VaultSettings
from appliance.wipe import used_bytes, wipe_location
from tests.support.mounts import loop_ext4, require_root, tmpfs, unmount

ROOT = Path(__file__).resolve().parents[2]


def test_a_full_tmpfs_gives_vault_full_and_the_session_goes_on(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "tiny", "1m") as root:
        vault = SessionVault(root, max_file_bytes=64 * MIB, max_session_bytes=64 * MIB)
        kept = vault.store(ArtifactKind.INTAKE_FORM, "form", b"account=12345")
        with pytest.raises(VaultFull) as info:
            vault.store(ArtifactKind.PHOTO, "big photo", os.urandom(2 * MIB))
        assert info.value.limit == "storage"
        assert [p.name for p in vault.directory.iterdir()] == [kept.ref]  # nothing partial
        assert vault.used_bytes == len(b"account=12345")
        again = vault.store(ArtifactKind.CHAT_TRANSCRIPT, "chat", b"still working")
        assert vault.read_bytes(again) == b"still working"
        assert vault.read_bytes(kept) == b"account=12345"


async def test_root_mounts_wipes_and_remounts_a_real_tmpfs(tmp_path: Path) -> None:
    require_root("this test")
    where = tmp_path / "session"
    settings = VaultSettings(
        path=where, size_bytes=8 * MIB, max_file_bytes=MIB, max_session_bytes=MIB
    )
    custody = SessionCustody(settings, production=True)
    try:
        await custody.startup()
        assert custody.ready and custody.location is not None
        assert custody.location.kind is LocationKind.TMPFS and custody.location.remountable
        mountinfo = await asyncio.to_thread(Path("/proc/self/mountinfo").read_text)
        line = next(ln for ln in mountinfo.splitlines() if f" {where} " in ln)
        assert all(flag in line for flag in ("nosuid", "nodev", "noexec", "mode=700", "noswap"))
        custody.open_session("c-1").store(ArtifactKind.SCAN, "scan", os.urandom(300_000))
        assert used_bytes(where) > 0
        report = await custody.end_session("ended")
        assert report is not None and report.remounted and report.verified and report.noswap
        assert os.listdir(where) == [] and used_bytes(where) == 0
    finally:
        unmount(where)


async def test_a_busy_tmpfs_puts_the_kiosk_out_of_service(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "busy") as where:
        settings = VaultSettings(
            path=where, size_bytes=64 * MIB, max_file_bytes=MIB, max_session_bytes=MIB
        )
        custody = SessionCustody(settings, production=False, retry_delay_s=0)
        await custody.startup()
        (where / "held-open").mkdir()
        handle = os.open(where / "held-open", os.O_RDONLY)  # keeps the mount busy
        try:
            assert await custody.end_session("ended") is None
            assert custody.out_of_service is not None and "remount" in custody.out_of_service
        finally:
            os.close(handle)
        assert await custody.repair() is not None and custody.ready


def test_at_rest_on_ext4_the_canary_never_reaches_the_disk_in_clear(tmp_path: Path) -> None:
    canary = b"CANARY-at-rest-" + os.urandom(6).hex().encode()
    image = tmp_path / "disk.img"
    with loop_ext4(image, tmp_path / "mnt") as mnt:
        location = prepare_location(mnt, 16 * MIB, production=False)
        assert location.kind is LocationKind.MOUNTED
        vault = SessionVault(mnt, max_file_bytes=8 * MIB, max_session_bytes=16 * MIB)
        for kind in ArtifactKind:
            vault.store(kind, f"{canary.decode()}-{kind}", canary * 20_000)
        os.sync()
        assert canary not in image.read_bytes()  # during the session: ciphertext only
        report = wipe_location(location, mounter=LinuxMounter(), vault=vault, trigger="ended")
        assert report.verified and report.files == len(ArtifactKind)
        os.sync()
    raw = image.read_bytes()  # after the session, with the file system unmounted
    assert canary not in raw and canary[:15] + b"-" not in raw


def test_kiosk_wipe_command_mounts_wipes_and_reports_json(tmp_path: Path) -> None:
    require_root("`kiosk wipe` on a fresh location")
    where = tmp_path / "session"
    try:
        first = subprocess.run(
            [sys.executable, "-m", "appliance", "wipe", "--vault", str(where), "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout.splitlines()[-1])["verified"] is True
        (where / "leftover").write_bytes(b"CANARY" * 1000)
        second = subprocess.run(
            [sys.executable, "-m", "appliance", "wipe", "--vault", str(where), "--verify"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        assert second.returncode == 0, second.stderr
        assert "1 files, 6000 bytes" in second.stdout and "read-back" in second.stdout
        assert os.listdir(where) == []
    finally:
        unmount(where)


def test_kiosk_wipe_reports_a_refused_location(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[vault]\npath = "{tmp_path}/a-file/session"\n')
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "wipe", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 5
    assert json.loads(result.stdout.splitlines()[-1])["verified"] is False
    assert "a-file/session" in result.stderr
