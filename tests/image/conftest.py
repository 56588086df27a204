"""Fixtures of the booted tests: the built image, a hub on loopback, one machine per module.

The image is `make image`'s var/image/kiosk-amd64.img (``BRANCH_KIOSK_TEST_IMAGE`` points
elsewhere); missing image, tools or /dev/kvm skip with the reason, and fail under CI=true.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.qemu import Machine, accelerator, missing_tools
from testbed.stack import BIN, Stack
from tests.support.requirements import require

ROOT = Path(__file__).resolve().parents[2]
IMAGE = Path(os.environ.get("BRANCH_KIOSK_TEST_IMAGE", ROOT / "var/image/kiosk-amd64.img"))
DEVICE = "kiosk-1"  # testbed.stack's device token is for this name


def require_booting() -> None:
    """The image, QEMU's tools and /dev/kvm (or ``BRANCH_KIOSK_QEMU_ACCEL=tcg``)."""
    require(IMAGE.exists(), f"{IMAGE} is missing: run `make image` (ARCH=amd64) first")
    missing = missing_tools()
    require(not missing, f"the booted tests need {', '.join(missing)}")
    forced_tcg = os.environ.get("BRANCH_KIOSK_QEMU_ACCEL") == "tcg"
    require(
        Path("/dev/kvm").exists() or forced_tcg,
        "/dev/kvm is missing: the booted tests need KVM (or BRANCH_KIOSK_QEMU_ACCEL=tcg, slow)",
    )


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A hub on 127.0.0.1 with an adviser and the device token of ``kiosk-1``."""
    require_booting()
    stack = Stack(tmp_path_factory.mktemp("hub"))
    stack.start_hub()
    try:
        yield stack
    finally:
        stack.stop()


def kiosk_toml(stack: Stack) -> str:
    """The test's configuration on p1: this hub (as the guest sees it), simulated devices."""
    token = (stack.workdir / "token").read_text().strip()
    return (
        "# written by tests/image: the hub on the host's loopback, seen from QEMU's guest\n"
        f'hub_url = "ws://10.0.2.2:{stack.port}"\n'
        f'token = "{token}"\n'
        "simulate = true\n"
        "production = false\n"
    )


@pytest.fixture(scope="module")
def machine(hub: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    """The kiosk image, prepared (overlay and configuration), not booted; killed at the end."""
    accel, why = accelerator()
    print(f"\nbooted tests: QEMU accel={accel} ({why})")
    with Machine(IMAGE, tmp_path_factory.mktemp("vm"), kiosk_toml=kiosk_toml(hub)) as vm:
        try:
            yield vm
        finally:
            if vm.running:
                vm.power_cut()


def wipe_reports(stack: Stack) -> list[list[str]]:
    """The hub's wipe reports of ``kiosk-1`` (``kiosk-hub device wipes``), newest first."""
    done = subprocess.run(
        [str(BIN / "kiosk-hub"), "device", "wipes", DEVICE, "--db", str(stack.db)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return [line.split("\t") for line in done.stdout.splitlines() if line.strip()]
