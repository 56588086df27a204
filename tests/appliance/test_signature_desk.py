"""The kiosk's signature desk: request -> read -> sign -> sealed and signed -> offered.

Real tablets (the pointer tablet, the simulator replaying tests/fixtures/pen/signature_3s.jsonl,
a tablet whose stream fails as an unplugged one does), a real session vault and real
certificates; the signing library is behind the desk's ``Producer`` seam here (its own tests
and the end-to-end test cover it), so these tests pin the desk's behaviour.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from appliance.custody.vault import ArtifactKind
from appliance.signing.trust import SignatureUnavailable, TrusteeChoice
from drivers.tablet import PenSample
from drivers.tablet.pointer import PointerTablet
from drivers.tablet.simulated import SimulatedTablet, load_recording
from protocol.channel import (
    ChannelMessage,
    SignatureCancel,
    SignatureRequest,
    SignatureStatus,
)
from provisioning.identity import Identity
from tests.support.device_certs import device, tenant_ca
from tests.support.signature_desk import (
    DOCUMENT,
    RECORDING,
    GoneTablet,
    make_desk,
    scribble,
)
from tests.support.trustee_certs import rsa_trustee

SIGNER = "Erika Geheim-Mustermann"


@pytest.fixture(scope="module")
def identity() -> Identity:
    ca = tenant_ca()
    return device(ca).identity(ca)


@pytest.fixture(scope="module")
def trustee() -> TrusteeChoice:
    return TrusteeChoice(rsa_trustee(tenant_ca("Trust Co")).certificate, "Notariat Nord")


async def test_a_request_goes_from_reading_to_a_signed_file_offer(
    tmp_path: Path, identity: Identity, trustee: TrusteeChoice
) -> None:
    tablet = PointerTablet()
    d = make_desk(tmp_path, identity, trustee, tablet)
    await d.request(signer=SIGNER)
    assert d.statuses == [("sig-00000001", "reading", None)]
    task = d.desk.task
    assert task is not None and task.state == "reading"
    assert (task.title, task.trustee_name, task.page) == ("contract.pdf", "Notariat Nord", 0)

    d.desk.read("sig-00000001")
    await d.until(lambda: tablet.started)
    scribble(tablet)
    await d.until(lambda: len(d.desk.ink()[0]) == 1)
    d.desk.confirm("sig-00000001")
    await d.until(lambda: d.tasks[-1:] == [None])

    assert [s[1] for s in d.statuses] == ["reading", "signing", "sealing", "done"]
    ((signed, request_id),) = d.files
    assert request_id == "sig-00000001"
    assert d.vault.read_bytes(signed) == DOCUMENT + b"%signed\n"
    assert signed.kind is ArtifactKind.SIGNATURE
    (job,) = d.producer.jobs
    assert job.signer_name == SIGNER and job.document == DOCUMENT
    assert job.tablet.constant_pressure  # the mouse has no pressure: the record says so
    assert len(job.samples) == 21 and sum(s.tip_down for s in job.samples) == 20
    assert [t.state for t in d.tasks if t is not None][-1] == "done"
    assert d.desk.ink() == ((), 0)  # the samples left with the job


async def test_a_recorded_stroke_replayed_by_the_simulator_is_what_gets_signed(
    tmp_path: Path, identity: Identity, trustee: TrusteeChoice
) -> None:
    recording = load_recording(RECORDING)[:120]  # 0.6 s of it: hover, then the pen down
    recording.append(replace(recording[-1], t_us=recording[-1].t_us + 5000, in_range=False))
    tablet = SimulatedTablet(recording).one_pass()
    d = make_desk(tmp_path, identity, trustee, tablet)
    await d.request()
    d.desk.read("sig-00000001")
    await d.desk.capture_ended("sig-00000001")
    d.desk.confirm("sig-00000001")
    await d.until(lambda: d.tasks[-1:] == [None])
    (job,) = d.producer.jobs
    expected = [s for s in recording if s.in_range]  # hovering too: it is writing dynamics
    assert [(s.x_mm, s.y_mm, s.pressure, s.tilt) for s in job.samples] == [
        (s.x_mm, s.y_mm, s.pressure, s.tilt) for s in expected
    ]
    steps = [b.t_us - a.t_us for a, b in zip(job.samples, job.samples[1:], strict=False)]
    assert steps == [b.t_us - a.t_us for a, b in zip(expected, expected[1:], strict=False)]
    assert job.tablet.has_tilt and not job.tablet.constant_pressure


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("unknown_document", "no_document"),
        ("changed", "document_changed"),
        ("not_enrolled", "not_enrolled"),
        ("no_trustee", "no_trustee"),
        ("untrusted", "trustee_untrusted"),
        ("no_tablet", "no_tablet"),
        ("encrypted_pdf", "encrypted_pdf"),
        ("box_outside_page", "box_outside_page"),
    ],
)
async def test_a_request_the_kiosk_cannot_serve_fails_with_its_code(
    tmp_path: Path, identity: Identity, trustee: TrusteeChoice, setup: str, code: str
) -> None:
    problems = {
        "no_trustee": SignatureUnavailable("no_trustee", "none"),
        "untrusted": SignatureUnavailable("trustee_untrusted", "bad"),
    }
    d = make_desk(
        tmp_path,
        identity,
        trustee,
        None if setup == "no_tablet" else PointerTablet(),
        trustee_problem=problems.get(setup),
        enrolled=setup != "not_enrolled",
    )
    if setup in ("encrypted_pdf", "box_outside_page"):
        d.producer.refuse = setup  # type: ignore[assignment]
    if setup == "unknown_document":
        d.document_id = "doc-elsewhere"
        await d.desk.handle(
            SignatureRequest(id="sig-00000001", document="doc-00000001", sha256="00" * 32)
        )
    elif setup == "changed":
        await d.desk.handle(
            SignatureRequest(id="sig-00000001", document="doc-00000001", sha256="00" * 32)
        )
    else:
        await d.request()
    assert d.statuses == [("sig-00000001", "failed", code)]
    assert d.desk.task is None and d.tasks == []
    # Nothing left behind: the next request goes through.
    d.producer.refuse = None
    if setup in ("unknown_document", "changed", "encrypted_pdf", "box_outside_page"):
        d.document_id = "doc-00000001"
        await d.request(id="sig-00000002")
        assert d.statuses[-1] == ("sig-00000002", "reading", None)


async def test_a_second_request_while_one_is_open_is_busy(
    tmp_path: Path, identity: Identity, trustee: TrusteeChoice
) -> None:
    d = make_desk(tmp_path, identity, trustee, PointerTablet())
    await d.request()
    await d.request(id="sig-00000002")
    assert d.statuses == [("sig-00000001", "reading", None), ("sig-00000002", "failed", "busy")]
    d.desk.restate()  # after a resume: the console hears again where the open one stands
    assert d.statuses[-1] == ("sig-00000001", "reading", None)
    task = d.desk.task
    assert task is not None and task.id == "sig-00000001"


@pytest.mark.parametrize("how", ["decline", "timeout", "cancel", "close"])
async def test_ending_without_signing_keeps_nothing(
    tmp_path: Path, identity: Identity, trustee: TrusteeChoice, how: str
) -> None:
    tablet = PointerTablet()
    d = make_desk(tmp_path, identity, trustee, tablet)
    await d.request()
    d.desk.read("sig-00000001")
    await d.until(lambda: tablet.started)
    scribble(tablet)
    await d.until(lambda: len(d.desk.ink()[0]) == 1)
    if how == "decline":
        d.desk.decline("sig-00000001")
    elif how == "timeout":
        d.desk.timed_out("sig-00000001")
    elif how == "cancel":
        await d.desk.handle(SignatureCancel(id="sig-00000001"))
    else:
        await d.desk.close()
    await d.until(lambda: d.tasks[-1:] == [None])
    expected = {
        "decline": ("declined", None),
        "timeout": ("failed", "timeout"),
        "cancel": ("cancelled", None),
        "close": ("cancelled", None),
    }[how]
    assert d.statuses[-1] == ("sig-00000001", *expected)
    assert d.producer.jobs == [] and d.files == []
    assert d.desk.ink() == ((), 0) and d.desk.task is None
    assert not tablet.started  # the pen is off
    final = d.tasks[-2]
    assert final is not None and final.state == expected[0]


async def test_no_ink_or_a_single_dot_asks_again_and_then_signing_works(
    tmp_path: Path, identity: Identity, trustee: TrusteeChoice
) -> None:
    tablet = PointerTablet()
    d = make_desk(tmp_path, identity, trustee, tablet)
    await d.request()
    d.desk.read("sig-00000001")
    await d.until(lambda: tablet.started)
    d.desk.confirm("sig-00000001")  # nothing written
    tablet.push(0.5, 0.5, True)
    tablet.push(0.5, 0.5, True)
    tablet.push(0.5, 0.5, False)
    await d.until(lambda: len(d.desk.ink()[0]) == 1)
    d.desk.confirm("sig-00000001")  # a dot
    assert d.statuses[-2:] == [("sig-00000001", "signing", "no_ink")] * 2
    task = d.desk.task
    assert task is not None and (task.state, task.message) == ("signing", "no_ink")
    d.desk.clear("sig-00000001")
    assert d.desk.ink()[0] == ()
    task = d.desk.task
    assert task is not None and task.message is None
    scribble(tablet)
    await d.until(lambda: len(d.desk.ink()[0]) == 1)
    d.desk.confirm("sig-00000001")
    await d.until(lambda: d.tasks[-1:] == [None])
    assert d.statuses[-1] == ("sig-00000001", "done", None)
    assert len(d.producer.jobs[0].samples) == 21  # the dot was cleared away


async def test_a_stroke_past_the_cap_is_dropped_and_the_customer_signs_again(
    tmp_path: Path, identity: Identity, trustee: TrusteeChoice
) -> None:
    tablet = PointerTablet()
    d = make_desk(tmp_path, identity, trustee, tablet, max_samples=30)
    await d.request()
    d.desk.read("sig-00000001")
    await d.until(lambda: tablet.started)
    scribble(tablet, n=40)
    await d.until(lambda: ("sig-00000001", "signing", "too_long") in d.statuses)
    assert d.desk.ink()[0] == ()
    await d.until(lambda: tablet.started)  # the pen is live again
    scribble(tablet, n=10)
    await d.until(lambda: len(d.desk.ink()[0]) == 1)
    d.desk.confirm("sig-00000001")
    await d.until(lambda: d.tasks[-1:] == [None])
    assert d.statuses[-1] == ("sig-00000001", "done", None)
    assert len(d.producer.jobs[0].samples) == 11


async def test_an_unplugged_tablet_is_reported_and_signing_works_after_replugging(
    tmp_path: Path, identity: Identity, trustee: TrusteeChoice
) -> None:
    tablet = GoneTablet()
    d = make_desk(tmp_path, identity, trustee, tablet)
    await d.request()
    d.desk.read("sig-00000001")
    await asyncio.wait_for(tablet.started.wait(), 10)
    assert tablet.stream is not None
    tablet.stream.push([PenSample(1, 10.0, 10.0, 0.5, True, True)])
    tablet.unplug()  # mid-stroke
    await d.until(lambda: ("sig-00000001", "signing", "tablet_gone") in d.statuses)
    task = d.desk.task
    assert task is not None and task.message == "tablet_gone"
    assert d.desk.ink()[0] == ()

    def write_when_told(message: ChannelMessage) -> None:
        # The pen is live once "signing" is said again: what is written from then on counts.
        if isinstance(message, SignatureStatus) and message.code is None and tablet.stream:
            tablet.stream.push(
                [PenSample(10 + i, 10.0 + i, 20.0, 0.5, True, True) for i in range(10)]
            )

    d.on_send = write_when_told
    tablet.plugged = True
    await d.until(lambda: d.statuses[-1] == ("sig-00000001", "signing", None))
    await d.until(lambda: len(d.desk.ink()[0]) == 1)
    d.desk.confirm("sig-00000001")
    await d.until(lambda: d.tasks[-1:] == [None])
    assert d.statuses[-1] == ("sig-00000001", "done", None)
    assert [s.t_us for s in d.producer.jobs[0].samples] == list(range(10, 20))


async def test_a_failing_signature_tells_the_adviser_and_logs_no_personal_data(
    tmp_path: Path,
    identity: Identity,
    trustee: TrusteeChoice,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tablet = PointerTablet()
    d = make_desk(tmp_path, identity, trustee, tablet)
    d.producer.fail = True
    await d.request(signer=SIGNER)
    d.desk.read("sig-00000001")
    await d.until(lambda: tablet.started)
    scribble(tablet)
    await d.until(lambda: len(d.desk.ink()[0]) == 1)
    d.desk.confirm("sig-00000001")
    await d.until(lambda: d.tasks[-1:] == [None])
    assert d.statuses[-1] == ("sig-00000001", "failed", "signing_failed")
    assert d.files == []
    assert "Erika" not in caplog.text and "contract.pdf" not in caplog.text
    assert "0.1" not in caplog.text  # no coordinate
