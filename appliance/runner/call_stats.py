"""Numbers about each consultation (no personal data): kept live, then one line in the stats file.

``CallRecorder`` owns the current consultation's ``CallStats`` from ``CallStarted`` to
``CallFinished`` (across reconnections: the stats belong to the consultation, not to one peer
connection), refreshes them from the call's media probe, and appends each finished one to the
configured stats file as one JSON line.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from appliance.call.connection import Call

log = logging.getLogger(__name__)


@dataclass
class CallStats:
    """Numbers about one consultation; no personal data (safe to log and to store)."""

    consultation_id: str
    accepted_at_ms: int | None = None  # wall clock (ms since the epoch), for benchmarks
    first_remote_video_at_ms: int | None = None  # wall clock of the first decoded frame
    accepted_to_connected_ms: float | None = None
    first_remote_video_ms: float | None = None  # from accepted to the first decoded frame
    video_frames_received: int = 0
    audio_frames_received: int = 0
    non_black_seen: bool = False
    remote_video_luma: float | None = None  # mean luma of the latest sampled frame, 0..255
    remote_audio_rms: float = 0.0  # peak over the call, 0..1
    chat_in: int = 0
    chat_out: int = 0
    # Short authentication string (docs/verification.md): not personal data.
    verified: bool = False
    verification_code: str | None = None
    verification_failed: str | None = None  # why the adviser was refused (sas error code)
    end_reason: str | None = None
    # Reconnection (docs/reconnection.md): how often the call was re-established, why each
    # time (``silence``, ``connection_failed``, ``hub_lost``, ``peer_away``...), how long the
    # path had been silent when the kiosk noticed a dead path (ms), and how long each
    # reconnection took from noticing to a connected new call (ms).
    reconnects: int = 0
    reconnect_causes: list[str] = field(default_factory=list)
    detection_ms: list[float] = field(default_factory=list)
    reconnect_ms: list[float] = field(default_factory=list)

    def to_json(self) -> str:
        """One line of the stats file."""
        return json.dumps(asdict(self), separators=(",", ":"))


class CallRecorder:
    """The stats of this process's consultations: the current one live, the finished ones."""

    def __init__(
        self,
        *,
        stats_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._stats_file = stats_file
        self._clock = clock
        self._wall_clock = wall_clock
        self.current: CallStats | None = None
        self.finished: list[CallStats] = []
        self._accepted_at: float | None = None

    def all(self, call: Call | None) -> list[CallStats]:
        """Every consultation's stats, the current one (refreshed from ``call``) last."""
        self.refresh(call)
        return [*self.finished, *([self.current] if self.current else [])]

    @property
    def last_unverified(self) -> bool:
        """Whether the latest finished consultation ended with the adviser not verified."""
        done = self.finished[-1] if self.finished else None
        return done is not None and done.verification_failed is not None

    @property
    def verification_code(self) -> str | None:
        """The current consultation's four words once its adviser was verified, else None."""
        stats = self.current
        return stats.verification_code if stats is not None and stats.verified else None

    def start(self, consultation_id: str) -> None:
        """An adviser accepted: a consultation's stats begin."""
        self.current = CallStats(
            consultation_id=consultation_id, accepted_at_ms=int(self._wall_clock() * 1000)
        )
        self._accepted_at = self._clock()

    def refresh(self, call: Call | None) -> None:
        """Copy the media counters of ``call`` (the current or the one closing) into the stats."""
        stats = self.current
        if stats is None or call is None:
            return
        probe = call.probe
        stats.video_frames_received = probe.video_frames
        stats.audio_frames_received = probe.audio_frames
        stats.non_black_seen = probe.non_black_seen
        stats.remote_video_luma = None if probe.last_luma is None else round(probe.last_luma, 1)
        stats.remote_audio_rms = round(probe.peak_audio_rms, 4)
        stats.first_remote_video_at_ms = probe.first_video_wall_ms
        if probe.first_video_at is not None and self._accepted_at is not None:
            stats.first_remote_video_ms = round(
                (probe.first_video_at - self._accepted_at) * 1000, 1
            )

    def connected(self) -> None:
        """The call connected: the first time, how long it took since the adviser accepted."""
        stats = self.current
        if stats is None or self._accepted_at is None or stats.accepted_to_connected_ms is not None:
            return
        stats.accepted_to_connected_ms = round((self._clock() - self._accepted_at) * 1000, 1)

    def verified(self, code: str) -> None:
        """The adviser was verified with these four words (not personal data)."""
        if self.current is not None:
            self.current.verified = True
            self.current.verification_code = code

    def unverified(self, why: str) -> None:
        """The adviser could not be verified (``why``: the sas error code)."""
        if self.current is not None:
            self.current.verified = False
            self.current.verification_code = None
            self.current.verification_failed = why

    def chat(self, *, incoming: bool) -> None:
        """Count one chat line (never its text)."""
        if self.current is None:
            return
        if incoming:
            self.current.chat_in += 1
        else:
            self.current.chat_out += 1

    def interrupted(self, cause: str, detection_ms: float | None) -> None:
        """The consultation lost its call (``cause``) and reconnects."""
        stats = self.current
        if stats is None:
            return
        stats.reconnects += 1
        stats.reconnect_causes.append(cause)
        if detection_ms is not None:
            stats.detection_ms.append(detection_ms)

    def healed(self, reconnect_ms: float | None) -> None:
        """A new call proved itself ``reconnect_ms`` after the old one was noticed dead."""
        if self.current is not None and reconnect_ms is not None:
            self.current.reconnect_ms.append(reconnect_ms)

    def finish(self, reason: str, call: Call | None) -> CallStats | None:
        """The consultation is over: its stats are final, logged and appended to the file."""
        stats = self.current
        if stats is None:
            return None
        self.refresh(call)
        stats.end_reason = reason
        self.finished.append(stats)
        self.current = None
        self._accepted_at = None
        log.info(
            "call ended (%s): %d video frames, %d chat in, %d chat out",
            reason,
            stats.video_frames_received,
            stats.chat_in,
            stats.chat_out,
        )
        if self._stats_file is not None:
            try:
                with self._stats_file.open("a", encoding="utf-8") as f:
                    f.write(stats.to_json() + "\n")
            except OSError as exc:
                log.warning("cannot append to the stats file: %s", exc.strerror)
        return stats
