"""Live video on the call screen: the painter tells a ``SizedMediaFeed`` where each picture
shows, and draws a picture handed over already fitted to its box as it is."""

from __future__ import annotations

import numpy as np
import pygame
from hypothesis import given
from hypothesis import strategies as st

from kiosk_ui import viewmodels as v
from kiosk_ui.app import KioskUi
from kiosk_ui.samples import sample_views
from kiosk_ui.widgets import Media

sizes = st.tuples(st.integers(1, 4000), st.integers(1, 4000))


@given(src=sizes, box=sizes)
def test_a_fitted_size_fills_the_box_keeps_the_shape_and_fits_again_unchanged(
    src: tuple[int, int], box: tuple[int, int]
) -> None:
    w, h = v.fitted_size(src, box)
    assert 1 <= w <= box[0] and 1 <= h <= box[1]
    assert w == box[0] or h == box[1]  # as large as the box allows
    # The shape survives up to the rounding of one side to whole pixels.
    assert abs(w * src[1] - h * src[0]) <= max(src)
    assert v.fitted_size((w, h), box) == (w, h)  # a fitted picture needs no scaling


def test_a_fitted_size_of_an_empty_picture_is_the_box() -> None:
    assert v.fitted_size((0, 10), (30, 20)) == (30, 20)


def _pattern(width: int, height: int, seq: int) -> v.VideoFrame:
    """Pixels no scaling leaves alone: every pixel differs from its neighbours."""
    rgb = bytes((x * 7 + y * 13) % 256 for y in range(height) for x in range(width) for _ in "rgb")
    return v.VideoFrame(width, height, rgb, seq)


class FittingFeed:
    """A SizedMediaFeed that hands the adviser's video over fitted to the box it is told."""

    def __init__(self) -> None:
        self.boxes: dict[str, tuple[int, int]] = {}

    def show_at(self, source: str, box: tuple[int, int]) -> None:
        self.boxes[source] = box

    def remote_video(self) -> v.VideoFrame | None:
        box = self.boxes.get("remote")
        return None if box is None else _pattern(*v.fitted_size((640, 480), box), seq=1)

    def screen_video(self) -> v.VideoFrame | None:
        return None

    def self_view(self) -> v.VideoFrame | None:
        return None

    def ink(self) -> v.Ink:
        return v.Ink()


def test_the_painter_says_where_live_pictures_show_and_blits_fitted_ones_as_they_are() -> None:
    surface = pygame.Surface((1280, 800))
    ui = KioskUi((1280, 800))
    feed = FittingFeed()
    view = sample_views("en")["call"]
    ui.show(view, surface, feed)
    assert set(feed.boxes) == {"remote", "self"}  # both pictures on the call screen
    ui.show(view, surface, feed)  # now the frame comes fitted to the box
    box = next(w.rect for w in ui.widgets if isinstance(w, Media) and w.source == "remote")
    assert feed.boxes["remote"] == box.size
    frame = feed.remote_video()
    assert frame is not None
    x, y = box.centerx - frame.width // 2, box.centery - frame.height // 2
    drawn = pygame.surfarray.array3d(surface)[x : x + frame.width, y : y + frame.height]
    picture = pygame.surfarray.array3d(
        pygame.image.frombuffer(frame.rgb, (frame.width, frame.height), "RGB")
    )
    lower = slice(frame.height // 2, None)  # the upper part carries the call's banner
    assert np.array_equal(drawn[:, lower], picture[:, lower])  # pixel for pixel, centred
