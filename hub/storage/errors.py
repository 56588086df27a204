"""What the hub's storage raises: ``StorageError`` and its kinds, whatever the engine."""

from __future__ import annotations


class StorageError(Exception):
    """The hub's database refused an operation; the message says what to fix."""


class DuplicateName(StorageError):
    """A tenant, adviser or device of that name already exists."""


class NotFound(StorageError):
    """No tenant, adviser or device of that name."""


class InvalidName(StorageError):
    """A name that is empty, too long or contains control characters."""


class WeakPassword(StorageError):
    """A password too short (or absurdly long) to accept."""


class InvalidLimit(StorageError):
    """A size limit out of the allowed range."""


class InvalidSetting(StorageError):
    """A tenant setting of the wrong shape (a trustee certificate too large, a bad URL)."""


class SchemaTooNew(StorageError):
    """The database was written by a newer hub; refuse rather than corrupt it."""


class StorageUnavailable(StorageError):
    """The database could not do it now (locked past the busy timeout, disk error, closed).

    Nothing of the operation was written; trying again later may succeed.
    """


class ConstraintViolated(StorageError):
    """The database refused a row that breaks its rules (e.g. an unknown device's consultation).

    A caller's bug rather than a passing condition: nothing was written.
    """


class CodeRefused(StorageError):
    """An enrolment code that is unknown, expired, used, burnt, or whose secret is wrong.

    One kind for all of them, so that what a caller shows cannot tell a guesser which it was.
    """


class CertificateRefused(StorageError):
    """A device certificate that may not be renewed: unknown, revoked or expired (``reason``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ArchiveRefused(StorageError):
    """An item the archive will not keep (``reason``): ``off`` (the tenant does not keep this
    kind) or ``full`` (the consultation has as many archived items as it may)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
