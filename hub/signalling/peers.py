"""Signed-in connections (``Peer``) and what they are sent: a bounded outbox, one writer each.

Sending never waits on the receiver: each peer has a bounded queue of outgoing frames drained by
its own writer task, so a peer that does not read delays nobody else (it is dropped when its
queue overflows or a write stalls). Queue announcements are coalesced: a peer that has one
pending gets the state as it is when the writer gets to it, never an older snapshot. A frame
that depends on a database write (``ended``, ``resume_grant``) waits in the outbox until that
write is done, so the database knows before the peer hears.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from hub.signalling.pairing_events import CLOSE_SILENT, ConnectionId
from hub.signalling.pairing_state import ConsultationQueue
from hub.storage import Adviser, Device, Tenant
from protocol.codec import MAX_FRAME_BYTES
from protocol.errors import ProtocolError
from protocol.messages import AnyMessage, Error, ErrorCode, Queue, QueueEntry, Role, encode

log = logging.getLogger("hub.signalling")

SEND_TIMEOUT_S = 5.0  # a peer that does not read for this long is dropped
OUTGOING_MAX = 64  # frames waiting for one peer's writer; beyond that the peer is dropped
# Advisers see at most the first QUEUE_ENTRIES_SENT waiting kiosks (the protocol would allow
# 1000, but 1000 long names do not fit in one 64 KiB frame); fewer if the frame would not fit.
QUEUE_ENTRIES_SENT = 200


class _Announce:
    """Placeholder in a peer's outgoing queue: send the queue state as it is by then."""


ANNOUNCE = _Announce()


@dataclass(frozen=True)
class After:
    """A frame in a peer's outgoing queue held back until a database write is done."""

    write: asyncio.Task[bool]  # True once written, False when it failed (already logged)
    text: str
    only_if_written: bool  # a resume grant is worthless unless its token was stored


Outgoing = str | _Announce | After


def _outgoing() -> asyncio.Queue[Outgoing]:
    return asyncio.Queue(OUTGOING_MAX)


@dataclass(eq=False)
class Peer:
    """One authenticated connection: a kiosk or an adviser console (``conn``: the core's id)."""

    ws: web.WebSocketResponse
    conn: ConnectionId
    role: Role
    name: str
    tenant: Tenant
    device: Device | None = None
    adviser: Adviser | None = None
    session_digest: str | None = None
    token_digest: str | None = None  # the kiosk's device token, hashed (to re-check it)
    cert_serial: str | None = None  # or its device certificate's serial (docs/enrolment.md)
    checked_at: float = 0.0  # when the device token or session was last found valid
    outgoing: asyncio.Queue[Outgoing] = field(default_factory=_outgoing)
    announce_pending: bool = False  # an ANNOUNCE is in ``outgoing``
    writer: asyncio.Task[None] | None = None
    dropped: bool = False  # closed by the hub for not reading

    @property
    def principal(self) -> int:
        """The id a resume token is bound to: the device (kiosk) or the adviser."""
        if self.device is not None:
            return self.device.id
        if self.adviser is not None:
            return self.adviser.id
        raise ValueError("a peer without a device or an adviser")  # cannot happen after hello


class Outboxes:
    """Every peer's outgoing frames and writer task; closes peers that do not read.

    ``announcement(peer)`` builds what a pending announcement stands for when it is sent (None:
    nothing any more); ``gone(peer)`` is told of a peer dropped here, before it is closed.
    """

    def __init__(
        self, announcement: Callable[[Peer], str | None], gone: Callable[[Peer], None]
    ) -> None:
        self._announcement = announcement
        self._gone = gone
        self._closing: set[asyncio.Task[bool]] = set()

    def send(self, peer: Peer, message: AnyMessage) -> None:
        """Queue one message for a peer (never waits)."""
        self.post(peer, encode(message))

    def send_after(
        self, peer: Peer, message: AnyMessage, write: asyncio.Task[bool], *, only_if_written: bool
    ) -> None:
        """Queue a message that goes once ``write`` is done (or never, if it failed and must)."""
        self.post(peer, After(write, encode(message), only_if_written))

    def error(self, peer: Peer, code: ErrorCode, text: str) -> None:
        """Queue a non-fatal error."""
        self.send(peer, Error(code=code, message=text[:500]))

    def announce(self, peer: Peer) -> None:
        """Queue an announcement unless one is pending (that one will show the newest state)."""
        if not peer.announce_pending:
            peer.announce_pending = True
            self.post(peer, ANNOUNCE)

    def post(self, peer: Peer, item: Outgoing) -> None:
        """Queue an item; a peer whose queue is full is dropped."""
        if peer.dropped:
            return
        try:
            peer.outgoing.put_nowait(item)
        except asyncio.QueueFull:
            self.drop(peer, "its outgoing queue overflowed")

    def drop(self, peer: Peer, why: str) -> None:
        """Close a peer that does not read what it is sent."""
        if peer.dropped:
            return
        peer.dropped = True
        log.info("closing a %s connection: %s", peer.role, why)
        self._gone(peer)
        self.close_later(peer.ws, CLOSE_SILENT, b"not reading")

    def start(self, peer: Peer) -> None:
        """Start the peer's writer."""
        peer.writer = asyncio.get_running_loop().create_task(self._write(peer))

    async def stop(self, peer: Peer) -> None:
        """Stop the peer's writer (what it had not sent is dropped)."""
        writer = peer.writer
        if writer is not None and not writer.done():
            writer.cancel()
            await asyncio.wait({writer})

    def close_later(self, ws: web.WebSocketResponse, code: int, reason: bytes) -> None:
        """Close a socket without waiting here for the peer's close frame."""
        # A peer that does not even take the close frame is cut off after SEND_TIMEOUT_S.
        task = asyncio.get_running_loop().create_task(
            asyncio.wait_for(ws.close(code=code, message=reason), SEND_TIMEOUT_S)
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        task.add_done_callback(_retrieve)

    async def closed(self) -> None:
        """Wait for the closes under way."""
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _write(self, peer: Peer) -> None:
        """The peer's writer: send its outgoing frames in order, one at a time."""
        try:
            await self._write_until_closed(peer)
        except Exception:  # a bug must not go unnoticed, nor take the hub down
            log.exception("the writer of a %s connection failed", peer.role)
            self.drop(peer, "its writer failed")

    async def _write_until_closed(self, peer: Peer) -> None:
        while not peer.dropped:
            item = await peer.outgoing.get()
            if isinstance(item, _Announce):
                peer.announce_pending = False
                try:
                    text = self._announcement(peer)
                except Exception:  # a bug must not stop the writer
                    log.exception("could not build a queue announcement")
                    continue
                if text is None:
                    continue
            elif isinstance(item, After):
                await asyncio.wait({item.write})  # the task logs its own failure
                if item.only_if_written and (item.write.cancelled() or not item.write.result()):
                    continue
                text = item.text
            else:
                text = item
            if peer.ws.closed:
                return
            try:
                # asyncio.timeout, not wait_for: in 3.11 wait_for can swallow the cancellation
                # that stop() relies on
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await peer.ws.send_str(text)
            except TimeoutError:
                self.drop(peer, f"a send took longer than {SEND_TIMEOUT_S:g} s")
                return
            except ConnectionError:
                return  # the peer is gone; its own loop cleans up


async def send_error(
    ws: web.WebSocketResponse, code: ErrorCode, text: str, *, fatal: bool = False
) -> None:
    """Send an error at once, bypassing any writer (before hello, or just before closing)."""
    if ws.closed:
        return
    frame = encode(Error(code=code, message=text[:500], fatal=fatal))
    try:
        await asyncio.wait_for(ws.send_str(frame), SEND_TIMEOUT_S)
    except (TimeoutError, ConnectionError):
        pass  # closing anyway


def queue_text(queue: ConsultationQueue, now: float) -> str:
    """The encoded ``queue`` message of a tenant, cut short to fit in one frame."""
    entries: list[QueueEntry] = []
    size = len(encode(Queue(entries=())).encode("utf-8"))
    for position, w in enumerate(queue.snapshot()[:QUEUE_ENTRIES_SENT], start=1):
        entry = QueueEntry(
            consultation_id=w.consultation_id,
            device=w.device,
            position=position,
            waiting_s=min(10_000_000, max(0, int(now - w.queued_at))),
        )
        size += 1 + len(_entry_json(entry).encode("utf-8"))  # with the separating comma
        if size > MAX_FRAME_BYTES:
            break
        entries.append(entry)
    while True:
        try:
            return encode(Queue(entries=tuple(entries)))
        except ProtocolError:  # cannot happen with the estimate above; never fail a send
            log.warning("queue message of %d entries did not encode", len(entries))
            if not entries:
                raise
            entries = entries[: len(entries) // 2]


def _entry_json(entry: QueueEntry) -> str:
    # the same compact form as protocol.codec.encode, for the frame size estimate
    return json.dumps(
        {
            "consultation_id": entry.consultation_id,
            "device": entry.device,
            "position": entry.position,
            "waiting_s": entry.waiting_s,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _retrieve(task: asyncio.Task[bool]) -> None:
    # a close that timed out or failed has nothing left to do; keep asyncio from complaining
    if not task.cancelled():
        task.exception()
