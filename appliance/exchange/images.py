"""Scanned pages and photos as pictures: decoded by PyAV, out as JPEG, previews and one PDF.

Scanners deliver PNM (SANE, the simulator), JPEG or PNG (eSCL); FFmpeg's decoders read all of
them. Pages leave as baseline JPEGs (FFmpeg's mjpeg encoder) wrapped one per page into a PDF
by pdfium. Every input that does not decode is a ``ValueError`` whose message names no
content; the pictures are a customer's documents and are never logged.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final

import av
import numpy as np
import pypdfium2 as pdfium  # ships no type hints

from appliance.exchange.state import Preview
from drivers.scanner import ScannedPage
from kiosk_ui.pdfium_lock import PDFIUM_LOCK

PREVIEW_MAX_WIDTH: Final = 1024
JPEG_QUALITY: Final = 4  # mjpeg qscale: 2 (best) .. 31; 4 keeps small print readable
# A page larger than this is refused before FFmpeg allocates it (A4 at 1200 dpi is 140 M).
MAX_PAGE_PIXELS: Final = 20_000 * 30_000
_PNM_TYPES: Final = ("image/x-portable-anymap", "image/x-portable-pixmap")
_CODECS: Final = {"image/jpeg": "mjpeg", "image/png": "png"}


@dataclass(frozen=True)
class JpegPicture:
    """One encoded JPEG with its size in pixels and the resolution it was taken at."""

    jpeg: bytes = field(repr=False)
    width: int
    height: int
    dpi: int = 72


def decode_page(page: ScannedPage) -> av.VideoFrame:
    """A scanner's page as a video frame (PNM from SANE and the simulator, JPEG/PNG from eSCL)."""
    if page.media_type in _PNM_TYPES:
        return pnm_frame(page.data)
    codec = _CODECS.get(page.media_type)
    if codec is None:
        raise ValueError("a scanned page in a format we cannot read")
    return _decode(page.data, codec)


def pnm_frame(data: bytes) -> av.VideoFrame:
    """Binary PGM (P5) or PPM (P6), 8 or 16 bits, decoded by FFmpeg's PNM decoder.

    The plain-text variants (P1-P3) are refused: no scanner sends them, and FFmpeg would read
    them.
    """
    if data[:2] not in (b"P5", b"P6"):
        raise ValueError("not a binary PGM/PPM image")
    return _decode(data, "ppm")  # FFmpeg's ppm decoder reads P5 and P6 alike


def _decode(data: bytes, codec: str) -> av.VideoFrame:
    """The one picture in ``data``; anything FFmpeg refuses (or truncated) is a ValueError."""
    context: Any = av.CodecContext.create(codec, "r")
    context.options = {"max_pixels": str(MAX_PAGE_PIXELS)}
    try:
        frames = list(context.decode(av.Packet(data)))
    except av.FFmpegError:
        raise ValueError("the image could not be decoded") from None
    if not frames:
        raise ValueError("the image could not be decoded")
    frame: av.VideoFrame = frames[0]
    return frame


def encode_jpeg(frame: av.VideoFrame, dpi: int = 72) -> JpegPicture:
    """``frame`` as a baseline JPEG (PyAV's mjpeg encoder; no imaging library needed)."""
    context = av.CodecContext.create("mjpeg", "w")
    context.width = frame.width
    context.height = frame.height
    context.pix_fmt = "yuvj420p"
    context.time_base = Fraction(1, 25)
    context.options = {"qmin": str(JPEG_QUALITY), "qmax": str(JPEG_QUALITY)}
    context.open()
    packets = context.encode(frame.reformat(format="yuvj420p")) + context.encode(None)
    return JpegPicture(b"".join(bytes(p) for p in packets), frame.width, frame.height, dpi)


def preview(frame: av.VideoFrame) -> Preview:
    """RGB bytes at a screen-friendly size (at most ``PREVIEW_MAX_WIDTH`` wide)."""
    width = min(PREVIEW_MAX_WIDTH, frame.width)
    height = max(1, round(frame.height * width / frame.width))
    rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    return Preview(width, height, np.ascontiguousarray(rgb).tobytes())


def build_pdf(pages: Iterable[JpegPicture]) -> bytes:
    """One PDF, one page per picture, each page the picture's size at its resolution.

    The JPEGs go in unchanged (DCTDecode). pdfium is not thread-safe and the document viewer
    uses it too, so this holds the process's one pdfium lock.
    """
    pictures = list(pages)
    if not pictures:
        raise ValueError("a PDF needs at least one page")
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument.new()
        try:
            for picture in pictures:
                _add_page(pdf, picture)
            out = io.BytesIO()
            pdf.save(out)
        except pdfium.PdfiumError:
            raise ValueError("the scanned pages could not be written as a PDF") from None
        finally:
            pdf.close()
    return out.getvalue()


def _add_page(pdf: pdfium.PdfDocument, picture: JpegPicture) -> None:
    width_pt = picture.width * 72 / picture.dpi
    height_pt = picture.height * 72 / picture.dpi
    page = pdf.new_page(width_pt, height_pt)
    try:
        image = pdfium.PdfImage.new(pdf)
        # inline: pdfium copies the bytes now instead of reading the stream when saving
        image.load_jpeg(io.BytesIO(picture.jpeg), inline=True)
        image.set_matrix(pdfium.PdfMatrix().scale(width_pt, height_pt))
        page.insert_obj(image)
        page.gen_content()
    finally:
        page.close()


def scanned_picture(page: ScannedPage) -> tuple[JpegPicture, Preview]:
    """A scanned page as the JPEG that goes into the PDF and the preview the customer sees."""
    frame = decode_page(page)
    return encode_jpeg(frame, page.dpi), preview(frame)


def photo(frame: av.VideoFrame) -> tuple[JpegPicture, Preview]:
    """A camera frame as the JPEG that is sent and the preview the customer sees."""
    return encode_jpeg(frame), preview(frame)
