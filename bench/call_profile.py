"""`python -m bench call --profile DIR`: where the kiosk's CPU goes during a call, per thread and
per kind of work.

Totals per thread are exact (``/proc/<pid>/task/<tid>/stat`` before and after the window, see
bench/call_proc.py); py-spy (``record --threads --nonblocking --format raw``) samples the same
window, and each thread's CPU is split between kinds of work in proportion to its samples. A
sample is filed under the first frame, from the innermost outwards, that one of ``RULES``
recognises (so aiortc code called from ours counts as aiortc, stdlib helpers count as their
caller). py-spy sees Python frames only: time inside PyAV/libvpx/libopus counts for the Python
function that called it (aiortc's ``Vp8Encoder.encode`` is "encode").
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.call_proc import StatLine, thread_deltas

PY_SPY = Path(sys.executable).parent / "py-spy"
_LINE = re.compile(r"thread \((?:0x)?([0-9A-Fa-f]+)\): ?([^;]*);?(.*) ([0-9]+)")
_FRAME = re.compile(r"(.*) \(([^()]*?)(?::[0-9]+)?\)")

# (path fragment, function-name fragment or "", kind); the first rule a frame meets wins.
RULES: tuple[tuple[str, str, str], ...] = (
    ("aiortc/codecs/opus.py", "", "audio"),
    ("aiortc/codecs/", "depayload", "RTP receive/jitter/depacketize"),
    ("aiortc/codecs/", "pack", "RTP send"),  # pack, _packetize (before "encode": Vp8Encoder.)
    ("aiortc/codecs/", "decode", "decode"),
    ("aiortc/codecs/", "encode", "encode"),
    ("aiortc/codecs/", "", "RTP send"),
    ("aiortc/rate.py", "", "RTCP/bandwidth estimation"),
    ("aiortc/", "rtcp", "RTCP/bandwidth estimation"),
    ("pylibsrtp/", "", "SRTP/DTLS"),
    ("aiortc/rtcdtlstransport.py", "", "SRTP/DTLS"),
    ("aiortc/rtcrtpsender.py", "", "RTP send"),
    ("aiortc/rtcrtpreceiver.py", "", "RTP receive/jitter/depacketize"),
    ("aiortc/jitterbuffer.py", "", "RTP receive/jitter/depacketize"),
    ("aiortc/rtp.py", "parse", "RTP receive/jitter/depacketize"),
    ("aiortc/rtp.py", "serialize", "RTP send"),
    ("aiortc/rtcicetransport.py", "", "ICE/UDP transport"),
    ("aioice/", "", "ICE/UDP transport"),
    ("aiortc/", "", "aiortc other"),
    ("asyncio/selector_events.py", "datagram", "ICE/UDP transport"),
    ("asyncio/", "", "asyncio scheduling/thread handoff"),
    ("selectors.py", "", "asyncio scheduling/thread handoff"),
    ("threading.py", "notify", "asyncio scheduling/thread handoff"),
    ("concurrent/futures/", "", "asyncio scheduling/thread handoff"),
    ("opus", "", "audio"),  # our Opus packetiser (appliance/call/opus_packets.py) too
    ("appliance/call/", "microphone", "audio"),
    ("appliance/call/", "_encode", "encode"),  # not EncodedVideoTrack.recv: that is handoff
    ("drivers/camera/", "", "camera capture"),
    ("drivers/microphone/", "", "audio"),
    ("drivers/speaker/", "", "audio"),
    ("appliance/", "", "our code"),
    ("drivers/", "", "our code"),
    ("kiosk_ui/", "", "our code"),
    ("protocol/", "", "our code"),
)
OTHER = "other"
# Innermost frames that wait (epoll, a condition, an empty work queue): py-spy's --nonblocking
# mode samples them as if busy, but a blocked thread uses no CPU, so they take no share.
WAITS: tuple[tuple[str, str], ...] = (
    ("selectors.py", "select"),
    ("threading.py", "wait"),
    ("queue.py", "get"),
    ("concurrent/futures/thread.py", "_worker"),
)
WAITING = "waiting"


class SampleFormatError(ValueError):
    """A py-spy raw file line that is not ``thread (TID): NAME;frame;... COUNT``."""


@dataclass(frozen=True)
class Stack:
    """One line of py-spy's raw output: a thread's stack (outermost first) and its samples."""

    tid: int
    thread: str
    frames: tuple[tuple[str, str], ...]  # (function, file)
    count: int


def parse_raw(text: str) -> list[Stack]:
    """The stacks of a py-spy ``--threads --format raw`` file; blank lines are skipped."""
    stacks = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.fullmatch(line.strip())
        if match is None:
            raise SampleFormatError(f"line {number} is not a py-spy raw --threads sample")
        hex_tid = line.lstrip().startswith("thread (0x")
        tid = int(match.group(1), 16 if hex_tid else 10)
        frames = []
        for part in filter(None, match.group(3).split(";")):
            frame = _FRAME.fullmatch(part)
            frames.append((frame.group(1), frame.group(2)) if frame else (part, ""))
        stacks.append(Stack(tid, match.group(2).strip(), tuple(frames), int(match.group(4))))
    return stacks


def kind_of(frames: tuple[tuple[str, str], ...]) -> str:
    """The kind of work a stack does: the first of :data:`RULES` met from the innermost frame
    (:data:`WAITING` when the innermost frame is one of :data:`WAITS`)."""
    if frames:
        function, path = frames[-1]
        if any(f in path and n in function.lower() for f, n in WAITS):
            return WAITING
    for function, path in reversed(frames):
        name = function.lower()
        for fragment, in_name, kind in RULES:
            if fragment in path and in_name in name:
                return kind
    return OTHER


def role_of(thread: str) -> str:
    """What a Python thread is for, from its name (aiortc's and asyncio's naming)."""
    if thread == "MainThread":
        return "asyncio loop"
    if thread.startswith(("asyncio_", "ThreadPoolExecutor")):
        return "default executor"
    if thread.startswith("video-encode"):
        return "kiosk video encoder"  # appliance/call/encoded.py's thread
    if thread.endswith("-decoder"):
        return f"aiortc {thread.removesuffix('-decoder')} decoder"
    return thread


def summarise(
    stacks: list[Stack],
    before: dict[int, StatLine],
    after: dict[int, StatLine],
    seconds: float,
) -> dict[str, dict[str, float]]:
    """Per thread role: ``{"total": CPU-ms per s, kind: CPU-ms per s, ...}``.

    Totals come from ``/proc`` (exact); each thread's split follows its py-spy samples. A thread
    py-spy never saw (no Python frames, or idle) counts under its kernel name as ``native``.
    """
    names: dict[int, str] = {}
    samples: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for stack in stacks:
        names[stack.tid] = stack.thread
        samples[stack.tid][kind_of(stack.frames)] += stack.count
    table: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for tid, (comm, ms_per_s) in thread_deltas(before, after, seconds).items():
        if ms_per_s <= 0:
            continue
        kinds = dict(samples.get(tid, {}))
        role = role_of(names[tid]) if tid in names else f"{comm} (no Python samples)"
        row = table[role]
        row["total"] += ms_per_s
        if not kinds:
            row["native"] += ms_per_s
            continue
        if any(kind != WAITING for kind in kinds):
            kinds.pop(WAITING, None)  # waiting takes no CPU; the busy samples share it all
        seen = sum(kinds.values())
        for kind, count in kinds.items():
            row[kind] += ms_per_s * count / seen
    return {
        role: {k: round(v, 1) for k, v in sorted(row.items(), key=lambda kv: -kv[1])}
        for role, row in sorted(table.items(), key=lambda kv: -kv[1]["total"])
    }


def by_kind(summary: dict[str, dict[str, float]]) -> dict[str, float]:
    """The whole process's CPU-ms per s for each kind of work (threads added up)."""
    totals: dict[str, float] = defaultdict(float)
    for row in summary.values():
        for kind, value in row.items():
            if kind != "total":
                totals[kind] += value
    return {k: round(v, 1) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


async def record(pid: int, seconds: float, out: Path, rate: int = 500) -> None:
    """Sample ``pid`` with py-spy for ``seconds`` into ``out`` (raw format, one line a stack)."""
    if not PY_SPY.exists():
        raise FileNotFoundError(f"{PY_SPY} is missing: pip install py-spy (pinned in constraints)")
    proc = await asyncio.create_subprocess_exec(
        str(PY_SPY),
        "record",
        "--pid",
        str(pid),
        "--threads",
        "--nonblocking",  # never pause the kiosk: its timing is what we measure
        "--format",
        "raw",
        "--rate",
        str(rate),
        "--duration",
        str(max(1, round(seconds))),
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"py-spy failed ({proc.returncode}): {err.decode()[-500:]}")


def markdown_budget(columns: dict[str, dict[str, dict[str, float]]]) -> str:
    """A Markdown table of CPU-ms per call-second: a row per thread and kind of work, a column
    per summary (e.g. ``{"640x480": summary, "1280x720": summary}``)."""
    rows: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for label, summary in columns.items():
        for role, row in summary.items():
            for kind, value in row.items():
                rows[(role, kind)][label] = value
    order = sorted(
        rows,
        key=lambda rk: (
            -max(rows[(rk[0], "total")].values()),
            rk[1] != "total",
            -max(rows[rk].values()),
        ),
    )
    lines = [
        "| thread | work | " + " | ".join(columns) + " |",
        "| --- | --- |" + " ---: |" * len(columns),
    ]
    for role, kind in order:
        cells = [f"{rows[(role, kind)].get(label, 0.0):.1f}" for label in columns]
        if kind == "total":
            cells = [f"**{c}**" for c in cells]
        lines.append(
            f"| {role} | {'**all**' if kind == 'total' else kind} | " + " | ".join(cells) + " |"
        )
    totals = [sum(s[r]["total"] for r in s) for s in columns.values()]
    lines.append("| **process** | **all** | " + " | ".join(f"**{t:.1f}**" for t in totals) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.call_profile LABEL=summary.json ...``: print the budget table of
    ``bench call --profile`` summaries (``"software"`` variant, or ``LABEL=FILE:hardware``)."""
    import json

    columns = {}
    for arg in argv if argv is not None else sys.argv[1:]:
        label, _, spec = arg.partition("=")
        path, _, variant = spec.partition(":")
        data = json.loads(Path(path).read_text())
        columns[label] = data["profile"][variant or "software"]["threads"]
    print(markdown_budget(columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
