"""Resume tokens (docs/reconnection.md): minted here, stored and used up by the database.

A token is 32 random bytes, URL-safe base64; only its SHA-256 is stored, bound to the
consultation, the side and the device or adviser, so that a restarted hub restores live
consultations and their parties still come back. The database is the tokens' only home (the
pairing core never sees a token, only, for the check, its digest).
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from hub.auth import Clock
from hub.signalling.writes import Writes
from hub.storage import Storage, StorageError, secret_digest
from protocol.messages import ResumeGrant, Role

log = logging.getLogger("hub.signalling")


class ResumeTokens:
    """Grant (mint and store) and take (check and use up) resume tokens."""

    def __init__(self, storage: Storage, clock: Clock, writes: Writes) -> None:
        self._storage = storage
        self._clock = clock
        self._writes = writes

    def grant(
        self, consultation_id: str, role: Role, principal: int
    ) -> tuple[ResumeGrant, asyncio.Task[bool]]:
        """A fresh token for one side (it replaces the last) and the write that stores it.

        The grant must not be sent unless the write succeeds: that side could not resume.
        """
        token = secrets.token_urlsafe(32)
        write = self._writes.start(
            self._storage.grant_resume_token(
                consultation_id, role, principal, secret_digest(token), now=self._clock()
            ),
            failure=f"could not store a resume token; this {role} cannot resume",
        )
        return ResumeGrant(consultation_id=consultation_id, token=token), write

    async def take(
        self, consultation_id: str, role: Role, principal: int, token_digest: str
    ) -> bool:
        """Use up the token if it is the one granted to this side (single use); a failure is no."""
        try:
            return await self._storage.take_resume_token(
                consultation_id, role, principal, token_digest
            )
        except StorageError:
            log.exception("could not check a resume token")
            return False
