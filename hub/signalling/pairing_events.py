"""What goes into the hub's pairing core (events) and what comes out (effects).

Plain frozen records, no behaviour: ``hub.signalling.pairing`` decides, the switchboard (the
shell) feeds it what happened on the sockets, timers and database, and carries out the effects
in order.
Connections are opaque integers the shell hands out; parties are known by their device id
(kiosk) or adviser id, and tenants by id. Nothing here is personal data but display names,
which travel only inside protocol messages (``accepted``, ``resumed``), never into a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from protocol.messages import Answer, AnyMessage, EndReason, IceCandidate, Offer, Role, SasCommit

ConnectionId = int

# Close codes (4000-4999 are ours to define; the kiosk and console react to them). Plain ints so
# the pure core can name them; those below 4000 are WebSocket's own (RFC 6455).
CLOSE_SHUTDOWN = 1001  # the hub stops (going away)
CLOSE_UNAUTHORIZED = 1008  # bad/missing hello, revoked (policy violation)
CLOSE_UNAVAILABLE = 1013  # the database failed at hello (try again later)
CLOSE_REPLACED = 4001  # the same device connected again (or the same adviser resumed elsewhere)
CLOSE_SILENT = 4002  # no frame for three heartbeat periods, or not reading what we send
CLOSE_LOGGED_OUT = 4003  # the adviser's session ended (logout, expiry, password change)

# The one answer to every refused resume, whatever the reason (nothing to learn from it).
RESUME_REFUSED = "no such consultation to resume"

Relayable = SasCommit | Offer | Answer | IceCandidate

# -- events -----------------------------------------------------------------


@dataclass(frozen=True)
class Connected:
    """A connection said a valid hello: a kiosk (``principal`` = device id) or an adviser."""

    conn: ConnectionId
    role: Role
    principal: int
    tenant_id: int
    name: str


@dataclass(frozen=True)
class Disconnected:
    """The connection is gone (closed, silent, not reading): a party in a call is now away."""

    conn: ConnectionId


@dataclass(frozen=True)
class Revoked:
    """The connection's device token or session is gone: it cannot resume, its call ends."""

    conn: ConnectionId


@dataclass(frozen=True)
class QueueRequested:
    """A kiosk's ``queue_request``; the shell mints ``consultation_id`` and reads ``now``."""

    conn: ConnectionId
    consultation_id: str
    now: float


@dataclass(frozen=True)
class QueueLeft:
    """A kiosk's ``queue_leave``."""

    conn: ConnectionId


@dataclass(frozen=True)
class ServiceChanged:
    """A kiosk's ``status``: ``out_of_service`` is its reason code, None when it is ready."""

    conn: ConnectionId
    out_of_service: str | None


@dataclass(frozen=True)
class AcceptRequested:
    """An adviser's ``accept``."""

    conn: ConnectionId
    consultation_id: str


@dataclass(frozen=True)
class RelayRequested:
    """A frame for the other party of the sender's consultation (SDP, candidate, commitment)."""

    conn: ConnectionId
    message: Relayable


@dataclass(frozen=True)
class EndRequested:
    """A party's ``end`` (of its call, or of its wait in the queue)."""

    conn: ConnectionId
    consultation_id: str
    reason: EndReason


@dataclass(frozen=True)
class ResumeRequested:
    """A party's ``resume``; the shell hashes the token (the core never sees it)."""

    conn: ConnectionId
    consultation_id: str
    token_digest: str


@dataclass(frozen=True)
class ResumeChecked:
    """The outcome of a ``TakeResumeToken``: ``valid`` when the token was used up for it."""

    conn: ConnectionId
    consultation_id: str
    valid: bool


@dataclass(frozen=True)
class GraceExpired:
    """A grace timer the core started fired (the shell owns the real timers)."""

    consultation_id: str
    role: Role


@dataclass(frozen=True)
class LiveRecord:
    """A consultation accepted and not ended, as the database knows it after a restart."""

    consultation_id: str
    tenant_id: int
    device_id: int
    kiosk_name: str
    adviser_id: int
    adviser_name: str


@dataclass(frozen=True)
class Restored:
    """After a (re)start: these consultations were live; each waits for its parties."""

    consultations: tuple[LiveRecord, ...]


@dataclass(frozen=True)
class Stopping:
    """The hub stops: live consultations stay in the database for the next start."""


Event = (
    Connected
    | Disconnected
    | Revoked
    | QueueRequested
    | QueueLeft
    | ServiceChanged
    | AcceptRequested
    | RelayRequested
    | EndRequested
    | ResumeRequested
    | ResumeChecked
    | GraceExpired
    | Restored
    | Stopping
)

# -- effects ----------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Queue ``message`` for connection ``conn`` (never waits on the receiver)."""

    conn: ConnectionId
    message: AnyMessage


@dataclass(frozen=True)
class Announce:
    """Queue a queue announcement for ``conn``, built from the core's state when it is sent."""

    conn: ConnectionId


@dataclass(frozen=True)
class Close:
    """Close ``conn`` with ``code``; the core no longer counts it (or its call) as its own."""

    conn: ConnectionId
    code: int
    reason: str


@dataclass(frozen=True)
class GrantResumeToken:
    """Mint a token for this side, store its digest, then send ``conn`` its ``resume_grant``.

    The grant goes out in this effect's place among the messages to ``conn``; if it cannot be
    stored, nothing is sent (that side cannot resume).
    """

    conn: ConnectionId
    consultation_id: str
    role: Role
    principal: int


@dataclass(frozen=True)
class TakeResumeToken:
    """Use up the stored token if it is this side's; answer with ``ResumeChecked``."""

    conn: ConnectionId
    consultation_id: str
    role: Role
    principal: int
    token_digest: str


@dataclass(frozen=True)
class StartGrace:
    """Start that side's grace timer; when it fires, feed ``GraceExpired`` back."""

    consultation_id: str
    role: Role


@dataclass(frozen=True)
class CancelGrace:
    """Cancel that side's running grace timer."""

    consultation_id: str
    role: Role


@dataclass(frozen=True)
class RecordQueued:
    """Write to the consultation log: the kiosk on ``conn`` joined the queue."""

    consultation_id: str
    conn: ConnectionId
    queued_at: float


@dataclass(frozen=True)
class RecordAccepted:
    """Write to the consultation log: the adviser on ``conn`` took the consultation."""

    consultation_id: str
    conn: ConnectionId


@dataclass(frozen=True)
class RecordEnded:
    """Write to the consultation log: it ended (left the queue, or its call ended)."""

    consultation_id: str
    reason: EndReason


@dataclass(frozen=True)
class CallStarted:
    """A live consultation exists (accepted, or restored): its parties may use the relay."""

    consultation_id: str
    tenant_id: int
    device_id: int
    adviser_id: int


# Why a live consultation ended: a party ended it (or was revoked), the away side started
# afresh instead of resuming, or the away side's grace ran out.
EndCause = Literal["ended", "gave_up", "grace"]


@dataclass(frozen=True)
class CallEnded:
    """A live consultation is over: tell the end listeners (the relay drops its blobs).

    ``role`` is the side that gave up or did not come back (None for ``ended``).
    """

    consultation_id: str
    reason: EndReason
    cause: EndCause
    role: Role | None = None


@dataclass(frozen=True)
class PartyAway:
    """A party's connection went; its grace period runs (for the log: role only)."""

    consultation_id: str
    role: Role


@dataclass(frozen=True)
class PartyBack:
    """A party resumed its consultation (for the log: role and tenant id only)."""

    consultation_id: str
    role: Role
    tenant_id: int


@dataclass(frozen=True)
class LateEnd:
    """An ``end`` for the consultation the connection was just in: the expected race, ignored."""

    conn: ConnectionId
    role: Role


Effect = (
    Send
    | Announce
    | Close
    | GrantResumeToken
    | TakeResumeToken
    | StartGrace
    | CancelGrace
    | RecordQueued
    | RecordAccepted
    | RecordEnded
    | CallStarted
    | CallEnded
    | PartyAway
    | PartyBack
    | LateEnd
)
