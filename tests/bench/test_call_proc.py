"""bench/call_proc.py: the --resolution parser and the /proc readings the call benchmark uses."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.call_proc import (
    CLK_TCK,
    ProcStatError,
    ResolutionError,
    StatLine,
    children,
    parse_resolution,
    parse_stat,
    process_cpu_s,
    thread_cpu_s,
    thread_deltas,
    tree_cpu_s,
)

# A real line's shape: the name holds a space and a parenthesis, fields 14/15 are utime/stime.
STAT = "4242 (kiosk (x) y) S 1 4242 4242 0 -1 4194560 2315 0 0 0 {u} {s} 0 0 20 0 9 0 5 0 0"


@pytest.mark.parametrize(
    ("text", "size"), [("640x480", (640, 480)), ("1280x720", (1280, 720)), ("64x64", (64, 64))]
)
def test_good_resolutions(text: str, size: tuple[int, int]) -> None:
    assert parse_resolution(text) == size


@pytest.mark.parametrize(
    "text",
    [
        "",
        "640",
        "640x",
        "x480",
        "640X480",
        "640x480 ",
        " 640x480",
        "640*480",
        "-640x480",
        "650x480",
        "640x481",
        "32x480",
        "640x62",
        "4128x480",
        "640x2306",
        "640x480x3",
        "٦٤٠x480",
    ],
)
def test_bad_resolutions_say_what_is_allowed(text: str) -> None:
    with pytest.raises(ResolutionError, match="WIDTHxHEIGHT|multiple of 32|even"):
        parse_resolution(text)


@given(st.text(max_size=30))
def test_any_text_parses_to_a_deliverable_size_or_a_resolution_error(text: str) -> None:
    try:
        width, height = parse_resolution(text)
    except ResolutionError as exc:
        assert str(exc).startswith(("resolution ", "width ", "height "))
        return
    assert width % 32 == 0 and 64 <= width <= 4096
    assert height % 2 == 0 and 64 <= height <= 2304


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_stat_lines_sum_user_and_system_ticks(user: int, system: int) -> None:
    line = parse_stat(STAT.format(u=user, s=system))
    assert line == StatLine("kiosk (x) y", user + system)
    assert line.cpu_s == (user + system) / CLK_TCK


@pytest.mark.parametrize(
    "text",
    [
        "",
        "4242 (kiosk) S 1 2",
        "4242 kiosk S " + "1 " * 20,
        STAT.format(u="x", s=1),
        STAT.format(u=-5, s=1),
    ],
)
def test_bad_stat_lines_are_refused(text: str) -> None:
    with pytest.raises(ProcStatError):
        parse_stat(text)


@given(st.text(max_size=200))
def test_any_text_is_a_stat_line_or_a_proc_stat_error(text: str) -> None:
    try:
        line = parse_stat(text)
    except ProcStatError:
        return
    assert line.cpu_ticks >= 0


def test_this_process_and_its_threads_are_read_from_proc() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        threads = thread_cpu_s(os.getpid())
        assert os.getpid() in threads and worker.native_id in threads
        assert isinstance(process_cpu_s(os.getpid()), float)
    finally:
        stop.set()
        worker.join()


def test_children_and_their_cpu_come_from_a_proc_tree(tmp_path: Path) -> None:
    # A /proc-shaped tree: 10 (two threads) has children 11 and 12; 12 has child 13.
    def proc(pid: int, ticks: int, kids: dict[int, str]) -> None:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(STAT.format(u=ticks, s=0))
        for tid, listed in kids.items():
            task = tmp_path / str(pid) / "task" / str(tid)
            task.mkdir(parents=True)
            task.joinpath("stat").write_text(STAT.format(u=ticks, s=0))
            task.joinpath("children").write_text(listed)

    proc(10, 100, {10: "11 ", 99: "12"})
    proc(11, 7, {11: ""})
    proc(12, 5, {12: "13 14"})  # 14 ended: listed, gone
    proc(13, 3, {13: ""})
    assert children(10, tmp_path) == [11, 12]
    # 11 (7 ticks), then 12 (5) with its child 13 (3); 14 has ended and counts nothing
    assert process_cpu_s(10, tmp_path) == 100 / CLK_TCK
    assert {tid: line.cpu_s for tid, line in thread_cpu_s(10, tmp_path).items()} == {
        10: 100 / CLK_TCK,
        99: 100 / CLK_TCK,
    }
    assert tree_cpu_s([11, 12, 14], tmp_path) == 7 / CLK_TCK + (5 / CLK_TCK + 3 / CLK_TCK)


def test_thread_deltas_are_ms_per_second_and_count_new_threads_from_zero() -> None:
    tick = CLK_TCK  # one second of CPU
    before = {1: StatLine("kiosk", 2 * tick), 2: StatLine("kiosk", tick), 3: StatLine("x", 0)}
    after = {1: StatLine("kiosk", 4 * tick), 2: StatLine("kiosk", tick), 4: StatLine("n", tick)}
    assert thread_deltas(before, after, 2.0) == {
        1: ("kiosk", 1000.0),
        2: ("kiosk", 0.0),
        4: ("n", 500.0),
    }
    with pytest.raises(ValueError, match="positive"):
        thread_deltas(before, after, 0)


def test_the_command_line_refuses_a_bad_resolution_before_starting_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["call", "--resolution", "1280x721"])
    assert exited.value.code == 2
    assert "height 721 must be even" in capsys.readouterr().err
