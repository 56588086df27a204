"""Signalling messages between kiosk, hub and adviser console (WebSocket, JSON text frames).

Every frame is ``{"v": 1, "type": "<name>", ...fields}``. The hub relays
``offer``, ``answer`` and ``ice_candidate`` between the two peers of a
consultation without reading them; media, chat and files never travel here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from protocol.codec import Registry, rule
from protocol.limits import *  # noqa: F403 - re-exported: users import them from here

SIGNALLING = Registry("signalling")


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Hello:
    """First frame of a connection: who is speaking, with credentials."""

    TYPE: ClassVar[str] = "hello"
    role: Role
    token: str | None = rule(
        default=None, max_len=256, description="kiosk device token", secret=True
    )
    csrf: str | None = rule(
        default=None, max_len=128, description="adviser CSRF token", secret=True
    )
    client: str | None = rule(default=None, max_len=64, description="software and version")
    certificate: str | None = rule(
        default=None,
        max_len=CERTIFICATE_B64_MAX,
        pattern=BASE64_PATTERN,
        description="kiosk: base64 DER of its device certificate (docs/enrolment.md)",
    )
    signature: str | None = rule(
        default=None,
        max_len=SIGNATURE_B64_MAX,
        pattern=BASE64_PATTERN,
        description="kiosk: base64 DER ECDSA signature over the hello payload and the nonce",
    )


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Challenge:
    """Hub -> kiosk, the first frame on ``/ws/kiosk``: the nonce the kiosk's hello signs."""

    TYPE: ClassVar[str] = "challenge"
    nonce: str = rule(pattern=NONCE_PATTERN, description="32 random bytes, base64url, no padding")


@dataclass(frozen=True, kw_only=True)
class IceServer:
    """A STUN or TURN server the peers should use."""

    urls: tuple[str, ...] = rule(max_items=8)
    username: str | None = rule(default=None, max_len=256)
    credential: str | None = rule(default=None, max_len=256)


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Welcome:
    """Hub's answer to a valid hello."""

    TYPE: ClassVar[str] = "welcome"
    role: Role
    name: str = rule(max_len=NAME_MAX, description="the authenticated device or adviser")
    tenant: str = rule(max_len=NAME_MAX)
    heartbeat_s: int = rule(minimum=1, maximum=300)
    ice_servers: tuple[IceServer, ...] = rule(max_items=8)
    ice_transport_policy: IcePolicy = rule(
        default="all", description="relay: both peers must use only TURN-relayed candidates"
    )
    max_file_bytes: int = rule(
        default=25 * 1024 * 1024,
        minimum=0,
        maximum=MAX_FILE_BYTES_LIMIT,
        description="the tenant's size limit for one exchanged file (plaintext bytes)",
    )
    grace_s: int = rule(
        default=60,
        minimum=1,
        maximum=3600,
        description="how long a consultation waits for a dropped peer to resume",
    )
    relay_token: str | None = rule(
        default=None,
        pattern=RELAY_TOKEN_PATTERN,
        secret=True,
        description="kiosk: its bearer credential for /api/relay while this connection lives",
    )
    trustee_cert: str | None = rule(
        default=None,
        max_len=TRUSTEE_CERT_B64_MAX,
        pattern=BASE64_PATTERN,
        description="kiosk: base64 DER of the tenant's trustee certificate (None: signing is off)",
    )
    trustee_name: str | None = rule(
        default=None,
        min_len=1,
        max_len=TRUSTEE_NAME_MAX,
        description="kiosk: the trustee's name as the customer is shown it",
    )
    tsa_url: str | None = rule(
        default=None,
        max_len=TSA_URL_MAX,
        pattern=TSA_URL_PATTERN,
        description="kiosk: the tenant's timestamp authority (PAdES B-T); None: off",
    )
    archive_cert: str | None = rule(
        default=None,
        max_len=TRUSTEE_CERT_B64_MAX,
        pattern=BASE64_PATTERN,
        description="kiosk: base64 DER of the tenant's archive certificate (docs/archive.md)",
    )
    archive_kinds: tuple[ArchiveKind, ...] = rule(
        default=(),
        max_items=2,
        description="kiosk: what it seals to the archive certificate and uploads; empty: nothing",
    )


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class QueueRequest:
    """Kiosk asks for a consultation; carries nothing about the customer."""

    TYPE: ClassVar[str] = "queue_request"


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class QueueLeave:
    """Kiosk leaves the queue (the customer cancelled)."""

    TYPE: ClassVar[str] = "queue_leave"


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class QueuePosition:
    """Hub tells a waiting kiosk where it stands."""

    TYPE: ClassVar[str] = "queue_position"
    consultation_id: str = rule(pattern=ID_PATTERN)
    position: int = rule(minimum=1, maximum=100_000)
    waiting: int = rule(minimum=1, maximum=100_000, description="kiosks waiting in total")


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class ConsultationReference:
    """Hub -> kiosk, once, right after the consultation is recorded as queued.

    The customer's handle for a data-subject request (docs/privacy.md): unguessable, not the
    internal id; the goodbye screen shows it.
    """

    TYPE: ClassVar[str] = "reference"
    consultation_id: str = rule(pattern=ID_PATTERN)
    # out of repr: it ties a person to a conversation, so no log line may carry it
    reference: str = rule(
        pattern=REFERENCE_PATTERN,
        secret=True,
        description="XXXXX-XXXXX, Crockford base32 (50 random bits)",
    )


@dataclass(frozen=True, kw_only=True)
class QueueEntry:
    """One waiting kiosk, as an adviser of the same tenant sees it."""

    consultation_id: str = rule(pattern=ID_PATTERN)
    device: str = rule(max_len=NAME_MAX)
    position: int = rule(minimum=1, maximum=100_000)
    waiting_s: int = rule(minimum=0, maximum=10_000_000)


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Queue:
    """Hub sends advisers the current queue of their tenant whenever it changes."""

    TYPE: ClassVar[str] = "queue"
    entries: tuple[QueueEntry, ...] = rule(max_items=1000)


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Accept:
    """Adviser takes a waiting kiosk."""

    TYPE: ClassVar[str] = "accept"
    consultation_id: str = rule(pattern=ID_PATTERN)


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Accepted:
    """Hub tells both sides they are paired; the kiosk then sends its offer."""

    TYPE: ClassVar[str] = "accepted"
    consultation_id: str = rule(pattern=ID_PATTERN)
    peer: str = rule(max_len=NAME_MAX, description="display name of the other side")


# Hex SHA-256 of the adviser's committed fingerprint and nonce (docs/verification.md).
COMMITMENT_PATTERN = r"[0-9a-f]{64}"


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class SasCommit:
    """The adviser commits to its DTLS fingerprint before the kiosk's offer travels.

    Relayed adviser -> kiosk only; the kiosk sends its offer only once it holds this.
    """

    TYPE: ClassVar[str] = "sas_commit"
    consultation_id: str = rule(pattern=ID_PATTERN)
    commitment: str = rule(
        pattern=COMMITMENT_PATTERN, description="hex SHA-256 over domain, fingerprint and nonce"
    )


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Offer:
    """SDP offer, relayed unchanged to the paired peer."""

    TYPE: ClassVar[str] = "offer"
    consultation_id: str = rule(pattern=ID_PATTERN)
    sdp: str = rule(max_len=SDP_MAX, min_len=1)


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Answer:
    """SDP answer, relayed unchanged to the paired peer."""

    TYPE: ClassVar[str] = "answer"
    consultation_id: str = rule(pattern=ID_PATTERN)
    sdp: str = rule(max_len=SDP_MAX, min_len=1)


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class IceCandidate:
    """A trickled ICE candidate; an empty ``candidate`` marks the end of candidates."""

    TYPE: ClassVar[str] = "ice_candidate"
    consultation_id: str = rule(pattern=ID_PATTERN)
    candidate: str = rule(max_len=1024)
    sdp_mid: str | None = rule(default=None, max_len=32)
    sdp_mline_index: int | None = rule(default=None, minimum=0, maximum=64)


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class End:
    """A peer ends its consultation."""

    TYPE: ClassVar[str] = "end"
    consultation_id: str = rule(pattern=ID_PATTERN)
    reason: EndReason


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Ended:
    """Hub tells a peer its consultation is over."""

    TYPE: ClassVar[str] = "ended"
    consultation_id: str = rule(pattern=ID_PATTERN)
    reason: EndReason


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Error:
    """Something the receiver sent was refused; the connection stays open unless said."""

    TYPE: ClassVar[str] = "error"
    code: ErrorCode
    message: str = rule(max_len=500)
    fatal: bool = rule(default=False)


ServiceState = Literal["ready", "out_of_service"]
ServiceReason = Literal["wipe_failed", "storage_unavailable"]


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Status:
    """Kiosk tells the hub whether it can serve customers (codes only, no free text)."""

    TYPE: ClassVar[str] = "status"
    state: ServiceState
    reason: ServiceReason | None = rule(default=None, description="why it is out of service")


ReportKind = Literal["selftest", "wipe"]
SelftestDevice = Literal["camera", "microphone", "speaker", "tablet", "scanner"]
BACKEND_PATTERN = r"[a-z0-9_.-]{1,32}"
# the wipe's steps as appliance.custody.wipe names them: "crypto-erase, 1 random pass, fsync"
WIPE_METHOD_PATTERN = r"[a-z0-9 ,-]{0,120}"


@dataclass(frozen=True, kw_only=True)
class SelftestCheck:
    """One fitted device's self-test outcome: which device, its backend, passed or not."""

    device: SelftestDevice
    backend: str = rule(pattern=BACKEND_PATTERN)
    ok: bool


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class DeviceReport:
    """Kiosk -> hub: its latest self-test (at connect) or a wipe (when it happens).

    Counts, sizes, durations and methods only: nothing about customers, files or sessions
    (docs/enrolment.md, "Reports and relay"). A self-test report carries ``checks`` and no
    wipe figures; a wipe report the figures and no ``checks``.
    """

    TYPE: ClassVar[str] = "device_report"
    kind: ReportKind
    ok: bool = rule(description="selftest: every check passed; wipe: the wipe verified")
    age_s: int = rule(
        default=0, minimum=0, maximum=10 * 365 * 86_400, description="seconds since it happened"
    )
    checks: tuple[SelftestCheck, ...] = rule(
        default=(), max_items=8, description="selftest: one per fitted device"
    )
    files: int = rule(default=0, minimum=0, maximum=10_000_000, description="wipe: files")
    size_bytes: int = rule(default=0, minimum=0, maximum=2**50, description="wipe: bytes")
    passes: int = rule(default=0, minimum=0, maximum=16, description="wipe: overwrite passes")
    method: str = rule(default="", pattern=WIPE_METHOD_PATTERN, description="wipe: its steps")
    duration_ms: int = rule(default=0, minimum=0, maximum=86_400_000, description="wipe")


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Heartbeat:
    """Keep-alive, both ways; the hub answers each with its own."""

    TYPE: ClassVar[str] = "heartbeat"
    ts: int = rule(minimum=0, description="sender's clock, ms since the epoch")


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class ResumeGrant:
    """Hub -> peer: the single-use token that lets this peer resume this consultation.

    Sent after ``accepted`` and after every successful ``resume`` (the used token is dead
    then). Bound to the consultation and to the device or adviser it was sent to; never logged.
    """

    TYPE: ClassVar[str] = "resume_grant"
    consultation_id: str = rule(pattern=ID_PATTERN)
    token: str = rule(pattern=RESUME_TOKEN_PATTERN, secret=True)


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Resume:
    """Peer -> hub, right after ``welcome`` on a new connection: put me back in my call."""

    TYPE: ClassVar[str] = "resume"
    consultation_id: str = rule(pattern=ID_PATTERN)
    token: str = rule(pattern=RESUME_TOKEN_PATTERN, secret=True)


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class Resumed:
    """Hub -> peer: the resume worked; ``peer_present`` says whether the other side is here.

    If it is, the kiosk makes a new offer at once; if not, both wait for ``peer_back``.
    """

    TYPE: ClassVar[str] = "resumed"
    consultation_id: str = rule(pattern=ID_PATTERN)
    peer: str = rule(max_len=NAME_MAX, description="display name of the other side")
    peer_present: bool


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class PeerAway:
    """Hub -> peer: the other side's connection dropped; the grace period runs."""

    TYPE: ClassVar[str] = "peer_away"
    consultation_id: str = rule(pattern=ID_PATTERN)


@SIGNALLING.register
@dataclass(frozen=True, kw_only=True)
class PeerBack:
    """Hub -> peer: the other side resumed; the kiosk makes a new offer."""

    TYPE: ClassVar[str] = "peer_back"
    consultation_id: str = rule(pattern=ID_PATTERN)


AnyMessage = (
    Hello
    | Challenge
    | Welcome
    | QueueRequest
    | QueueLeave
    | QueuePosition
    | ConsultationReference
    | Queue
    | Accept
    | Accepted
    | SasCommit
    | Offer
    | Answer
    | IceCandidate
    | End
    | Ended
    | Error
    | Heartbeat
    | Status
    | DeviceReport
    | ResumeGrant
    | Resume
    | Resumed
    | PeerAway
    | PeerBack
)


def decode(raw: str | bytes) -> AnyMessage:
    """Decode one signalling frame (typed errors from ``protocol.errors``)."""
    msg: AnyMessage = SIGNALLING.decode(raw)
    return msg


def encode(message: AnyMessage) -> str:
    """Encode one signalling message."""
    return SIGNALLING.encode(message)
