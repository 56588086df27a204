"""The live pictures the touch UI draws, handed from the loop thread to the UI thread.

The loop only stores a reference to each decoded ``av.VideoFrame`` (the adviser's video, the
adviser's shared screen); the UI thread converts a frame to RGB (libswscale, outside the loop)
when it draws it, once per frame: a new frame gets a new sequence number, so the painter scales
each frame once. The self view is read from the kiosk's latest camera frame the same way.
The signature's live ink is pulled from the desk's ``InkSource`` (thread-safe) per frame.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import av

from kiosk_ui import viewmodels

if TYPE_CHECKING:
    from appliance.signing.state import InkSource


def _rgb(frame: av.VideoFrame, seq: int) -> viewmodels.VideoFrame:
    rgb = frame.to_ndarray(format="rgb24")
    return viewmodels.VideoFrame(frame.width, frame.height, rgb.tobytes(), seq)


class MediaHandover:
    """A ``MediaFeed`` for the UI thread, fed by reference from the loop."""

    def __init__(
        self,
        local_frame: Callable[[], av.VideoFrame | None],
        *,
        ink: Callable[[], InkSource | None] = lambda: None,
    ) -> None:
        self._local_frame = local_frame  # the kiosk's latest camera frame (the self view)
        self._ink_source = ink  # the current consultation's signature desk, if any
        self._lock = threading.Lock()  # conversions run on the UI thread (or a test's)
        self._remote: av.VideoFrame | None = None
        self._remote_seq = 0
        self._remote_rgb: viewmodels.VideoFrame | None = None
        self._screen: av.VideoFrame | None = None
        self._screen_seq = 0
        self._screen_rgb: viewmodels.VideoFrame | None = None
        self._sharing = False
        self._self_source: object = None  # the local frame last converted for the self view
        self._self_seq = 0
        self._self_rgb: viewmodels.VideoFrame | None = None

    # -- loop side ----------------------------------------------------------------------

    @property
    def latest_remote(self) -> av.VideoFrame | None:
        """The adviser's latest frame as it came from the decoder (not converted)."""
        return self._remote

    def remote_frame(self, frame: av.VideoFrame) -> None:
        """Keep a reference to the adviser's latest frame (converted when drawn)."""
        self._remote = frame
        self._remote_seq += 1

    def screen_frame(self, frame: av.VideoFrame) -> None:
        """Keep a reference to the adviser's latest shared-screen frame."""
        self._screen = frame
        self._screen_seq += 1

    def sharing(self, on: bool) -> None:
        """The adviser shares a screen (``on``) or stopped; a stopped share's frame goes."""
        if not on:
            self._screen = None  # a later share must not start with this one's last frame
        self._sharing = on

    def forget(self) -> None:
        """The consultation is over: none of its pictures stay."""
        self._remote = None
        self._screen = None
        self._sharing = False

    # -- UI side (any thread) -------------------------------------------------------------

    def remote_video(self) -> viewmodels.VideoFrame | None:
        """The adviser's latest frame as RGB, converted here (the caller's thread)."""
        frame, seq = self._remote, self._remote_seq
        if frame is None:
            return None
        with self._lock:
            if self._remote_rgb is None or self._remote_rgb.seq != seq:
                self._remote_rgb = _rgb(frame, seq)
            return self._remote_rgb

    def screen_video(self) -> viewmodels.VideoFrame | None:
        """The adviser's shared screen as RGB while shared, converted here."""
        frame, seq = self._screen, self._screen_seq
        if frame is None or not self._sharing:
            return None
        with self._lock:
            if self._screen_rgb is None or self._screen_rgb.seq != seq:
                self._screen_rgb = _rgb(frame, seq)
            return self._screen_rgb

    def self_view(self) -> viewmodels.VideoFrame | None:
        """The customer's own camera picture (what the call sends) as RGB, converted here."""
        frame = self._local_frame()
        if frame is None:
            return None
        with self._lock:
            if self._self_rgb is None or self._self_source is not frame:
                self._self_source = frame
                self._self_seq += 1  # a new sequence number: the painter scales it again
                self._self_rgb = _rgb(frame, self._self_seq)
            return self._self_rgb

    def ink(self) -> viewmodels.Ink:
        """The signature's live ink (0..1 of the ink area, y down); empty without a desk."""
        source = self._ink_source()
        if source is None:
            return viewmodels.Ink()
        strokes, seq = source.ink()
        return viewmodels.Ink(strokes, seq)
