"""The arm64 (Raspberry Pi 4) image, checked without booting it (issue 18).

The image `make image ARCH=arm64` writes (var/image/kiosk-arm64.img) is read as it is: the
root partition is copied out with debugfs (no loop device, no mount), the boot partition is read
with mtools, and the kiosk's venv is run in a chroot under qemu-user (image/binfmt.sh registers
qemu-aarch64). Missing image or tools: skipped with the reason, a failure under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.requirements import require, require_tool

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parents[2]
IMAGE = Path(os.environ.get("BRANCH_KIOSK_ARM64_IMAGE", str(ROOT / "var/image/kiosk-arm64.img")))
VENV_PYTHON = "/opt/branch-kiosk/.venv/bin/python"
EM_AARCH64 = 183  # ELF e_machine of arm64


@dataclass(frozen=True)
class Partition:
    """One MBR partition: byte offset and size, type and boot flag."""

    offset: int
    size: int
    type: str
    bootable: bool


@dataclass(frozen=True)
class Arm64Image:
    """The image file and its three partitions (boot, root, identity)."""

    path: Path
    label: str
    partitions: list[Partition]

    def boot_file(self, name: str) -> str:
        """The text of ``name`` on the FAT boot partition (p1), read with mtools."""
        mcopy = require_tool("mcopy", "mtools")
        result = subprocess.run(
            [mcopy, "-n", "-i", f"{self.path}@@{self.partitions[0].offset}", f"::{name}", "-"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
        )
        return result.stdout

    def boot_listing(self) -> list[str]:
        """Every path on the boot partition."""
        mdir = require_tool("mdir", "mtools")
        result = subprocess.run(
            [mdir, "-/", "-b", "-i", f"{self.path}@@{self.partitions[0].offset}", "::/"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
        )
        return [line.removeprefix("::/") for line in result.stdout.split()]


@pytest.fixture(scope="module")
def image() -> Arm64Image:
    """The built arm64 image and its partition table."""
    require(
        IMAGE.is_file(),
        f"{IMAGE} is missing: build it first with `make image ARCH=arm64` (make test does, "
        "outside the loopback-only namespace)",
    )
    sfdisk = require_tool("sfdisk", "fdisk")
    table = json.loads(
        subprocess.run([sfdisk, "--json", str(IMAGE)], capture_output=True, check=True).stdout
    )["partitiontable"]
    sector = int(table.get("sectorsize", 512))
    parts = [
        Partition(
            offset=int(p["start"]) * sector,
            size=int(p["size"]) * sector,
            type=str(p["type"]),
            bootable=bool(p.get("bootable", False)),
        )
        for p in table["partitions"]
    ]
    return Arm64Image(IMAGE, str(table["label"]), parts)


@pytest.fixture(scope="module")
def rootfs(image: Arm64Image, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The root partition (p2) copied out with owners and modes (debugfs rdump, as root)."""
    require(os.geteuid() == 0, "copying the root partition out keeps owners only as root")
    debugfs = require_tool("debugfs", "e2fsprogs")
    target = tmp_path_factory.mktemp("arm64-root")
    source = f"{image.path}?offset={image.partitions[1].offset}"
    subprocess.run(
        [debugfs, "-R", f"rdump / {target}", source], capture_output=True, check=True, timeout=300
    )
    try:
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)


def in_chroot(rootfs: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside the arm64 rootfs under qemu-user (binfmt_misc)."""
    check = subprocess.run([str(ROOT / "image/binfmt.sh"), "--check"], capture_output=True)
    require(
        check.returncode == 0,
        "qemu-aarch64 is not registered with binfmt_misc: run image/binfmt.sh as root "
        "(apt-get install qemu-user-static; the registration is host-kernel-global)",
    )
    chroot = require_tool("chroot", "coreutils")
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    return subprocess.run(
        [chroot, str(rootfs), *argv], capture_output=True, text=True, env=env, timeout=300
    )


def fstab(rootfs: Path) -> list[list[str]]:
    """The fields of every entry in the image's /etc/fstab."""
    lines = (rootfs / "etc/fstab").read_text().splitlines()
    return [line.split() for line in lines if line.strip() and not line.lstrip().startswith("#")]


# -- the disk and the boot partition -------------------------------------------------------


def test_the_disk_is_mbr_with_a_bootable_fat_first_for_the_pi4_rom(image: Arm64Image) -> None:
    assert image.label == "dos"
    boot, root, identity = image.partitions
    assert (boot.offset, boot.type, boot.bootable) == (1 << 20, "c", True)
    assert (root.type, identity.type) == ("83", "83")


def test_the_boot_partition_has_the_pi4_firmware_kernel_and_the_kiosk_config(
    image: Arm64Image,
) -> None:
    files = set(image.boot_listing())
    config = image.boot_file("config.txt").splitlines()
    # raspi-firmware copies the kernel and initrd under their versioned names, as config.txt says.
    kernel = [line.removeprefix("kernel=") for line in config if line.startswith("kernel=")]
    initrd = [line.split()[1] for line in config if line.startswith("initramfs ")]
    assert len(kernel) == len(initrd) == 1
    assert "arm_64bit=1" in config
    needed = {"start4.elf", "fixup4.dat", "bcm2711-rpi-4-b.dtb", "config.txt", "cmdline.txt"}
    needed |= {kernel[0], initrd[0], "branch-kiosk/kiosk.toml"}
    assert needed <= files, f"missing on p1: {sorted(needed - files)}"


def test_the_command_line_mounts_root_read_only_and_zeroes_freed_pages(
    image: Arm64Image,
) -> None:
    words = image.boot_file("cmdline.txt").split()
    assert "ro" in words
    assert "rw" not in words  # raspi-firmware writes rw; the kernel would honour the last one
    assert "init_on_free=1" in words
    assert "root=LABEL=kiosk-root" in words
    # raspi-firmware adds cma=64M when it cannot see a Pi 4 (a build chroot): a Pi 4 then fails.
    assert [word for word in words if word.startswith("cma=")] == []


# -- the root file system ------------------------------------------------------------------


def test_the_root_is_built_for_arm64(rootfs: Path) -> None:
    # usr/bin/python3 -> python3.11 (relative): resolved inside the copy, not on the host.
    python3 = rootfs / "usr/bin" / (rootfs / "usr/bin/python3").readlink()
    header = python3.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == EM_AARCH64


def test_fstab_mounts_root_read_only_and_the_identity_partition_alone_writable(
    rootfs: Path,
) -> None:
    entries = {fields[1]: fields for fields in fstab(rootfs)}
    assert entries["/"][0] == "LABEL=kiosk-root"
    assert "ro" in entries["/"][3].split(",")
    boot = entries["/boot/firmware"]
    assert boot[0] == "LABEL=KIOSKBOOT"
    assert boot[2] == "vfat"
    assert {"ro", "nodev", "nosuid", "noexec"} <= set(boot[3].split(","))
    identity = entries["/var/lib/branch-kiosk"]
    assert identity[0] == "LABEL=kiosk-id"
    assert {"rw", "nodev", "nosuid", "noexec"} <= set(identity[3].split(","))
    persistent = {f[1] for f in fstab(rootfs) if f[2] not in ("tmpfs", "swap") and "rw" in f[3]}
    assert persistent == {"/var/lib/branch-kiosk"}


def test_nothing_can_swap(rootfs: Path) -> None:
    assert [f for f in fstab(rootfs) if f[2] == "swap" or "swap" in f[3].split(",")] == []
    units = [p.name for p in (rootfs / "etc/systemd/system").rglob("*.swap")]
    assert units == []
    packages = subprocess.run(
        ["dpkg-query", f"--admindir={rootfs}/var/lib/dpkg", "-W", "-f", "${Package}\\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    swappers = {"dphys-swapfile", "zram-tools", "systemd-zram-generator", "swapspace"}
    assert swappers.isdisjoint(packages)


def test_the_units_of_enable_list_are_enabled(rootfs: Path) -> None:
    lines = (ROOT / "image/enable.list").read_text().splitlines()
    units = [line.split("#")[0].strip() for line in lines]
    units = [unit for unit in units if unit]
    assert {"kiosk.service", "run-kiosk-session.mount"} <= set(units)
    systemctl = require_tool("systemctl", "systemd")
    result = subprocess.run(
        [systemctl, f"--root={rootfs}", "is-enabled", *units], capture_output=True, text=True
    )
    assert result.stdout.split() == ["enabled"] * len(units), dict(
        zip(units, result.stdout.split(), strict=False)
    )


def test_the_kiosk_imports_under_qemu_user_with_kmsdrm_in_its_sdl(rootfs: Path) -> None:
    # One interpreter start (seconds under emulation): the kiosk's imports, the machine, and the
    # video drivers compiled into the SDL that pygame loaded (kmsdrm: the touch UI, no desktop).
    script = (
        "import ctypes, glob, os, platform, appliance, aiortc, av, pygame, evdev\n"
        "sdl = glob.glob(os.path.dirname(pygame.__file__) + '*.libs/libSDL2-2*')\n"
        "lib = ctypes.CDLL(sdl[0])\n"
        "lib.SDL_GetVideoDriver.restype = ctypes.c_char_p\n"
        "print(platform.machine())\n"
        "count = lib.SDL_GetNumVideoDrivers()\n"
        "print(*(lib.SDL_GetVideoDriver(i).decode() for i in range(count)))\n"
    )
    result = in_chroot(rootfs, VENV_PYTHON, "-c", script)
    assert result.returncode == 0, result.stderr[-2000:]
    machine, drivers = result.stdout.splitlines()[-2:]
    assert machine == "aarch64"
    assert "KMSDRM" in drivers.split()


# -- the recipe's scripts refuse bad input (no image needed) -------------------------------


def run_script(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run one of image/'s scripts with ``argv``."""
    return subprocess.run(
        [str(ROOT / "image" / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=60
    )


def test_venv_sh_refuses_an_unknown_arch_and_creates_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = run_script("venv.sh", str(tmp_path), "riscv64", str(cache))
    assert result.returncode == 2
    assert "unknown ARCH 'riscv64'" in result.stderr
    assert not cache.exists()


def test_venv_sh_refuses_a_missing_rootfs(tmp_path: Path) -> None:
    result = run_script("venv.sh", str(tmp_path / "nope"), "arm64", str(tmp_path / "cache"))
    assert result.returncode == 2
    assert "is not a directory" in result.stderr


def test_venv_sh_refuses_a_rootfs_without_python3_and_leaves_it_untouched(
    tmp_path: Path,
) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    result = run_script("venv.sh", str(rootfs), "amd64", str(tmp_path / "cache"))
    assert result.returncode == 1
    assert "install python3 and python3-venv" in result.stderr
    assert list(rootfs.iterdir()) == []


def test_venv_sh_wants_exactly_three_arguments() -> None:
    result = run_script("venv.sh", "/tmp")
    assert result.returncode == 2
    assert "usage: image/venv.sh ROOTFS ARCH" in result.stderr


def test_binfmt_sh_refuses_an_unknown_option() -> None:
    result = run_script("binfmt.sh", "--all")
    assert result.returncode == 2
    assert "usage" in result.stderr
