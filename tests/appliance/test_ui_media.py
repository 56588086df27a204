"""The live pictures' hand-over to the UI thread (appliance.ui.media): once the UI says where it
shows a picture, frames are converted and scaled on the converter thread, never the caller's."""

from __future__ import annotations

import threading

import av
import numpy as np

from appliance.ui.media import MediaHandover, rgb_frame
from kiosk_ui import viewmodels as v


def _frame(width: int, height: int, red: int = 200) -> av.VideoFrame:
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[:, :, 0] = red
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


def test_a_shown_picture_is_scaled_to_its_box_off_the_callers_thread() -> None:
    media = MediaHandover(lambda: None)
    media.show_at("remote", (320, 200))  # the painter's box for the adviser's video
    first = _frame(1280, 720)
    media.remote_frame(first)
    media.idle()
    shown = media.remote_video()
    assert shown is not None
    assert (shown.width, shown.height) == (320, 180)  # fitted: 16:9 in 320x200
    assert len(shown.rgb) == 320 * 180 * 3 and shown.rgb[0] > 150
    assert media.remote_video() is shown  # converted once
    media.remote_frame(_frame(1280, 720, red=20))
    media.idle()
    newer = media.remote_video()
    assert newer is not None and newer.seq > shown.seq and newer.rgb[0] < 60
    media.close()


def test_the_ui_thread_never_converts_a_shown_picture() -> None:
    calls: list[str] = []

    def convert(frame: av.VideoFrame, seq: int, size: tuple[int, int] | None) -> v.VideoFrame:
        calls.append(threading.current_thread().name)
        return rgb_frame(frame, seq, size)

    media = MediaHandover(lambda: None, convert=convert)
    media.show_at("remote", (160, 90))
    media.remote_frame(_frame(640, 360))
    media.remote_video()  # the caller gets what is ready (maybe nothing yet), never waits
    media.idle()
    assert calls and all(name.startswith("ui-video") for name in calls)
    media.close()


def test_a_new_box_rescales_the_current_frame_and_the_self_view_follows_the_camera() -> None:
    camera: list[av.VideoFrame | None] = [None]
    media = MediaHandover(lambda: camera[0])
    media.show_at("self", (100, 100))
    assert media.self_view() is None
    camera[0] = _frame(1280, 720)
    media.self_view()  # sees the camera's new frame: queued for conversion
    media.idle()
    small = media.self_view()
    assert small is not None and (small.width, small.height) == (100, 56)
    media.show_at("self", (200, 200))
    media.idle()
    bigger = media.self_view()
    assert bigger is not None and (bigger.width, bigger.height) == (200, 112)
    media.close()


def test_forget_drops_converted_pictures_too() -> None:
    media = MediaHandover(lambda: None)
    media.show_at("remote", (64, 48))
    media.remote_frame(_frame(64, 48))
    media.idle()
    assert media.remote_video() is not None
    media.forget()
    assert media.remote_video() is None
    media.show_at("remote", (32, 24))  # a new box after the call: nothing to convert
    media.idle()
    assert media.remote_video() is None
    media.close()


def test_without_a_box_pictures_convert_on_the_callers_thread_at_their_size() -> None:
    media = MediaHandover(lambda: None)
    media.remote_frame(_frame(64, 48))
    shown = media.remote_video()  # no idle(): converted right here
    assert shown is not None and (shown.width, shown.height) == (64, 48)
    media.show_at("remote", (0, 0))  # an empty box is ignored
    assert media.remote_video() is shown
    media.close()
