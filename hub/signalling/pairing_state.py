"""The pairing core's state: connections, queues and live consultations, with read-only queries.

``hub.signalling.pairing.Pairing`` changes it (one event at a time); the shell reads it through
the queries, which return snapshots (``ConnectionState``, ``CallState``) or, for a tenant's
waiting line (``ConsultationQueue``, first come first served), the queue itself (tests fill it
directly). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from hub.signalling.pairing_events import Announce, CallStarted, ConnectionId, Effect, Send
from protocol.messages import AnyMessage, Error, ErrorCode, QueuePosition, Role

ROLES: tuple[Role, ...] = ("kiosk", "adviser")


def opposite(role: Role) -> Role:
    """The other side."""
    return "adviser" if role == "kiosk" else "kiosk"


@dataclass(frozen=True)
class Waiting:
    """A kiosk waiting for an adviser."""

    consultation_id: str
    device: str
    queued_at: float


class ConsultationQueue:
    """FIFO of waiting kiosks, keyed by consultation id."""

    def __init__(self) -> None:
        # dicts keep insertion order, which is exactly arrival order
        self._entries: dict[str, Waiting] = {}

    def add(self, entry: Waiting) -> int:
        """Append ``entry``; return its 1-based position. A duplicate id raises ``ValueError``."""
        if entry.consultation_id in self._entries:
            raise ValueError(f"consultation {entry.consultation_id} is already queued")
        self._entries[entry.consultation_id] = entry
        return len(self._entries)

    def remove(self, consultation_id: str) -> Waiting | None:
        """Take an entry out wherever it stands; None when it is not queued."""
        return self._entries.pop(consultation_id, None)

    def position(self, consultation_id: str) -> int | None:
        """1-based position of an entry, or None when it is not queued."""
        for index, key in enumerate(self._entries, start=1):
            if key == consultation_id:
                return index
        return None

    def snapshot(self) -> tuple[Waiting, ...]:
        """The entries in order, first to be served first."""
        return tuple(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, consultation_id: object) -> bool:
        return consultation_id in self._entries

    def __iter__(self) -> Iterator[Waiting]:
        return iter(self.snapshot())


@dataclass(frozen=True)
class ConnectionState:
    """What the core knows of one open connection (a snapshot)."""

    conn: ConnectionId
    role: Role
    principal: int  # device id (kiosk) or adviser id
    tenant_id: int
    name: str
    waiting: str | None  # consultation id while the kiosk is queued
    call: str | None  # consultation id while this connection is a party's present connection
    out_of_service: str | None  # the kiosk's reason code while it cannot serve
    last_ended: str | None  # the consultation this connection was in when it ended


@dataclass(frozen=True)
class CallState:
    """One live consultation (a snapshot); a side's connection is None while it is away."""

    consultation_id: str
    tenant_id: int
    device_id: int
    kiosk_name: str
    adviser_id: int
    adviser_name: str
    kiosk: ConnectionId | None
    adviser: ConnectionId | None
    grace: frozenset[Role]  # the sides whose grace timer runs


@dataclass(eq=False)
class Conn:
    """One open connection (mutable; only ``Pairing`` changes it)."""

    conn: ConnectionId
    role: Role
    principal: int
    tenant_id: int
    name: str
    waiting: str | None = None
    call: LiveCall | None = None
    out_of_service: str | None = None
    # Both sides send `end` (the console also says `bye` end to end, and the kiosk answers it
    # with its own), so whichever arrives second finds it over: the expected race.
    last_ended: str | None = None

    def snapshot(self) -> ConnectionState:
        """A frozen copy."""
        return ConnectionState(
            conn=self.conn,
            role=self.role,
            principal=self.principal,
            tenant_id=self.tenant_id,
            name=self.name,
            waiting=self.waiting,
            call=None if self.call is None else self.call.consultation_id,
            out_of_service=self.out_of_service,
            last_ended=self.last_ended,
        )


@dataclass(eq=False)
class LiveCall:
    """A kiosk and an adviser paired for one consultation (mutable; only ``Pairing`` changes it).

    The parties are known by id; ``kiosk`` and ``adviser`` are their present connections,
    None while that side is away.
    """

    consultation_id: str
    tenant_id: int
    device_id: int
    kiosk_name: str
    adviser_id: int
    adviser_name: str
    kiosk: Conn | None = None
    adviser: Conn | None = None
    grace: set[Role] = field(default_factory=set)

    def slot(self, role: Role) -> Conn | None:
        """The connection of that side, None while it is away."""
        return self.kiosk if role == "kiosk" else self.adviser

    def attach(self, role: Role, conn: Conn | None) -> None:
        """Put a connection into (or, with None, take it out of) that side."""
        if role == "kiosk":
            self.kiosk = conn
        else:
            self.adviser = conn

    def principal(self, role: Role) -> int:
        """The device id (kiosk) or adviser id of that side."""
        return self.device_id if role == "kiosk" else self.adviser_id

    def name(self, role: Role) -> str:
        """The display name of that side."""
        return self.kiosk_name if role == "kiosk" else self.adviser_name

    def snapshot(self) -> CallState:
        """A frozen copy."""
        return CallState(
            consultation_id=self.consultation_id,
            tenant_id=self.tenant_id,
            device_id=self.device_id,
            kiosk_name=self.kiosk_name,
            adviser_id=self.adviser_id,
            adviser_name=self.adviser_name,
            kiosk=None if self.kiosk is None else self.kiosk.conn,
            adviser=None if self.adviser is None else self.adviser.conn,
            grace=frozenset(self.grace),
        )


@dataclass
class Outcome:
    """Effects decided while one event is handled; queue announcements are added last."""

    effects: list[Effect] = field(default_factory=list)
    tenants: dict[int, None] = field(default_factory=dict)  # an ordered set

    def send(self, conn: Conn, message: AnyMessage) -> None:
        """A message for that connection."""
        self.effects.append(Send(conn.conn, message))

    def error(self, conn: Conn, code: ErrorCode, text: str) -> None:
        """A non-fatal error for that connection."""
        self.effects.append(Send(conn.conn, Error(code=code, message=text)))


class PairingState:
    """Connections, queues and live consultations of every tenant, indexed for the rules."""

    def __init__(self) -> None:
        self.conns: dict[ConnectionId, Conn] = {}
        self.kiosks: dict[int, Conn] = {}  # device id -> its current connection
        self.queues: dict[int, ConsultationQueue] = {}
        self.waiting: dict[str, Conn] = {}  # consultation id -> the waiting kiosk
        self.calls: dict[str, LiveCall] = {}
        # live consultations by party: an away adviser is still busy, an away kiosk not free
        self.device_calls: dict[int, LiveCall] = {}
        self.adviser_calls: dict[int, LiveCall] = {}
        self.stopping = False

    def queue(self, tenant_id: int) -> ConsultationQueue:
        """A tenant's queue (made on first use)."""
        return self.queues.setdefault(tenant_id, ConsultationQueue())

    def register(self, call: LiveCall) -> CallStarted:
        """Index a live consultation by id and by party."""
        self.calls[call.consultation_id] = call
        self.device_calls[call.device_id] = call
        self.adviser_calls[call.adviser_id] = call
        return CallStarted(call.consultation_id, call.tenant_id, call.device_id, call.adviser_id)

    def unregister(self, call: LiveCall) -> None:
        """Forget a consultation that ended (idempotent)."""
        if self.calls.get(call.consultation_id) is call:
            del self.calls[call.consultation_id]
        if self.device_calls.get(call.device_id) is call:
            del self.device_calls[call.device_id]
        if self.adviser_calls.get(call.adviser_id) is call:
            del self.adviser_calls[call.adviser_id]

    def announcements(self, tenant_id: int) -> list[Effect]:
        """Every waiting kiosk of the tenant (its position) and every adviser (the queue)."""
        effects: list[Effect] = []
        for entry in self.queue(tenant_id).snapshot():
            kiosk = self.waiting.get(entry.consultation_id)
            if kiosk is not None:
                effects.append(Announce(kiosk.conn))
        for conn in self.conns.values():
            if conn.role == "adviser" and conn.tenant_id == tenant_id:
                effects.append(Announce(conn.conn))
        return effects

    # -- queries (snapshots) ----------------------------------------------------

    def connection(self, conn: ConnectionId) -> ConnectionState | None:
        """What the core knows of an open connection; None once it closed (or never opened)."""
        c = self.conns.get(conn)
        return None if c is None else c.snapshot()

    def open_connections(self) -> tuple[ConnectionId, ...]:
        """Every connection the core holds open, in the order they said hello."""
        return tuple(self.conns)

    def call(self, consultation_id: str) -> CallState | None:
        """A live consultation, or None."""
        c = self.calls.get(consultation_id)
        return None if c is None else c.snapshot()

    def live(self) -> tuple[str, ...]:
        """The ids of every live consultation."""
        return tuple(self.calls)

    def queue_of(self, tenant_id: int) -> ConsultationQueue:
        """A tenant's queue (the shell builds announcements from it; tests fill it directly)."""
        return self.queue(tenant_id)

    def position(self, conn: ConnectionId) -> QueuePosition | None:
        """A waiting kiosk's ``queue_position`` as of now; None when it is not waiting."""
        c = self.conns.get(conn)
        if c is None or c.waiting is None:
            return None
        queue = self.queue(c.tenant_id)
        position = queue.position(c.waiting)
        if position is None:
            return None
        return QueuePosition(consultation_id=c.waiting, position=position, waiting=len(queue))

    def counts(self) -> dict[str, int]:
        """Open kiosks and advisers, waiting kiosks, live calls and running grace timers."""
        return {
            "kiosks": sum(1 for c in self.conns.values() if c.role == "kiosk"),
            "advisers": sum(1 for c in self.conns.values() if c.role == "adviser"),
            "waiting": len(self.waiting),
            "calls": len(self.calls),
            "away": sum(len(call.grace) for call in self.calls.values()),
        }
