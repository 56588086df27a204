"""What a front end may read of the kiosk and ask of it: the ``KioskControl`` port.

The touch UI's bridge (``appliance.ui.bridge``), the simulated customer and the code announcer
depend on this, not on ``Kiosk``, so each can be tested against one fake
(tests/support/fake_kiosk.py). Everything here is called on the kiosk's event loop.
"""

from __future__ import annotations

from typing import Protocol

import av

from appliance.custody.vault import SessionVault
from appliance.custody.wipe import WipeTrigger
from appliance.exchange.state import CustomerDecisions
from appliance.runner.reporting import KioskObserver
from appliance.session.consultation import ConsultationState, Phase
from appliance.signing.state import InkSource, SignatureDecisions


class KioskControl(Protocol):
    """The kiosk as its front ends see it (``Kiosk`` is the real one)."""

    @property
    def phase(self) -> Phase:
        """Where the kiosk stands (``queueing``, ``in_call``...)."""

    @property
    def consultation_state(self) -> ConsultationState:
        """The consultation machine's state (queue position, consultation id...)."""

    @property
    def verification_code(self) -> str | None:
        """The four words once the adviser is verified; None before, and while reconnecting."""

    @property
    def last_call_unverified(self) -> bool:
        """Whether the latest call ended because the adviser could not be verified."""

    @property
    def service_problem(self) -> str | None:
        """Why the kiosk cannot serve customers (a wipe failed), else None."""

    @property
    def latest_local_frame(self) -> av.VideoFrame | None:
        """The camera picture the call sends (the self view)."""

    @property
    def exchange(self) -> CustomerDecisions | None:
        """Where the customer's answers to scan and photo requests go, during a consultation."""

    @property
    def signature(self) -> SignatureDecisions | None:
        """Where the customer's answers to a signature request go (the consultation's desk)."""

    @property
    def signature_ink(self) -> InkSource | None:
        """The live ink of the signature screen (the UI thread pulls it), during a consultation."""

    @property
    def vault(self) -> SessionVault:
        """The session's vault; ``RuntimeError`` for a kiosk without session custody."""

    def add_observer(self, observer: KioskObserver) -> None:
        """Tell ``observer`` about the kiosk's changes, video and chat from now on."""

    def request_consultation(self) -> None:
        """The customer wants an adviser."""

    def leave_queue(self) -> None:
        """The customer no longer waits."""

    def end_session(self, trigger: WipeTrigger) -> None:
        """End the customer's session (a call hangs up); its content is wiped."""

    def send_chat(self, text: str) -> object:
        """Send the customer's chat line; ``CallError`` without a verified call."""

    def send_intake(self, values: tuple[tuple[str, str], ...]) -> None:
        """Send the intake form to the verified adviser; ``CallError`` without one."""

    def set_muted(self, muted: bool) -> None:
        """Mute or unmute the microphone."""

    def set_camera_off(self, off: bool) -> None:
        """Turn the camera off or on."""
