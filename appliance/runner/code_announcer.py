"""The four words of a verified call as a status line, for whoever watches the kiosk's console.

The screen shows them to the customer; without a screen (``--no-ui``, the demo on a server)
this line is the only place to compare them with the adviser's console. They are derived from
the two DTLS fingerprints (docs/verification.md): not personal data, safe to print.
"""

from __future__ import annotations

from collections.abc import Callable

import av

from appliance.runner.control import KioskControl

PREFIX = "verification code: "


class CodeAnnouncer:
    """A kiosk observer that says ``verification code: FOUR WORDS`` once per consultation.

    Once, not again after a reconnection: the words of a consultation do not change.
    """

    def __init__(self, kiosk: KioskControl, say: Callable[[str], None]) -> None:
        self._kiosk = kiosk
        self._say = say
        self._announced: str | None = None  # the consultation whose words were said

    def changed(self) -> None:
        """Say the words when the current consultation's adviser was first verified."""
        code = self._kiosk.verification_code
        consultation = self._kiosk.consultation_state.consultation_id
        if code is None or consultation is None or consultation == self._announced:
            return
        self._announced = consultation
        self._say(PREFIX + code)

    def video_frame(self, frame: av.VideoFrame) -> None:
        """Not needed here."""

    def chat_received(self, text: str) -> None:
        """Not needed here (and never printed: personal data)."""

    def channel_opened(self) -> None:
        """Not needed here: the words come with ``changed`` once verified."""
