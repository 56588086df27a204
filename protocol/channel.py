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
INTAKE_FIELDS_MAX = 8
INTAKE_KEY_PATTERN = r"[a-z][a-z0-9_]{0,31}"
INTAKE_VALUE_MAX = 200
# A DTLS certificate fingerprint as SDP writes it (RFC 8122), SHA-256 only, upper-case hex.
FINGERPRINT_PATTERN = r"sha-256 [0-9A-F]{2}(?::[0-9A-F]{2}){31}"
NONCE_PATTERN = r"[0-9a-f]{64}"


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class Chat:
    """A chat line from one side to the other."""

    TYPE: ClassVar[str] = "chat"
    id: str = rule(pattern=r"[A-Za-z0-9_-]{1,64}", description="sender-chosen message id")
    text: str = rule(max_len=CHAT_MAX, min_len=1)
    ts: int = rule(minimum=0, description="sender's clock, ms since the epoch")


@dataclass(frozen=True, kw_only=True)
class IntakeField:
    """One answer of the customer's intake form (``name``, ``topic``...)."""

    key: str = rule(pattern=INTAKE_KEY_PATTERN, description="the tenant's field key")
    value: str = rule(max_len=INTAKE_VALUE_MAX, description="what the customer typed")


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class Intake:
    """The kiosk's intake form, sent once when the channel opens (never via the hub)."""

    TYPE: ClassVar[str] = "intake"
    fields: tuple[IntakeField, ...] = rule(max_items=INTAKE_FIELDS_MAX)


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class SasReveal:
    """Each side's own DTLS fingerprint, sent once when the channel opens.

    The adviser adds the nonce of its ``sas_commit``; the kiosk sends none
    (docs/verification.md).
    """

    TYPE: ClassVar[str] = "sas_reveal"
    fingerprint: str = rule(pattern=FINGERPRINT_PATTERN, description="the sender's own")
    nonce: str | None = rule(
        default=None, pattern=NONCE_PATTERN, description="the adviser's committed nonce, hex"
    )


ChannelMessage = Chat | Intake | SasReveal


def decode(raw: str | bytes) -> ChannelMessage:
    """Decode one data-channel frame."""
    msg: ChannelMessage = CHANNEL.decode(raw)
    return msg


def encode(message: ChannelMessage) -> str:
    """Encode one data-channel message."""
    return CHANNEL.encode(message)
