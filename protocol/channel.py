"""Messages on the end-to-end data channel between kiosk and adviser browser.

These never pass through the hub: they travel inside the DTLS-protected SCTP
association of the peer connection. Same framing and validation as signalling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from protocol.codec import Registry, rule

CHANNEL = Registry("data channel")

# Label of the RTCDataChannel the kiosk opens for these messages.
CHANNEL_LABEL = "consultation"
CHAT_MAX = 4000


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class Chat:
    """A chat line from one side to the other."""

    TYPE: ClassVar[str] = "chat"
    id: str = rule(pattern=r"[A-Za-z0-9_-]{1,64}", description="sender-chosen message id")
    text: str = rule(max_len=CHAT_MAX, min_len=1)
    ts: int = rule(minimum=0, description="sender's clock, ms since the epoch")


ChannelMessage = Chat


def decode(raw: str | bytes) -> ChannelMessage:
    """Decode one data-channel frame."""
    msg: ChannelMessage = CHANNEL.decode(raw)
    return msg


def encode(message: ChannelMessage) -> str:
    """Encode one data-channel message."""
    return CHANNEL.encode(message)
