"""Pure helpers of `python -m bench call`: the ``--resolution`` parser and CPU from ``/proc``.

``/proc/<pid>/task/<tid>/stat`` gives each thread's exact user + system CPU; the call benchmark
reads it before and after a call window to split the kiosk's CPU by thread, and sums a process's
children (the stand-in hardware encoder) apart from the process itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
# The simulated camera's limits (drivers/camera/simulated.py): its clock code needs the width
# in 32 equal blocks, and 4:2:0 needs an even height.
MIN_SIDE, MAX_WIDTH, MAX_HEIGHT, WIDTH_STEP = 64, 4096, 2304, 32
_RESOLUTION = re.compile(r"([0-9]{1,5})x([0-9]{1,5})")


class ResolutionError(ValueError):
    """A ``--resolution`` value the simulated camera cannot deliver; the message says why."""


class ProcStatError(ValueError):
    """A ``/proc/.../stat`` line that is not one (the process ended or the text is cut)."""


def parse_resolution(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``, or :class:`ResolutionError` saying what is allowed."""
    match = _RESOLUTION.fullmatch(text)
    if match is None:
        raise ResolutionError(f"resolution {text[:40]!r} must be WIDTHxHEIGHT, e.g. 1280x720")
    width, height = int(match.group(1)), int(match.group(2))
    if width % WIDTH_STEP or not MIN_SIDE <= width <= MAX_WIDTH:
        raise ResolutionError(
            f"width {width} must be a multiple of {WIDTH_STEP} between {MIN_SIDE} and {MAX_WIDTH}"
        )
    if height % 2 or not MIN_SIDE <= height <= MAX_HEIGHT:
        raise ResolutionError(f"height {height} must be even, between {MIN_SIDE} and {MAX_HEIGHT}")
    return width, height


@dataclass(frozen=True)
class StatLine:
    """The fields of one ``stat`` line the benchmark uses."""

    comm: str  # the kernel's name for the task (15 bytes at most)
    cpu_ticks: int  # utime + stime, in clock ticks

    @property
    def cpu_s(self) -> float:
        """User + system CPU seconds."""
        return self.cpu_ticks / CLK_TCK


def parse_stat(text: str) -> StatLine:
    """Parse ``/proc/<pid>[/task/<tid>]/stat``; the name may hold spaces and parentheses."""
    head, sep, tail = text.rpartition(")")
    open_at = head.find("(")
    fields = tail.split()
    if not sep or open_at < 0 or len(fields) < 13:
        raise ProcStatError(f"not a /proc stat line: {text[:60]!r}")
    try:
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    except ValueError:
        raise ProcStatError(f"utime/stime are not numbers in {text[:60]!r}") from None
    if ticks < 0:
        raise ProcStatError(f"negative CPU time in {text[:60]!r}")
    return StatLine(head[open_at + 1 :], ticks)


def process_cpu_s(pid: int, proc: Path = Path("/proc")) -> float:
    """User + system CPU seconds of a process so far (all its threads, not its children)."""
    return parse_stat((proc / str(pid) / "stat").read_text()).cpu_s


def thread_cpu_s(pid: int, proc: Path = Path("/proc")) -> dict[int, StatLine]:
    """Each live thread of ``pid``: tid -> its stat line (a thread that ends meanwhile is
    skipped)."""
    threads: dict[int, StatLine] = {}
    for task in (proc / str(pid) / "task").iterdir():
        try:
            threads[int(task.name)] = parse_stat((task / "stat").read_text())
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended between listing and reading
    return threads


def children(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """The process's direct children (from every thread's ``children`` file)."""
    found: set[int] = set()
    for task in (proc / str(pid) / "task").iterdir():
        try:
            found.update(int(c) for c in (task / "children").read_text().split())
        except FileNotFoundError:
            continue
    return sorted(found)


def tree_cpu_s(pids: list[int], proc: Path = Path("/proc")) -> float:
    """Total CPU seconds of ``pids`` and, recursively, their live children."""
    total = 0.0
    for pid in pids:
        try:
            total += process_cpu_s(pid, proc) + tree_cpu_s(children(pid, proc), proc)
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended: its CPU is no longer readable
    return total


def thread_deltas(
    before: dict[int, StatLine], after: dict[int, StatLine], seconds: float
) -> dict[int, tuple[str, float]]:
    """tid -> (comm, CPU-ms per second) between two :func:`thread_cpu_s` readings.

    A thread born in between counts from zero; one that ended is gone from ``after`` and its
    CPU is lost (the process total still has it).
    """
    if seconds <= 0:
        raise ValueError(f"the window must be positive, not {seconds!r} s")
    deltas: dict[int, tuple[str, float]] = {}
    for tid, line in after.items():
        start = before.get(tid)
        used = line.cpu_ticks - (start.cpu_ticks if start and start.comm == line.comm else 0)
        deltas[tid] = (line.comm, max(0, used) / CLK_TCK * 1000 / seconds)
    return deltas
