"""A small sample contract (text pages, A4) for screenshots, the UI benchmark and tests.

Written with pdfium, the library the document viewer reads it with: the standard Helvetica
font (not embedded), one text object per line.
"""

from __future__ import annotations

import ctypes
import io

import pypdfium2 as pdfium  # ships no type hints
import pypdfium2.raw as pdfium_c

from kiosk_ui.pdfium_lock import PDFIUM_LOCK

A4_PT = (595, 842)
FONT_SIZE = 16


def sample_contract(title: str = "Kontoeröffnung / Account opening", pages: int = 2) -> bytes:
    """A valid PDF of ``pages`` A4 pages: ``title``, the page number and 17 numbered clauses."""
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument.new()
        try:
            font = pdfium.PdfFont.load_standard(pdf, "Helvetica")
            for number in range(1, pages + 1):
                page = pdf.new_page(*A4_PT)
                lines = [(title, 780), (f"Seite / page {number} of {pages}", 740)]
                lines += [
                    (f"§ {n}  Lorem ipsum dolor sit amet, consectetur.", 740 - 26 * n)
                    for n in range(1, 18)
                ]
                for text, y in lines:
                    page.insert_obj(_text_line(pdf, font, text, 60, y))
                page.gen_content()
                page.close()
            out = io.BytesIO()
            pdf.save(out)
            return out.getvalue()
        finally:
            pdf.close()


def _text_line(
    pdf: pdfium.PdfDocument, font: pdfium.PdfFont, text: str, x: float, y: float
) -> pdfium.PdfTextObj:
    # pypdfium2 has no helper for new text objects: pdfium's C API, text as UTF-16LE.
    raw = pdfium_c.FPDFPageObj_CreateTextObj(pdf, font, FONT_SIZE)
    if not raw:
        raise pdfium.PdfiumError("could not create a text object")
    line = pdfium.PdfTextObj(raw, pdf=pdf)
    units = (text + "\0").encode("utf-16-le")
    buffer = ctypes.create_string_buffer(units, len(units))
    if not pdfium_c.FPDFText_SetText(line, ctypes.cast(buffer, pdfium_c.FPDF_WIDESTRING)):
        raise pdfium.PdfiumError("could not set a text object's text")
    line.set_matrix(pdfium.PdfMatrix().translate(x, y))
    return line
