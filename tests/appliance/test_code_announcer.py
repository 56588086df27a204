"""The four words as a status line: once per consultation, also across a reconnection."""

from __future__ import annotations

from types import SimpleNamespace

from appliance.runner.code_announcer import CodeAnnouncer


class FakeKiosk:
    """What the announcer reads of a Kiosk: the words and the consultation id."""

    def __init__(self) -> None:
        self.verification_code: str | None = None
        self.consultation = SimpleNamespace(state=SimpleNamespace(consultation_id=None))

    def set(self, consultation_id: str | None, code: str | None) -> None:
        self.consultation.state.consultation_id = consultation_id
        self.verification_code = code


def test_words_are_said_once_per_consultation() -> None:
    kiosk = FakeKiosk()
    said: list[str] = []
    announcer = CodeAnnouncer(kiosk, said.append)  # type: ignore[arg-type]
    announcer.changed()  # idle
    kiosk.set("c1", None)
    announcer.changed()  # in a call, not verified yet
    kiosk.set("c1", "amber falcon river stone")
    announcer.changed()
    announcer.changed()  # later changes of the same call
    kiosk.set("c1", None)  # reconnecting: the words are withheld...
    announcer.changed()
    kiosk.set("c1", "amber falcon river stone")  # ...and back once the proof checked out
    announcer.changed()
    kiosk.set("c2", "moon pine apple rhino")  # the next customer
    announcer.changed()
    assert said == [
        "verification code: amber falcon river stone",
        "verification code: moon pine apple rhino",
    ]
