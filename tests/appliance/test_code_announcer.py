"""The four words as a status line: once per consultation, also across a reconnection."""

from __future__ import annotations

from appliance.runner.code_announcer import CodeAnnouncer
from tests.support.fake_kiosk import FakeKiosk


def showing(kiosk: FakeKiosk, consultation_id: str | None, code: str | None) -> None:
    """The kiosk's consultation and its words, as the announcer reads them."""
    kiosk.show_consultation(consultation_id)
    kiosk.verification_code = code


def test_words_are_said_once_per_consultation() -> None:
    kiosk = FakeKiosk()
    said: list[str] = []
    announcer = CodeAnnouncer(kiosk, said.append)
    announcer.changed()  # idle
    showing(kiosk, "c1", None)
    announcer.changed()  # in a call, not verified yet
    showing(kiosk, "c1", "amber falcon river stone")
    announcer.changed()
    announcer.changed()  # later changes of the same call
    showing(kiosk, "c1", None)  # reconnecting: the words are withheld...
    announcer.changed()
    showing(kiosk, "c1", "amber falcon river stone")  # ...and back once the proof checked out
    announcer.changed()
    showing(kiosk, "c2", "moon pine apple rhino")  # the next customer
    announcer.changed()
    assert said == [
        "verification code: amber falcon river stone",
        "verification code: moon pine apple rhino",
    ]
