"""Pen digitizers the kernel exposes as input devices (USB Wacom, Huion, XP-Pen, I2C pens).

python-evdev opens, grabs and describes the device; the events themselves are read as raw
``struct input_event`` bytes on the event loop and parsed by :mod:`drivers.tablet.evdev_parser`,
which is pure and tested from recordings (these machines have no /dev/input).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from drivers.errors import (
    BackendUnavailable,
    DeviceBusy,
    DeviceGone,
    DeviceNotFound,
    DeviceNotStarted,
    DriverError,
)
from drivers.tablet import PenSample, TabletInfo
from drivers.tablet.evdev_parser import (
    ABS_PRESSURE,
    ABS_TILT_X,
    ABS_TILT_Y,
    ABS_X,
    ABS_Y,
    BTN_TOOL_PEN,
    EV_ABS,
    EV_KEY,
    INPUT_EVENT,
    AxisRange,
    EvdevPenParser,
    PenAxes,
)
from drivers.tablet.stream import SampleStream

READ_EVENTS = 256  # events per read: a whole burst without a second syscall


class AbsInfo(NamedTuple):
    """``struct input_absinfo``, as python-evdev returns it."""

    value: int
    min: int
    max: int
    fuzz: int
    flat: int
    resolution: int


class InputNode(Protocol):
    """The little we need of an opened input device (python-evdev's ``InputDevice``)."""

    @property
    def fd(self) -> int: ...

    @property
    def name(self) -> str: ...

    def capabilities(self, verbose: bool = ..., absinfo: bool = ...) -> Any: ...

    def absinfo(self, axis_num: int) -> Any: ...

    def active_keys(self, verbose: bool = ...) -> Any: ...

    def grab(self) -> None: ...

    def ungrab(self) -> None: ...

    def close(self) -> None: ...


def pen_axes(capabilities: Mapping[int, Sequence[Any]]) -> PenAxes:
    """The pen axes of a device from ``capabilities(absinfo=True)``; ``DeviceNotFound`` if it
    is not a pen digitizer (no ``BTN_TOOL_PEN``, X, Y or pressure)."""
    keys = set(capabilities.get(EV_KEY, ()))
    absolute: dict[int, AbsInfo] = {}
    for entry in capabilities.get(EV_ABS, ()):
        code, info = entry
        absolute[int(code)] = AbsInfo(*info)
    missing = [
        name
        for name, present in (
            ("BTN_TOOL_PEN", BTN_TOOL_PEN in keys),
            ("ABS_X", ABS_X in absolute),
            ("ABS_Y", ABS_Y in absolute),
            ("ABS_PRESSURE", ABS_PRESSURE in absolute),
        )
        if not present
    ]
    if missing:
        raise DeviceNotFound(
            f"input device is not a pen digitizer (lacks {', '.join(missing)}): "
            "configure the tablet's /dev/input/by-id path"
        )

    def axis(code: int) -> AxisRange:
        info = absolute[code]
        return AxisRange(info.min, info.max, info.resolution)

    return PenAxes(
        x=axis(ABS_X),
        y=axis(ABS_Y),
        pressure=axis(ABS_PRESSURE),
        tilt_x=axis(ABS_TILT_X) if ABS_TILT_X in absolute else None,
        tilt_y=axis(ABS_TILT_Y) if ABS_TILT_Y in absolute else None,
    )


def _import_evdev() -> Any:
    try:
        import evdev
    except ImportError:
        raise BackendUnavailable(
            "python-evdev is not installed: install the kiosk with its dependencies "
            "(pip install evdev)",
            device="signature tablet",
        ) from None
    return evdev


def open_input_node(path: str) -> InputNode:
    """Open ``path`` with python-evdev, translating its errors."""
    evdev = _import_evdev()
    try:
        node: InputNode = evdev.InputDevice(path)
    except FileNotFoundError:
        raise DeviceNotFound(
            f"{path} does not exist: check the tablet's USB cable (dmesg)",
            device="signature tablet",
        ) from None
    except PermissionError:
        raise DeviceBusy(
            f"no permission for {path}: add the kiosk user to the 'input' group",
            device="signature tablet",
        ) from None
    except OSError as exc:
        raise DeviceNotFound(
            f"cannot open {path}: {exc.strerror}", device="signature tablet"
        ) from None
    return node


def find_pen_device(
    paths: Iterable[str] | None = None, opener: Callable[[str], InputNode] = open_input_node
) -> str:
    """The first input device that is a pen digitizer (auto-detection by capabilities)."""
    if paths is None:
        paths = _import_evdev().list_devices()
    for path in paths:
        try:
            node = opener(path)
        except DriverError:
            continue
        try:
            pen_axes(node.capabilities(absinfo=True))
        except DriverError:
            continue
        finally:
            node.close()
        return path
    raise DeviceNotFound(
        "no pen digitizer among the input devices: plug the tablet in, or configure its path",
        device="signature tablet",
    )


class EvdevTablet:
    """A :class:`drivers.tablet.SignatureTablet` on a Linux input device.

    ``path`` is ``/dev/input/eventN`` (prefer ``/dev/input/by-id/...``) or ``"auto"``. The
    device is grabbed so the pen does not also move the desktop pointer. ``opener`` opens a
    path (python-evdev by default; tests pass recorded devices).
    """

    def __init__(
        self,
        path: str = "auto",
        *,
        report_rate_hz: float = 200.0,
        grab: bool = True,
        name: str = "signature tablet",
        opener: Callable[[str], InputNode] = open_input_node,
        candidates: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        self._path = path
        self._rate = report_rate_hz
        self._grab = grab
        self._name = name
        self._opener = opener
        self._candidates = candidates
        self._node: InputNode | None = None
        self._parser: EvdevPenParser | None = None
        self._stream: SampleStream | None = None
        self._info = TabletInfo(name, 0.0, 0.0, 0, report_rate_hz)

    @property
    def info(self) -> TabletInfo:
        """Active area and pressure levels from the device's axis ranges."""
        return self._info

    async def start(self) -> None:
        """Open, grab and start reading (again after ``DeviceGone``)."""
        await self.stop()
        path = self._path
        if path == "auto":
            paths = list(self._candidates()) if self._candidates is not None else None
            path = find_pen_device(paths, self._opener)
        node = self._opener(path)
        try:
            axes = pen_axes(node.capabilities(absinfo=True))
            if self._grab:
                try:
                    node.grab()
                except OSError:
                    raise DeviceBusy(
                        f"{path} is grabbed by another program (a desktop session?)",
                        device=self._name,
                    ) from None
            os.set_blocking(node.fd, False)
        except BaseException:
            node.close()
            raise
        self._node = node
        self._parser = EvdevPenParser(axes)
        self._stream = SampleStream()
        self._info = TabletInfo(
            name=self._name,
            width_mm=axes.width_mm,
            height_mm=axes.height_mm,
            pressure_levels=axes.pressure.maximum - axes.pressure.minimum + 1,
            report_rate_hz=self._rate,
            has_tilt=axes.tilt_x is not None,
        )
        asyncio.get_running_loop().add_reader(node.fd, self._on_readable)

    def _on_readable(self) -> None:
        node, parser, stream = self._node, self._parser, self._stream
        if node is None or parser is None or stream is None:
            return
        try:
            data = os.read(node.fd, READ_EVENTS * INPUT_EVENT.size)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # ENODEV after unplug; treated like end of file
        if not data:
            asyncio.get_running_loop().remove_reader(node.fd)
            stream.fail(DeviceGone("the tablet was unplugged: plug it in again", device=self._name))
            return
        samples = parser.feed_bytes(data)
        if parser.needs_resync:
            self._resync(node, parser)
        stream.push(samples)

    @staticmethod
    def _resync(node: InputNode, parser: EvdevPenParser) -> None:
        # SYN_DROPPED: the kernel's buffer overflowed; read the state instead of guessing it.
        values = {}
        for code in (ABS_X, ABS_Y, ABS_PRESSURE, ABS_TILT_X, ABS_TILT_Y):
            try:
                values[code] = int(AbsInfo(*node.absinfo(code)).value)
            except (OSError, KeyError, TypeError):
                continue
        try:
            keys = [int(k) for k in node.active_keys()]
        except OSError:
            keys = []
        parser.resync(values, keys)

    async def samples(self) -> AsyncIterator[PenSample]:
        """Samples until ``stop()``; raises ``DeviceGone`` if the tablet is unplugged."""
        stream = self._stream
        if stream is None:
            raise DeviceNotStarted("samples() called before start()", device=self._name)
        async for sample in stream:
            yield sample

    async def stop(self) -> None:
        """Ungrab and close; idempotent."""
        node, self._node = self._node, None
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
        if node is None:
            return
        try:
            asyncio.get_running_loop().remove_reader(node.fd)
            if self._grab:
                node.ungrab()
        except OSError:
            pass  # unplugged: nothing to release
        node.close()
