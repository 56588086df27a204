"""The technician's enrolment on the touchscreen, as a pure state machine (no I/O, no clock).

``Technician.handle(event, now)`` takes a UI intent (``kiosk_ui.viewmodels``) or a shell event
(``appliance.session.technician_events``) and returns the effects the shell must carry out;
``Technician.view(base)`` is what the screen shows (``Screen.TECHNICIAN``).

    entry --check the hub--> checking --CA fetched--> compare --it matches--> enrolling
      ^                        | failed                 | does not match         | failed
      +------------------------+------------------------+------------------------+
    enrolling --enrolled--> selftest --done--> enrolled --start (or 2 min, all passed)--> started
    blocked: the identity directory cannot be used (check again -> entry)

The code's secret leaves the kiosk only in ``Enrol``, and ``Enrol`` is only ever returned
with the fingerprint of a CA the hub sent for this attempt that the technician confirmed (or
that equals the enrolment URI's): a wrong hub learns nothing of the code. Results carry the
attempt they answer, so a late answer to an abandoned attempt changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlsplit

from appliance.session.technician_events import (
    AlreadyEnrolled,
    CaFetched,
    CertificateRefused,
    CheckIdentity,
    Effect,
    Enrol,
    Enrolled,
    Event,
    Failed,
    FetchCa,
    IdentityBroken,
    KeyReady,
    RunSelftest,
    SelftestDone,
    StartService,
    Tick,
)
from kiosk_ui import viewmodels as v
from kiosk_ui.viewmodels import Notice, Screen
from provisioning import est_client as est
from provisioning import profile
from provisioning.challenge import BadChallenge, canonical_origin
from provisioning.codes import ALPHABET, BadCode, EnrolmentCode, EnrolmentUri, parse_code
from provisioning.identity import IdentityError

Step = Literal[
    "entry", "checking", "compare", "enrolling", "selftest", "enrolled", "blocked", "started"
]
# The form's fields; the on-screen keyboard types into them like into the intake form.
FIELDS = v.TECHNICIAN_FIELDS
HUB_FIELD, CODE_FIELD = (spec.key for spec in FIELDS)
# The customer's journey starts at session 0: a different number makes the UI drop what the
# technician typed (the code) when the screen changes hands.
SESSION = -1
AUTO_START_S = 120.0  # enrolled and every device works: the kiosk starts by itself
_SEPARATORS = " \t\r\n-"
_LOOKALIKES = "01ILOU"


@dataclass(frozen=True)
class TechnicianState:
    """Snapshot of the technician machine (immutable; ``handle`` replaces it)."""

    step: Step = "entry"
    language: str = "de"
    large_text: bool = False
    key_fingerprint: str | None = None
    notice: Notice | None = None
    attempt: int = 0
    hub_url: str | None = None  # http(s)://host[:port] of the current attempt
    code: EnrolmentCode | None = field(default=None, repr=False)
    ca_fingerprint: str | None = None  # what the hub sent for the current attempt
    preset: EnrolmentUri | None = field(default=None, repr=False)
    device_name: str | None = None
    tenant: str | None = None
    selftest: tuple[v.SelftestLine, ...] = ()
    enrolled_at: float | None = None


class Technician:
    """The enrolment screen's logic; feed it events, carry out its effects.

    ``preset``: hub, code and CA fingerprint from an enrolment URI (compared automatically).
    ``unattended``: no screen (``kiosk run --no-ui --enrol-uri``): the preset is checked as
    soon as the key is ready, and the kiosk starts right after the self-test.
    ``production``: hub addresses must be https://. ``enrolled``: the kiosk starts serving at
    once, and the screen shows only if the hub refuses its certificate (``CertificateRefused``).
    """

    def __init__(
        self,
        *,
        default_language: str = "de",
        preset: EnrolmentUri | None = None,
        unattended: bool = False,
        production: bool = False,
        reason: Notice | None = None,
        auto_start_s: float = AUTO_START_S,
        enrolled: bool = False,
    ) -> None:
        self.unattended = unattended
        self.production = production
        self.auto_start_s = auto_start_s
        self.state = TechnicianState(
            step="started" if enrolled else "entry",
            language=default_language,
            preset=preset,
            notice=reason,
        )

    @property
    def step(self) -> Step:
        """The step shown now."""
        return self.state.step

    def start(self) -> list[Effect]:
        """The first effects: serve (enrolled), or look at the identity directory."""
        return [StartService()] if self.state.step == "started" else [CheckIdentity()]

    def view(self, base: v.KioskView | None = None) -> v.KioskView:
        """The view model of the current state (``base`` carries branding)."""
        s = self.state
        step: v.TechnicianStep = "starting" if s.step == "started" else s.step
        shown_ca = s.ca_fingerprint
        technician = v.TechnicianView(
            step=step,
            key_fingerprint=_display(s.key_fingerprint),
            ca_fingerprint=_display(shown_ca),
            notice=s.notice,
            hub_url=s.hub_url if s.preset is None else s.preset.hub_url,
            code_id=_code_id(s),
            preset=s.preset is not None,
            device_name=s.device_name,
            tenant=s.tenant,
            selftest=s.selftest,
        )
        return replace(
            base or v.KioskView(),
            screen=Screen.TECHNICIAN,
            language=s.language,
            large_text=s.large_text,
            countdown=None,
            fields=FIELDS,
            session=SESSION,
            technician=technician,
        )

    # -- transitions -------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Effect]:
        """Apply ``event`` at monotonic time ``now``; return what the shell must do."""
        s = self.state
        match event:
            case v.ChooseLanguage(language=lang) if lang in v.LANGUAGES:
                self.state = replace(s, language=lang)
            case v.ToggleLargeText():
                self.state = replace(s, large_text=not s.large_text)
            case CertificateRefused():
                self.state = TechnicianState(
                    language=s.language,
                    large_text=s.large_text,
                    notice=Notice("tech.reason.fresh_code"),
                )
                return [CheckIdentity(accept_enrolled=False)]
            case _ if s.step == "started":
                pass  # the customer's journey has the screen
            case KeyReady(fingerprint=fingerprint):
                return self._key_ready(fingerprint)
            case IdentityBroken(detail=detail):
                self._blocked(Notice("tech.error.identity", detail=detail))
            case AlreadyEnrolled(device_name=name, tenant=tenant):
                self.state = replace(
                    s, step="selftest", device_name=name, tenant=tenant, code=None, notice=None
                )
                return [RunSelftest()]
            case v.SubmitIntake(values=values) if s.step == "entry":
                return self._check(dict(values))
            case v.TechnicianChoice(choice=choice):
                return self._choice(choice, now)
            case CaFetched(attempt=attempt, fingerprint=fingerprint) if self._current(
                attempt, "checking"
            ):
                return self._ca_fetched(fingerprint)
            case Failed(attempt=attempt, notice=notice, identity=identity) if self._current(
                attempt, "checking"
            ) or self._current(attempt, "enrolling"):
                if identity:
                    self._blocked(notice)
                else:
                    self._to_entry(notice)
            case Enrolled(attempt=attempt, device_name=name, tenant=tenant) if self._current(
                attempt, "enrolling"
            ):
                # The code is spent: its secret goes now.
                self.state = replace(
                    s, step="selftest", device_name=name, tenant=tenant, code=None, notice=None
                )
                return [RunSelftest()]
            case SelftestDone(results=results) if s.step == "selftest":
                self.state = replace(s, step="enrolled", selftest=results, enrolled_at=now)
                if self.unattended:
                    return self._start()
            case Tick() if s.step == "enrolled":
                return self._tick(now)
            case _:
                pass  # not for this step (a late answer, a stray tap)
        return []

    def _current(self, attempt: int, step: Step) -> bool:
        return self.state.step == step and attempt == self.state.attempt

    def _key_ready(self, fingerprint: str) -> list[Effect]:
        s = self.state
        notice = None if s.step == "blocked" else s.notice
        self.state = replace(
            s,
            key_fingerprint=fingerprint,
            step="entry" if s.step == "blocked" else s.step,
            notice=notice,
        )
        if self.unattended and s.preset is not None and self.state.step == "entry":
            return self._check({})
        return []

    def _check(self, values: dict[str, str]) -> list[Effect]:
        """ "Check the hub": read the form (or the preset) and ask the hub for its CA."""
        s = self.state
        if s.key_fingerprint is None:
            return []  # the directory has not been looked at yet
        if s.preset is not None:
            hub_text, code_text = s.preset.hub_url, s.preset.code.format()
        else:
            hub_text, code_text = values.get(HUB_FIELD, ""), values.get(CODE_FIELD, "")
        hub_url, notice = self._hub(hub_text)
        if notice is None:
            notice = code_notice(code_text)
        if hub_url is None or notice is not None:
            self.state = replace(s, notice=notice)
            return []
        code = parse_code(code_text)
        attempt = s.attempt + 1
        self.state = replace(
            s,
            step="checking",
            attempt=attempt,
            hub_url=hub_url,
            code=code,
            ca_fingerprint=None,
            notice=None,
        )
        return [FetchCa(attempt, hub_url, code)]

    def _hub(self, typed: str) -> tuple[str | None, Notice | None]:
        """The hub's origin for what was typed (a bare name means https://)."""
        typed = typed.strip()
        if typed and "://" not in typed:
            typed = "https://" + typed
        try:
            origin = canonical_origin(typed)
        except BadChallenge:
            return None, Notice("tech.error.hub_url")
        if self.production and urlsplit(origin).scheme != "https":
            return None, Notice("tech.error.insecure")
        return origin, None

    def _ca_fetched(self, fingerprint: str) -> list[Effect]:
        s = self.state
        self.state = replace(s, ca_fingerprint=fingerprint)
        if s.preset is None:
            self.state = replace(self.state, step="compare")
            return []
        if fingerprint != s.preset.ca_fingerprint:
            self._to_entry(Notice("tech.error.ca_mismatch"))
            return []
        return self._enrol()

    def _enrol(self) -> list[Effect]:
        s = self.state
        if s.code is None or s.hub_url is None or s.ca_fingerprint is None:
            return []
        self.state = replace(s, step="enrolling")
        return [Enrol(s.attempt, s.hub_url, s.code, s.ca_fingerprint)]

    def _choice(self, choice: v.TechnicianAct, now: float) -> list[Effect]:
        s = self.state
        match choice:
            case "confirm_ca" if s.step == "compare":
                return self._enrol()
            case "reject_ca" if s.step == "compare":
                self._to_entry(Notice("tech.error.ca_rejected"))
            case "start" if s.step == "enrolled":
                return self._start()
            case "selftest" if s.step == "enrolled":
                self.state = replace(s, step="selftest", enrolled_at=None)
                return [RunSelftest()]
            case "check_again" if s.step == "blocked":
                return [CheckIdentity()]
            case "edit" if s.step == "entry" and s.preset is not None:
                self.state = replace(s, preset=None, notice=None)
            case _:
                pass
        return []

    def _tick(self, now: float) -> list[Effect]:
        s = self.state
        passed = bool(s.selftest) and all(line.ok for line in s.selftest)
        if passed and s.enrolled_at is not None and now >= s.enrolled_at + self.auto_start_s:
            return self._start()
        return []

    def _start(self) -> list[Effect]:
        self.state = replace(self.state, step="started")
        return [StartService()]

    def _to_entry(self, notice: Notice) -> None:
        self.state = replace(
            self.state, step="entry", notice=notice, code=None, ca_fingerprint=None
        )

    def _blocked(self, notice: Notice) -> None:
        self.state = replace(
            self.state,
            step="blocked",
            notice=notice,
            code=None,
            ca_fingerprint=None,
            key_fingerprint=None,
        )


def code_notice(typed: str) -> Notice | None:
    """Why ``typed`` is not an enrolment code, in the technician's words (None: it is one).

    Names the position of the first character codes never use (a look-alike such as 0 or O by
    itself: it is never part of a secret) or the count of characters; never the code.
    """
    try:
        parse_code(typed)
    except BadCode:
        pass
    else:
        return None
    count = 0
    for position, char in enumerate(typed, start=1):
        if char in _SEPARATORS:
            continue
        upper = char.upper() if char.isascii() else char
        if upper not in ALPHABET:
            where = ("position", str(position))
            if upper in _LOOKALIKES:
                return Notice("tech.error.code_lookalike", (where, ("char", upper)))
            return Notice("tech.error.code_char", (where,))
        count += 1
    return Notice("tech.error.code_length", (("count", str(count)),))


def notice_for(error: Exception) -> tuple[Notice, bool]:
    """The technician's words for an enrolment error; True if the identity directory is at
    fault (the screen blocks: ``kiosk decommission``, then enrol)."""
    match error:
        case IdentityError():
            return Notice("tech.error.identity", detail=str(error)), True
        case est.Throttled(retry_after=seconds) if seconds is not None:
            return Notice("tech.error.throttled", (("seconds", f"{seconds:g}"),)), False
        case est.Throttled():
            return Notice("tech.error.throttled_later"), False
        case est.HubUnreachable():
            return Notice("tech.error.unreachable"), False
        case est.CodeNotFound():
            return Notice("tech.error.code_unknown"), False
        case est.WrongCode():
            return Notice("tech.error.code_wrong"), False
        case est.CaMismatch():
            return Notice("tech.error.ca_mismatch"), False
        case est.NeedsFreshCode():
            return Notice("tech.reason.fresh_code"), False
        case _:
            # CsrRefused, BadResponse: the hub's words (cut to printable text by the client).
            return Notice("tech.error.refused", detail=str(error)), False


def _display(fingerprint: str | None) -> str | None:
    return None if fingerprint is None else profile.display_fingerprint(fingerprint)


def _code_id(s: TechnicianState) -> str | None:
    code = s.code if s.preset is None else s.preset.code
    return None if code is None else code.id
