"""WCAG colour maths without pygame (the configuration checks tenant colours with it too)."""

from __future__ import annotations

from kiosk_ui.viewmodels import RGB

WCAG_AA = 4.5  # contrast for normal text
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)


def relative_luminance(colour: RGB) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""

    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio between two colours (1..21)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_on(background: RGB, preferred: RGB | None = None) -> RGB:
    """``preferred`` if it meets AA on ``background``, else black or white, whichever is better."""
    if preferred is not None and contrast(preferred, background) >= WCAG_AA:
        return preferred
    return BLACK if contrast(BLACK, background) >= contrast(WHITE, background) else WHITE


def darken_to_aa(colour: RGB, on: RGB) -> RGB:
    """``colour`` made darker (or lighter) until text in ``on`` over it meets AA."""
    r, g, b = colour
    for _ in range(40):
        if contrast((r, g, b), on) >= WCAG_AA:
            break
        factor = 0.9 if relative_luminance(on) > 0.5 else 1.1
        r, g, b = (min(255, max(0, round(c * factor))) for c in (r, g, b))
    return (r, g, b)
