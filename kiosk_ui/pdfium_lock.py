"""The kiosk process's one pdfium lock.

pdfium is not thread-safe: every use of it in the process holds :data:`PDFIUM_LOCK` (the
document viewer renders in worker threads, the exchange writes scans into PDFs, the sample
contract is written with it). Kept apart from the viewer so a writer need not import pygame.
"""

from __future__ import annotations

import threading

PDFIUM_LOCK = threading.Lock()
