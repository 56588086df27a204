"""Custody of session content: opens a vault per consultation and wipes it when it ends.

The kiosk runner (``appliance.runner.kiosk``) asks :class:`SessionCustody` three things:

- ``await startup()`` before it queues: prepare the location, wipe crash leftovers;
- ``vault`` / ``open_session(consultation_id)`` while a customer is served;
- ``await end_session(trigger)`` on every way a consultation ends.

A wipe that fails is retried; if it still fails, custody is *out of service*: ``ready`` is
False and ``out_of_service`` says why, and the kiosk must not queue for the next customer
until ``await repair()`` succeeds. Listeners registered with ``on_wiped`` clear what is held in
memory elsewhere (form fields, chat, names shown by the UI).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from pathlib import Path

from appliance.config.vault import VaultSettings
from appliance.custody.mount import (
    LinuxMounter,
    LocationKind,
    Mounter,
    VaultLocation,
    VaultLocationError,
    prepare_location,
)
from appliance.custody.vault import SessionVault
from appliance.custody.wipe import (
    SessionReferences,
    WipeError,
    WipeReport,
    WipeTrigger,
    used_bytes,
    wipe_location,
)

log = logging.getLogger(__name__)

RETRIES = 3
RETRY_DELAY_S = 0.2


class SessionCustody:
    """The vault of the consultation in progress, and the wipes between consultations."""

    def __init__(
        self,
        settings: VaultSettings,
        *,
        production: bool,
        mounter: Mounter | None = None,
        privileged: bool | None = None,
        retries: int = RETRIES,
        retry_delay_s: float = RETRY_DELAY_S,
        readback: bool = False,
        usage: Callable[[Path], int] | None = None,
    ) -> None:
        self.settings = settings
        self._production = production
        self._mounter = mounter if mounter is not None else LinuxMounter()
        self._privileged = privileged
        self._retries = max(1, retries)
        self._retry_delay_s = retry_delay_s
        self._readback = readback
        self._usage = usage
        self._references = SessionReferences()
        self._location: VaultLocation | None = None
        self._baseline: int | None = None
        self._vault: SessionVault | None = None
        self._session_ref: str | None = None
        self._pending_trigger: WipeTrigger | None = None
        self._listeners: list[Callable[[WipeReport], None]] = []
        self._lock = asyncio.Lock()
        self.out_of_service: str | None = "the session storage has not been wiped yet"
        self.reports: list[WipeReport] = []

    # -- state ---------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True when the storage is clean and the next customer may be served."""
        return self.out_of_service is None

    @property
    def location(self) -> VaultLocation | None:
        """The prepared location (after ``startup``)."""
        return self._location

    @property
    def in_session(self) -> bool:
        """True while a vault is open."""
        return self._vault is not None

    def on_wiped(self, listener: Callable[[WipeReport], None]) -> None:
        """Call ``listener(report)`` after every successful wipe (the UI drops what it shows)."""
        self._listeners.append(listener)

    # -- life cycle -------------------------------------------------------------

    async def startup(self) -> WipeReport | None:
        """Prepare the location and wipe leftovers of a crash; never raises for a bad wipe."""
        try:
            self._location = await asyncio.to_thread(
                prepare_location,
                self.settings.path,
                self.settings.size_bytes,
                production=self._production,
                mounter=self._mounter,
                privileged=self._privileged,
            )
        except VaultLocationError as exc:
            self._fail(str(exc))
            return None
        return await self._wipe("startup")

    @property
    def vault(self) -> SessionVault:
        """The current session's vault, opened on first use (e.g. an intake form in the queue).

        Raises :class:`VaultUnavailable` while out of service.
        """
        if self._vault is None:
            self.open_session(None)
        assert self._vault is not None  # noqa: S101 - open_session set it or raised
        return self._vault

    def open_session(self, consultation_id: str | None) -> SessionVault:
        """Bind the session to ``consultation_id`` (an adviser accepted), opening a vault."""
        if consultation_id is not None:
            self._session_ref = self._references.reference(consultation_id)
        if self._vault is not None:
            return self._vault
        if self._location is None or not self.ready:
            raise VaultUnavailable(self.out_of_service or "the session storage is not ready")
        if self._session_ref is None:
            # Content before an adviser accepted (intake in the queue): a local reference.
            self._session_ref = self._references.reference("local:" + secrets.token_hex(8))
        self._vault = SessionVault(
            self._location.path,
            max_file_bytes=self.settings.max_file_bytes,
            max_session_bytes=self.settings.max_session_bytes,
        )
        return self._vault

    def mark_ending(self, trigger: WipeTrigger) -> None:
        """Remember why the session is ending (e.g. ``inactivity``) for the next report."""
        self._pending_trigger = trigger

    async def end_session(self, trigger: WipeTrigger) -> WipeReport | None:
        """Wipe after a session (retries; goes out of service if it cannot)."""
        trigger = self._pending_trigger or trigger
        self._pending_trigger = None
        return await self._wipe(trigger)

    async def repair(self) -> WipeReport | None:
        """Try again after a failure: prepare the location if needed and wipe."""
        if self._location is None:
            return await self.startup()
        return await self._wipe("startup")

    async def close(self) -> WipeReport | None:
        """At process end: wipe what is there and forget the reference key."""
        report = await self._wipe("shutdown") if self._location is not None else None
        self._references.forget()
        return report

    # -- internals --------------------------------------------------------------

    async def _wipe(self, trigger: WipeTrigger) -> WipeReport | None:
        async with self._lock:
            location = self._location
            if location is None:
                return None
            vault, self._vault = self._vault, None
            ref, self._session_ref = self._session_ref, None
            cause = ""
            for attempt in range(1, self._retries + 1):
                try:
                    report = await asyncio.to_thread(
                        wipe_location,
                        location,
                        mounter=self._mounter,
                        passes=self.settings.overwrite_passes,
                        vault=vault,
                        trigger=trigger,
                        session_ref=ref,
                        baseline_used=self._baseline,
                        readback=self._readback,
                        usage=self._usage,
                    )
                except WipeError as exc:
                    cause = str(exc)
                    log.error("session wipe attempt %d/%d: %s", attempt, self._retries, cause)
                    vault = None  # destroyed by the first attempt; its key is gone
                    if attempt < self._retries:
                        await asyncio.sleep(self._retry_delay_s)
                    continue
                if location.kind is LocationKind.MOUNTED and self._baseline is None:
                    self._baseline = await asyncio.to_thread(used_bytes, location.path)
                self.out_of_service = None
                self.reports.append(report)
                log.info("session wiped: %s", report.to_json())
                for listener in self._listeners:
                    listener(report)
                return report
            self._fail(cause)
            return None

    def _fail(self, cause: str) -> None:
        self.out_of_service = cause
        log.error("OUT OF SERVICE: session storage not clean (%s); not serving customers", cause)


class VaultUnavailable(Exception):
    """No vault can be opened: the storage is not ready or the kiosk is out of service."""
