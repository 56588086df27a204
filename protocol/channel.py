"""Messages on the end-to-end data channel between kiosk and adviser browser.

These never pass through the hub: they travel inside the DTLS-protected SCTP
association of the peer connection. Same framing and validation as signalling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from protocol.codec import Registry, rule
from protocol.errors import InvalidValue

CHANNEL = Registry("data channel")

# Label of the RTCDataChannel the kiosk opens for these messages.
CHANNEL_LABEL = "consultation"
CHAT_MAX = 4000
INTAKE_FIELDS_MAX = 8
INTAKE_KEY_PATTERN = r"[a-z][a-z0-9_]{0,31}"
INTAKE_VALUE_MAX = 200
# A DTLS certificate fingerprint as SDP writes it (RFC 8122), SHA-256 only, upper-case hex.
FINGERPRINT_PATTERN = r"sha-256 [0-9A-F]{2}(?::[0-9A-F]{2}){31}"
NONCE_PATTERN = r"[0-9a-f]{64}"


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class Chat:
    """A chat line from one side to the other."""

    TYPE: ClassVar[str] = "chat"
    id: str = rule(pattern=r"[A-Za-z0-9_-]{1,64}", description="sender-chosen message id")
    text: str = rule(max_len=CHAT_MAX, min_len=1, secret=True)
    ts: int = rule(minimum=0, description="sender's clock, ms since the epoch")


@dataclass(frozen=True, kw_only=True)
class IntakeField:
    """One answer of the customer's intake form (``name``, ``topic``...)."""

    key: str = rule(pattern=INTAKE_KEY_PATTERN, description="the tenant's field key")
    value: str = rule(max_len=INTAKE_VALUE_MAX, description="what the customer typed", secret=True)


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class Intake:
    """The kiosk's intake form, sent once when the channel opens (never via the hub)."""

    TYPE: ClassVar[str] = "intake"
    fields: tuple[IntakeField, ...] = rule(max_items=INTAKE_FIELDS_MAX)


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class SasReveal:
    """Each side's own DTLS fingerprint, sent once when the channel opens.

    The adviser adds the nonce of its ``sas_commit``; the kiosk sends none
    (docs/verification.md).
    """

    TYPE: ClassVar[str] = "sas_reveal"
    fingerprint: str = rule(pattern=FINGERPRINT_PATTERN, description="the sender's own")
    nonce: str | None = rule(
        default=None, pattern=NONCE_PATTERN, description="the adviser's committed nonce, hex"
    )


# The device proof (docs/verification.md): standard base64 with its padding, a device
# certificate of at most 4 KiB and a DER ECDSA P-256 signature (at most 72 bytes; 80 allowed).
CERTIFICATE_B64_MAX = (4096 + 2) // 3 * 4
SIGNATURE_B64_MAX = (80 + 2) // 3 * 4


def _base64_pattern(max_chars: int) -> str:
    """Non-empty standard base64, padded, of at most ``max_chars`` characters."""
    return (
        rf"(?:[A-Za-z0-9+/]{{4}}){{0,{max_chars // 4 - 1}}}"
        r"(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)"
    )


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class DeviceProof:
    """Kiosk -> adviser, right after its ``sas_reveal`` (or ``resume_proof``): who it is.

    ``signature`` is the device key's ECDSA-SHA256 signature over
    ``provisioning.challenge.call_payload(consultation_id, fingerprint, commitment)``; the
    signed values travel with it, so the console can tell a proof made for another connection
    (a man in the middle, proven) from one that does not verify at all.
    """

    TYPE: ClassVar[str] = "device_proof"
    certificate: str = rule(
        max_len=CERTIFICATE_B64_MAX,
        pattern=_base64_pattern(CERTIFICATE_B64_MAX),
        description="base64 DER of the kiosk's device certificate (tenant CA issued)",
    )
    signature: str = rule(
        max_len=SIGNATURE_B64_MAX,
        pattern=_base64_pattern(SIGNATURE_B64_MAX),
        description="base64 DER ECDSA P-256 signature over the call payload",
    )
    fingerprint: str = rule(pattern=FINGERPRINT_PATTERN, description="the kiosk's own, as signed")
    commitment: str = rule(
        pattern=NONCE_PATTERN,
        description="as signed: the adviser's sas_commit; on a resumed connection the kiosk's "
        "resume_proof mac",
    )


# -- liveness and reconnection (docs/reconnection.md) ------------------------------------

HEX32_PATTERN = r"[0-9a-f]{64}"


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class Beat:
    """Both sides, every second: a path silent for 3 s is dead (long before ICE notices)."""

    TYPE: ClassVar[str] = "beat"
    ts: int = rule(minimum=0, description="sender's clock, ms since the epoch")


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class Continuity:
    """Kiosk -> adviser once, right after the adviser is verified: the session's secret.

    Known only to the two verified ends (it travels inside DTLS), it proves on every later
    peer connection of this consultation that the same two ends are talking (``resume_proof``).
    """

    TYPE: ClassVar[str] = "continuity"
    secret: str = rule(pattern=HEX32_PATTERN, description="32 random bytes, hex", secret=True)


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class ResumeProof:
    """On a resumed peer connection, instead of ``sas_reveal``: both sides send it.

    ``mac`` = HMAC-SHA256(secret, "branch-kiosk resume v1" | role | consultation_id |
    sender's fingerprint | receiver's fingerprint as the sender's stack negotiated it), hex.
    """

    TYPE: ClassVar[str] = "resume_proof"
    fingerprint: str = rule(pattern=FINGERPRINT_PATTERN, description="the sender's own")
    mac: str = rule(pattern=HEX32_PATTERN)


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class Bye:
    """The sender ends the call on purpose (its ``end`` also goes to the hub)."""

    TYPE: ClassVar[str] = "bye"


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class HistoryChat:
    """Kiosk -> adviser after a resume: one chat line of this session, for a reloaded console."""

    TYPE: ClassVar[str] = "history_chat"
    id: str = rule(pattern=r"[A-Za-z0-9_-]{1,64}")
    text: str = rule(max_len=CHAT_MAX, min_len=1, secret=True)
    ts: int = rule(minimum=0)
    author: Literal["kiosk", "adviser"]


# -- exchange of files, scans, photos, screen share (docs/exchange.md) ---------------------

TRANSFER_ID_PATTERN = r"[A-Za-z0-9_-]{8,64}"
FILE_NAME_MAX = 200
MIME_PATTERN = r"[a-z0-9][a-z0-9.+-]{0,63}/[a-z0-9][a-z0-9.+-]{0,63}"
SHA256_PATTERN = r"[0-9a-f]{64}"
# The hub's relay names a sealed blob like this (hub/relay.py).
BLOB_ID_PATTERN = r"[A-Za-z0-9_-]{16,64}"
# "signed": the PDF a signature request produced (its request_id is the request's id).
FilePurpose = Literal["file", "document", "scan", "photo", "signed"]
FileErrorCode = Literal[
    "too_large",
    "type_not_allowed",
    "hash_mismatch",
    "truncated",
    "out_of_order",
    "duplicate",
    "corrupt",
    "download_failed",
    "upload_failed",
    "storage_full",
    "busy",
]
CancelReason = Literal["cancelled", "session_ending", "failed"]


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class FileOffer:
    """Sender -> receiver: a file sealed with ``key`` now waits in the hub's relay as ``blob``.

    The hub holds only the sealed bytes; the key and the hash travel here, end to end. The
    receiver downloads, opens and checks every chunk, then the SHA-256 of the whole, the size
    and the type sniffed from the content, and answers ``file_done`` or ``file_error``.
    """

    TYPE: ClassVar[str] = "file_offer"
    id: str = rule(pattern=TRANSFER_ID_PATTERN, description="sender-chosen transfer id")
    name: str = rule(
        min_len=1, max_len=FILE_NAME_MAX, description="shown, never logged", secret=True
    )
    size: int = rule(minimum=0, maximum=1024 * 1024 * 1024)
    mime: str = rule(pattern=MIME_PATTERN, description="the sender's claim; receiver sniffs")
    sha256: str = rule(pattern=SHA256_PATTERN, description="of the plaintext, hex")
    purpose: FilePurpose
    request_id: str | None = rule(
        default=None,
        pattern=TRANSFER_ID_PATTERN,
        description="the scan, photo or signature request",
    )
    blob: str = rule(pattern=BLOB_ID_PATTERN)
    key: str = rule(
        pattern=HEX32_PATTERN, description="AES-256-GCM key of this file, hex", secret=True
    )


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class FileProgress:
    """Sender -> receiver while sealing and uploading, so both sides show progress."""

    TYPE: ClassVar[str] = "file_progress"
    id: str = rule(pattern=TRANSFER_ID_PATTERN)
    bytes: int = rule(minimum=0, maximum=1024 * 1024 * 1024)
    size: int = rule(minimum=0, maximum=1024 * 1024 * 1024)


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class FileCancel:
    """Either side stops a transfer; the receiver keeps nothing of it."""

    TYPE: ClassVar[str] = "file_cancel"
    id: str = rule(pattern=TRANSFER_ID_PATTERN)
    reason: CancelReason = rule(default="cancelled")


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class FileDone:
    """Receiver -> sender: stored and verified (the hash is the receiver's own)."""

    TYPE: ClassVar[str] = "file_done"
    id: str = rule(pattern=TRANSFER_ID_PATTERN)
    sha256: str = rule(pattern=SHA256_PATTERN)


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class FileError:
    """Receiver -> sender: refused; nothing of it was kept."""

    TYPE: ClassVar[str] = "file_error"
    id: str = rule(pattern=TRANSFER_ID_PATTERN)
    code: FileErrorCode


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class ScanRequest:
    """Adviser -> kiosk: please scan a document (the customer confirms before it is sent)."""

    TYPE: ClassVar[str] = "scan_request"
    id: str = rule(pattern=TRANSFER_ID_PATTERN)


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class PhotoRequest:
    """Adviser -> kiosk: please take a photo (countdown, preview, confirm or retake)."""

    TYPE: ClassVar[str] = "photo_request"
    id: str = rule(pattern=TRANSFER_ID_PATTERN)


RequestState = Literal[
    "asked",  # shown to the customer, waiting for them to start
    "scanning",  # the scanner runs (progress in percent)
    "countdown",  # the photo countdown runs
    "confirming",  # preview shown, the customer decides
    "sending",  # confirmed: sealing and uploading (a file_offer follows)
    "declined",  # the customer said no
    "failed",  # the device failed (code says why)
    "cancelled",  # the adviser cancelled, or the call ended
]


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class RequestStatus:
    """Kiosk -> adviser: where a scan or photo request stands."""

    TYPE: ClassVar[str] = "request_status"
    id: str = rule(pattern=TRANSFER_ID_PATTERN)
    kind: Literal["scan", "photo"]
    state: RequestState
    progress: int = rule(default=0, minimum=0, maximum=100, description="percent")
    pages: int = rule(default=0, minimum=0, maximum=100)
    code: str | None = rule(
        default=None, pattern=r"[a-z_]{1,32}", description="why it failed (a code)"
    )


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class RequestCancel:
    """Adviser -> kiosk: never mind that scan or photo."""

    TYPE: ClassVar[str] = "request_cancel"
    id: str = rule(pattern=TRANSFER_ID_PATTERN)


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class ScreenShare:
    """Adviser -> kiosk: the screen transceiver now carries (or stopped carrying) a screen."""

    TYPE: ClassVar[str] = "screen_share"
    active: bool


# -- signature at the kiosk (docs/signature.md) ----------------------------------------

SIGNATURE_FIELD_PATTERN = r"[A-Za-z0-9 ._-]{0,64}"
SIGNER_MAX = 100
PAGE_MAX = 9999
# PDF user space is at most 14 400 units a side (ISO 32000-1, Annex C).
BOX_MAX = 14400.0
SignatureState = Literal[
    "reading",  # the document is open for the customer
    "signing",  # the customer is on the signature screen (code "tablet_gone": pen away)
    "sealing",  # confirmed: building the signed PDF (a file_offer "signed" follows)
    "done",  # the signed PDF was offered
    "declined",  # the customer said no: nothing captured was kept
    "failed",  # code says why
    "cancelled",  # the adviser cancelled, or the call ended
]
SignatureErrorCode = Literal[
    "no_document",
    "document_changed",
    "encrypted_pdf",
    "malformed_pdf",
    "no_pages",
    "no_such_field",
    "field_signed",
    "box_outside_page",
    "busy",
    "no_trustee",
    "trustee_untrusted",
    "not_enrolled",
    "no_tablet",
    "tablet_gone",
    "timeout",
    "no_ink",
    "too_long",
    "signing_failed",
]


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class SignatureRequest:
    """Adviser -> kiosk: please have the customer sign this PDF of the call.

    Placement: ``field`` (a signature field of the PDF; "" = its first empty one), or
    ``page`` and ``box`` together, or neither (a box at the end of the last page).
    """

    TYPE: ClassVar[str] = "signature_request"
    id: str = rule(pattern=TRANSFER_ID_PATTERN, description="adviser-chosen request id")
    document: str = rule(
        pattern=TRANSFER_ID_PATTERN,
        description="transfer id of a PDF exchanged in this call (either direction)",
    )
    sha256: str = rule(pattern=SHA256_PATTERN, description="of the PDF bytes to sign, hex")
    field: str | None = rule(
        default=None,
        pattern=SIGNATURE_FIELD_PATTERN,
        description='a signature field\'s name; "" = the first empty one',
    )
    page: int | None = rule(default=None, minimum=0, maximum=PAGE_MAX, description="0-based")
    box: tuple[float, ...] | None = rule(
        default=None,
        min_items=4,
        max_items=4,
        description="x0 y0 x1 y1 in PDF points, origin bottom-left",
    )
    signer: str | None = rule(
        default=None,
        min_len=1,
        max_len=SIGNER_MAX,
        description="the name printed under the ink",
        secret=True,
    )

    def __post_init__(self) -> None:
        """Placement fields that contradict each other are invalid, whoever built them."""
        if self.field is not None and (self.box is not None or self.page is not None):
            raise InvalidValue("give a field or a page and box, not both", field="field")
        if (self.page is None) != (self.box is None):
            raise InvalidValue("page and box go together", field="box")
        if self.box is not None:
            if len(self.box) != 4:
                raise InvalidValue("box has four numbers: x0 y0 x1 y1", field="box")
            x0, y0, x1, y1 = self.box
            if not all(0.0 <= v <= BOX_MAX for v in self.box):
                raise InvalidValue(f"box values must be within 0..{BOX_MAX:g}", field="box")
            if not (x0 < x1 and y0 < y1):
                raise InvalidValue("box must have x0 < x1 and y0 < y1", field="box")


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class SignatureStatus:
    """Kiosk -> adviser: where a signature request stands ("failed" carries the code)."""

    TYPE: ClassVar[str] = "signature_status"
    id: str = rule(pattern=TRANSFER_ID_PATTERN)
    state: SignatureState
    code: SignatureErrorCode | None = None


@CHANNEL.register
@dataclass(frozen=True, kw_only=True)
class SignatureCancel:
    """Adviser -> kiosk: never mind that signature (nothing captured is kept)."""

    TYPE: ClassVar[str] = "signature_cancel"
    id: str = rule(pattern=TRANSFER_ID_PATTERN)


ChannelMessage = (
    Chat
    | Intake
    | SasReveal
    | DeviceProof
    | Beat
    | Continuity
    | ResumeProof
    | Bye
    | HistoryChat
    | FileOffer
    | FileProgress
    | FileCancel
    | FileDone
    | FileError
    | ScanRequest
    | PhotoRequest
    | RequestStatus
    | RequestCancel
    | ScreenShare
    | SignatureRequest
    | SignatureStatus
    | SignatureCancel
)


def decode(raw: str | bytes) -> ChannelMessage:
    """Decode one data-channel frame."""
    msg: ChannelMessage = CHANNEL.decode(raw)
    return msg


def encode(message: ChannelMessage) -> str:
    """Encode one data-channel message."""
    return CHANNEL.encode(message)
