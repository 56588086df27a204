"""bench/boot.py's own logic, no VM: medians, ratio, sizes, console and probe parsing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench import boot
from bench.__main__ import main as bench_main
from bench.boot import (
    BASELINE,
    KIOSK,
    Boot,
    BootBenchError,
    allocated_mib,
    console_state,
    guest_ready_s,
    p50,
    ratio,
    summarize,
    wait_ready,
)
from tests.support.requirements import require

# Lines as systemd 252 writes them to the serial console (colours included).
BOOTING = (
    "[    0.000000] Linux version 6.1.0-57-amd64\n"
    "\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mlocal-fs.target\x1b[0m"
    " - Local File Systems.\n"
)
KIOSK_READY = (
    "\x1b[0;32m  OK  \x1b[0m] Started \x1b[0;1;39mkiosk.service\x1b[0m - Branch Kiosk appliance.\n"
)
MULTI_USER = (
    "\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mmulti-user.target\x1b[0m"
    " - Multi-User System.\n"
)
DEPENDENCY = (
    "[   36.821143] systemd[1]: Dependency failed for kiosk.service - Branch Kiosk appliance.\n"
)


def facts(**kiosk: str) -> dict[str, Any]:
    props = {"ActiveState": "active", "ActiveEnterTimestampMonotonic": "41234567"}
    return {"uptime_s": 50.0, "kiosk": {**props, **kiosk}}


def test_p50_is_the_median() -> None:
    assert p50([3.0, 1.0, 2.0]) == 2.0
    assert p50([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert p50([7.5]) == 7.5


def test_p50_of_nothing_is_an_error() -> None:
    with pytest.raises(BootBenchError, match="no boots"):
        p50([])


def test_ratio() -> None:
    assert ratio(30.0, 20.0) == 1.5
    assert ratio(10.0, 3.0) == 3.33


@pytest.mark.parametrize("baseline", [0.0, -1.0])
def test_ratio_refuses_a_baseline_that_is_no_time(baseline: float) -> None:
    with pytest.raises(BootBenchError, match="cannot form a ratio"):
        ratio(10.0, baseline)


def test_allocated_mib_counts_blocks_not_the_apparent_size(tmp_path: Path) -> None:
    image = tmp_path / "sparse.img"
    with image.open("wb") as f:
        f.truncate(64 * boot.MIB)  # a hole, as the raw images have
        f.seek(8 * boot.MIB)
        f.write(os.urandom(2 * boot.MIB))
    size = allocated_mib(image)
    assert 2.0 <= size < 64.0
    assert size == round(image.stat().st_blocks * 512 / boot.MIB, 1)


def test_allocated_mib_of_a_missing_file_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(BootBenchError, match="cannot stat"):
        allocated_mib(tmp_path / "nothing.img")


def test_console_still_booting() -> None:
    assert console_state("", KIOSK) is None
    assert console_state(BOOTING, KIOSK) is None
    assert console_state(BOOTING, BASELINE) is None


def test_console_ready_lines_per_image() -> None:
    assert console_state(BOOTING + KIOSK_READY, KIOSK) == "ready"
    assert console_state(BOOTING + MULTI_USER, BASELINE) == "ready"
    # the kiosk's READY is its own unit's, not the target the baseline waits for
    assert console_state(BOOTING + MULTI_USER, KIOSK) is None
    assert console_state(BOOTING + KIOSK_READY, BASELINE) is None


def test_console_failure_before_ready_is_reported() -> None:
    state = console_state(BOOTING + DEPENDENCY, KIOSK)
    assert state is not None and state.startswith("[   36.821143] systemd[1]: Dependency failed")


def test_console_failure_after_ready_does_not_undo_the_ready() -> None:
    # a restart later in the boot is the booted tests' business, not the boot time's
    later = "\x1b[0;1;31mFAILED\x1b[0m] Failed to start \x1b[0;1;39mkiosk.service\x1b[0m.\n"
    assert console_state(BOOTING + KIOSK_READY + later, KIOSK) == "ready"


def test_console_failure_line_is_cut() -> None:
    long = "Failed to start kiosk.service " + "x" * 5000
    state = console_state(long, KIOSK)
    assert state is not None and len(state) == 200


def test_console_failure_line_loses_control_characters() -> None:
    state = console_state("Failed to start kiosk.service \x07\x1b]0;title\x07 ok", KIOSK)
    assert state is not None and state.isprintable()


def test_guest_ready_seconds_from_the_probe() -> None:
    assert guest_ready_s(facts()) == 41.23


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"uptime_s": 1.0}, "no kiosk.service properties"),
        ({"kiosk": "active"}, "no kiosk.service properties"),
        (facts(ActiveState="failed"), "'failed' after READY"),
        (facts(ActiveState="activating"), "'activating' after READY"),
        (facts(ActiveEnterTimestampMonotonic="0"), "never active"),
        (facts(ActiveEnterTimestampMonotonic=""), "not a number"),
        (facts(ActiveEnterTimestampMonotonic="12s; rm -rf /" + "z" * 500), "not a number"),
    ],
)
def test_guest_ready_refuses_bad_facts(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(BootBenchError, match=message) as caught:
        guest_ready_s(bad)
    assert len(str(caught.value)) < 200  # the guest's bytes are cut, not echoed whole


class Script:
    """A console that grows by one piece per poll, on a clock that advances one second a poll."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.polls = 0
        self.now = 100.0

    def console(self) -> str:
        self.polls += 1
        return "".join(self.pieces[: self.polls])

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += 1.0


def alive() -> None:
    return None


def test_wait_ready_returns_when_the_line_first_appears() -> None:
    script = Script([BOOTING, "", "", KIOSK_READY, MULTI_USER])
    seen = wait_ready(script.console, alive, KIOSK, 60, script.clock, script.sleep)
    assert seen == 103.0


def test_wait_ready_reports_a_failed_kiosk() -> None:
    script = Script([BOOTING, DEPENDENCY])
    with pytest.raises(BootBenchError, match="kiosk image did not reach READY: .*Dependency"):
        wait_ready(script.console, alive, KIOSK, 60, script.clock, script.sleep)


def test_wait_ready_times_out() -> None:
    script = Script([BOOTING])
    with pytest.raises(BootBenchError, match="baseline image did not reach READY within 5 s"):
        wait_ready(script.console, alive, BASELINE, 5, script.clock, script.sleep)
    assert script.now == 106.0  # the first poll past the deadline (100 + 5), no later


def test_wait_ready_stops_when_qemu_is_gone() -> None:
    def dead() -> None:
        raise BootBenchError("QEMU exited (1) before the kiosk image reached READY")

    script = Script([BOOTING])
    with pytest.raises(BootBenchError, match="QEMU exited"):
        wait_ready(script.console, dead, KIOSK, 60, script.clock, script.sleep)


def test_summary() -> None:
    kiosk = [Boot(30.0, 25.0, "not enrolled"), Boot(34.0, 27.0), Boot(32.0, 26.0, "queued")]
    base = [Boot(20.0), Boot(22.0), Boot(21.0)]
    result = summarize(kiosk, base, 1200.4, 700.0, "tcg", "no vmx", "direct")
    assert result["boot_s_p50"] == 32.0
    assert result["baseline_boot_s_p50"] == 21.0
    assert result["boot_ratio"] == 1.52
    assert result["guest_ready_s_p50"] == 26.0
    assert result["boot_s"] == [30.0, 34.0, 32.0]
    assert result["kiosk_status"] == "queued"
    assert result["accel"] == "tcg" and result["targets_assume"] == "kvm"
    assert result["targets_met"] == {"boot_s_p50": False, "boot_ratio": False, "image_mib": True}
    assert json.loads(json.dumps(result)) == result


def test_missing_images_say_how_to_build_them(tmp_path: Path) -> None:
    with pytest.raises(BootBenchError, match=r"kiosk-amd64\.img is missing: run `make image"):
        boot.run(1, tmp_path)
    (tmp_path / "kiosk-amd64.img").write_bytes(b"")
    with pytest.raises(BootBenchError, match="IMAGE_VARIANT=baseline"):
        boot.run(1, tmp_path)


@pytest.mark.parametrize("boots", ["0", "-2", "five"])
def test_the_command_refuses_a_bad_boot_count(
    boots: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        bench_main(["boot", "--boots", boots])
    assert caught.value.code == 2
    assert "--boots" in capsys.readouterr().err


def test_run_refuses_no_boots(tmp_path: Path) -> None:
    with pytest.raises(BootBenchError, match="at least 1"):
        boot.run(0, tmp_path)


@pytest.mark.image
def test_the_built_image_meets_the_size_target() -> None:
    image = boot.IMAGE_DIR / "kiosk-amd64.img"
    require(image.exists(), f"{image} is missing: run `make image` (ARCH=amd64) first")
    assert allocated_mib(image) <= boot.TARGETS["image_mib"]
