"""The document scanner port: settings in, pages out to a sink, progress, cancel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from drivers.errors import UnsupportedSetting

ColourMode = Literal["colour", "grey"]
Source = Literal["flatbed", "feeder"]


@dataclass(frozen=True)
class ScanSettings:
    """What to scan: colour or grey, resolution, flatbed or document feeder.

    ``max_pages`` bounds a feeder run (``None``: until the feeder is empty); a flatbed scan is
    always one page.
    """

    mode: ColourMode = "colour"
    dpi: int = 300
    source: Source = "flatbed"
    max_pages: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("colour", "grey"):
            raise UnsupportedSetting(f"colour mode {self.mode!r}: choose 'colour' or 'grey'")
        if self.source not in ("flatbed", "feeder"):
            raise UnsupportedSetting(f"source {self.source!r}: choose 'flatbed' or 'feeder'")
        if (
            isinstance(self.dpi, bool)
            or not isinstance(self.dpi, int)
            or not 25 <= self.dpi <= 1200
        ):
            raise UnsupportedSetting(f"resolution {self.dpi!r} dpi: must be 25 to 1200")
        if self.max_pages is not None and not 1 <= self.max_pages <= 500:
            raise UnsupportedSetting(f"max_pages {self.max_pages!r}: must be 1 to 500")


@dataclass(frozen=True)
class ScannedPage:
    """One scanned page: encoded image bytes, their media type and the resolution."""

    number: int  # 1-based within the scan
    data: bytes
    media_type: str  # image/x-portable-anymap, image/jpeg, image/png, application/pdf
    dpi: int
    mode: ColourMode

    def __repr__(self) -> str:
        # A page is a customer's document: never print its bytes.
        return f"ScannedPage(number={self.number}, {len(self.data)} bytes, {self.media_type})"


@dataclass(frozen=True)
class ScanProgress:
    """Where a scan is: page ``page`` (1-based) is ``percent`` done."""

    page: int
    percent: float


@dataclass(frozen=True)
class ScannerInfo:
    """What the scanner offers."""

    name: str
    sources: tuple[Source, ...]
    modes: tuple[ColourMode, ...]
    resolutions: tuple[int, ...]  # a few supported dpi values, ascending


PageSink = Callable[[ScannedPage], Awaitable[None]]
ProgressCallback = Callable[[ScanProgress], None]


class DocumentScanner(Protocol):
    """A scanner. ``scan`` hands each page to ``sink`` as soon as it is complete.

    Cancel by cancelling the task that awaits ``scan`` or by calling ``cancel()`` (then
    ``scan`` raises ``ScanCancelled``); either way the device is released and nothing is left
    on disk. A vanished device raises ``DeviceNotFound``/``DeviceGone``; the next scan tries
    again, so a replugged scanner works without restarting the kiosk.
    """

    async def describe(self) -> ScannerInfo:
        """Query sources, modes and resolutions (also proves the scanner answers)."""
        ...

    async def scan(
        self,
        settings: ScanSettings,
        sink: PageSink,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Scan; returns the number of pages delivered to ``sink``."""
        ...

    def cancel(self) -> None:
        """Cancel the running scan, if any."""
        ...
