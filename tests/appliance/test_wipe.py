"""The wipe routine, the location logic and custody, with a strict stand-in for mount(2).

Real tmpfs and ext4 mounts are in test_wipe_mounts.py (root only).
"""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path

import pytest

from appliance.config.vault import MIB, VaultSettings
from appliance.custody.mount import (
    LocationKind,
    VaultLocation,
    VaultLocationError,
    filesystem_at,
    prepare_location,
)
from appliance.custody.session import SessionCustody, VaultUnavailable
from appliance.custody.vault import ArtifactKind, SessionVault, VaultClosed
from appliance.custody.wipe import SessionReferences, WipeError, random_pattern, wipe_location

CANARY = b"CANARY-wipe-0042"


class StrictMounter:
    """Implements the Mounter port from a table; anything unexpected fails the test."""

    def __init__(self, mounted: dict[Path, tuple[str, frozenset[str]]] | None = None) -> None:
        self.mounted = dict(mounted or {})
        self.calls: list[tuple[str, Path, str]] = []
        self.mount_errors: list[int] = []  # errnos raised by the next mount calls
        self.unmount_error: int | None = None

    def filesystem_at(self, path: Path) -> tuple[str, frozenset[str]] | None:
        return self.mounted.get(path)

    def mount_tmpfs(self, path: Path, options: str) -> None:
        self.calls.append(("mount", path, options))
        if self.mount_errors:
            err = self.mount_errors.pop(0)
            raise OSError(err, os.strerror(err))
        self.mounted[path] = ("tmpfs", frozenset(options.split(",")))

    def unmount(self, path: Path) -> None:
        self.calls.append(("unmount", path, ""))
        if self.unmount_error is not None:
            raise OSError(self.unmount_error, os.strerror(self.unmount_error))
        if path not in self.mounted:
            raise AssertionError(f"unmount of {path}, which is not mounted")
        del self.mounted[path]


def directory_location(path: Path) -> VaultLocation:
    return VaultLocation(path, LocationKind.DIRECTORY, 64 * MIB, None, remountable=False)


def plant(root: Path) -> int:
    """Leftovers of a crash: nested files, an empty file, a symlink; returns bytes."""
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "deep").write_bytes(CANARY * 1000)
    (root / "top").write_bytes(CANARY)
    (root / "empty").write_bytes(b"")
    (root / "link").symlink_to("/etc/passwd")
    return len(CANARY) * 1001


def test_wipe_overwrites_unlinks_and_reports_without_names(tmp_path: Path) -> None:
    outside = tmp_path.parent / (tmp_path.name + "-outside")
    outside.mkdir()
    target = outside / "kept"
    target.write_bytes(b"must survive")
    vault_dir = tmp_path / "vault"
    vault_dir.mkdir()
    total = plant(vault_dir)
    (vault_dir / "a" / "tolink").symlink_to(target)
    report = wipe_location(
        directory_location(vault_dir),
        mounter=StrictMounter(),
        passes=2,
        trigger="startup",
        readback=True,
    )
    assert os.listdir(vault_dir) == []
    assert target.read_bytes() == b"must survive"  # symlinks are removed, never followed
    assert (report.files, report.bytes, report.passes, report.verified) == (5, total, 2, True)
    assert report.method == "2 random passes, fsync, read-back, unlink"
    assert not report.remounted and report.location == "directory"
    line = report.to_json()
    assert json.loads(line)["trigger"] == "startup"
    assert "deep" not in line and "CANARY" not in line and str(vault_dir) not in line


def test_overwrite_happens_in_place_before_unlink(tmp_path: Path) -> None:
    # Keep a second hard link: it shows what the inode held after the overwrite pass.
    vault_dir = tmp_path / "vault"
    vault_dir.mkdir()
    (vault_dir / "f").write_bytes(CANARY * 4096)
    os.link(vault_dir / "f", tmp_path / "witness")
    wipe_location(directory_location(vault_dir), mounter=StrictMounter(), passes=1)
    witness = (tmp_path / "witness").read_bytes()
    assert len(witness) == len(CANARY) * 4096 and CANARY not in witness
    assert witness != bytes(len(witness))  # random, not zeros


def test_wipe_destroys_the_session_key_first(tmp_path: Path) -> None:
    vault = SessionVault(tmp_path, max_file_bytes=MIB, max_session_bytes=MIB)
    vault.store(ArtifactKind.CHAT_TRANSCRIPT, "chat", CANARY)
    report = wipe_location(
        directory_location(tmp_path), mounter=StrictMounter(), vault=vault, session_ref="r"
    )
    assert vault.key_erased and report.method.startswith("crypto-erase")
    with pytest.raises(VaultClosed):
        vault.store(ArtifactKind.PHOTO, "late", b"x")


def test_zero_passes_still_unlinks_and_verifies(tmp_path: Path) -> None:
    plant(tmp_path)
    report = wipe_location(directory_location(tmp_path), mounter=StrictMounter(), passes=0)
    assert report.verified and os.listdir(tmp_path) == [] and report.method == "unlink"


def test_a_busy_mount_fails_loudly_at_the_remount_step(tmp_path: Path) -> None:
    mounter = StrictMounter({tmp_path: ("tmpfs", frozenset({"noswap"}))})
    mounter.unmount_error = errno.EBUSY
    location = VaultLocation(tmp_path, LocationKind.TMPFS, MIB, True, remountable=True)
    with pytest.raises(WipeError) as info:
        wipe_location(location, mounter=mounter)
    assert info.value.step == "remount" and "busy" in info.value.cause.lower()


def test_random_pattern_is_random_and_sized() -> None:
    one, two = random_pattern(1000), random_pattern(1000)
    assert len(one) == 1000 and one != two and one != bytearray(1000)
    assert random_pattern(0) == bytearray()


def test_session_references_are_stable_per_process_and_unlinkable() -> None:
    refs, other = SessionReferences(), SessionReferences()
    assert refs.reference("c-1") == refs.reference("c-1") != refs.reference("c-2")
    assert refs.reference("c-1") != other.reference("c-1")
    assert "c-1" not in refs.reference("c-1")


MOUNTINFO = (
    "22 1 0:21 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=1g,mode=755\n"
    "90 22 0:40 / /run/kiosk/session rw,nosuid,nodev,noexec - tmpfs tmpfs rw,size=512m,noswap\n"
    "91 22 7:0 / /run/with\\040space rw - ext4 /dev/loop0 rw\n"
    "garbage line\n"
)


def test_mountinfo_parsing() -> None:
    assert filesystem_at(Path("/run/kiosk/session"), MOUNTINFO) == (
        "tmpfs",
        frozenset({"rw", "size=512m", "noswap"}),
    )
    assert filesystem_at(Path("/run/with space"), MOUNTINFO) == ("ext4", frozenset({"rw"}))
    assert filesystem_at(Path("/run/kiosk"), MOUNTINFO) is None


def test_root_mounts_a_tmpfs_with_noswap(tmp_path: Path) -> None:
    mounter = StrictMounter()
    location = prepare_location(
        tmp_path / "s", MIB, production=True, mounter=mounter, privileged=True
    )
    assert location.kind is LocationKind.TMPFS and location.noswap and location.remountable
    assert mounter.calls == [("mount", tmp_path / "s", "mode=0700,size=1048576,noswap")]


def test_old_kernels_mount_without_noswap_and_say_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mounter = StrictMounter()
    mounter.mount_errors = [errno.EINVAL]
    location = prepare_location(tmp_path, MIB, production=False, mounter=mounter, privileged=True)
    assert location.noswap is False and mounter.calls[-1][2] == "mode=0700,size=1048576"
    assert "does not support tmpfs noswap" in caplog.text


def test_an_existing_tmpfs_is_used_as_is(tmp_path: Path) -> None:
    mounter = StrictMounter({tmp_path: ("tmpfs", frozenset({"nodev", "nosuid", "noexec"}))})
    location = prepare_location(tmp_path, MIB, production=True, mounter=mounter, privileged=False)
    assert location.kind is LocationKind.TMPFS and not location.noswap
    assert not location.remountable and mounter.calls == []


def test_production_refuses_weak_locations(tmp_path: Path) -> None:
    weak_tmpfs = StrictMounter({tmp_path: ("tmpfs", frozenset({"rw"}))})
    with pytest.raises(VaultLocationError, match="nodev,nosuid,noexec"):
        prepare_location(tmp_path, MIB, production=True, mounter=weak_tmpfs, privileged=True)
    disk = StrictMounter({tmp_path: ("ext4", frozenset())})
    with pytest.raises(VaultLocationError, match="needs a tmpfs"):
        prepare_location(tmp_path, MIB, production=True, mounter=disk, privileged=True)
    with pytest.raises(VaultLocationError, match="refused in production"):
        prepare_location(tmp_path, MIB, production=True, mounter=StrictMounter(), privileged=False)


def test_developer_fallback_is_a_directory_with_a_loud_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    location = prepare_location(
        tmp_path / "dev", MIB, production=False, mounter=StrictMounter(), privileged=False
    )
    assert location.kind is LocationKind.DIRECTORY
    assert (tmp_path / "dev").stat().st_mode & 0o777 == 0o700
    assert "SESSION VAULT IS A PLAIN DIRECTORY" in caplog.text


def test_mount_failure_is_a_location_error(tmp_path: Path) -> None:
    mounter = StrictMounter()
    mounter.mount_errors = [errno.EPERM]
    with pytest.raises(VaultLocationError, match="cannot mount"):
        prepare_location(tmp_path, MIB, production=False, mounter=mounter, privileged=True)


def settings_for(path: Path) -> VaultSettings:
    return VaultSettings(path=path, size_bytes=8 * MIB, max_file_bytes=MIB, max_session_bytes=MIB)


async def test_custody_wipes_leftovers_at_startup_then_serves(tmp_path: Path) -> None:
    plant(tmp_path)
    custody = SessionCustody(
        settings_for(tmp_path), production=False, mounter=StrictMounter(), privileged=False
    )
    assert not custody.ready
    with pytest.raises(VaultUnavailable):
        _ = custody.vault
    report = await custody.startup()
    assert report is not None and report.trigger == "startup" and report.files == 4
    assert custody.ready and os.listdir(tmp_path) == []
    custody.open_session("consultation-1").store(ArtifactKind.PHOTO, "p", CANARY)
    seen: list[str] = []
    custody.on_wiped(lambda r: seen.append(r.trigger))
    custody.mark_ending("inactivity")
    report = await custody.end_session("hangup")
    assert report is not None and report.trigger == "inactivity" and report.files == 1
    assert report.session_ref is not None and "consultation" not in report.session_ref
    assert seen == ["inactivity"] and os.listdir(tmp_path) == []


async def test_custody_retries_then_goes_out_of_service_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mounter = StrictMounter({tmp_path: ("tmpfs", frozenset({"noswap"}))})
    custody = SessionCustody(
        settings_for(tmp_path),
        production=False,
        mounter=mounter,
        privileged=True,
        retry_delay_s=0,
        usage=lambda _path: 0,  # an empty tmpfs; the real one is in test_wipe_mounts.py
    )
    await custody.startup()
    assert custody.ready
    custody.vault.store(ArtifactKind.SCAN, "scan", CANARY)
    mounter.unmount_error = errno.EBUSY
    assert await custody.end_session("ended") is None
    assert not custody.ready and custody.out_of_service is not None
    assert "remount" in custody.out_of_service
    assert caplog.text.count("session wipe attempt") == 3 and "OUT OF SERVICE" in caplog.text
    with pytest.raises(VaultUnavailable):
        custody.open_session("next")
    mounter.unmount_error = None
    assert await custody.repair() is not None and custody.ready


async def test_custody_with_an_unusable_location_is_out_of_service(tmp_path: Path) -> None:
    custody = SessionCustody(
        settings_for(tmp_path), production=True, mounter=StrictMounter(), privileged=False
    )
    assert await custody.startup() is None
    assert custody.out_of_service is not None and "refused in production" in custody.out_of_service


def test_no_log_line_names_what_was_wiped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    vault = SessionVault(tmp_path, max_file_bytes=MIB, max_session_bytes=MIB)
    vault.store(ArtifactKind.INTAKE_FORM, CANARY.decode(), CANARY)
    wipe_location(directory_location(tmp_path), mounter=StrictMounter(), vault=vault)
    assert CANARY.decode() not in caplog.text
