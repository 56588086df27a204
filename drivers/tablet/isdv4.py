"""Serial Wacom ISDV4/W8001 pen digitizers (tablet PCs, signature pads) through pyserial.

Start-up: stop sampling, drop whatever is buffered, query the maxima, start sampling. Bytes
are read on the event loop as they arrive (``add_reader`` on the port's descriptor), so a
sample reaches the consumer within one read of the UART.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import AsyncIterator, Callable

import serial

from drivers.errors import (
    DeviceBusy,
    DeviceGone,
    DeviceNotFound,
    DeviceNotStarted,
    DeviceProtocolError,
    DriverError,
    DriverTimeout,
    UnsupportedSetting,
)
from drivers.tablet import PenSample, TabletInfo
from drivers.tablet.isdv4_parser import (
    BAUD_RATES,
    CMD_QUERY,
    CMD_START,
    CMD_STOP,
    UNITS_PER_MM,
    Isdv4Parser,
)
from drivers.tablet.stream import SampleStream

QUERY_TIMEOUT_S = 1.0
# After '0' the tablet may still send the rest of a packet; let it drain before querying.
STOP_SETTLE_S = 0.05
READ_CHUNK = 4096


def _now_us() -> int:
    return time.monotonic_ns() // 1000


class Isdv4Tablet:
    """A :class:`drivers.tablet.SignatureTablet` on a serial port (``/dev/ttyS0``, a pty...).

    ``baud`` is 38400 (current ISDV4) or 19200 (older W8001). Timestamps are arrival times on
    the monotonic clock (the protocol carries none).
    """

    def __init__(
        self,
        port: str,
        *,
        baud: int = 38400,
        units_per_mm: float = UNITS_PER_MM,
        report_rate_hz: float = 133.0,
        name: str = "serial pen tablet",
        clock_us: Callable[[], int] = _now_us,
        query_timeout_s: float = QUERY_TIMEOUT_S,
    ) -> None:
        if baud not in BAUD_RATES:
            raise UnsupportedSetting(
                f"baud rate {baud} is not one ISDV4 tablets use: choose 38400 or 19200",
                device=name,
            )
        self._port_name = port
        self._baud = baud
        self._units_per_mm = units_per_mm
        self._rate = report_rate_hz
        self._name = name
        self._clock_us = clock_us
        self._query_timeout_s = query_timeout_s
        self._serial: serial.Serial | None = None
        self._stream: SampleStream | None = None
        self._parser: Isdv4Parser | None = None
        self._info = TabletInfo(name, 0.0, 0.0, 0, report_rate_hz)

    @property
    def info(self) -> TabletInfo:
        """Active area and pressure levels from the tablet's query reply."""
        return self._info

    @property
    def dropped(self) -> int:
        """Samples dropped because the consumer fell behind."""
        return self._stream.dropped if self._stream is not None else 0

    async def start(self) -> None:
        """Open the port, query the maxima and start sampling (again after ``DeviceGone``)."""
        await self._close()
        loop = asyncio.get_running_loop()
        port = self._open()
        self._serial = port
        fd = port.fileno()
        try:
            self._write(CMD_STOP)
            await asyncio.sleep(STOP_SETTLE_S)
            port.reset_input_buffer()
            parser = Isdv4Parser(units_per_mm=self._units_per_mm, period_us=round(1e6 / self._rate))
            self._write(CMD_QUERY)
            replied = asyncio.Event()

            def on_query_bytes() -> None:
                try:
                    parser.feed(os.read(fd, READ_CHUNK), self._clock_us())
                except OSError:
                    replied.set()  # the timeout path reports it
                    return
                if parser.replies:
                    replied.set()

            loop.add_reader(fd, on_query_bytes)
            try:
                async with asyncio.timeout(self._query_timeout_s):
                    await replied.wait()
            except TimeoutError:
                raise DriverTimeout(
                    f"no answer to the ISDV4 query at {self._baud} baud on {self._port_name}: "
                    "check the cable and the baud rate (38400 for current tablets, 19200 for "
                    "older ones)",
                    device=self._name,
                ) from None
            finally:
                loop.remove_reader(fd)
            if not parser.replies:
                raise DeviceGone(f"{self._port_name} closed during the query", device=self._name)
            caps = parser.replies[-1]
            if caps.x_max == 0 or caps.y_max == 0:
                raise DeviceProtocolError(
                    f"the tablet reported an empty active area ({caps.x_max}x{caps.y_max}): "
                    "wrong device on this port?",
                    device=self._name,
                )
            parser.caps = caps
            self._parser = parser
            self._info = TabletInfo(
                name=self._name,
                width_mm=caps.x_max / self._units_per_mm,
                height_mm=caps.y_max / self._units_per_mm,
                pressure_levels=caps.pressure_max + 1,
                report_rate_hz=self._rate,
                has_tilt=bool(caps.tilt_x_max or caps.tilt_y_max),
            )
            self._stream = SampleStream()
            self._write(CMD_START)
            loop.add_reader(fd, self._on_readable)
        except BaseException:
            await self._close()
            raise

    def _open(self) -> serial.Serial:
        try:
            return serial.Serial(self._port_name, self._baud, timeout=0, exclusive=True)
        except serial.SerialException as exc:
            cause = exc.errno if isinstance(exc.errno, int) else None
            if cause in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
                raise DeviceNotFound(
                    f"serial port {self._port_name} does not exist: check the cable or the "
                    "USB-serial adapter (dmesg)",
                    device=self._name,
                ) from None
            if cause in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK):
                raise DeviceBusy(
                    f"serial port {self._port_name} is held by another program",
                    device=self._name,
                ) from None
            if cause == errno.EACCES:
                raise DeviceBusy(
                    f"no permission for {self._port_name}: add the kiosk user to 'dialout'",
                    device=self._name,
                ) from None
            raise DeviceNotFound(
                f"cannot open serial port {self._port_name}: {exc}", device=self._name
            ) from None

    def _write(self, command: bytes) -> None:
        port = self._serial
        try:
            if port is None:
                raise OSError("port closed")
            port.write(command)
        except (serial.SerialException, OSError):
            raise DeviceGone(
                f"{self._port_name} stopped accepting commands: reconnect the tablet",
                device=self._name,
            ) from None

    def _on_readable(self) -> None:
        port, parser, stream = self._serial, self._parser, self._stream
        if port is None or parser is None or stream is None:
            return
        try:
            data = os.read(port.fileno(), READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            # EOF or EIO: the USB-serial adapter or the far end went away.
            asyncio.get_running_loop().remove_reader(port.fileno())
            stream.fail(
                DeviceGone(
                    f"{self._port_name} disappeared: reconnect the tablet", device=self._name
                )
            )
            return
        stream.push(parser.feed(data, self._clock_us()))

    async def samples(self) -> AsyncIterator[PenSample]:
        """Samples until ``stop()``; raises ``DeviceGone`` if the port vanishes."""
        stream = self._stream
        if stream is None:
            raise DeviceNotStarted("samples() called before start()", device=self._name)
        async for sample in stream:
            yield sample

    async def _close(self) -> None:
        port, self._serial = self._serial, None
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
        if port is None:
            return
        try:
            asyncio.get_running_loop().remove_reader(port.fileno())
            port.write(CMD_STOP)
        except (serial.SerialException, OSError, DriverError):
            pass  # the port is already gone: nothing left to stop
        port.close()

    async def stop(self) -> None:
        """Stop sampling and close the port; idempotent."""
        await self._close()
