"""The simulated customer: greets the verified adviser, thanks every line, says yes to requests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.call.connection import CallError
from appliance.exchange.state import ExchangeState, Preview, RequestView
from appliance.runner.reporting import KioskSignatureObserver
from appliance.runner.simulated_customer import AUTO_REPLY, GREETING, SimulatedCustomer
from appliance.signing.state import SignatureTask
from appliance.signing.trust import TrusteeChoice
from drivers.tablet.simulated import SimulatedTablet, load_recording
from protocol.channel import RequestState
from provisioning.identity import Identity
from tests.support.device_certs import device, tenant_ca
from tests.support.fake_kiosk import FakeKiosk
from tests.support.signature_desk import RECORDING, eventually, make_desk
from tests.support.trustee_certs import rsa_trustee


def request(state: RequestState, request_id: str = "req-1") -> ExchangeState:
    previews = (Preview(2, 2, bytes(12)),) if state == "confirming" else ()
    return ExchangeState(request=RequestView(request_id, "scan", state, previews=previews))


def test_greets_once_verified_and_answers_every_line_with_fixed_words() -> None:
    kiosk = FakeKiosk()
    customer = SimulatedCustomer(kiosk)
    customer.channel_opened()
    customer.chat_received("Wie ist Ihre Kontonummer, Herr Weiß?")
    customer.chat_received("Danke.")
    assert kiosk.chats == [GREETING, AUTO_REPLY, AUTO_REPLY]  # never the adviser's words


def test_a_line_that_cannot_go_out_is_dropped_quietly() -> None:
    class NoCall(FakeKiosk):
        def send_chat(self, text: str) -> None:
            raise CallError("no consultation in progress")

    customer = SimulatedCustomer(NoCall())
    customer.channel_opened()  # no exception: the simulated customer just stays silent
    customer.chat_received("hello?")


async def test_every_request_is_started_and_its_preview_sent_once() -> None:
    kiosk = FakeKiosk()
    customer = SimulatedCustomer(kiosk)
    assert kiosk.exchange is not None
    customer.exchange_changed(request("asked"))
    # Decided a moment later: the exchange is still telling its observers about this snapshot.
    assert kiosk.exchange.calls == []
    await asyncio.sleep(0)
    assert kiosk.exchange.calls == [("start", "req-1")]
    for state in ("asked", "scanning", "confirming", "confirming", "sending"):
        customer.exchange_changed(request(state))  # the same snapshot again: decided once
    await asyncio.sleep(0)
    assert kiosk.exchange.calls == [("start", "req-1"), ("confirm", "req-1")]
    customer.exchange_changed(request("asked", "req-2"))
    await asyncio.sleep(0)
    assert kiosk.exchange.calls[-1] == ("start", "req-2")


async def test_a_request_asked_again_after_the_exchange_closed_is_answered_again() -> None:
    kiosk = FakeKiosk()
    customer = SimulatedCustomer(kiosk)
    customer.exchange_changed(request("asked"))
    customer.exchange_changed(None)  # the consultation ended
    customer.exchange_changed(request("asked"))  # a new consultation, ids start again
    await asyncio.sleep(0)
    assert kiosk.exchange is not None
    assert kiosk.exchange.calls == [("start", "req-1"), ("start", "req-1")]


@pytest.mark.parametrize("state", ["scanning", "countdown", "sending", "done", "declined"])
async def test_requests_that_wait_for_nobody_are_left_alone(state: RequestState) -> None:
    kiosk = FakeKiosk()
    SimulatedCustomer(kiosk).exchange_changed(request(state))
    await asyncio.sleep(0)
    assert kiosk.exchange is not None and kiosk.exchange.calls == []


async def test_without_an_exchange_nothing_is_decided() -> None:
    kiosk = FakeKiosk()
    customer = SimulatedCustomer(kiosk)
    customer.exchange_changed(request("asked"))
    kiosk.exchange = None  # gone before the customer got to it
    await asyncio.sleep(0)  # no error


async def test_a_signature_request_is_read_signed_with_the_recording_and_confirmed(
    tmp_path: Path,
) -> None:
    # The real desk and the simulator replaying (a short piece of) the recorded stroke once.
    recording = load_recording(RECORDING)[:60]
    d = make_desk(
        tmp_path, *_signing_parties(), SimulatedTablet(recording).one_pass(), max_samples=1000
    )
    kiosk = FakeKiosk()
    kiosk.signature = d.desk
    customer = SimulatedCustomer(kiosk)
    d.desk.observer = _Both(d, customer)
    await d.request()
    await eventually(lambda: d.tasks[-1:] == [None])
    assert [s[1] for s in d.statuses] == ["reading", "signing", "sealing", "done"]
    (job,) = d.producer.jobs
    assert [s.x_mm for s in job.samples] == [s.x_mm for s in recording if s.in_range]


class _Both:
    """The desk's observer: the test's recorder and the simulated customer."""

    def __init__(self, *observers: KioskSignatureObserver) -> None:
        self._observers = observers

    def signature_changed(self, task: SignatureTask | None) -> None:
        for observer in self._observers:
            observer.signature_changed(task)


def _signing_parties() -> tuple[Identity, TrusteeChoice]:
    ca = tenant_ca()
    return device(ca).identity(ca), TrusteeChoice(rsa_trustee(ca).certificate, "Notariat")
