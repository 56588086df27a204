"""The unit files are valid and hardened (systemd-analyze, offline)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.requirements import require_tool

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNITS = sorted([*SYSTEMD.glob("*.service"), *SYSTEMD.glob("*.mount")])
# `systemd-analyze security` rates services; a mount unit runs no process of its own.
SERVICES = [unit for unit in UNITS if unit.suffix == ".service"]
# Exposure in tenths (issue 18): the hub needs only the network (1.4 today); the kiosk needs
# devices and arbitrary ICE peers too (1.5 today).
MAX_EXPOSURE = {"kiosk-hub.service": 15, "kiosk.service": 20}


def _analyze() -> str:
    return require_tool("systemd-analyze", "systemd")


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_verifies(unit: Path, tmp_path: Path) -> None:
    # The install path does not exist on a build machine; point ExecStart at a real binary
    # (in a copy: the units themselves keep /opt/branch-kiosk, where the image installs it).
    text = unit.read_text().replace("/opt/branch-kiosk/.venv/bin/", "/bin/")
    text = text.replace("/bin/kiosk-hub ", "/bin/true ").replace("/bin/kiosk ", "/bin/true ")
    copy = tmp_path / unit.name
    copy.write_text(text)
    result = subprocess.run(
        [_analyze(), "verify", "--recursive-errors=yes", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [
        line
        for line in result.stderr.splitlines()
        if unit.name in line or "Unknown" in line or "Invalid" in line
    ]
    assert result.returncode == 0 and not problems, result.stderr


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_unit_is_hardened(unit: Path) -> None:
    threshold = MAX_EXPOSURE[unit.name]  # a new service must be given its own bound
    result = subprocess.run(
        [_analyze(), "security", "--offline=yes", f"--threshold={threshold}", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:]


def test_the_security_gate_fails_an_unhardened_unit(tmp_path: Path) -> None:
    """Guard the guard: --threshold makes the exit status fail above the bound."""
    bare = tmp_path / "bare.service"
    bare.write_text("[Service]\nExecStart=/bin/true\n")
    result = subprocess.run(
        [_analyze(), "security", "--offline=yes", "--threshold=20", str(bare)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0, result.stdout[-2000:]


def test_the_kiosk_is_a_notify_service_with_a_watchdog_and_no_core_dumps() -> None:
    """READY after the wipe, a watchdog restart of a hung kiosk that stops it within 5 s of
    the abort, no session memory in a core file, and a backstop against a crash loop."""
    service = _settings(SYSTEMD / "kiosk.service")
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["WatchdogSec"] == "20s"
    assert service["TimeoutAbortSec"] == "5s"
    assert service["LimitCORE"] == "0"
    assert service["Restart"] == "always"
    assert int(service["StartLimitBurst"]) > 0 and service["StartLimitIntervalSec"]
    # Not waiting for a time server: with none reachable the kiosk must still start.
    assert "time-sync.target" not in service.get("After", "") + service.get("Wants", "")


def test_verify_catches_typos(tmp_path: Path) -> None:
    """Guard the guard: a misspelt directive must fail the check above."""
    bad = tmp_path / "typo.service"
    bad.write_text("[Service]\nExecStart=/bin/true\nProtectSytem=strict\n")
    result = subprocess.run(
        [_analyze(), "verify", "--recursive-errors=no", "--man=no", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Unknown key" in result.stderr or result.returncode != 0


def test_session_mount_unit_matches_the_vault_defaults() -> None:
    """The mount unit's name, path and options agree with what the kiosk expects."""
    from appliance.config.vault import DEFAULT_VAULT_PATH

    unit = SYSTEMD / "run-kiosk-session.mount"
    text = unit.read_text()
    assert f"Where={DEFAULT_VAULT_PATH}\n" in text
    (options,) = [line for line in text.splitlines() if line.startswith("Options=")]
    flags = set(options.removeprefix("Options=").split(","))
    assert {"mode=0700", "nodev", "nosuid", "noexec"} <= flags
    # Debian 12's kernel (6.1) refuses noswap (6.4+) and the unit would fail at boot; the
    # start-up wipe's remount adds it where the kernel has it, and the image has no swap.
    assert "noswap" not in flags
    assert any(flag.startswith("size=") for flag in flags)
    # systemd derives the unit name from the path; a mismatch is silently ignored at boot.
    escaped = subprocess.run(
        [
            _analyze().replace("systemd-analyze", "systemd-escape"),
            "-p",
            "--suffix=mount",
            str(DEFAULT_VAULT_PATH),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert escaped == unit.name


def _settings(unit: Path) -> dict[str, str]:
    lines = unit.read_text().splitlines()
    return dict(ln.split("=", 1) for ln in lines if "=" in ln and not ln.startswith("#"))


def test_the_kiosk_user_gets_the_session_tmpfs_and_can_reach_it() -> None:
    """Root's ExecStartPre wipe remounts the tmpfs: it must hand it to User=/Group=, and the
    parent directory the mount unit creates must let that user through (the real thing, in a
    mount namespace: tests/appliance/test_wipe_mounts.py)."""
    service = _settings(SYSTEMD / "kiosk.service")
    mount = _settings(SYSTEMD / "run-kiosk-session.mount")
    wipe = service["ExecStartPre"].split()
    # "+": privileged (it remounts the tmpfs); "-": its failure does not fail the start (the
    # kiosk's own start-up wipe then shows out of service instead of a restart loop).
    assert wipe[0].startswith("-+") and wipe[wipe.index("--") + 2] == "wipe"
    # In PID 1's mount namespace: a "+" command still gets the unit's own (systemd 252), where
    # the fresh tmpfs would stay hidden from the kiosk.
    assert wipe[0] == "-+/usr/bin/nsenter" and wipe[1] == "--mount=/proc/1/ns/mnt"
    assert wipe[wipe.index("--owner") + 1] == f"{service['User']}:{service['Group']}"
    assert int(mount["DirectoryMode"], 8) & 0o005 == 0o005  # others may traverse /run/kiosk
    assert "mode=0700" in mount["Options"].split(",")  # the tmpfs root itself stays private
    where = mount["Where"]
    assert where in service["ReadWritePaths"].split()
    assert where in service["RequiresMountsFor"].split()


def test_the_privileged_wipe_s_fresh_tmpfs_reaches_the_kiosk() -> None:
    """PrivateMounts=yes kept the ExecStartPre remount in the unit's own namespace, root-owned:
    the booted kiosk could not write its vault. It must not come back."""
    service = _settings(SYSTEMD / "kiosk.service")
    assert service.get("PrivateMounts", "no") == "no"
    # The wipe is cheap to start: `kiosk wipe` skips the call's imports (appliance.cli).
    assert "/bin/kiosk wipe " in service["ExecStartPre"]
