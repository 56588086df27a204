"""The technician machine: every step, every refusal in words, and properties over random runs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.session import technician_events as te
from appliance.session.technician import (
    CODE_FIELD,
    HUB_FIELD,
    Technician,
    code_notice,
    notice_for,
)
from kiosk_ui import viewmodels as v
from kiosk_ui.strings import CATALOGUE
from provisioning import est_client as est
from provisioning.challenge import BadChallenge
from provisioning.codes import EnrolmentCode, EnrolmentUri
from provisioning.enrolment import kiosk_hub_url
from provisioning.identity import IdentityError

CODE = EnrolmentCode("K7QX", "3M9PHT4R2WNC")
KEY = "ab" * 32
CA = "cd" * 32
OTHER_CA = "ef" * 32
HUB = "https://hub.example.org"


def form(hub: str = HUB, code: str = "k7qx-3m9p-ht4r-2wnc") -> v.SubmitIntake:
    return v.SubmitIntake(((HUB_FIELD, hub), (CODE_FIELD, code)))


def ready(**kwargs: object) -> Technician:
    machine = Technician(**kwargs)  # type: ignore[arg-type]
    assert machine.start() == [te.CheckIdentity()]
    assert machine.handle(te.KeyReady(KEY), 0.0) == []
    return machine


def step(machine: Technician) -> str:
    """The machine's step (a call: mypy must not narrow it across transitions)."""
    return machine.step


def notice_key(machine: Technician) -> str | None:
    notice = machine.view().technician.notice
    return None if notice is None else notice.key


def test_typed_entry_compare_confirm_enrol_selftest_start() -> None:
    m = ready(default_language="en")
    view = m.view()
    assert view.screen is v.Screen.TECHNICIAN
    assert view.technician.key_fingerprint == " ".join(["abab"] * 16)
    assert view.fields == v.TECHNICIAN_FIELDS
    assert m.handle(form(), 1.0) == [te.FetchCa(1, HUB, CODE)]
    assert step(m) == "checking"
    assert m.handle(te.CaFetched(1, CA), 2.0) == []
    assert step(m) == "compare"
    assert m.view().technician.ca_fingerprint == " ".join(["cdcd"] * 16)
    assert m.handle(v.TechnicianChoice("confirm_ca"), 3.0) == [te.Enrol(1, HUB, CODE, CA)]
    assert m.handle(te.Enrolled(1, "branch-7", "Nordbank"), 4.0) == [te.RunSelftest()]
    assert m.state.code is None  # the code is spent: its secret goes
    results = (v.SelftestLine("camera", True, "ok"),)
    assert m.handle(te.SelftestDone(results), 5.0) == []
    t = m.view().technician
    assert (t.step, t.device_name, t.tenant, t.selftest) == (
        "enrolled",
        "branch-7",
        "Nordbank",
        results,
    )
    assert m.handle(v.TechnicianChoice("selftest"), 6.0) == [te.RunSelftest()]
    m.handle(te.SelftestDone(results), 7.0)
    assert m.handle(v.TechnicianChoice("start"), 8.0) == [te.StartService()]
    assert step(m) == "started"
    assert m.view().technician.step == "starting"  # until the journey has the screen


def test_a_bare_host_name_means_https_and_production_refuses_http() -> None:
    m = ready()
    assert m.handle(form(hub="hub.example.org:8443"), 0.0) == [
        te.FetchCa(1, "https://hub.example.org:8443", CODE)
    ]
    assert kiosk_hub_url("https://hub.example.org:8443") == "wss://hub.example.org:8443"
    assert kiosk_hub_url("http://127.0.0.1:8080") == "ws://127.0.0.1:8080"
    # the one function `kiosk enrol --hub` uses too: any form of the hub's URL, its origin
    assert kiosk_hub_url("HTTPS://Hub.Example.org:443/enrol") == "wss://hub.example.org"
    assert kiosk_hub_url("wss://hub.example.org/ws/kiosk") == "wss://hub.example.org"
    assert kiosk_hub_url("ws://[::1]:8080") == "ws://[::1]:8080"
    with pytest.raises(BadChallenge):
        kiosk_hub_url("ftp://hub.example.org")
    p = ready(production=True)
    assert p.handle(form(hub="http://hub.example.org"), 0.0) == []
    assert notice_key(p) == "tech.error.insecure"
    assert p.handle(form(hub="ftp://x"), 0.0) == []
    assert notice_key(p) == "tech.error.hub_url"
    assert p.handle(form(hub=""), 0.0) == []
    assert notice_key(p) == "tech.error.hub_url"


def test_a_mistyped_code_is_explained_before_any_network_traffic() -> None:
    m = ready(default_language="en")
    for typed, key, values in (
        ("k7qx-3m9p-ht4r-2wn", "tech.error.code_length", (("count", "15"),)),
        ("k7qx-3m9p-ht4r-2wnc-2", "tech.error.code_length", (("count", "17"),)),
        ("k7q0-3m9p-ht4r-2wnc", "tech.error.code_lookalike", (("position", "4"), ("char", "0"))),
        ("k7qx-3m9p-ht4r-2wnu", "tech.error.code_lookalike", (("position", "19"), ("char", "U"))),
        ("k7qx-3m9p/ht4r-2wnc", "tech.error.code_char", (("position", "10"),)),
    ):
        assert m.handle(form(code=typed), 0.0) == []
        notice = m.view().technician.notice
        assert notice is not None and (notice.key, notice.values) == (key, values), typed
        assert step(m) == "entry"
    assert code_notice("K7QX 3M9P HT4R 2WNC") is None


def test_every_refusal_has_words_in_both_languages() -> None:
    cases: list[tuple[Exception, str, bool]] = [
        (est.HubUnreachable("x"), "tech.error.unreachable", False),
        (est.Throttled("x", 42.0), "tech.error.throttled", False),
        (est.Throttled("x", None), "tech.error.throttled_later", False),
        (est.CodeNotFound("x"), "tech.error.code_unknown", False),  # unknown/expired/used/burnt
        (est.WrongCode("x"), "tech.error.code_wrong", False),
        (est.CaMismatch("x"), "tech.error.ca_mismatch", False),
        (est.NeedsFreshCode("x"), "tech.reason.fresh_code", False),
        (est.CsrRefused("the hub said so"), "tech.error.refused", False),
        (IdentityError("device.key is corrupt"), "tech.error.identity", True),
    ]
    for error, key, identity in cases:
        notice, blocks = notice_for(error)
        assert (notice.key, blocks) == (key, identity)
        for language in v.LANGUAGES:
            assert CATALOGUE[language][notice.key].format(**dict(notice.values))
    assert notice_for(est.Throttled("x", 42.0))[0].values == (("seconds", "42"),)
    assert notice_for(est.CsrRefused("the hub said so"))[0].detail == "the hub said so"


def test_refusals_return_to_the_form_and_late_answers_change_nothing() -> None:
    m = ready()
    m.handle(form(), 0.0)
    wrong = v.Notice("tech.error.code_wrong")
    assert m.handle(te.Failed(1, wrong), 1.0) == []
    assert (step(m), notice_key(m)) == ("entry", "tech.error.code_wrong")
    assert m.state.code is None
    # The answer to the abandoned attempt arrives late: nothing happens.
    assert m.handle(te.CaFetched(1, CA), 2.0) == []
    assert step(m) == "entry"
    m.handle(form(), 3.0)
    assert m.state.attempt == 2
    assert m.handle(te.Enrolled(2, "x", "y"), 4.0) == []  # not enrolling yet
    assert m.handle(te.CaFetched(1, CA), 4.0) == []
    assert step(m) == "checking"


def test_the_technician_says_no_and_the_code_is_not_sent() -> None:
    m = ready()
    m.handle(form(), 0.0)
    m.handle(te.CaFetched(1, CA), 1.0)
    assert m.handle(v.TechnicianChoice("reject_ca"), 2.0) == []
    assert (step(m), notice_key(m)) == ("entry", "tech.error.ca_rejected")
    assert m.handle(v.TechnicianChoice("confirm_ca"), 3.0) == []


def test_enrolment_uri_compares_by_itself() -> None:
    preset = EnrolmentUri(HUB, CODE, CA)
    m = ready(preset=preset)
    t = m.view().technician
    assert (t.preset, t.hub_url, t.code_id) == (True, HUB, "K7QX")
    assert m.handle(form(hub="", code=""), 0.0) == [te.FetchCa(1, HUB, CODE)]  # the preset
    assert m.handle(te.CaFetched(1, CA), 1.0) == [te.Enrol(1, HUB, CODE, CA)]
    mismatch = ready(preset=EnrolmentUri(HUB, CODE, OTHER_CA))
    mismatch.handle(form(), 0.0)
    assert mismatch.handle(te.CaFetched(1, CA), 1.0) == []
    assert (step(mismatch), notice_key(mismatch)) == ("entry", "tech.error.ca_mismatch")
    assert mismatch.handle(v.TechnicianChoice("edit"), 2.0) == []
    assert not mismatch.view().technician.preset  # typed by hand from now on


def test_unattended_checks_the_preset_at_once_and_starts_after_the_selftest() -> None:
    m = Technician(preset=EnrolmentUri(HUB, CODE, CA), unattended=True)
    m.start()
    assert m.handle(te.KeyReady(KEY), 0.0) == [te.FetchCa(1, HUB, CODE)]
    m.handle(te.CaFetched(1, CA), 0.0)
    m.handle(te.Enrolled(1, "branch-7", "default"), 0.0)
    failing = (v.SelftestLine("camera", False, "flat"),)
    assert m.handle(te.SelftestDone(failing), 0.0) == [te.StartService()]


def test_enrolled_and_all_passed_starts_by_itself_after_two_minutes() -> None:
    for results, starts in (
        ((v.SelftestLine("camera", True, "ok"),), True),
        ((v.SelftestLine("camera", False, "flat"),), False),
        ((), False),
    ):
        m = ready(auto_start_s=120.0)
        m.handle(form(), 0.0)
        m.handle(te.CaFetched(1, CA), 0.0)
        m.handle(v.TechnicianChoice("confirm_ca"), 0.0)
        m.handle(te.Enrolled(1, "b", "t"), 0.0)
        m.handle(te.SelftestDone(results), 10.0)
        assert m.handle(te.Tick(), 129.0) == []
        assert m.handle(te.Tick(), 130.0) == ([te.StartService()] if starts else [])


def test_a_broken_identity_blocks_until_it_is_fixed() -> None:
    m = Technician()
    m.start()
    m.handle(te.IdentityBroken("/var/lib/branch-kiosk is open to other users"), 0.0)
    t = m.view().technician
    assert t.step == "blocked" and t.notice is not None
    assert t.notice.key == "tech.error.identity"
    assert "open to other users" in t.notice.detail
    assert m.handle(form(), 1.0) == []  # no form while blocked
    assert m.handle(v.TechnicianChoice("check_again"), 2.0) == [te.CheckIdentity()]
    m.handle(te.KeyReady(KEY), 3.0)
    assert step(m) == "entry" and notice_key(m) is None
    # Failing while enrolling for the directory's sake blocks too.
    m.handle(form(), 4.0)
    m.handle(te.CaFetched(1, CA), 5.0)
    m.handle(v.TechnicianChoice("confirm_ca"), 6.0)
    m.handle(te.Failed(1, v.Notice("tech.error.identity", detail="x"), identity=True), 7.0)
    assert step(m) == "blocked"


def test_enrolled_from_a_shell_meanwhile_and_a_refused_certificate() -> None:
    m = Technician()
    m.start()
    assert m.handle(te.AlreadyEnrolled("branch-7", "default"), 0.0) == [te.RunSelftest()]
    served = Technician(enrolled=True)
    assert served.start() == [te.StartService()]
    assert served.handle(form(), 0.0) == []
    assert served.handle(te.CertificateRefused(), 1.0) == [te.CheckIdentity(accept_enrolled=False)]
    assert (step(served), notice_key(served)) == ("entry", "tech.reason.fresh_code")
    served.handle(te.KeyReady(KEY), 2.0)
    assert notice_key(served) == "tech.reason.fresh_code"  # the reason stays until a check


def test_language_and_large_text_switch_on_every_step() -> None:
    m = ready()
    m.handle(v.ChooseLanguage("en"), 0.0)
    m.handle(v.ToggleLargeText(), 0.0)
    view = m.view()
    assert (view.language, view.large_text, view.session) == ("en", True, -1)


# -- properties over random runs ------------------------------------------------------------

_events = st.one_of(
    st.builds(form, st.sampled_from([HUB, "hub", "", "http://127.0.0.1:1"]),
              st.sampled_from(["k7qx-3m9p-ht4r-2wnc", "k7qx", "0000-0000-0000-0000"])),
    st.builds(te.CaFetched, st.integers(0, 2), st.sampled_from([CA, OTHER_CA])),
    st.builds(te.Enrolled, st.integers(0, 2), st.just("branch-7"), st.just("t")),
    st.builds(te.Failed, st.integers(0, 2), st.just(v.Notice("tech.error.code_wrong")),
              st.booleans()),
    st.builds(te.SelftestDone, st.just((v.SelftestLine("camera", True, "ok"),))),
    st.builds(v.TechnicianChoice, st.sampled_from(
        ["confirm_ca", "reject_ca", "start", "selftest", "check_again", "edit"])),
    st.builds(te.KeyReady, st.just(KEY)),
    st.builds(te.IdentityBroken, st.just("broken")),
    st.just(te.Tick()),
    st.just(te.CertificateRefused()),
    st.builds(v.ChooseLanguage, st.sampled_from(["de", "en", "fr"])),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    events=st.lists(_events, max_size=40),
    preset=st.sampled_from([None, EnrolmentUri(HUB, CODE, CA)]),
    unattended=st.booleans(),
)
def test_the_code_is_sent_only_to_a_confirmed_ca(
    events: list[te.Event], preset: EnrolmentUri | None, unattended: bool
) -> None:
    m = Technician(preset=preset, unattended=unattended, auto_start_s=5.0)
    effects = m.start()
    effects += m.handle(te.KeyReady(KEY), 0.0)  # the shell answers CheckIdentity at once
    fetched: dict[int, str] = {}  # attempt -> the CA the hub sent for it
    confirmed: set[tuple[int, str]] = set()
    enrolled = False
    for now, event in enumerate(events):
        now_at, attempt, ca = step(m), m.state.attempt, m.state.ca_fingerprint
        if isinstance(event, te.CaFetched) and now_at == "checking" and event.attempt == attempt:
            fetched[attempt] = event.fingerprint
        if event == v.TechnicianChoice("confirm_ca") and now_at == "compare" and ca is not None:
            confirmed.add((attempt, ca))
        if isinstance(event, te.Enrolled) and now_at == "enrolling" and event.attempt == attempt:
            enrolled = True
        if isinstance(event, te.CertificateRefused):
            enrolled = False
        out = m.handle(event, float(now))
        effects += out
        for effect in out:
            if isinstance(effect, te.Enrol):
                # The code goes only with the CA the hub sent for this very attempt, and only
                # once the technician (or the enrolment URI) vouched for it.
                assert fetched.get(effect.attempt) == effect.ca_fingerprint
                by_uri = preset is not None and effect.ca_fingerprint == preset.ca_fingerprint
                assert by_uri or (effect.attempt, effect.ca_fingerprint) in confirmed
            if isinstance(effect, te.StartService):
                assert enrolled
        view = m.view()  # always renders
        assert view.screen is v.Screen.TECHNICIAN and view.language in v.LANGUAGES
        # The secret is nowhere to be seen: not in the state, the view or an effect's repr.
        for thing in (m.state, view, *effects):
            assert CODE.secret not in repr(thing)
