"""``kiosk selftest``: does each fitted device work? One line per device, a hint per failure.

Each check opens the device and asks for real data: a picture that is not one flat colour,
audio above the noise floor, a tablet that reports its active area and pressure levels, a
scanned page. Checks run one after another with a time limit each, and a failing device
never stops the others from being checked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from appliance.config.kiosk import ConfigError, load_devices, read_toml
from appliance.runner.device_reports import save_selftest
from appliance.runner.devices import Devices, build_devices
from drivers.camera import Camera
from drivers.errors import (
    BackendUnavailable,
    DeviceBusy,
    DeviceGone,
    DeviceNotFound,
    DriverError,
    DriverTimeout,
    NoDocuments,
)
from drivers.microphone import Microphone
from drivers.scanner import ColourMode, DocumentScanner, ScannedPage, ScanSettings, Source
from drivers.speaker import Speaker
from drivers.tablet import SignatureTablet
from provisioning.identity import DEFAULT_IDENTITY_DIR

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CHECK_TIMEOUT_S = 30.0
CAMERA_FRAMES = 5
# Luma standard deviation below this is a flat picture: lens cap, dead sensor, black frames.
MIN_LUMA_STDDEV = 4.0
MIC_FRAMES = 15  # 300 ms
MIN_AUDIO_RMS = 0.001  # about -60 dBFS: quieter is a dead or muted input
HINTS = {
    "camera": "check the camera's cable (USB or ribbon), that no other program uses it, and "
    "that the lens is uncovered",
    "microphone": "check the microphone's cable, that it is not muted (alsamixer), and "
    "`arecord -l`",
    "speaker": "check the speaker's cable and power, and `aplay -l`",
    "tablet": "check the tablet's cable; for a serial tablet the port and baud rate; for USB "
    "the /dev/input/by-id path",
    "scanner": "check the scanner is on and connected (`scanimage -L`, or its network address "
    "for eSCL) and that paper is in place",
}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one device's check."""

    device: str
    backend: str
    ok: bool
    detail: str
    hint: str = ""
    seconds: float = 0.0


async def check_camera(camera: Camera) -> str:
    """Frames arrive and are not one flat colour."""
    await camera.start()
    try:
        spread = 0.0
        for _ in range(CAMERA_FRAMES):
            frame = await camera.frame()
            luma = frame.to_ndarray(format="gray")
            spread = max(spread, float(np.std(luma)))
        if spread < MIN_LUMA_STDDEV:
            raise DriverError(f"the picture is flat (luma spread {spread:.1f}): lens covered?")
        return f"{camera.info.width}x{camera.info.height} @ {camera.info.fps:g} fps, picture OK"
    finally:
        await camera.stop()


async def check_microphone(microphone: Microphone) -> str:
    """Audio arrives with a signal above the noise floor."""
    await microphone.start()
    try:
        peak = 0.0
        for _ in range(MIC_FRAMES):
            samples = (await microphone.frame()).to_ndarray().astype(np.float64) / 32768.0
            if samples.size:
                peak = max(peak, math.sqrt(float(np.mean(np.square(samples)))))
        if peak < MIN_AUDIO_RMS:
            raise DriverError("only silence: the microphone is muted or dead")
        db = 20 * math.log10(peak)
        return f"{microphone.info.sample_rate} Hz, level {db:.0f} dBFS"
    finally:
        await microphone.stop()


def _beep(rate: int = 48000, seconds: float = 0.2) -> list[av.AudioFrame]:
    n = round(rate * 0.02)
    frames = []
    for i in range(round(seconds / 0.02)):
        t = (np.arange(n) + i * n) / rate
        pcm = (0.2 * 32767 * np.sin(2 * np.pi * 880 * t)).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts, frame.time_base = i * n, Fraction(1, rate)
        frames.append(frame)
    return frames


async def check_speaker(speaker: Speaker) -> str:
    """The speaker opens and accepts a short beep."""
    await speaker.start()
    try:
        for frame in _beep():
            await speaker.play(frame)
        return f"{speaker.info.sample_rate} Hz, beep played"
    finally:
        await speaker.stop()


async def check_tablet(tablet: SignatureTablet) -> str:
    """The tablet opens and reports a usable active area and pressure levels."""
    await tablet.start()
    try:
        info = tablet.info
        if info.width_mm <= 0 or info.height_mm <= 0 or info.pressure_levels < 2:
            raise DriverError("the tablet reports no active area or no pressure levels")
        return (
            f"{info.width_mm:.0f}x{info.height_mm:.0f} mm, {info.pressure_levels} pressure "
            f"levels, {info.report_rate_hz:g} Hz"
        )
    finally:
        await tablet.stop()


async def check_scanner(scanner: DocumentScanner) -> str:
    """The scanner describes itself and scans one low-resolution page."""
    info = await scanner.describe()
    pages: list[ScannedPage] = []

    async def keep(page: ScannedPage) -> None:
        pages.append(page)  # held in memory only, dropped when the check ends

    source: Source = "flatbed" if "flatbed" in info.sources else "feeder"
    mode: ColourMode = "grey" if "grey" in info.modes else "colour"
    dpi = min((d for d in info.resolutions if d >= 50), default=75)
    await scanner.scan(ScanSettings(mode=mode, dpi=dpi, source=source, max_pages=1), keep)
    if not pages or not pages[0].data:
        raise DriverError("the scan produced no image")
    size = len(pages[0].data)
    pages.clear()
    return f"{source} scan at {dpi} dpi, {size} bytes"


def _hint(kind: str, exc: DriverError) -> str:
    if isinstance(exc, BackendUnavailable):
        return "install what the message names, or choose another backend in [devices]"
    if isinstance(exc, DeviceBusy):
        return "stop the other program using it (or reboot), and check permissions"
    if isinstance(exc, NoDocuments):
        return "put a sheet of paper in the scanner and run the self-test again"
    if isinstance(exc, DeviceNotFound | DeviceGone | DriverTimeout):
        return HINTS[kind]
    return HINTS[kind]


async def run_checks(devices: Devices, backends: dict[str, str]) -> list[CheckResult]:
    """Check every fitted device of ``devices``; ``backends`` names each one's backend."""
    checks: list[tuple[str, Callable[[], Awaitable[str]]]] = []
    if devices.camera is not None:
        camera = devices.camera
        checks.append(("camera", lambda: check_camera(camera)))
    if devices.microphone is not None:
        microphone = devices.microphone
        checks.append(("microphone", lambda: check_microphone(microphone)))
    if devices.speaker is not None:
        speaker = devices.speaker
        checks.append(("speaker", lambda: check_speaker(speaker)))
    if devices.tablet is not None:
        tablet = devices.tablet
        checks.append(("tablet", lambda: check_tablet(tablet)))
    if devices.scanner is not None:
        scanner = devices.scanner
        checks.append(("scanner", lambda: check_scanner(scanner)))
    results = []
    for kind, check in checks:
        started = time.monotonic()
        backend = backends.get(kind, "?")
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                detail = await check()
        except TimeoutError:
            results.append(
                CheckResult(
                    kind,
                    backend,
                    False,
                    f"no answer within {CHECK_TIMEOUT_S:g} s",
                    HINTS[kind],
                    time.monotonic() - started,
                )
            )
            continue
        except DriverError as exc:
            results.append(
                CheckResult(
                    kind, backend, False, str(exc), _hint(kind, exc), time.monotonic() - started
                )
            )
            continue
        except Exception as exc:  # a driver bug must not hide the other devices' results
            results.append(
                CheckResult(
                    kind,
                    backend,
                    False,
                    f"unexpected {type(exc).__name__}",
                    HINTS[kind],
                    time.monotonic() - started,
                )
            )
            continue
        results.append(CheckResult(kind, backend, True, detail, "", time.monotonic() - started))
    return results


def format_table(results: list[CheckResult]) -> str:
    """A fixed-width table for the technician's terminal."""
    rows = [("DEVICE", "BACKEND", "RESULT", "DETAIL")]
    for r in results:
        rows.append((r.device, r.backend, "PASS" if r.ok else "FAIL", r.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for row, result in zip(rows, [None, *results], strict=True):
        lines.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True))
            + "  "
            + row[3]
        )
        if result is not None and not result.ok:
            lines.append(" " * (sum(widths) + 6) + "→ " + result.hint)
    failed = sum(not r.ok for r in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)


def add_selftest_command(commands: Any) -> None:
    """Register ``kiosk selftest`` on the ``kiosk`` command's subparsers."""
    p = commands.add_parser(
        "selftest", help="check every configured device and exit non-zero on failure"
    )
    p.add_argument("--config", type=Path, help="TOML configuration file ([devices.*] tables)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--simulate", action="store_true", help="check the simulated devices")
    p.add_argument(
        "--identity-dir", type=Path, help="where the summary is kept for the hub (`kiosk run`)"
    )


def _identity_dir(args: argparse.Namespace) -> Path:
    """``--identity-dir``, else the config file's ``identity_dir``, else the default."""
    given: str | Path | None = getattr(args, "identity_dir", None)  # `kiosk enrol` passes its own
    if given is not None:
        return Path(given)
    config: Path | None = args.config
    if config is not None:
        try:
            value = read_toml(config).get("identity_dir")
        except ConfigError:
            value = None
        if isinstance(value, str) and value:
            return config.parent / value
    return DEFAULT_IDENTITY_DIR


def run_selftest(args: argparse.Namespace) -> int:
    """Run ``kiosk selftest``; returns the exit status."""
    try:
        config = load_devices(args.config, simulate=args.simulate)
    except ConfigError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    fitted = config.fitted()
    if not fitted:
        print(
            "kiosk: no devices configured: add [devices.*] tables to the config file, "
            "or use --simulate",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        devices = build_devices(config)
    except DriverError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    backends = {name: cfg.backend for name, cfg in fitted}
    results = asyncio.run(run_checks(devices, backends))
    # the kiosk reports this summary to the hub at its next connection (no details)
    problem = save_selftest(_identity_dir(args), results, now=time.time())
    if problem is not None:
        print(f"kiosk: the summary is not kept for the hub: {problem}", file=sys.stderr)
    ok = all(r.ok for r in results)
    if args.json:
        payload = {
            "ok": ok,
            "devices": [asdict(r) | {"seconds": round(r.seconds, 3)} for r in results],
        }
        print(json.dumps(payload), flush=True)
    else:
        print(format_table(results), flush=True)
    return EXIT_OK if ok else EXIT_FAILED
