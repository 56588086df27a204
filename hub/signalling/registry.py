"""The live consultations by id: who their parties are, and who hears of their end.

The switchboard keeps it up to date from the pairing core's ``CallStarted`` and ``CallEnded``;
the relay asks it who a caller is in a consultation and listens for ends (to drop blobs). A
party that is away still counts: it may use the relay while its grace period runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from protocol.messages import Role

log = logging.getLogger("hub.signalling")

ConsultationEndListener = Callable[[str], None]


@dataclass(frozen=True)
class Party:
    """Who a caller is in a live consultation (for the relay's access checks)."""

    role: Role
    tenant_id: int


@dataclass(frozen=True)
class _Live:
    tenant_id: int
    device_id: int
    adviser_id: int


class LiveConsultations:
    """Live consultations with their parties' ids; ``end_listeners`` hear every end."""

    def __init__(self) -> None:
        self._live: dict[str, _Live] = {}
        # told the id of every consultation that ends (the relay drops its blobs)
        self.end_listeners: list[ConsultationEndListener] = []

    def started(
        self, consultation_id: str, tenant_id: int, device_id: int, adviser_id: int
    ) -> None:
        """A consultation is live (accepted, or restored after a restart)."""
        self._live[consultation_id] = _Live(tenant_id, device_id, adviser_id)

    def ended(self, consultation_id: str) -> None:
        """A consultation ended: forget it and tell every listener."""
        self._live.pop(consultation_id, None)
        for listener in self.end_listeners:
            try:
                listener(consultation_id)
            except Exception:  # a listener's bug must not keep the call alive
                log.exception("a consultation end listener failed")

    def party(
        self, consultation_id: str, *, device_id: int | None = None, adviser_id: int | None = None
    ) -> Party | None:
        """The caller's side in that live consultation (present or away), or None."""
        live = self._live.get(consultation_id)
        if live is None:
            return None
        if device_id is not None and live.device_id == device_id:
            return Party("kiosk", live.tenant_id)
        if adviser_id is not None and live.adviser_id == adviser_id:
            return Party("adviser", live.tenant_id)
        return None

    def __len__(self) -> int:
        return len(self._live)
