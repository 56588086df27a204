"""The PDF container: numbered objects, a cross-reference table and a trailer.

Our PDFs are simple (a catalogue, pages, images or a text stream), so we write them directly
instead of running a PDF library next to the UI's renderer (pdfium is not thread-safe). Used
for scans (appliance.exchange.service), the simulator's sample contract (kiosk_ui.documents) and
test documents.
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
