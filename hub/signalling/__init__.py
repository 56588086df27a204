"""The two signalling WebSockets (``/ws/kiosk``, ``/ws/adviser``): queue, pairing and relay.

A pure core decides (``pairing``: queue, accept, end, away and grace, resume; its events and
effects in ``pairing_events``, its state in ``pairing_state``); ``switchboard`` feeds it and
carries out what it decides; ``endpoints`` and ``hello`` are the aiohttp side; ``peers`` the
per-connection outboxes and writers; ``resume`` the tokens; ``writes`` the ordered database
writes; ``presence`` the online leases ``kiosk-hub adviser list`` reads; ``registry`` the
live consultations the relay asks about. docs/signalling.md has the call flow, the core's
events and effects and this layout.
"""

from hub.signalling.endpoints import ENDPOINTS, MAX_WS_MESSAGE, Endpoints
from hub.signalling.pairing_events import (
    CLOSE_LOGGED_OUT,
    CLOSE_REPLACED,
    CLOSE_SHUTDOWN,
    CLOSE_SILENT,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNAVAILABLE,
    RESUME_REFUSED,
)
from hub.signalling.pairing_state import ConsultationQueue, Waiting
from hub.signalling.peers import OUTGOING_MAX, QUEUE_ENTRIES_SENT, SEND_TIMEOUT_S, Peer
from hub.signalling.registry import ConsultationEndListener, LiveConsultations, Party
from hub.signalling.switchboard import SWITCHBOARD, Switchboard

__all__ = [
    "CLOSE_LOGGED_OUT",
    "CLOSE_REPLACED",
    "CLOSE_SHUTDOWN",
    "CLOSE_SILENT",
    "CLOSE_UNAUTHORIZED",
    "CLOSE_UNAVAILABLE",
    "ENDPOINTS",
    "MAX_WS_MESSAGE",
    "OUTGOING_MAX",
    "QUEUE_ENTRIES_SENT",
    "RESUME_REFUSED",
    "SEND_TIMEOUT_S",
    "SWITCHBOARD",
    "ConsultationEndListener",
    "ConsultationQueue",
    "Endpoints",
    "LiveConsultations",
    "Party",
    "Peer",
    "Switchboard",
    "Waiting",
]
