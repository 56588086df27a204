"""SANE scanners (USB flatbeds and feeders) through the ``scanimage`` command.

``scanimage`` runs as a child process, so a slow or stuck scanner never blocks the event
loop, and cancelling is killing one process. Pages are written by ``scanimage --batch`` into
a private directory (mode 0700) under ``work_dir`` (RAM: /dev/shm by default, or the
session vault's tmpfs), read as soon as ``scanimage`` reports the page done, deleted at once,
and the directory is removed when the scan ends however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import tempfile
from collections.abc import Sequence
from pathlib import Path

from drivers.errors import (
    BackendUnavailable,
    DeviceBusy,
    DeviceGone,
    DeviceNotFound,
    DriverError,
    DriverTimeout,
    NoDocuments,
    ScanCancelled,
    UnsupportedSetting,
)
from drivers.scanner import (
    ColourMode,
    PageSink,
    ProgressCallback,
    ScannedPage,
    ScannerInfo,
    ScanProgress,
    ScanSettings,
    Source,
)

PNM = "image/x-portable-anymap"
DESCRIBE_TIMEOUT_S = 30.0
# scanimage answers SIGTERM with sane_cancel(); a backend that ignores it gets SIGKILL.
TERMINATE_GRACE_S = 5.0
RAM_DIR = Path("/dev/shm")  # noqa: S108 - RAM, and mkdtemp makes a private 0700 dir

_SCANNING = re.compile(r"Scanning page (\d+)")
_SCANNED = re.compile(r"Scanned page (\d+)")
_PROGRESS = re.compile(r"Progress: ([\d.]+)%")
_OPTION = re.compile(r"^\s+--?([\w-]+)\s+(.*?)\s*\[(.*)\]\s*$")
# scanimage's messages (sane_strstatus) → our errors, checked in this order.
_FAILURES: tuple[tuple[str, type[DriverError], str], ...] = (
    ("out of documents", NoDocuments, "the document feeder is empty: insert the pages"),
    ("jammed", DriverError, "paper jam: open the feeder, remove the paper, try again"),
    ("cover open", DriverError, "the scanner cover is open: close it"),
    ("device busy", DeviceBusy, "the scanner is busy with another program"),
    (
        "access to resource has been denied",
        DeviceBusy,
        "no permission: add the kiosk user to the 'scanner' group",
    ),
    ("error during device i/o", DeviceGone, "the scanner stopped answering: check its cable"),
    (
        "open of device",
        DeviceNotFound,
        "the scanner is not connected or not switched on (check `scanimage -L`)",
    ),
    ("no scanners", DeviceNotFound, "no scanner found (check `scanimage -L`)"),
)


def _classify(stderr_lines: Sequence[str], name: str) -> DriverError | None:
    text = "\n".join(stderr_lines).lower()
    for needle, kind, hint in _FAILURES:
        if needle in text:
            return kind(hint, device=name)
    return None


def parse_options(text: str) -> dict[str, list[str]]:
    """``scanimage -A`` output → option name → its choices (``|``-separated or a range)."""
    options: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = _OPTION.match(line)
        if m:
            name, values = m.group(1), m.group(2)
            options[name] = [v.strip() for v in values.split("|")] if "|" in values else [values]
    return options


def _resolutions(spec: list[str]) -> tuple[int, ...]:
    if len(spec) == 1 and ".." in spec[0]:
        m = re.match(r"(\d+)\.\.(\d+)", spec[0])
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            return tuple(d for d in (75, 100, 150, 200, 300, 600, 1200) if lo <= d <= hi)
    out = []
    for v in spec:
        m = re.match(r"(\d+)", v)
        if m:
            out.append(int(m.group(1)))
    return tuple(sorted(out))


class SaneScanner:
    """A :class:`drivers.scanner.DocumentScanner` on a SANE device (``scanimage -L`` names).

    ``scanimage`` is the command (a path in tests); ``extra_options`` are passed through, for
    device-specific settings.
    """

    def __init__(
        self,
        device: str,
        *,
        scanimage: str = "scanimage",
        work_dir: Path | None = None,
        extra_options: Sequence[str] = (),
        name: str = "document scanner",
    ) -> None:
        self._device = device
        self._scanimage = scanimage
        self._work_dir = (
            work_dir if work_dir is not None else (RAM_DIR if RAM_DIR.is_dir() else None)
        )
        self._extra = list(extra_options)
        self._name = name
        self._options: dict[str, list[str]] | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._cancelled = False

    async def _run(self, *args: str, limit_s: float) -> tuple[int, str, str]:
        try:
            proc = await asyncio.create_subprocess_exec(
                self._scanimage,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            raise BackendUnavailable(
                f"{self._scanimage} not found: install sane-utils", device=self._name
            ) from None
        try:
            async with asyncio.timeout(limit_s):
                out, err = await proc.communicate()
        except TimeoutError:
            await _terminate(proc)
            raise DriverTimeout("the scanner did not answer in time", device=self._name) from None
        except asyncio.CancelledError:
            await _terminate(proc)
            raise
        assert proc.returncode is not None  # noqa: S101 - communicate() waited for it
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    async def describe(self) -> ScannerInfo:
        """Sources, modes and resolutions from ``scanimage -A``."""
        rc, out, err = await self._run("-d", self._device, "-A", limit_s=DESCRIBE_TIMEOUT_S)
        if rc != 0:
            raise _classify(err.splitlines(), self._name) or DeviceNotFound(
                f"scanimage failed ({err.strip()[:200]})", device=self._name
            )
        options = parse_options(out)
        self._options = options
        sources: list[Source] = []
        for value in options.get("source", ["Flatbed"]):
            kind: Source = "feeder" if _is_feeder(value) else "flatbed"
            if kind not in sources:
                sources.append(kind)
        modes: list[ColourMode] = []
        for value in options.get("mode", ["Gray"]):
            low = value.lower()
            if low in ("color", "colour") and "colour" not in modes:
                modes.append("colour")
            elif low in ("gray", "grey") and "grey" not in modes:
                modes.append("grey")
        return ScannerInfo(
            name=self._device,
            sources=tuple(sources),
            modes=tuple(modes),
            resolutions=_resolutions(options.get("resolution", [])),
        )

    def _args(self, settings: ScanSettings, batch_dir: Path) -> list[str]:
        options = self._options or {}
        args = ["-d", self._device, "--format=pnm", "--progress", f"--resolution={settings.dpi}"]
        mode_names = options.get("mode", [])
        wanted = ("color", "colour") if settings.mode == "colour" else ("gray", "grey")
        mode = next((m for m in mode_names if m.lower() in wanted), None)
        if mode is None and mode_names:
            raise UnsupportedSetting(
                f"{settings.mode} scans are not offered (modes: {', '.join(mode_names)})",
                device=self._name,
            )
        if mode is not None:
            args.append(f"--mode={mode}")
        sources = options.get("source", [])
        if sources:
            match = [s for s in sources if _is_feeder(s) == (settings.source == "feeder")]
            if not match:
                raise UnsupportedSetting(
                    f"this scanner has no {settings.source} (sources: {', '.join(sources)})",
                    device=self._name,
                )
            args.append(f"--source={match[0]}")
        elif settings.source == "feeder":
            raise UnsupportedSetting("this scanner has no document feeder", device=self._name)
        count = 1 if settings.source == "flatbed" else settings.max_pages
        args.append(f"--batch={batch_dir / 'page%d.pnm'}")
        if count is not None:
            args.append(f"--batch-count={count}")
        return [*args, *self._extra]

    async def scan(
        self,
        settings: ScanSettings,
        sink: PageSink,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Scan with ``settings``; each page goes to ``sink`` when ``scanimage`` finishes it."""
        if self._process is not None:
            raise DeviceBusy("a scan is already running", device=self._name)
        if self._options is None:
            await self.describe()
        self._cancelled = False
        batch_dir = Path(tempfile.mkdtemp(prefix="scan-", dir=self._work_dir))
        delivered = 0
        try:
            args = self._args(settings, batch_dir)
            try:
                proc = await asyncio.create_subprocess_exec(
                    self._scanimage,
                    *args,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                    start_new_session=True,  # our SIGTERM reaches scanimage alone
                )
            except FileNotFoundError:
                raise BackendUnavailable(
                    f"{self._scanimage} not found: install sane-utils", device=self._name
                ) from None
            self._process = proc
            try:
                delivered, messages = await self._follow(proc, settings, batch_dir, sink, progress)
                rc = await proc.wait()
            finally:
                if proc.returncode is None:
                    await _terminate(proc)
                self._process = None
            if self._cancelled:
                raise ScanCancelled(f"scan cancelled after {delivered} page(s)", device=self._name)
            failure = _classify(messages, self._name)
            if isinstance(failure, NoDocuments) and delivered > 0:
                failure = None  # the feeder ran empty after the last page: that is the end
            if failure is not None:
                raise failure
            if rc != 0 or delivered == 0:
                raise DeviceGone(
                    f"scanimage stopped without a page (status {rc})", device=self._name
                )
            return delivered
        finally:
            shutil.rmtree(batch_dir, ignore_errors=True)

    async def _follow(
        self,
        proc: asyncio.subprocess.Process,
        settings: ScanSettings,
        batch_dir: Path,
        sink: PageSink,
        progress: ProgressCallback | None,
    ) -> tuple[int, list[str]]:
        assert proc.stderr is not None  # noqa: S101 - we asked for a pipe
        messages: list[str] = []
        delivered = 0
        page = 1
        done: list[int] = []
        buffer = b""
        while True:
            chunk = await proc.stderr.read(4096)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = re.split(rb"[\r\n]", buffer)
            for raw in lines:
                line = raw.decode(errors="replace").strip()
                if not line:
                    continue
                if m := _PROGRESS.match(line):
                    if progress is not None:
                        progress(ScanProgress(page, min(100.0, float(m.group(1)))))
                elif m := _SCANNING.match(line):
                    page = int(m.group(1))
                    if not self._cancelled:
                        delivered += await self._deliver(batch_dir, done, delivered, settings, sink)
                    if progress is not None:
                        progress(ScanProgress(page, 0.0))
                elif m := _SCANNED.match(line):
                    # The file is renamed from .part only after this line: read it later.
                    done.append(int(m.group(1)))
                elif len(messages) < 50:
                    messages.append(line)
        await proc.wait()
        # scanimage may finish the page it was on when we cancelled: that page is not wanted.
        if not self._cancelled:
            delivered += await self._deliver(batch_dir, done, delivered, settings, sink)
        return delivered, messages

    @staticmethod
    async def _deliver(
        batch_dir: Path, done: list[int], delivered: int, settings: ScanSettings, sink: PageSink
    ) -> int:
        count = 0
        while done:
            path = batch_dir / f"page{done.pop(0)}.pnm"
            try:
                data = path.read_bytes()
            except OSError:
                continue  # scanimage failed to write it; its status line says why
            path.unlink()
            count += 1
            await sink(ScannedPage(delivered + count, data, PNM, settings.dpi, settings.mode))
        return count

    def cancel(self) -> None:
        """Stop the running scan; ``scan`` raises ``ScanCancelled``."""
        proc = self._process
        if proc is not None and proc.returncode is None:
            self._cancelled = True
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)


def _is_feeder(source: str) -> bool:
    low = source.lower()
    return "adf" in low or "feeder" in low or "automatic" in low


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(TERMINATE_GRACE_S):
            await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
