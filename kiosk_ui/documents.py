"""Documents to pictures: PDF pages (pypdfium2), JPEG and PNG images (SDL_image via pygame).

The bytes come from the session vault, where the transfer already checked type and hash;
still, anything that does not decode, or that would decode into more pixels than the kiosk's
RAM should hold, is a ``DocumentError``.
"""

from __future__ import annotations

import io
import math
import struct

import pygame
import pypdfium2 as pdfium  # ships no type hints

from kiosk_ui.pdfium_lock import PDFIUM_LOCK
from kiosk_ui.viewmodels import Picture

MAX_PAGES = 50  # a document bigger than this is shown in part (the kiosk has little RAM)
MAX_PIXELS = 25_000_000  # an image (or a rendered page) larger than this is refused / shrunk
IMAGE_EDGE = 1600  # images are shrunk to at most this many pixels on their longer side

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class DocumentError(ValueError):
    """The bytes are not a document we can show (the message names no content)."""


def render_document(data: bytes, mime: str, width: int = 900) -> tuple[Picture, ...]:
    """Pages of a PDF, or the one picture of a JPEG/PNG, ready for the viewer."""
    if mime == "application/pdf":
        return render_pdf(data, width)
    if mime in ("image/jpeg", "image/png"):
        return (render_image(data),)
    raise DocumentError("type not shown in the viewer")


def render_pdf(data: bytes, width: int = 900) -> tuple[Picture, ...]:
    """Render each page of ``data`` to an RGB picture about ``width`` pixels wide."""
    with PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError:
            raise DocumentError("not a readable PDF") from None
        try:
            pages: list[Picture] = []
            for index in range(min(len(pdf), MAX_PAGES)):
                page = pdf[index]
                pw, ph = max(1.0, page.get_width()), max(1.0, page.get_height())
                # A page of absurd proportions is shrunk so it stays under MAX_PIXELS.
                scale = min(width / pw, math.sqrt(MAX_PIXELS / (pw * ph)))
                bitmap = page.render(scale=scale, rev_byteorder=True)  # RGB(A) byte order
                rgb = _rgb(bitmap)
                pages.append(Picture(bitmap.width, bitmap.height, rgb))
                bitmap.close()
                page.close()
            return tuple(pages)
        except pdfium.PdfiumError:
            raise DocumentError("a PDF page did not render") from None
        finally:
            pdf.close()


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR or a JPEG's SOF marker, read before decoding."""
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise DocumentError("PNG without a header")
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    raise DocumentError("neither PNG nor JPEG")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise DocumentError("JPEG marker expected")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            raise DocumentError("JPEG segment too short")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise DocumentError("JPEG without a frame header")


def render_image(data: bytes) -> Picture:
    """A JPEG or PNG as RGB, shrunk to ``IMAGE_EDGE`` on its longer side."""
    width, height = image_size(data)
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise DocumentError("image dimensions out of range")
    try:
        image = pygame.image.load(io.BytesIO(data))
    except (pygame.error, ValueError):
        raise DocumentError("image did not decode") from None
    w, h = image.get_size()
    scale = min(1.0, IMAGE_EDGE / max(w, h))
    if scale < 1.0:
        # smoothscale wants 24 or 32 bits; a blit converts paletted and grey images.
        plain = pygame.Surface((w, h), 0, 24)
        plain.blit(image, (0, 0))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = pygame.transform.smoothscale(plain, size)
    return Picture(image.get_width(), image.get_height(), pygame.image.tobytes(image, "RGB"))


def _rgb(bitmap: pdfium.PdfBitmap) -> bytes:
    # pdfium renders BGR(x)/RGB(x); with rev_byteorder the order is R, G, B(, X).
    n = bitmap.n_channels
    raw = bytes(bitmap.buffer)
    w, h, stride = bitmap.width, bitmap.height, bitmap.stride
    rows = [raw[y * stride : y * stride + w * n] for y in range(h)]
    packed = b"".join(rows)
    if n == 3:
        return packed
    out = bytearray(w * h * 3)
    out[0::3] = packed[0::n]
    out[1::3] = packed[1::n]
    out[2::3] = packed[2::n]
    return bytes(out)
