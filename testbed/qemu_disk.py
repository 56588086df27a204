"""The kiosk image's disk, read and edited as files (no loop device, nbd or mount).

Its partition table (``sfdisk -J``), the boot partition's default loader entry (mtools), the
config layer (a qcow2 holding only the p1 clusters a new ``kiosk.toml`` changes, written with
``qemu-io``) and the arithmetic on written extents. testbed.qemu re-exports all of it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CONFIG_PATH = "::branch-kiosk/kiosk.toml"  # on p1; the guest's /boot/firmware/branch-kiosk/
CLUSTER = 64 * 1024  # qcow2's default cluster size: the unit qemu-img map reports
SECTOR = 512


class QemuError(RuntimeError):
    """The machine could not be prepared, booted or asked; the message says what to do."""


@dataclass(frozen=True)
class Partition:
    """A partition of the image, in bytes from the start of the disk."""

    number: int
    start: int
    size: int
    name: str

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class Extent:
    """A range of the overlay the guest wrote (``qemu-img map``, depth 0, data)."""

    start: int
    length: int


def run_tool(*args: str | Path, timeout: float = 60) -> str:
    """Run a host tool; its stdout, or QemuError with the end of its stderr."""
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if done.returncode != 0:
        raise QemuError(
            f"{Path(str(args[0])).name} failed ({done.returncode}): {done.stderr[-800:]}"
        )
    return done.stdout


def partitions(image: Path) -> list[Partition]:
    """The image's partition table, read with ``sfdisk -J`` from the raw file."""
    table = json.loads(run_tool("sfdisk", "-J", image))["partitiontable"]
    sector = int(table.get("sectorsize", SECTOR))
    found = []
    for index, part in enumerate(table["partitions"], start=1):
        found.append(
            Partition(
                number=index,
                start=int(part["start"]) * sector,
                size=int(part["size"]) * sector,
                name=str(part.get("name", "")),
            )
        )
    if len(found) < 3:
        raise QemuError(f"{image} has {len(found)} partitions, the kiosk image has 3: make image")
    return found


def _extract(image: Path, part: Partition, out: Path) -> None:
    """Copy one partition of the raw image into ``out``, leaving runs of zeros as holes."""
    chunk = 1 << 20
    with image.open("rb") as src, out.open("wb") as dst:
        src.seek(part.start)
        left = part.size
        while left:
            data = src.read(min(chunk, left))
            if not data:
                raise QemuError(f"{image} ends inside partition {part.number}")
            if data.count(0) == len(data):
                dst.seek(len(data), os.SEEK_CUR)
            else:
                dst.write(data)
            left -= len(data)
        dst.truncate(part.size)


def _changed_runs(image: Path, part: Partition, edited: Path) -> list[tuple[int, int]]:
    """(offset in the partition, length) of the cluster runs where ``edited`` differs."""
    runs: list[tuple[int, int]] = []
    with image.open("rb") as a, edited.open("rb") as b:
        a.seek(part.start)
        offset = 0
        while offset < part.size:
            x, y = a.read(CLUSTER), b.read(CLUSTER)
            if x != y:
                if runs and runs[-1][0] + runs[-1][1] == offset:
                    runs[-1] = (runs[-1][0], runs[-1][1] + len(y))
                else:
                    runs.append((offset, len(y)))
            offset += CLUSTER
    return runs


def write_config_layer(image: Path, layer: Path, kiosk_toml: str, scratch: Path) -> None:
    """A qcow2 over ``image`` whose p1 holds ``kiosk_toml`` at branch-kiosk/kiosk.toml.

    Only the clusters mtools changed go into the layer (a few FAT sectors, a directory entry,
    the file), so the guest's own writes stay alone in the overlay above it.
    """
    boot = partitions(image)[0]
    scratch.mkdir(parents=True, exist_ok=True)
    p1 = scratch / "p1.raw"
    toml = scratch / "kiosk.toml"
    toml.write_text(kiosk_toml, encoding="utf-8")
    _extract(image, boot, p1)
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    # mmd fails harmlessly when the directory exists (the image ships an example there)
    subprocess.run(
        ["mmd", "-i", str(p1), "::branch-kiosk"], capture_output=True, env=env, check=False
    )
    done = subprocess.run(
        ["mcopy", "-o", "-i", str(p1), str(toml), CONFIG_PATH],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise QemuError(f"mcopy into p1 failed: {done.stderr.strip()}")
    run_tool("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", image.resolve(), layer)
    commands: list[str] = []
    for index, (offset, length) in enumerate(_changed_runs(image, boot, p1)):
        piece = scratch / f"run-{index}"
        with p1.open("rb") as src:
            src.seek(offset)
            piece.write_bytes(src.read(length))
        commands += ["-c", f"write -q -s {piece} {boot.start + offset} {length}"]
    if commands:
        run_tool("qemu-io", "-f", "qcow2", *commands, layer)
    for path in scratch.iterdir():
        path.unlink()
    scratch.rmdir()


@dataclass(frozen=True)
class BootEntry:
    """The kernel, initrd and command line of the image's default systemd-boot entry."""

    kernel: Path
    initrd: Path
    options: str


def _loader_key(text: str, key: str) -> str | None:
    for line in text.splitlines():
        name, _, value = line.strip().partition(" ")
        if name == key:
            return value.strip()
    return None


def boot_entry(image: Path, into: Path) -> BootEntry:
    """Copy the default loader entry's kernel and initrd out of p1 (for a direct boot)."""
    boot = partitions(image)[0]
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    where = f"{image}@@{boot.start}"

    def read(name: str) -> str:
        done = subprocess.run(
            ["mtype", "-i", where, f"::{name}"], capture_output=True, text=True, env=env
        )
        if done.returncode != 0:
            raise QemuError(f"p1 has no {name}: is {image} the kiosk image? ({done.stderr})")
        return done.stdout

    default = _loader_key(read("loader/loader.conf"), "default") or "kiosk.conf"
    entry = read(f"loader/entries/{default}")
    kernel, initrd, options = (_loader_key(entry, k) for k in ("linux", "initrd", "options"))
    if not (kernel and initrd and options):
        raise QemuError(f"loader/entries/{default} lacks linux, initrd or options")
    into.mkdir(parents=True, exist_ok=True)
    entry_files = BootEntry(into / "vmlinuz", into / "initrd.img", options)
    for source, target in ((kernel, entry_files.kernel), (initrd, entry_files.initrd)):
        done = subprocess.run(
            ["mcopy", "-o", "-i", where, f"::{source}", str(target)],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        if done.returncode != 0:
            raise QemuError(f"cannot copy {source} out of p1: {done.stderr}")
    return entry_files


def outside(extents: list[Extent], allowed: Partition) -> Iterator[Extent]:
    """The extents (or parts of them) that lie outside ``allowed``."""
    for extent in extents:
        if extent.start < allowed.start:
            yield Extent(
                extent.start, min(extent.start + extent.length, allowed.start) - extent.start
            )
        end = extent.start + extent.length
        if end > allowed.end:
            start = max(extent.start, allowed.end)
            yield Extent(start, end - start)
