"""The journey's state records: per-screen timeouts and the immutable snapshot.

Split from ``appliance.session.journey`` (which decides) so the signature transitions
(``appliance.session.journey_signature``) can work on the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk_ui import viewmodels as v
from kiosk_ui.viewmodels import Screen


@dataclass(frozen=True)
class Timeouts:
    """Seconds of inactivity per screen before the session ends (None: no timeout)."""

    language: float = 60.0
    consent: float = 180.0
    intake: float = 180.0
    waiting: float = 900.0
    signature: float = 180.0
    goodbye: float = 20.0  # back to attract after the wipe was shown
    warning: float = 20.0  # the countdown shows this long before a timeout
    wipe_confirm: float = 60.0  # a wipe that does not report in time means out of service
    hub_out_of_service: float = 120.0  # hub unreachable this long: out of service

    def for_screen(self, screen: Screen) -> float | None:
        """The timeout of ``screen``."""
        return {
            Screen.LANGUAGE: self.language,
            Screen.CONSENT: self.consent,
            Screen.INTAKE: self.intake,
            Screen.WAITING: self.waiting,
            Screen.SIGNATURE: self.signature,
        }.get(screen)


PRE_QUEUE = (Screen.LANGUAGE, Screen.CONSENT, Screen.INTAKE)
IN_CALL = (Screen.CALL, Screen.SIGNATURE)
# a session with (or about to have) a consultation at the hub
AT_HUB = (Screen.WAITING, Screen.RECONNECTING, *IN_CALL)


@dataclass(frozen=True)
class JourneyState:
    """Snapshot of the journey (immutable; ``handle`` replaces it)."""

    screen: Screen = Screen.ATTRACT
    language: str = "de"
    large_text: bool = False
    deadline: float | None = None  # inactivity deadline of the current screen
    session: int = 0
    values: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    queue_position: int | None = None
    call: v.CallView = v.CallView()
    signature: v.SignatureView = v.SignatureView()
    awaiting_wipe: bool = False
    wipe: v.WipeView | None = None
    hub_up: bool = False
    hub_down_since: float | None = None
    resume: Screen | None = None  # where reconnecting returns to
    problem: str | None = None
    unverified: bool = False  # the last call ended because it could not be verified
    dismissed: str | None = None  # the failed request whose notice the customer closed
    # the hub's reference for this session's consultation; kept until the goodbye is over
    reference: str | None = field(default=None, repr=False)
