"""Who is online, in the database: a lease per console account (migration 8).

``kiosk-hub adviser list`` runs in a process of its own and cannot ask the switchboard, so the
hub renews an account's lease when its console signs in and at each re-check of its session
(every heartbeat period) to three heartbeat periods ahead, and clears it when the account's
last console closes; a crashed hub's leases simply run out. The writes are tasks started in
order (``hub.signalling.writes``): they never hold up a frame.
"""

from __future__ import annotations

from hub.auth import Clock
from hub.signalling.writes import Writes
from hub.storage import Governance

LEASE_HEARTBEATS = 3  # as long as a silent connection is kept (hub.signalling.endpoints)
PRESENCE_FAILED = "could not record whether a console is online"


class Presence:
    """Starts the lease writes of console accounts; ``Account.online`` reads them back."""

    def __init__(
        self, governance: Governance, clock: Clock, heartbeat_s: float, writes: Writes
    ) -> None:
        self._governance = governance
        self._clock = clock
        self._lease_s = LEASE_HEARTBEATS * heartbeat_s
        self._writes = writes

    def renew(self, adviser_id: int) -> None:
        """A console of the account signed in or its session was found live: online for now."""
        until = self._clock() + self._lease_s
        self._writes.start(self._governance.set_online(adviser_id, until), failure=PRESENCE_FAILED)

    def clear(self, adviser_id: int) -> None:
        """The account's last console closed: offline at once."""
        self._writes.start(self._governance.set_online(adviser_id, None), failure=PRESENCE_FAILED)
