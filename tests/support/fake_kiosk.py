"""One fake ``KioskControl`` for the tests of what sits in front of the kiosk.

The UI bridge, the exchange display, the simulated customer and the code announcer all take a
``KioskControl`` (appliance/runner/control.py); ``FakeKiosk`` is one that records what it is
asked and shows what the test sets. Its consultation machine is the real one: drive it
(``kiosk.consultation.handle(...)``) for phase, queue position and consultation id, or pin one
of them (``show_phase``, ``show_consultation``) when the way there does not matter.
``ManualScheduler`` is a ``Scheduler`` whose time moves only when the test says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import av

from appliance.custody.vault import SessionVault
from appliance.runner.reporting import KioskObserver
from appliance.session.consultation import Consultation, ConsultationState, Phase
from appliance.signing.state import InkSource, SignatureDecisions


class RecordingDecisions:
    """A ``CustomerDecisions`` that writes down what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def start(self, request_id: str) -> None:
        """Record a start."""
        self.calls.append(("start", request_id))

    def confirm(self, request_id: str) -> None:
        """Record a confirmation."""
        self.calls.append(("confirm", request_id))

    def retake(self, request_id: str) -> None:
        """Record a retake."""
        self.calls.append(("retake", request_id))

    def decline(self, request_id: str) -> None:
        """Record a decline."""
        self.calls.append(("decline", request_id))


class FakeKiosk:
    """A ``KioskControl`` that records what it is asked; the test sets what it shows."""

    def __init__(self, vault: SessionVault | None = None) -> None:
        self.consultation = Consultation()
        self.verification_code: str | None = None
        self.last_call_unverified = False
        self.service_problem: str | None = None
        self.latest_local_frame: av.VideoFrame | None = None
        self.exchange: RecordingDecisions | None = RecordingDecisions()
        self.signature: SignatureDecisions | None = None  # the test sets a desk or a recorder
        self.signature_ink: InkSource | None = None
        self.observers: list[KioskObserver] = []
        self.calls: list[str] = []  # what was asked, in order (no content)
        self.chats: list[str] = []  # the chat lines sent
        self.intakes: list[tuple[tuple[str, str], ...]] = []
        self._vault = vault

    @property
    def phase(self) -> Phase:
        """The machine's phase."""
        return self.consultation.phase

    @property
    def consultation_state(self) -> ConsultationState:
        """The machine's state."""
        return self.consultation.state

    @property
    def vault(self) -> SessionVault:
        """The vault the test gave, else the real kiosk's error without custody."""
        if self._vault is None:
            raise RuntimeError("this kiosk was built without session custody")
        return self._vault

    def show_phase(self, phase: Phase) -> None:
        """Pin the machine's phase, without the events that would lead there."""
        self.consultation.state = replace(self.consultation.state, phase=phase)

    def show_consultation(self, consultation_id: str | None) -> None:
        """Pin the machine's consultation id, without the events that would lead there."""
        self.consultation.state = replace(self.consultation.state, consultation_id=consultation_id)

    def add_observer(self, observer: KioskObserver) -> None:
        """Keep the observer (the test calls it)."""
        self.observers.append(observer)

    def request_consultation(self) -> None:
        """Record a queue request."""
        self.calls.append("queue")

    def leave_queue(self) -> None:
        """Record leaving the queue."""
        self.calls.append("leave")

    def end_session(self, trigger: str) -> None:
        """Record the session's end and its trigger."""
        self.calls.append(f"end:{trigger}")

    def send_chat(self, text: str) -> None:
        """Record a chat line."""
        self.calls.append("chat")
        self.chats.append(text)

    def send_intake(self, values: tuple[tuple[str, str], ...]) -> None:
        """Record the intake form."""
        self.intakes.append(values)

    def set_muted(self, muted: bool) -> None:
        """Record the microphone switch."""
        self.calls.append(f"muted:{muted}")

    def set_camera_off(self, off: bool) -> None:
        """Record the camera switch."""
        self.calls.append(f"camera_off:{off}")


@dataclass
class _Pending:
    due: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualScheduler:
    """A ``Scheduler`` on a clock the test advances (``advance``); nothing runs by itself."""

    def __init__(self) -> None:
        self.now = 0.0
        self._pending: list[_Pending] = []

    def __call__(self) -> float:
        """The scheduler's clock, for collaborators that also take one."""
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Pending:
        """Run ``callback`` once the clock has moved ``delay`` on."""
        pending = _Pending(self.now + delay, callback)
        self._pending.append(pending)
        return pending

    @property
    def waiting(self) -> int:
        """How many callbacks are still due."""
        return sum(1 for p in self._pending if not p.cancelled)

    def advance(self, seconds: float) -> None:
        """Move the clock on, running what falls due in order."""
        until = self.now + seconds
        while True:
            due = [p for p in self._pending if not p.cancelled and p.due <= until]
            if not due:
                break
            first = min(due, key=lambda p: p.due)
            self._pending.remove(first)
            self.now = first.due
            first.callback()
        self.now = until
