"""A scanner without hardware: numbered grey or colour test pages, paced like a real scan."""

from __future__ import annotations

import asyncio

import numpy as np

from drivers.errors import DeviceBusy, NoDocuments, ScanCancelled
from drivers.scanner import (
    PageSink,
    ProgressCallback,
    ScannedPage,
    ScannerInfo,
    ScanProgress,
    ScanSettings,
)

PNM = "image/x-portable-anymap"
A4_MM = (210, 297)


def sample_page(number: int, settings: ScanSettings, size_mm: tuple[int, int] = A4_MM) -> bytes:
    """A PNM page: light paper with dark bars, the page number as that many bars."""
    width = max(8, round(size_mm[0] / 25.4 * settings.dpi))
    height = max(8, round(size_mm[1] / 25.4 * settings.dpi))
    img = np.full((height, width), 235, dtype=np.uint8)
    bar = max(1, width // 40)
    for i in range(number):
        img[height // 8 : height // 4, (2 * i + 1) * bar : (2 * i + 2) * bar] = 20
    img[height // 2 :: max(2, height // 40), width // 10 : width * 9 // 10] = 60  # "text" lines
    if settings.mode == "colour":
        rgb = np.stack([img, img, img], axis=-1)
        rgb[: height // 16, :, 2] = 200  # a blue letterhead
        return f"P6\n{width} {height}\n255\n".encode() + rgb.tobytes()
    return f"P5\n{width} {height}\n255\n".encode() + img.tobytes()


class SimulatedScanner:
    """A :class:`drivers.scanner.DocumentScanner` with a flatbed and a feeder of ``feeder_pages``.

    ``page_seconds`` paces each page (progress in quarters), so cancel can be exercised.
    """

    def __init__(
        self,
        *,
        feeder_pages: int = 3,
        page_seconds: float = 0.2,
        name: str = "simulated scanner",
    ) -> None:
        self._feeder_pages = feeder_pages
        self._page_seconds = page_seconds
        self._name = name
        self._task: asyncio.Task[int] | None = None
        self._cancelled = False

    async def describe(self) -> ScannerInfo:
        """A flatbed and a feeder, colour and grey, 75 to 600 dpi."""
        return ScannerInfo(
            self._name, ("flatbed", "feeder"), ("colour", "grey"), (75, 150, 300, 600)
        )

    async def scan(
        self,
        settings: ScanSettings,
        sink: PageSink,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Deliver one page (flatbed) or the feeder's pages, up to ``max_pages``."""
        if self._task is not None:
            raise DeviceBusy("a scan is already running", device=self._name)
        self._cancelled = False
        if settings.source == "flatbed":
            pages = 1
        else:
            if self._feeder_pages == 0:
                raise NoDocuments(
                    "the document feeder is empty: insert the pages", device=self._name
                )
            pages = min(self._feeder_pages, settings.max_pages or self._feeder_pages)
        self._task = asyncio.current_task()
        try:
            for number in range(1, pages + 1):
                for quarter in range(4):
                    if progress is not None:
                        progress(ScanProgress(number, 25.0 * quarter))
                    await asyncio.sleep(self._page_seconds / 4)
                    if self._cancelled:
                        raise ScanCancelled(
                            f"scan cancelled after {number - 1} page(s)", device=self._name
                        )
                if progress is not None:
                    progress(ScanProgress(number, 100.0))
                await sink(
                    ScannedPage(
                        number, sample_page(number, settings), PNM, settings.dpi, settings.mode
                    )
                )
            return pages
        finally:
            self._task = None

    def cancel(self) -> None:
        """Cancel the running scan."""
        self._cancelled = True
