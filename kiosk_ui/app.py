"""The touch UI: turns view models into frames and touches into intents.

``KioskUi`` is the testable core (no display needed: it draws onto any surface);
``run_window`` owns the SDL window and its event loop and must run on the main thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

import pygame

from kiosk_ui import layout as lay
from kiosk_ui import viewmodels as v
from kiosk_ui.cues import CuePlayer, Cues
from kiosk_ui.draw import Painter
from kiosk_ui.theme import Theme

FPS = 60


class KioskUi:
    """Renders views and interprets touches for one panel size."""

    def __init__(
        self, size: tuple[int, int], *, dpi: float = 140.0, cues: CuePlayer | None = None
    ) -> None:
        self.size = size
        self.dpi = dpi
        self.local = lay.LocalState()
        self.painter = Painter()
        self.widgets: list[lay.Widget] = []
        self.view = v.KioskView()
        self._cues = cues
        self._themes: dict[tuple[v.Branding, bool], Theme] = {}
        self._pressed: lay.Button | None = None
        self._drawing = False  # the mouse or a finger draws in the signature's ink area

    def theme(self, view: v.KioskView) -> Theme:
        """The theme for ``view`` (cached per branding and text size)."""
        key = (view.branding, view.large_text)
        if key not in self._themes:
            self._themes[key] = Theme(self.size, view.branding, dpi=self.dpi, large=view.large_text)
        return self._themes[key]

    def show(self, view: v.KioskView, surface: pygame.Surface, feed: v.MediaFeed) -> None:
        """Lay out and draw ``view`` onto ``surface``."""
        if view.session != self.local.session:
            self.local = lay.LocalState(session=view.session)  # the last customer's typing goes
        self._cue(self.view, view)
        self.view = view
        theme = self.theme(view)
        self.widgets = lay.layout(view, self.local, theme)
        self.painter.paint(surface, self.widgets, theme, feed)

    def press(self, pos: tuple[int, int]) -> None:
        """A finger or the mouse went down at ``pos``."""
        self._pressed = lay.hit(self.widgets, pos)

    def release(self, pos: tuple[int, int]) -> list[v.Intent]:
        """A finger or the mouse went up at ``pos``; returns the intents to report."""
        pressed, self._pressed = self._pressed, None
        button = lay.hit(self.widgets, pos)
        intents: list[v.Intent] = [v.StillHere()]
        if button is None or pressed is None or button.action != pressed.action:
            return intents
        if isinstance(button.action, lay.PanAt):
            return [*intents, button.action.at(button.rect, pos)]
        return intents + self.act(button.action)

    def pointer(self, pos: tuple[int, int], phase: str) -> list[v.Intent]:
        """The mouse or a finger ``down``, ``move`` or ``up`` at ``pos``: in the signature's
        ink area it feeds the simulated tablet (``PenPointer``, 0..1 of the area)."""
        area = self.ink_area()
        if area is None or (phase != "down" and not self._drawing):
            self._drawing = False
            return []
        if phase == "down" and not area.collidepoint(pos):
            return []
        self._drawing = phase != "up"
        x = min(max((pos[0] - area.x) / max(area.w, 1), 0.0), 1.0)
        y = min(max((pos[1] - area.y) / max(area.h, 1), 0.0), 1.0)
        return [v.PenPointer(x, y, phase != "up")]

    def ink_area(self) -> pygame.Rect | None:
        """Where the ink is drawn while the customer signs; None on any other screen."""
        view = self.view
        if view.screen is not v.Screen.SIGNATURE or view.signature.state != "signing":
            return None
        for widget in self.widgets:
            if isinstance(widget, lay.Media) and widget.source == "ink":
                return widget.rect
        return None

    def tap(self, pos: tuple[int, int]) -> list[v.Intent]:
        """Press and release at ``pos``."""
        self.press(pos)
        return self.release(pos)

    def act(self, action: lay.Action) -> list[v.Intent]:
        """Carry out a button's action: local edits here, intents returned."""
        local = self.local
        match action:
            case lay.Key(char=char):
                self._type(char)
            case lay.Focus(key=key):
                local.focus = key
            case lay.Scroll(lines=lines):
                local.consent_scroll = max(0, local.consent_scroll + lines)
            case lay.SubmitForm():
                values = tuple(
                    (f.key, local.values.get(f.key, "").strip()) for f in self.view.fields
                )
                return [v.SubmitIntake(values)]
            case lay.SubmitChat():
                draft, local.chat_draft = local.chat_draft, ""
                return [v.SendChat(draft)] if draft.strip() else []
            case lay.PanAt(crop=crop):
                middle = ((crop[0] + crop[2]) / 2, (crop[1] + crop[3]) / 2)
                return [v.PanDocument(*middle)]  # scripted: a tap at the middle
            case _:
                return [action]
        return []

    def button_for(self, action: lay.Action) -> lay.Button | None:
        """The button on screen that reports ``action`` (for scripted journeys)."""
        for widget in self.widgets:
            if isinstance(widget, lay.Button) and widget.action == action:
                return widget
        return None

    def _type(self, char: str) -> None:
        local = self.local
        in_chat = self.view.screen is v.Screen.CALL and self.view.call.chat_open
        if char == "shift":
            local.shift = not local.shift
            return
        if in_chat:
            local.chat_draft = _edit(local.chat_draft, char, 500)
        else:
            fields = self.view.fields
            key = local.focus or (fields[0].key if fields else None)
            spec = next((f for f in fields if f.key == key), None)
            if spec is None:
                return
            local.values[spec.key] = _edit(local.values.get(spec.key, ""), char, spec.max_length)
        if char not in ("back", " "):
            local.shift = False

    def _cue(self, before: v.KioskView, after: v.KioskView) -> None:
        if self._cues is None:
            return
        if after.screen is v.Screen.CALL and before.screen is not v.Screen.CALL:
            self._cues.play("call")
        elif after.countdown is not None and before.countdown is None:
            self._cues.play("warning")
        elif len(after.call.chat) > len(before.call.chat) and not after.call.chat[-1].mine:
            self._cues.play("message")
        elif _asks(after.call) and _asks(after.call) != _asks(before.call):
            self._cues.play("message")  # the adviser asks for a scan or photo
        elif after.call.document_notice and not before.call.document_notice:
            self._cues.play("message")  # a document arrived
        elif after.wipe is not None and before.wipe is None:
            self._cues.play("goodbye")


def _asks(call: v.CallView) -> str | None:
    """The id of a request waiting for the customer to start it."""
    request = call.request
    return request.id if request is not None and request.state == "asked" else None


def _edit(value: str, char: str, limit: int) -> str:
    if char == "back":
        return value[:-1]
    return (value + char)[:limit]


def use_video_driver(headless: bool) -> str:
    """Pick the SDL video driver: dummy when headless, a window with a display, else kmsdrm."""
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    elif "SDL_VIDEODRIVER" not in os.environ:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ["SDL_VIDEODRIVER"] = "kmsdrm"  # the device: no desktop, full screen
    return os.environ.get("SDL_VIDEODRIVER", "auto")


def run_window(
    current_view: Callable[[], v.KioskView],
    report: Callable[[v.Intent], None],
    feed: v.MediaFeed,
    should_stop: Callable[[], bool],
    *,
    size: tuple[int, int] = (1280, 800),
    fullscreen: bool = False,
    dpi: float = 140.0,
    on_frame: Callable[[], None] | None = None,
    ui: KioskUi | None = None,
) -> None:
    """Own the SDL window until ``should_stop()``: draw the current view, report intents.

    Runs on the main thread (SDL wants its events there); every call it makes into the
    appliance (``current_view``, ``report``, ``feed``) only reads a snapshot or posts a message.
    ``on_frame`` runs after every presented frame; ``ui`` replaces the default ``KioskUi``
    (scripted journeys look up its buttons and post real SDL events).
    """
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    pygame.display.init()
    pygame.font.init()
    flags = pygame.FULLSCREEN if fullscreen else 0
    screen = pygame.display.set_mode((0, 0) if fullscreen else size, flags)
    pygame.display.set_caption("Branch Kiosk")
    if ui is None:
        ui = KioskUi(screen.get_size(), dpi=dpi, cues=Cues())
    clock = pygame.time.Clock()
    try:
        while not should_stop():
            for event in pygame.event.get():
                for intent in _translate(ui, event, screen.get_size()):
                    report(intent)
                if event.type == pygame.QUIT:
                    return
            ui.show(current_view(), screen, feed)
            pygame.display.flip()
            if on_frame is not None:
                on_frame()
            clock.tick(FPS)
    finally:
        pygame.display.quit()


def _translate(ui: KioskUi, event: pygame.event.Event, size: tuple[int, int]) -> list[v.Intent]:
    # SDL also turns touches into mouse events (``touch`` set); only the finger ones count.
    if event.type in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP) and getattr(
        event, "touch", False
    ):
        return []
    if event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
        ui.press(event.pos)
        return ui.pointer(event.pos, "down")
    elif event.type == pygame.MOUSEMOTION and not getattr(event, "touch", False):
        return ui.pointer(event.pos, "move")
    elif event.type == pygame.MOUSEBUTTONUP and event.button == 1:
        return ui.pointer(event.pos, "up") + ui.release(event.pos)
    elif event.type == pygame.MOUSEWHEEL and ui.view.screen is v.Screen.CONSENT:
        ui.act(lay.Scroll(-event.y * 2))
    elif event.type in (pygame.FINGERDOWN, pygame.FINGERMOTION, pygame.FINGERUP):
        pos = (int(event.x * size[0]), int(event.y * size[1]))
        phase = {pygame.FINGERDOWN: "down", pygame.FINGERMOTION: "move"}.get(event.type, "up")
        touch = ui.pointer(pos, phase)
        if event.type == pygame.FINGERDOWN:
            ui.press(pos)
        elif event.type == pygame.FINGERUP:
            return touch + ui.release(pos)
        return touch
    elif event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE:
        return [v.Abort()]
    return []


__all__ = ["KioskUi", "replace", "run_window", "use_video_driver"]
