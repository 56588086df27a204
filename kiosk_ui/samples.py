"""Representative views of every screen, and a media feed with test pictures.

Used by ``kiosk screenshots``, the layout tests and the UI benchmark; the simulator in
``appliance.ui.bridge`` feeds the same kinds of content during a real call.
"""

from __future__ import annotations

from dataclasses import replace

from kiosk_ui import viewmodels as v
from kiosk_ui.documents import render_pdf
from kiosk_ui.sample_contract import sample_contract
from kiosk_ui.viewmodels import Screen

# a conversation reference as the hub makes them (hub.governance.references)
_REFERENCE = "7K3QD-9XH2M"
BARS = (
    (235, 235, 235),
    (235, 235, 16),
    (16, 235, 235),
    (16, 235, 16),
    (235, 16, 235),
    (235, 16, 16),
    (16, 16, 235),
)


def test_picture(width: int = 640, height: int = 480, shift: int = 0) -> bytes:
    """Colour bars (moved ``shift`` bars to the left) as RGB bytes, built row-wise."""
    bar = width // len(BARS)
    row = b"".join(bytes(BARS[(i + shift) % len(BARS)]) * bar for i in range(len(BARS)))
    row += bytes(BARS[-1]) * (width - bar * len(BARS))
    return row * height


class SampleFeed:
    """A ``MediaFeed`` with bars as remote video, a grey self view and a short stroke of ink."""

    def __init__(self, width: int = 640, height: int = 480) -> None:
        self.frames = [
            v.VideoFrame(width, height, test_picture(width, height, s), s) for s in range(7)
        ]
        self.me = v.VideoFrame(160, 120, bytes((90, 100, 110)) * 160 * 120, 0)
        self.screen = v.VideoFrame(1280, 720, _desktop(1280, 720), 0)
        self.current = 0
        self.strokes: list[tuple[tuple[float, float], ...]] = [
            tuple((0.1 + 0.08 * i, 0.5 + (0.15 if i % 2 else -0.15)) for i in range(10))
        ]
        self.seq = 1

    def remote_video(self) -> v.VideoFrame | None:
        """The current bars frame."""
        return self.frames[self.current % len(self.frames)]

    def screen_video(self) -> v.VideoFrame | None:
        """A plain "desktop" with a window on it."""
        return self.screen

    def self_view(self) -> v.VideoFrame | None:
        """A grey frame."""
        return self.me

    def ink(self) -> v.Ink:
        """The sample strokes."""
        return v.Ink(tuple(self.strokes), self.seq)


def _desktop(width: int, height: int) -> bytes:
    """A light grey screen with a white "window" in the middle, built row-wise."""
    grey, white = bytes((200, 205, 212)), bytes((255, 255, 255))
    left, right = width // 5, width - width // 5
    plain = grey * width
    window = grey * left + white * (right - left) + grey * (width - right)
    top, bottom = height // 6, height - height // 6
    return plain * top + window * (bottom - top) + plain * (height - bottom)


def sample_views(language: str) -> dict[str, v.KioskView]:
    """One view per screen (and per notable state of the call screen), named for the files."""
    base = v.KioskView(language=language)
    pages = render_pdf(sample_contract(), 700)
    chat = (
        v.ChatLine(
            False,
            "Guten Tag! Wie kann ich Ihnen helfen?"
            if language == "de"
            else "Hello! How can I help?",
        ),
        v.ChatLine(
            True,
            "Ich möchte ein Konto eröffnen."
            if language == "de"
            else "I would like to open an account.",
        ),
    )
    call = v.CallView(connected=True, verification_code="falcon marble otter violin")
    return {
        "attract": replace(base, screen=Screen.ATTRACT),
        "language": replace(base, screen=Screen.LANGUAGE),
        "consent": replace(base, screen=Screen.CONSENT),
        "intake": replace(base, screen=Screen.INTAKE),
        "intake-countdown": replace(base, screen=Screen.INTAKE, countdown=12),
        "waiting": replace(base, screen=Screen.WAITING, queue_position=2, estimated_wait_min=16),
        "call": replace(base, screen=Screen.CALL, call=call),
        "call-connecting": replace(base, screen=Screen.CALL, call=v.CallView()),
        "call-chat": replace(
            base, screen=Screen.CALL, call=replace(call, chat_open=True, chat=chat)
        ),
        "call-document-notice": replace(
            base,
            screen=Screen.CALL,
            call=replace(call, document_notice=True, document=v.DocumentView("Vertrag", pages)),
        ),
        "call-document": replace(
            base, screen=Screen.CALL, call=replace(call, document=v.DocumentView("Vertrag", pages))
        ),
        "call-scan-asked": _request(base, call, "scan", "asked"),
        "call-scan-running": _request(base, call, "scan", "scanning", progress=40),
        "call-scan-preview": _request(
            base, call, "scan", "confirming", previews=(pages[0], pages[1], pages[0], pages[1])
        ),
        "call-scan-sending": _request(base, call, "scan", "sending", progress=70),
        "call-scan-failed": _request(base, call, "scan", "failed"),
        "call-photo-asked": _request(base, call, "photo", "asked"),
        "call-photo-countdown": _request(base, call, "photo", "countdown", countdown=3),
        "call-photo-preview": _request(
            base,
            call,
            "photo",
            "confirming",
            previews=(v.Picture(320, 240, test_picture(320, 240, 3)),),
        ),
        "call-screen-share": replace(
            base, screen=Screen.CALL, call=replace(call, screen_share=True)
        ),
        "call-transfers": replace(
            base,
            screen=Screen.CALL,
            call=replace(
                call,
                document_notice=True,
                document=v.DocumentView("Vertrag", pages),
                transfers=(v.TransferView("in", 0.25), v.TransferView("out", 0.75)),
            ),
        ),
        "call-transfer-chat": replace(
            base,
            screen=Screen.CALL,
            call=replace(call, chat_open=True, chat=chat, transfers=(v.TransferView("out", 0.5),)),
        ),
        "call-document-unreadable": replace(
            base,
            screen=Screen.CALL,
            call=replace(call, document=v.DocumentView("x", (), unreadable=True)),
        ),
        "call-reconnecting": replace(
            base, screen=Screen.CALL, call=replace(call, reconnecting=True)
        ),
        "call-reconnecting-chat": replace(
            base, screen=Screen.CALL, call=replace(call, reconnecting=True, chat_open=True)
        ),
        **_signature(base, call, pages),
        "consent-countdown": replace(base, screen=Screen.CONSENT, countdown=15),
        "goodbye-wiping": replace(base, screen=Screen.GOODBYE, reference=_REFERENCE),
        "goodbye-unverified": replace(
            base, screen=Screen.GOODBYE, unverified=True, reference=_REFERENCE
        ),
        "goodbye": replace(
            base,
            screen=Screen.GOODBYE,
            wipe=v.WipeView(
                verified=True, files=7, bytes=2_457_600, method="crypto-erase + overwrite"
            ),
            reference=_REFERENCE,
        ),
        # the longest goodbye: the warning, the verified wipe and the reference
        "goodbye-unverified-wiped": replace(
            base,
            screen=Screen.GOODBYE,
            unverified=True,
            wipe=v.WipeView(verified=True, files=3, bytes=811_008, method="crypto-erase"),
            reference=_REFERENCE,
        ),
        # the hub never answered with a reference (it was unreachable): nothing to quote
        "goodbye-no-reference": replace(
            base,
            screen=Screen.GOODBYE,
            wipe=v.WipeView(verified=True, files=0, bytes=0, method="crypto-erase"),
        ),
        "reconnecting": replace(base, screen=Screen.RECONNECTING),
        "out_of_service": replace(base, screen=Screen.OUT_OF_SERVICE, problem="wipe failed"),
        "attract-large": replace(base, screen=Screen.ATTRACT, large_text=True),
        "intake-large": replace(base, screen=Screen.INTAKE, large_text=True),
        **_technician(base),
    }


def _signature(
    base: v.KioskView, call: v.CallView, pages: tuple[v.Picture, ...]
) -> dict[str, v.KioskView]:
    """The signature request's screens: reading, the consent, signing, sealing, outcomes."""
    focus = (0.55, 0.7, 0.92, 0.85)
    sig = v.SignatureView(
        page=pages[-1],
        title="Vertrag",
        id="sig-sample-1",
        state="signing",
        trustee_name="Treuhand Notariat Dr. Mustermann",
        focus=focus,
    )
    reading = replace(sig, state="reading")
    doc = v.DocumentView("Vertrag", pages, page=len(pages) - 1, signing=True)
    signing = replace(base, screen=Screen.SIGNATURE, signature=sig)
    on_call = replace(base, screen=Screen.CALL)
    return {
        "signature-reading": replace(on_call, signature=reading, call=replace(call, document=doc)),
        "signature-reading-zoomed": replace(
            on_call,
            signature=reading,
            call=replace(call, document=replace(doc, zoom=2.0, centre=(0.7, 0.8))),
        ),
        "signature-loading": replace(
            on_call,
            signature=reading,
            call=replace(call, document=v.DocumentView("Vertrag", loading=True, signing=True)),
        ),
        "signature": replace(signing, signature=replace(sig, consent=False, has_ink=True)),
        "signature-consent": signing,
        "signature-countdown": replace(signing, countdown=9),
        "signature-tablet-gone": replace(
            signing, signature=replace(sig, consent=False, message="tablet_gone")
        ),
        "signature-sealing": replace(
            on_call, call=call, signature=replace(sig, state="sealing", consent=False)
        ),
        "signature-done": replace(on_call, call=replace(call, signature_notice="done")),
        "signature-failed": replace(on_call, call=replace(call, signature_notice="failed")),
    }


def _technician(base: v.KioskView) -> dict[str, v.KioskView]:
    """The technician screen's steps (``appliance.session.technician``)."""
    key = " ".join(f"{i:x}" * 4 for i in range(16))
    ca = " ".join(f"{15 - i:x}{i:x}" * 2 for i in range(16))
    entry = v.TechnicianView(key_fingerprint=key)
    hub = "https://hub.example.org"
    views = {
        "technician": entry,
        "technician-error": replace(entry, notice=v.Notice("tech.error.code_wrong")),
        "technician-preset": replace(entry, preset=True, hub_url=hub, code_id="K7QX"),
        "technician-compare": replace(
            entry, step="compare", ca_fingerprint=ca, hub_url=hub, code_id="K7QX"
        ),
        "technician-enrolling": replace(entry, step="enrolling", hub_url=hub),
        "technician-starting": replace(entry, step="starting"),
        "technician-enrolled": replace(
            entry,
            step="enrolled",
            device_name="branch-7",
            tenant="Nordbank",
            selftest=(
                v.SelftestLine("camera", True, "640x480 @ 30 fps, picture OK"),
                v.SelftestLine("microphone", True, "48000 Hz, level -23 dBFS"),
                v.SelftestLine("scanner", False, "no answer within 30 s"),
            ),
        ),
        "technician-blocked": v.TechnicianView(
            step="blocked",
            notice=v.Notice(
                "tech.error.identity",
                detail="/var/lib/branch-kiosk/device.key is corrupt",
            ),
        ),
    }
    return {
        name: replace(
            base,
            screen=Screen.TECHNICIAN,
            fields=v.TECHNICIAN_FIELDS,
            technician=view,
        )
        for name, view in views.items()
    }


def _request(
    base: v.KioskView,
    call: v.CallView,
    kind: v.RequestKind,
    state: str,
    *,
    progress: int = 0,
    countdown: int | None = None,
    previews: tuple[v.Picture, ...] = (),
) -> v.KioskView:
    """The call screen with the adviser's request in ``state``."""
    request = v.RequestPanel("req-sample-1", kind, state, progress, countdown, previews)
    return replace(base, screen=Screen.CALL, call=replace(call, request=request))
