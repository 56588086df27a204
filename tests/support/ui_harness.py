"""A scripted customer: taps the real drawn buttons and feeds the journey (dummy SDL).

Shared by the touch UI tests in tests/kiosk_ui; ``layout_problems`` checks a drawn screen.
"""

from __future__ import annotations

import pygame

from appliance.session import journey as j
from kiosk_ui import layout as lay
from kiosk_ui import viewmodels as v
from kiosk_ui.app import KioskUi
from kiosk_ui.viewmodels import MediaFeed, NoMedia

VALUES = (("name", "Jürgen Weiß"), ("topic", "Konto"))


class Harness:
    """One panel, one journey; ``tap`` finds the button on screen and presses its centre."""

    def __init__(self, size: tuple[int, int] = (800, 480), feed: MediaFeed | None = None) -> None:
        self.ui = KioskUi(size)
        self.surface = pygame.Surface(size)
        self.feed = feed or NoMedia()
        self.journey = j.Journey(hub_up=True)
        self.now = 0.0
        self.actions: list[j.Action] = []
        self.draw()

    def draw(self) -> None:
        self.ui.show(self.journey.view(self.now), self.surface, self.feed)

    def tap(self, action: lay.Action) -> None:
        button = self.ui.button_for(action)
        assert button is not None, f"no button for {action} on {self.journey.screen}"
        for intent in self.ui.tap(button.rect.center):
            self.actions += self.journey.handle(intent, self.now)
        self.draw()

    def shows(self, action: lay.Action) -> bool:
        """Whether a button for ``action`` is on screen now."""
        return self.ui.button_for(action) is not None

    def event(self, event: j.Event) -> None:
        self.actions += self.journey.handle(event, self.now)
        self.draw()

    def to_call(self) -> None:
        """Start, language, consent, form, an adviser: the call screen, connected."""
        for intent in (
            v.Start(),
            v.ChooseLanguage("en"),
            v.AcceptConsent(),
            v.SubmitIntake(VALUES),
        ):
            self.actions += self.journey.handle(intent, self.now)
        self.event(j.AdviserAccepted())
        self.event(j.CallConnected())
        self.actions.clear()

    def texts(self) -> list[str]:
        """Every label and button text on screen now."""
        return [w.text for w in self.ui.widgets if isinstance(w, lay.Label | lay.Button)]


def layout_problems(ui: KioskUi) -> list[tuple[object, ...]]:
    """What breaks the layout rules in ``ui``'s last frame (docs/ui.md): text wider than its
    box, targets under 9 mm, buttons off screen or overlapping, text under WCAG AA."""
    from kiosk_ui.colours import WCAG_AA, contrast

    theme = ui.theme(ui.view)
    screen = pygame.Rect((0, 0), ui.size)
    problems: list[tuple[object, ...]] = []
    buttons = [w for w in ui.widgets if isinstance(w, lay.Button)]
    for w in ui.widgets:
        if isinstance(w, lay.Label) and w.text:
            width = theme.font(w.px).size(w.text)[0]
            if width > w.rect.w or w.rect.right > ui.size[0] + 1:
                problems.append(("text too wide", w.text, width, w.rect))
            if contrast(w.colour, w.background) < WCAG_AA:
                problems.append(("contrast", w.text))
    for i, b in enumerate(buttons):
        what = b.text or str(b.icon)
        if b.text and theme.font(b.px or theme.body_px).size(b.text)[0] > b.rect.w - 4:
            problems.append(("button text too wide", what, b.rect))
        if not screen.contains(b.rect):
            problems.append(("off screen", what, b.rect))
        if min(b.rect.w, b.rect.h) < theme.target:
            problems.append(("under 9 mm", what, b.rect))
        for other in buttons[i + 1 :]:
            if b.rect.colliderect(other.rect):
                problems.append(("overlap", what, other.text or other.icon))
    return problems
