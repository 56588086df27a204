"""PDF pages to pictures (pypdfium2), and a small sample contract for the simulator."""

from __future__ import annotations

import pypdfium2 as pdfium  # ships no type hints

from kiosk_ui.viewmodels import Picture

MAX_PAGES = 50  # a document bigger than this is shown in part (the kiosk has little RAM)


class DocumentError(ValueError):
    """The bytes are not a PDF we can show."""


def render_pdf(data: bytes, width: int = 900) -> tuple[Picture, ...]:
    """Render each page of ``data`` to an RGB picture ``width`` pixels wide."""
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise DocumentError(f"not a readable PDF: {exc}") from None
    try:
        pages: list[Picture] = []
        for index in range(min(len(pdf), MAX_PAGES)):
            page = pdf[index]
            scale = width / max(1.0, page.get_width())
            bitmap = page.render(scale=scale, rev_byteorder=True)  # RGB(A) byte order
            rgb = _rgb(bitmap)
            pages.append(Picture(bitmap.width, bitmap.height, rgb))
            bitmap.close()
            page.close()
        return tuple(pages)
    finally:
        pdf.close()


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


def sample_contract(title: str = "Kontoeröffnung / Account opening", pages: int = 2) -> bytes:
    """A small, valid PDF with text lines, made by hand (no PDF writer needed)."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    font_ref = 3 + 2 * pages
    for i in range(pages):
        lines = [f"({_pdf_text(title)}) Tj", f"0 -40 Td (Seite / page {i + 1} of {pages}) Tj"]
        lines += [
            f"0 -26 Td (§ {n}  Lorem ipsum dolor sit amet, consectetur.) Tj" for n in range(1, 18)
        ]
        stream = ("BT /F1 16 Tf 60 780 Td " + " ".join(lines) + " ET").encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            f"/Resources << /Font << /F1 {font_ref} 0 R >> >> /Contents {4 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _pdf_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
