"""The booted tests' own parts, without a boot: the probe's request handling, the harness's
checks of its inputs (image, partition table, boot entry) and its block-range arithmetic."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from testbed.qemu import (
    Extent,
    Machine,
    Partition,
    QemuError,
    boot_entry,
    outside,
    partitions,
    write_config_layer,
)
from tests.support.requirements import require_tool

PROBE = Path(__file__).resolve().parents[2] / "testbed/guest_probe.py"


def load_probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("branch_kiosk_probe", PROBE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "line",
    [b"", b"not json", b"[1, 2]", b'{"id": "x"}', b'{"verb": ["facts"]}', b"\xff\xfe"],
)
def test_the_probe_answers_a_malformed_request_with_an_error(line: bytes) -> None:
    reply = load_probe().answer(line)
    assert reply["ok"] is False and "verb" in reply["error"]


def test_the_probe_knows_only_its_fixed_verbs() -> None:
    probe = load_probe()
    reply = probe.answer(json.dumps({"verb": "sh -c reboot", "id": "7"}).encode())
    assert reply == {
        "ok": False,
        "id": "7",
        "error": "verbs: facts, journal, leftovers, poweroff, stop-kiosk",
    }
    assert sorted(probe.VERBS) == ["facts", "journal", "leftovers", "poweroff", "stop-kiosk"]


def test_the_probe_turns_a_failing_verb_into_an_error_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = load_probe()

    def broken() -> None:
        raise probe.ProbeError("kiosk.service has no main process")

    monkeypatch.setitem(probe.VERBS, "stop-kiosk", broken)
    reply = probe.answer(b'{"verb": "stop-kiosk", "id": "1"}')
    assert reply["ok"] is False and "no main process" in reply["error"]


def test_a_missing_image_says_to_run_make_image(tmp_path: Path) -> None:
    with pytest.raises(QemuError, match="make image"):
        Machine(tmp_path / "nope.img", tmp_path / "vm").prepare()
    assert not (tmp_path / "vm").exists()


def test_an_image_without_the_kiosk_layout_is_refused(tmp_path: Path) -> None:
    require_tool("sfdisk", "fdisk")
    image = tmp_path / "one.img"
    image.write_bytes(b"")
    with image.open("r+b") as f:
        f.truncate(8 << 20)
    subprocess.run(
        ["sfdisk", "-q", str(image)], input="label: gpt\nsize=4MiB\n", text=True, check=True
    )
    with pytest.raises(QemuError, match="1 partitions, the kiosk image has 3"):
        partitions(image)
    with pytest.raises(QemuError, match="sfdisk failed"):
        partitions(tmp_path / "missing.img")


def small_image(tmp_path: Path) -> Path:
    """A 3-partition GPT file whose p1 is FAT with a loader entry (no OS: nothing boots)."""
    for tool, package in (("sfdisk", "fdisk"), ("mkfs.vfat", "dosfstools"), ("mcopy", "mtools")):
        require_tool(tool, package)
    require_tool("qemu-io", "qemu-utils")
    image = tmp_path / "small.img"
    with image.open("wb") as f:
        f.truncate(48 << 20)
    layout = "label: gpt\nstart=2048, size=32MiB, type=U\nsize=4MiB\nsize=4MiB\n"
    subprocess.run(["sfdisk", "-q", str(image)], input=layout, text=True, check=True)
    fat = tmp_path / "p1.img"
    subprocess.run(["mkfs.vfat", "-C", str(fat), str(32 * 1024)], check=True, capture_output=True)
    env = {"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}
    tree = tmp_path / "esp"
    (tree / "loader/entries").mkdir(parents=True)
    (tree / "loader/loader.conf").write_text("default kiosk.conf\ntimeout 0\n")
    (tree / "loader/entries/kiosk.conf").write_text(
        "title t\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=LABEL=kiosk-root ro\n"
    )
    (tree / "vmlinuz").write_bytes(b"kernel")
    (tree / "initrd.img").write_bytes(b"initrd")
    subprocess.run(
        ["mcopy", "-s", "-i", str(fat), *map(str, tree.iterdir()), "::/"], check=True, env=env
    )
    subprocess.run(
        ["dd", f"if={fat}", f"of={image}", "bs=1M", "seek=1", "conv=notrunc", "status=none"],
        check=True,
    )
    shutil.rmtree(tree)
    fat.unlink()
    return image


def test_the_config_layer_holds_the_file_and_changes_only_p1(tmp_path: Path) -> None:
    image = small_image(tmp_path)
    before = image.read_bytes()
    layer = tmp_path / "config.qcow2"
    write_config_layer(image, layer, 'hub_url = "ws://10.0.2.2:1"\n', tmp_path / "scratch")
    assert image.read_bytes() == before and not (tmp_path / "scratch").exists()
    mapping = json.loads(
        subprocess.run(
            ["qemu-img", "map", "--output=json", str(layer)], capture_output=True, check=True
        ).stdout
    )
    boot = partitions(image)[0]
    mine = [Extent(m["start"], m["length"]) for m in mapping if m["depth"] == 0 and m["data"]]
    assert mine and not list(outside(mine, boot))
    flat = tmp_path / "flat.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(layer), str(flat)], check=True)
    shown = subprocess.run(
        ["mtype", "-i", f"{flat}@@{boot.start}", "::branch-kiosk/kiosk.toml"],
        capture_output=True, text=True, check=True, env={"MTOOLS_SKIP_CHECK": "1"},
    )  # fmt: skip
    assert shown.stdout == 'hub_url = "ws://10.0.2.2:1"\n'
    entry = boot_entry(image, tmp_path / "boot")
    assert entry.options == "root=LABEL=kiosk-root ro"
    assert entry.kernel.read_bytes() == b"kernel" and entry.initrd.read_bytes() == b"initrd"


def test_a_boot_partition_without_a_loader_entry_is_refused(tmp_path: Path) -> None:
    image = small_image(tmp_path)
    env = {"MTOOLS_SKIP_CHECK": "1"}
    offset = partitions(image)[0].start
    subprocess.run(["mdel", "-i", f"{image}@@{offset}", "::loader/entries/kiosk.conf"], env=env)
    with pytest.raises(QemuError, match="p1 has no loader/entries/kiosk.conf"):
        boot_entry(image, tmp_path / "boot")


def test_extents_outside_a_partition_are_cut_at_its_edges() -> None:
    p3 = Partition(number=3, start=1000, size=500, name="kiosk-id")
    extents = [Extent(1000, 500), Extent(900, 200), Extent(1400, 200), Extent(0, 10)]
    assert list(outside(extents, p3)) == [
        Extent(900, 100),
        Extent(1500, 100),
        Extent(0, 10),
    ]
