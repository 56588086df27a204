"""Signalling and data-channel messages shared by kiosk, hub and console: strict and pure."""

from protocol.codec import MAX_FRAME_BYTES, PROTOCOL_VERSION
from protocol.errors import ProtocolError

__all__ = ["MAX_FRAME_BYTES", "PROTOCOL_VERSION", "ProtocolError"]
