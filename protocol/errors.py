"""Typed errors for every way a frame can be wrong.

Each error has a stable ``code`` that travels in an ``error`` message, so the
other side (Python or the console's JavaScript) can react to it without parsing
prose.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """A frame that does not follow the protocol. Never fatal for the receiver."""

    code = "protocol_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MalformedFrame(ProtocolError):
    """Not UTF-8 JSON, or not a JSON object."""

    code = "malformed"


class FrameTooLarge(ProtocolError):
    """The frame exceeds the size limit before it is even parsed."""

    code = "too_large"


class UnsupportedVersion(ProtocolError):
    """The ``v`` field is missing or names a version we do not speak."""

    code = "unsupported_version"


class UnknownType(ProtocolError):
    """The ``type`` field names no message of this channel."""

    code = "unknown_type"


class UnknownField(ProtocolError):
    """A field the message type does not define (strict: never ignored)."""

    code = "unknown_field"


class MissingField(ProtocolError):
    """A required field is absent."""

    code = "missing_field"


class WrongType(ProtocolError):
    """A field has the wrong JSON type."""

    code = "wrong_type"


class InvalidValue(ProtocolError):
    """A field has the right type but a value out of range, too long, or not allowed."""

    code = "invalid_value"


ERROR_CLASSES: tuple[type[ProtocolError], ...] = (
    MalformedFrame,
    FrameTooLarge,
    UnsupportedVersion,
    UnknownType,
    UnknownField,
    MissingField,
    WrongType,
    InvalidValue,
)
