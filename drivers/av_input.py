"""Opening PyAV inputs (V4L2 and ALSA devices, lavfi sources, files) with our errors.

Shared by the PyAV camera and microphone: FFmpeg reports a missing device, a busy one and an
unknown input format in different ways; the technician gets one clear message for each.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Mapping
from typing import Any

import av

from drivers.errors import BackendUnavailable, DeviceBusy, DeviceNotFound, DriverError

# Formats that are live capture devices: they pace themselves; everything else (files,
# lavfi) is read as fast as it decodes and must be paced to real time by the reader.
LIVE_FORMATS = frozenset({"v4l2", "video4linux2", "alsa", "pulse"})


def open_input(
    url: str, fmt: str | None, options: Mapping[str, str], *, device: str, hint: str
) -> Any:
    """``av.open`` for reading, translating failures into the ``DriverError`` tree."""
    if fmt is not None and fmt not in av.formats_available and fmt != "v4l2":
        raise BackendUnavailable(
            f"this FFmpeg build has no {fmt!r} input: install an FFmpeg/PyAV with it",
            device=device,
        )
    try:
        return av.open(url, mode="r", format=fmt, options=dict(options), timeout=10.0)
    except FileNotFoundError:
        raise DeviceNotFound(f"{url} does not exist: {hint}", device=device) from None
    except PermissionError:
        raise DeviceBusy(
            f"no permission to open {url}: add the kiosk user to the right group", device=device
        ) from None
    except av.FFmpegError as exc:
        raise _translate(exc, url, device=device, hint=hint) from None
    except (OSError, ValueError) as exc:
        raise DeviceNotFound(f"cannot open {url} ({exc}): {hint}", device=device) from None


def _translate(exc: av.FFmpegError, url: str, *, device: str, hint: str) -> DriverError:
    code = getattr(exc, "errno", None)
    if code == errno.EBUSY:
        return DeviceBusy(f"{url} is in use by another program", device=device)
    if code in (errno.ENODEV, errno.ENXIO, errno.EIO):
        return DeviceNotFound(f"{url} is not there: {hint}", device=device)
    return DeviceNotFound(f"cannot open {url} ({exc.strerror or exc}): {hint}", device=device)


def wake(loop: asyncio.AbstractEventLoop, wakeup: asyncio.Event) -> None:
    """Wake the coroutine waiting on ``wakeup`` from a reader thread.

    Harmless after the loop has closed (nobody is waiting any more).
    """
    try:
        loop.call_soon_threadsafe(wakeup.set)
    except RuntimeError:
        pass
