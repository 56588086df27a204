"""The live pictures the touch UI draws, handed from the loop thread to the UI thread.

The loop only stores a reference to each decoded ``av.VideoFrame`` (the adviser's video, the
adviser's shared screen); the self view is read from the kiosk's latest camera frame the same
way. Each frame is converted to RGB once, with a new sequence number (so the painter scales it
once). Where it is converted depends on what the UI said:

- before the UI tells the size it shows a picture at (``show_at``), on the caller's thread at
  the frame's own size (tests and tools read pictures this way);
- after, on one converter thread, scaled by libswscale straight to the size that fits the box
  (``kiosk_ui.viewmodels.fitted_size``): the UI thread then only blits. A 1280x720 camera
  frame converted and scaled on the UI thread made frames late while a call ran, because
  every GIL hand-over to the busy call thread costs the UI up to a switch interval
  (docs/ui.md, "Frame time during a call").

The signature's live ink is pulled from the desk's ``InkSource`` (thread-safe) per frame.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import av

from kiosk_ui import viewmodels

if TYPE_CHECKING:
    from appliance.signing.state import InkSource


def rgb_frame(
    frame: av.VideoFrame, seq: int, size: tuple[int, int] | None
) -> viewmodels.VideoFrame:
    """``frame`` as RGB, scaled to ``size`` (None: its own size)."""
    width, height = (frame.width, frame.height) if size is None else size
    rgb = frame.to_ndarray(width=width, height=height, format="rgb24")
    return viewmodels.VideoFrame(width, height, rgb.tobytes(), seq)


class _Picture:
    """One live picture: the newest decoded frame and its newest RGB form."""

    def __init__(self) -> None:
        self.frame: av.VideoFrame | None = None
        self.seq = 0
        self.box: tuple[int, int] | None = None  # where the UI shows it (None: not said)
        self.rgb: viewmodels.VideoFrame | None = None
        self.rgb_box: tuple[int, int] | None = None  # the box ``rgb`` was scaled for
        self.queued = False  # a conversion waits on the converter thread

    def clear(self) -> None:
        self.frame = None
        self.rgb = None


class MediaHandover:
    """A ``MediaFeed`` (with ``show_at``) for the UI thread, fed by reference from the loop."""

    def __init__(
        self,
        local_frame: Callable[[], av.VideoFrame | None],
        *,
        ink: Callable[[], InkSource | None] = lambda: None,
        convert: Callable[
            [av.VideoFrame, int, tuple[int, int] | None], viewmodels.VideoFrame
        ] = rgb_frame,
    ) -> None:
        self._local_frame = local_frame  # the kiosk's latest camera frame (the self view)
        self._convert_frame = convert  # a seam: tests see which thread converts
        self._ink_source = ink  # the current consultation's signature desk, if any
        self._lock = threading.Lock()  # guards the pictures; never held while converting
        self._pictures = {name: _Picture() for name in ("remote", "screen", "self")}
        self._sharing = False
        self._generation = 0  # grows with every forget(): older conversions are dropped
        self._converter: ThreadPoolExecutor | None = None

    # -- loop side ----------------------------------------------------------------------

    @property
    def latest_remote(self) -> av.VideoFrame | None:
        """The adviser's latest frame as it came from the decoder (not converted)."""
        return self._pictures["remote"].frame

    def remote_frame(self, frame: av.VideoFrame) -> None:
        """Keep a reference to the adviser's latest frame (converted for the UI)."""
        self._arrived("remote", frame)

    def screen_frame(self, frame: av.VideoFrame) -> None:
        """Keep a reference to the adviser's latest shared-screen frame."""
        self._arrived("screen", frame)

    def sharing(self, on: bool) -> None:
        """The adviser shares a screen (``on``) or stopped; a stopped share's frame goes."""
        if not on:
            with self._lock:  # a later share must not start with this one's last frame
                self._pictures["screen"].clear()
        self._sharing = on

    def forget(self) -> None:
        """The consultation is over: none of its pictures stay, converted or not."""
        with self._lock:
            self._generation += 1
            for picture in self._pictures.values():  # the customer's self view too
                picture.clear()
        self._sharing = False

    # -- UI side (any thread) -------------------------------------------------------------

    def show_at(self, source: str, box: tuple[int, int]) -> None:
        """The UI shows ``source`` ("remote", "screen" or "self") in a ``box``-sized area:
        from now on its frames are converted off the caller's thread, scaled to fit it."""
        picture = self._pictures.get(source)
        if picture is None or box[0] <= 0 or box[1] <= 0:
            return
        with self._lock:
            if picture.box == box:
                return
            picture.box = box
        self._schedule(source)

    def remote_video(self) -> viewmodels.VideoFrame | None:
        """The adviser's latest frame as RGB (converted once per frame)."""
        return self._current("remote")

    def screen_video(self) -> viewmodels.VideoFrame | None:
        """The adviser's shared screen as RGB while shared."""
        return self._current("screen") if self._sharing else None

    def self_view(self) -> viewmodels.VideoFrame | None:
        """The customer's own camera picture (what the call sends) as RGB."""
        frame = self._local_frame()
        picture = self._pictures["self"]
        if frame is None:
            return None
        if picture.frame is not frame:
            self._arrived("self", frame)  # a new sequence number: the painter scales it again
        return self._current("self")

    def ink(self) -> viewmodels.Ink:
        """The signature's live ink (0..1 of the ink area, y down); empty without a desk."""
        source = self._ink_source()
        if source is None:
            return viewmodels.Ink()
        strokes, seq = source.ink()
        return viewmodels.Ink(strokes, seq)

    def idle(self, timeout_s: float = 10.0) -> None:
        """Wait until the conversions queued so far are done (tests and tools)."""
        converter = self._converter
        if converter is not None:
            converter.submit(lambda: None).result(timeout_s)  # one thread: in order

    def close(self) -> None:
        """Stop the converter thread (the kiosk is shutting down)."""
        converter, self._converter = self._converter, None
        if converter is not None:
            converter.shutdown(wait=True, cancel_futures=True)

    # -- both -------------------------------------------------------------------------------

    def _arrived(self, source: str, frame: av.VideoFrame) -> None:
        picture = self._pictures[source]
        with self._lock:
            picture.frame = frame
            picture.seq += 1
            sized = picture.box is not None
        if sized:
            self._schedule(source)

    def _current(self, source: str) -> viewmodels.VideoFrame | None:
        picture = self._pictures[source]
        with self._lock:
            frame, seq, rgb, box = picture.frame, picture.seq, picture.rgb, picture.box
            if frame is None:
                return None
            if rgb is not None and rgb.seq == seq:
                return rgb
            if box is not None:
                # The converter has it (or will): until then the previous picture stays.
                return rgb
            # No box said yet: converted here, at the frame's own size.
            picture.rgb = rgb = self._convert_frame(frame, seq, None)
            picture.rgb_box = None
            return rgb

    def _schedule(self, source: str) -> None:
        picture = self._pictures[source]
        with self._lock:
            if picture.queued or picture.frame is None:
                return
            picture.queued = True
            if self._converter is None:
                self._converter = ThreadPoolExecutor(1, thread_name_prefix="ui-video")
            converter = self._converter
        converter.submit(self._convert, source)

    def _convert(self, source: str) -> None:
        """Converter thread: bring ``source``'s RGB form up to its newest frame."""
        picture = self._pictures[source]
        while True:
            with self._lock:
                frame, seq, box, generation = (
                    picture.frame,
                    picture.seq,
                    picture.box,
                    self._generation,
                )
                rgb = picture.rgb
                done = rgb is not None and rgb.seq == seq and picture.rgb_box == box
                if frame is None or box is None or done:
                    picture.queued = False
                    return
            try:
                size = viewmodels.fitted_size((frame.width, frame.height), box)
                rgb = self._convert_frame(frame, seq, size)  # swscale releases the GIL
            except BaseException:
                with self._lock:
                    picture.queued = False  # the next frame tries again
                raise
            with self._lock:
                if generation == self._generation and picture.frame is not None:
                    picture.rgb, picture.rgb_box = rgb, box
