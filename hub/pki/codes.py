"""One-time enrolment codes at the hub: made, stored as an HMAC, checked, burnt.

The code's secret is stored as HMAC-SHA256 under a key derived from the hub secret (not
argon2: enrolment must stay cheap, and the secret is 58.9 random bits, not a password). The
HMAC covers the id too, so a secret cannot be moved to another id. Five wrong secrets burn an id
(``MAX_FAILURES``); guessing across ids is throttled per source address by the EST endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

from hub.pki.secret import ENROL_CODE_INFO, HubSecret
from hub.storage import DEFAULT_TENANT, DuplicateName, EnrolmentCodeRecord, Storage
from provisioning.codes import EnrolmentCode

MAX_FAILURES = 5
DEFAULT_TTL_S = 3600.0
TTL_MAX_S = 30 * 86_400.0
_ID_ATTEMPTS = 8  # 810,000 ids: a clash is rare, eight in a row would mean a broken RNG


class CodeNotLive(Exception):
    """No live code with that id: unknown, expired, used or burnt (one answer for all)."""


class WrongSecret(Exception):
    """The code id is live but the secret is wrong (counted; five burn the id)."""


class CodeBook:
    """Makes and checks enrolment codes with the hub secret's code key."""

    def __init__(self, secret: HubSecret) -> None:
        self._key = secret.key(ENROL_CODE_INFO)

    def digest(self, code_id: str, code_secret: str) -> str:
        """HMAC-SHA256 hex of ``id:secret`` (what the database keeps)."""
        message = f"{code_id}:{code_secret}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    async def new(
        self,
        storage: Storage,
        device_name: str,
        *,
        tenant: str = DEFAULT_TENANT,
        now: float,
        ttl_s: float = DEFAULT_TTL_S,
    ) -> tuple[EnrolmentCode, EnrolmentCodeRecord]:
        """A fresh code for a device (registered pending if new); older unused codes die."""
        if not 0 < ttl_s <= TTL_MAX_S:
            raise ValueError("an enrolment code lives more than 0 s and at most 30 days")
        for _ in range(_ID_ATTEMPTS):
            code = EnrolmentCode.new()
            try:
                record = await storage.add_enrolment_code(
                    code.id,
                    device_name,
                    self.digest(code.id, code.secret),
                    tenant=tenant,
                    now=now,
                    expires_at=now + ttl_s,
                )
            except DuplicateName:
                continue  # the id is taken (by a live or an old code): draw another
            return code, record
        raise DuplicateName("could not find a free enrolment code id; try again")

    async def check(
        self, storage: Storage, code_id: str, code_secret: str, *, now: float
    ) -> EnrolmentCodeRecord:
        """The live code ``code_id`` if ``code_secret`` is its secret.

        Raises ``CodeNotLive`` (unknown, expired, used, burnt) or ``WrongSecret`` (counted).
        The attempt is counted before the secret is compared, so parallel guesses cannot all
        pass the limit; a right secret gives it back. The storage checks the code again when
        the enrolment is written.
        """
        record = await storage.take_enrolment_attempt(code_id, now=now, max_failures=MAX_FAILURES)
        if record is None:
            raise CodeNotLive(code_id)
        if not hmac.compare_digest(record.secret_hmac, self.digest(code_id, code_secret)):
            raise WrongSecret(code_id)
        await storage.give_back_enrolment_attempt(code_id)
        return replace(record, failures=record.failures - 1)


def is_live(record: EnrolmentCodeRecord, now: float) -> bool:
    """Not used, not expired, fewer than ``MAX_FAILURES`` wrong secrets or attempts in flight."""
    return record.used_at is None and now < record.expires_at and record.failures < MAX_FAILURES
