"""The chat lines of the current consultation, for a console that comes back after a resume.

The kiosk is the session's record (docs/reconnection.md): once a resumed call's proof checked
out it sends the chat so far again and the console merges it. The lines are personal data:
memory only, never logged (only counted), gone when the consultation ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from appliance.call.connection import CallError
from protocol import channel

log = logging.getLogger(__name__)


class ChatHistory:
    """The consultation's chat lines, both ways, in the order they were sent or received."""

    def __init__(self) -> None:
        self._lines: list[channel.HistoryChat] = []

    def __len__(self) -> int:
        return len(self._lines)

    def remember(self, message: channel.Chat, author: Literal["kiosk", "adviser"]) -> None:
        """Keep a line sent by the kiosk or received from the adviser (memory only)."""
        self._lines.append(
            channel.HistoryChat(id=message.id, text=message.text, ts=message.ts, author=author)
        )

    def lines(self) -> tuple[channel.HistoryChat, ...]:
        """The lines so far (for the tenant's sealed transcript, appliance.custody.archive)."""
        return tuple(self._lines)

    def resend(self, send: Callable[[channel.ChannelMessage], None]) -> int:
        """Send every line again (a resumed call); stop at the first refusal. How many went."""
        sent = 0
        for line in self._lines:
            try:
                send(line)
            except CallError as exc:
                log.warning("history not sent: %s", exc)
                break
            sent += 1
        return sent

    def clear(self) -> None:
        """The consultation is over: drop its lines."""
        self._lines.clear()
