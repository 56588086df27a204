"""Test documents whose every byte the test decides: a bare PDF container writer.

The product writes PDFs with pdfium (``appliance.exchange.images``, ``kiosk_ui.sample_contract``);
tests that need a PDF of an exact size, or with a payload of their own, write the objects
themselves and let this number them and add the cross-reference table and trailer.
"""

from __future__ import annotations

from collections.abc import Sequence

HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"  # the binary comment marks the file as binary


def write_pdf(objects: Sequence[bytes]) -> bytes:
    """A PDF whose object ``n`` (from 1) is ``objects[n - 1]``; object 1 is the catalogue."""
    out = bytearray(HEADER)
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
