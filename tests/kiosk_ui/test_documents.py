"""Pushed documents to pictures: PDF, JPEG, PNG; every bad input is a DocumentError."""

from __future__ import annotations

import io
import struct
import zlib

import pygame
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_ui.documents import (
    IMAGE_EDGE,
    MAX_PAGES,
    PNG_SIGNATURE,
    DocumentError,
    image_size,
    render_document,
)
from kiosk_ui.sample_contract import sample_contract


def encoded(size: tuple[int, int], colour: tuple[int, int, int], suffix: str) -> bytes:
    surface = pygame.Surface(size)
    surface.fill(colour)
    out = io.BytesIO()
    pygame.image.save(surface, out, f"x.{suffix}")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (with a tiny, wrong body)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return PNG_SIGNATURE + chunk + b"\x00" * 16


def test_pdf_pages_render() -> None:
    pages = render_document(sample_contract(pages=3), "application/pdf", 400)
    assert len(pages) == 3
    page = pages[0]
    assert abs(page.width - 400) <= 1 and len(page.rgb) == page.width * page.height * 3
    assert page.height > page.width  # A4 portrait
    assert set(page.rgb[:300]) == {255}  # white margin


def test_pdf_page_count_is_capped() -> None:
    pages = render_document(sample_contract(pages=MAX_PAGES + 2), "application/pdf", 50)
    assert len(pages) == MAX_PAGES


@pytest.mark.parametrize(("suffix", "mime"), [("png", "image/png"), ("jpg", "image/jpeg")])
def test_images_decode_from_bytes(suffix: str, mime: str) -> None:
    data = encoded((64, 48), (200, 20, 40), suffix)
    assert image_size(data) == (64, 48)
    (picture,) = render_document(data, mime)
    assert (picture.width, picture.height) == (64, 48)
    r, g, b = picture.rgb[:3]
    assert abs(r - 200) < 8 and abs(g - 20) < 8 and abs(b - 40) < 8


def test_large_images_are_shrunk() -> None:
    (picture,) = render_document(encoded((3200, 800), (0, 90, 0), "png"), "image/png")
    assert (picture.width, picture.height) == (IMAGE_EDGE, IMAGE_EDGE // 4)


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"", "application/pdf"),
        (b"%PDF-1.4\n garbage", "application/pdf"),
        (sample_contract()[:200], "application/pdf"),
        (b"", "image/png"),
        (PNG_SIGNATURE, "image/png"),
        (png_claiming(100_000, 100_000), "image/png"),  # refused before decoding
        (png_claiming(0, 10), "image/png"),
        (png_claiming(64, 64), "image/png"),  # the header is fine, the body is not
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),  # no frame header
        (b"\xff\xd8\x00\x00", "image/jpeg"),
        (b"GIF89a....", "image/png"),
        (b"%PDF-1.4", "text/html"),
    ],
)
def test_bad_documents_are_typed_errors(data: bytes, mime: str) -> None:
    with pytest.raises(DocumentError):
        render_document(data, mime)


def test_jpeg_dimensions_come_from_the_frame_header() -> None:
    data = encoded((33, 17), (1, 2, 3), "jpg")
    assert image_size(data) == (33, 17)
    with pytest.raises(DocumentError):
        image_size(data[:4])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([b"", PNG_SIGNATURE, b"\xff\xd8"]))
def test_image_size_never_raises_anything_else(tail: bytes, head: bytes) -> None:
    try:
        width, height = image_size(head + tail)
    except DocumentError:
        return
    assert width >= 0 and height >= 0


@settings(max_examples=60, deadline=None)
@given(
    st.binary(max_size=256),
    st.sampled_from(["application/pdf", "image/png", "image/jpeg", "text/plain"]),
    st.sampled_from([b"", b"%PDF-1.4\n", PNG_SIGNATURE, b"\xff\xd8\xff\xdb"]),
)
def test_render_document_never_raises_anything_else(tail: bytes, mime: str, head: bytes) -> None:
    try:
        pages = render_document(head + tail, mime, 64)
    except DocumentError:
        return
    assert all(len(p.rgb) == p.width * p.height * 3 for p in pages)
