"""The visible signature: the customer's ink as vector paths, with name, time and device under it.

The appearance is a pyHanko stamp (``InkStampStyle``) so pyHanko places it in the signature
widget of any size. The ink keeps the strokes exactly (one PDF path per stroke, no raster); the
text uses the standard Helvetica font in WinAnsiEncoding, so characters outside Windows-1252
are shown transliterated or as "?" (docs/signature-pdf.md). Nothing here logs.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyhanko.pdf_utils import content, generic, layout
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp.base import BaseStamp, BaseStampStyle

Stroke = Sequence[tuple[float, float]]

FONT_RESOURCE = "/KioskF1"
MARGIN = 4.0  # points between the box's edge and the ink or text
MAX_FONT = 8.0
MIN_FONT = 3.0
LINE_GAP = 1.25  # line height as a multiple of the font size
INK_WIDTH = 1.2  # points: a ballpoint's line
INK_COLOUR = (0.05, 0.1, 0.45)  # dark blue, as a pen's ink
# Helvetica's mean advance is ~0.55 em; fitting on 0.6 keeps every line inside the box.
EM_ADVANCE = 0.6
# Letters Windows-1252 lacks and Unicode does not decompose to a base letter.
TRANSLITERATION = str.maketrans(
    {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i"}
)


def pdf_text(text: str) -> bytes:
    """``text`` as a PDF literal string in WinAnsiEncoding (Windows-1252), escaped.

    Characters outside Windows-1252 are transliterated where Unicode decomposes them, else "?";
    control characters become spaces.
    """
    out = bytearray(b"(")
    for char in text.translate(TRANSLITERATION):
        if unicodedata.category(char).startswith("C"):
            char = " "
        try:
            encoded = char.encode("cp1252")
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", char).encode("cp1252", "ignore")
            encoded = base[:1] if base else b"?"
        for byte in encoded:
            if byte in b"()\\":
                out += b"\\" + bytes([byte])
            else:
                out.append(byte)
    return bytes(out + b")")


def _number(value: float) -> bytes:
    return b"%.2f" % value


def ink_operators(strokes: Sequence[Stroke], x: float, y: float, w: float, h: float) -> bytes:
    """Path operators drawing ``strokes`` (0..1 of the area, y down) into the area x, y, w, h.

    A stroke of one point becomes a dot (a zero-length line with round caps). Points outside
    0..1 or not finite are clamped, so hostile ink cannot draw outside the widget.
    """
    ops: list[bytes] = []
    for stroke in strokes:
        points = [(_clamp(px), _clamp(py)) for px, py in stroke]
        if not points:
            continue
        if len(points) == 1:
            points = points * 2
        first = True
        for px, py in points:
            op = b"m" if first else b"l"
            ops.append(b"%s %s %s" % (_number(x + px * w), _number(y + (1 - py) * h), op))
            first = False
        ops.append(b"S")
    if not ops:
        return b""
    colour = b"%.3f %.3f %.3f RG" % INK_COLOUR
    head = b"q %s %s w 1 J 1 j" % (colour, _number(INK_WIDTH))
    return b"\n".join([head, *ops, b"Q"])


def _clamp(value: float) -> float:
    if not math.isfinite(value):
        return 0.0
    return min(1.0, max(0.0, value))


def text_layout(lines: Sequence[str], width: float, height: float) -> tuple[float, float]:
    """The font size fitting ``lines`` across ``width`` in at most a third of ``height``,
    and the height of the text band it takes (0 when there is no text)."""
    if not lines:
        return 0.0, 0.0
    longest = max(len(line) for line in lines) or 1
    size = min(
        MAX_FONT,
        (width - 2 * MARGIN) / (longest * EM_ADVANCE),
        (height / 3) / (len(lines) * LINE_GAP),
    )
    size = max(MIN_FONT, size)
    return size, len(lines) * size * LINE_GAP + MARGIN


def appearance_operators(
    strokes: Sequence[Stroke], lines: Sequence[str], width: float, height: float
) -> bytes:
    """The whole appearance of a ``width`` x ``height`` widget: the text lines at the bottom,
    the ink above them (the text font is resource ``FONT_RESOURCE``)."""
    size, band = text_layout(lines, width, height)
    ink = ink_operators(
        strokes,
        MARGIN,
        band + MARGIN,
        max(width - 2 * MARGIN, 0.0),
        max(height - band - 2 * MARGIN, 0.0),
    )
    # clip to the widget: a long name at the smallest size must not spill onto the page
    parts = [b"%s %s %s %s re W n" % (b"0", b"0", _number(width), _number(height))]
    if ink:
        parts.append(ink)
    if lines:
        text = [b"BT %s %s Tf 0 g" % (FONT_RESOURCE.encode("ascii"), _number(size))]
        # the first line sits highest: baselines from the top of the band down
        top = band - size
        for index, line in enumerate(lines):
            baseline = top - index * size * LINE_GAP
            text.append(
                b"1 0 0 1 %s %s Tm %s Tj" % (_number(MARGIN), _number(baseline), pdf_text(line))
            )
        text.append(b"ET")
        parts.append(b"\n".join(text))
    return b"\n".join(parts)


@dataclass(frozen=True)
class InkStampStyle(BaseStampStyle):
    """A pyHanko stamp style drawing ``strokes`` (0..1 of the box, y down) and ``lines``."""

    strokes: tuple[tuple[tuple[float, float], ...], ...] = ()
    lines: tuple[str, ...] = field(default=())
    border_width: int = 0

    def create_stamp(
        self,
        writer: BasePdfFileWriter,
        box: layout.BoxConstraints,
        text_params: dict[str, object],
    ) -> InkStamp:
        """The stamp for one widget of size ``box`` (pyHanko calls this while signing)."""
        return InkStamp(writer, self, box)


class InkStamp(BaseStamp):
    """One rendering of an :class:`InkStampStyle` into a widget's box."""

    style: InkStampStyle

    def _render_inner_content(self) -> list[bytes]:
        self.set_resource(
            category=content.ResourceType.FONT,
            name=pdf_name(FONT_RESOURCE),
            value=generic.DictionaryObject(  # type: ignore[no-untyped-call]
                {
                    pdf_name("/Type"): pdf_name("/Font"),
                    pdf_name("/Subtype"): pdf_name("/Type1"),
                    pdf_name("/BaseFont"): pdf_name("/Helvetica"),
                    pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding"),
                }
            ),
        )
        return [
            appearance_operators(
                self.style.strokes, self.style.lines, self.box.width, self.box.height
            )
        ]


def ink_style(strokes: Sequence[Stroke], lines: Sequence[str]) -> InkStampStyle:
    """The stamp style for the customer's ``strokes`` and the text ``lines`` under them."""
    frozen = tuple(tuple((float(x), float(y)) for x, y in stroke) for stroke in strokes)
    return InkStampStyle(strokes=frozen, lines=tuple(lines))
