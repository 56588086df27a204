"""The vault and the wipe on real file systems: tmpfs (full, busy, remounted) and ext4 at rest;
the shipped units in a private mount namespace (root's wipe, then the unprivileged kiosk user).

These mount file systems and need root (CI=true fails without it, elsewhere they skip).
"""

from __future__ import annotations

import asyncio
import grp
import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.config.vault import MIB, VaultSettings
from appliance.custody.mount import LinuxMounter, LocationKind, prepare_location
from appliance.custody.session import SessionCustody
from appliance.custody.vault import ArtifactKind, SessionVault, VaultFull
from appliance.custody.wipe import used_bytes, wipe_location
from tests.support.mounts import (
    MountNamespace,
    loop_ext4,
    private_mount_namespace,
    require_root,
    tmpfs,
    unmount,
)
from tests.support.requirements import require

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "systemd"
# Stands in for the unit's `kiosk` user: nobody/nogroup, a uid and gid with no privileges.
STAND_IN = (65534, 65534)


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


def test_kiosk_wipe_without_owner_keeps_the_owner_of_the_tmpfs_it_replaces(
    tmp_path: Path,
) -> None:
    """A technician's `kiosk wipe` by hand must not take the tmpfs away from the kiosk user."""
    owner = f"uid={STAND_IN[0]},gid={STAND_IN[1]}"
    with tmpfs(tmp_path / "session", "8m", options=owner) as where:
        (where / "leftover").write_bytes(b"CANARY" * 10)
        result = subprocess.run(
            [sys.executable, "-m", "appliance", "wipe", "--vault", str(where), "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout.splitlines()[-1])["remounted"] is True
        st = os.stat(where)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (*STAND_IN, 0o700)


def test_kiosk_wipe_refuses_an_owner_that_does_not_exist(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "wipe", "--vault", str(tmp_path / "s")]
        + ["--owner", "no-such-kiosk-user"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2 and "no user 'no-such-kiosk-user'" in result.stderr
    assert not (tmp_path / "s").exists()  # nothing mounted or made for a bad setup


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


# -- the shipped units: root's wipe, then the unprivileged kiosk user --------------------------

# What `kiosk run` does as User=kiosk, plus the plain write the bug report failed on.
KIOSK_USER_SESSION = """
import asyncio, json, sys
from pathlib import Path
from appliance.custody.session import SessionCustody
from appliance.custody.vault import ArtifactKind
from appliance.config.vault import MIB, VaultSettings

async def session():
    where = Path(sys.argv[1])
    settings = VaultSettings(
        path=where, size_bytes=16 * MIB, max_file_bytes=MIB, max_session_bytes=MIB
    )
    custody = SessionCustody(settings, production=True)
    startup = await custody.startup()
    if startup is None:
        return {"refused": custody.out_of_service}
    (where / "plain").write_bytes(b"written by the kiosk user")
    vault = custody.open_session("c-1")
    scan = vault.store(ArtifactKind.SCAN, "scan", b"CANARY" * 1000)
    read_back = vault.read_bytes(scan) == b"CANARY" * 1000
    ended = await custody.end_session("ended")
    custody.open_session("c-2").store(ArtifactKind.PHOTO, "photo", b"next customer")
    closed = await custody.close()
    return {
        "startup": startup.to_dict(),
        "read_back": read_back,
        "ended": ended and ended.to_dict(),
        "closed": closed and closed.to_dict(),
        "left": sorted(p.name for p in where.iterdir()),
    }

print(json.dumps(asyncio.run(session())))
"""


def unit_settings(name: str) -> dict[str, str]:
    """``Key=value`` lines of a shipped unit (the last one wins, as in systemd)."""
    lines = (SYSTEMD / name).read_text().splitlines()
    return dict(ln.split("=", 1) for ln in lines if "=" in ln and not ln.startswith("#"))


def stand_in_names() -> str:
    try:
        return f"{pwd.getpwuid(STAND_IN[0]).pw_name}:{grp.getgrgid(STAND_IN[1]).gr_name}"
    except KeyError:
        require(False, "no user/group 65534 (nobody/nogroup) to stand in for the kiosk user")
        raise


def run_exec_start_pre(ns: MountNamespace, config: Path) -> dict[str, object]:
    """kiosk.service's ExecStartPre as root, with its UMask=: our interpreter and config, and
    the stand-in instead of User=/Group=."""
    service = unit_settings("kiosk.service")
    argv = service["ExecStartPre"].lstrip("-+").split()  # systemd's prefixes: "-", "+"
    # The unit enters PID 1's mount namespace; here the namespace is the test's own.
    assert argv[:3] == ["/usr/bin/nsenter", "--mount=/proc/1/ns/mnt", "--"]
    del argv[:3]
    assert argv[:2] == ["/opt/branch-kiosk/.venv/bin/kiosk", "wipe"]
    argv[:1] = [sys.executable, "-m", "appliance"]
    for i, arg in enumerate(argv[:-1]):
        if arg == "--config":
            argv[i + 1] = str(config)
        if arg == "--owner":
            assert argv[i + 1] == f"{service['User']}:{service['Group']}"
            argv[i + 1] = stand_in_names()
    result = ns.run([*argv, "--json"], umask=int(service["UMask"], 8))
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return report


def kiosk_user_session(ns: MountNamespace, where: str) -> dict[str, object]:
    result = ns.run([sys.executable, "-c", KIOSK_USER_SESSION, where], user=STAND_IN)
    assert result.returncode == 0, result.stderr
    outcome: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return outcome


def production_config(tmp_path: Path, where: str) -> Path:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'production = true\nhub_url = "wss://hub.example.org"\n[vault]\npath = "{where}"\n'
    )
    return config


def assert_the_kiosk_user_served_a_session(ns: MountNamespace, where: str) -> None:
    stat = ns.run(["stat", "-c", "%u %g %a", where])
    assert stat.stdout.split() == [str(STAND_IN[0]), str(STAND_IN[1]), "700"], stat.stderr
    outcome = kiosk_user_session(ns, where)
    assert "refused" not in outcome, outcome["refused"]
    ended = outcome["ended"]
    assert outcome["read_back"] is True and isinstance(ended, dict)
    # The plain file and the scan; the kiosk user cannot remount, so it unlinks and verifies.
    assert ended["verified"] and ended["files"] == 2 and not ended["remounted"]
    assert isinstance(outcome["closed"], dict) and outcome["closed"]["files"] == 1
    assert outcome["left"] == []


def test_after_the_units_root_wipe_the_kiosk_user_writes_its_vault(tmp_path: Path) -> None:
    mount_unit = unit_settings("run-kiosk-session.mount")
    where = mount_unit["Where"]
    config = production_config(tmp_path, where)
    with private_mount_namespace() as ns:
        assert ns.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"]).returncode == 0
        # What systemd does for the mount unit: parents and mount point with DirectoryMode=,
        # then mount(8) with the unit's Options=.
        made = [str(p) for p in reversed(Path(where).parents) if len(p.parts) > 2] + [where]
        assert ns.run(["install", "-d", "-m", mount_unit["DirectoryMode"], *made]).returncode == 0
        options = mount_unit["Options"].replace("=kiosk", f"={STAND_IN[0]}")
        mounted = ns.run(["mount", "-t", mount_unit["Type"], "-o", options, "tmpfs", where])
        assert mounted.returncode == 0, mounted.stderr
        ns.run(["sh", "-c", f"head -c 6000 /dev/urandom > {where}/crash-leftover"])
        # Before the root wipe the tmpfs is root's: the kiosk user is refused, saying why.
        refused = kiosk_user_session(ns, where)["refused"]
        assert isinstance(refused, str) and "--owner" in refused
        report = run_exec_start_pre(ns, config)
        assert report["verified"] and report["remounted"] and report["files"] == 1
        mountinfo = ns.run(["cat", "/proc/self/mountinfo"]).stdout
        line = next(ln for ln in mountinfo.splitlines() if f" {where} " in ln)
        assert all(flag in line for flag in ("nosuid", "nodev", "noexec", "mode=700", "noswap"))
        assert_the_kiosk_user_served_a_session(ns, where)
        # The next service start wipes as root again: the owner survives that remount too.
        assert run_exec_start_pre(ns, config)["remounted"]
        assert_the_kiosk_user_served_a_session(ns, where)


def test_kiosk_wipe_mounts_the_first_tmpfs_for_the_service_user(tmp_path: Path) -> None:
    """No mount unit: the ExecStartPre wipe makes /run/kiosk and mounts the tmpfs itself."""
    where = unit_settings("run-kiosk-session.mount")["Where"]
    config = production_config(tmp_path, where)
    with private_mount_namespace() as ns:
        assert ns.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"]).returncode == 0
        report = run_exec_start_pre(ns, config)
        assert report["verified"] and report["remounted"] and report["noswap"]
        parent = ns.run(["stat", "-c", "%u %a", str(Path(where).parent)]).stdout.split()
        assert parent == ["0", "755"]  # root's, and the kiosk user may pass through
        assert_the_kiosk_user_served_a_session(ns, where)


def test_a_session_tmpfs_covered_by_a_later_mount_is_not_taken_for_the_vault(
    tmp_path: Path,
) -> None:
    """mountinfo still lists a tmpfs at the vault path after a new /run covers it (as when an
    earlier run left it mounted); the wipe must mount its own, not inventory a missing path."""
    where = unit_settings("run-kiosk-session.mount")["Where"]
    config = production_config(tmp_path, where)
    with private_mount_namespace() as ns:
        assert ns.run(["mkdir", "-p", where]).returncode == 0
        covered = ns.run(["mount", "-t", "tmpfs", "-o", "mode=0700", "tmpfs", where])
        assert covered.returncode == 0, covered.stderr
        assert ns.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"]).returncode == 0
        report = run_exec_start_pre(ns, config)
        assert report["verified"] and report["remounted"]
        assert_the_kiosk_user_served_a_session(ns, where)
