"""Enrolment codes and the QR code's enrolment URI: typed, forgiving, never echoing the secret."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st

from provisioning.codes import (
    ALPHABET,
    CODE_LENGTH,
    ID_LENGTH,
    SECRET_LENGTH,
    BadCode,
    BadEnrolmentUri,
    EnrolmentCode,
    enrolment_uri,
    is_code_id,
    parse_code,
    parse_enrolment_uri,
)
from tests.support.requirements import require_tool

FINGERPRINT = "ab" * 32
codes = st.builds(
    EnrolmentCode,
    st.text(ALPHABET, min_size=ID_LENGTH, max_size=ID_LENGTH),
    st.text(ALPHABET, min_size=SECRET_LENGTH, max_size=SECRET_LENGTH),
)


def test_alphabet_has_no_lookalikes_and_the_secret_has_over_50_bits() -> None:
    assert len(set(ALPHABET)) == len(ALPHABET) == 30
    assert not set("01ILOU") & set(ALPHABET)
    assert SECRET_LENGTH * math.log2(len(ALPHABET)) > 58


def test_format_groups_id_and_secret() -> None:
    code = EnrolmentCode("K7QX", "3M9PHT4R2WNC")
    assert code.format() == "K7QX-3M9P-HT4R-2WNC"


def test_the_secret_stays_out_of_repr_and_str() -> None:
    code = EnrolmentCode("K7QX", "3M9PHT4R2WNC")
    assert "3M9P" not in repr(code)
    assert "3M9P" not in str(code)
    assert "3M9P" not in f"{code}"


def test_parse_accepts_lower_case_spaces_and_dashes_anywhere() -> None:
    expected = EnrolmentCode("K7QX", "3M9PHT4R2WNC")
    assert parse_code("k7qx 3m9p-ht4r 2wnc") == expected
    assert parse_code(" K-7-Q-X3M9PHT4R2WN-C\n") == expected


def test_new_codes_parse_back_and_differ() -> None:
    first, second = EnrolmentCode.new(), EnrolmentCode.new()
    assert parse_code(first.format()) == first
    assert first != second


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("K7QX-3M9P-HT4R-2WN", "this one has 15"),
        ("K7QX-3M9P-HT4R-2WNCC", "this one has 17"),
        ("", "this one has 0"),
        ("K7QX-3M9P-HT4R-2WN0", r"character 19 is 0 \(zero\)"),
        ("K7QX-3M9P-HT4R-2WNo", "character 19 is O"),
        ("K7QX-3M9P-HT4R-2WN!", "character 19 is not a letter or digit"),
        ("K7QX-3M9P-HT4R-2WNé", "character 19 is not a letter or digit"),
        ("K7QX_3M9PHT4R2WNC", "character 5 is not"),
    ],
)
def test_parse_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(BadCode, match=says):
        parse_code(text)


def test_a_bad_character_never_brings_the_secret_into_the_message() -> None:
    with pytest.raises(BadCode) as caught:
        parse_code("K7QX-3M9P-HT4R-2WN#")
    assert "3M9P" not in str(caught.value)
    assert "#" not in str(caught.value)


def test_code_id_shape() -> None:
    assert is_code_id("K7QX")
    assert not is_code_id("K7Q")
    assert not is_code_id("k7qx")
    assert not is_code_id("K7Q0")


@given(codes)
def test_format_parse_round_trip(code: EnrolmentCode) -> None:
    assert parse_code(code.format()) == code
    assert parse_code(code.format().lower().replace("-", " ")) == code


@given(st.text())
def test_parse_raises_only_bad_code(text: str) -> None:
    try:
        code = parse_code(text)
    except BadCode:
        return
    assert len(code.id + code.secret) == CODE_LENGTH


@given(
    codes,
    st.sampled_from(
        [
            "https://hub.example.org",
            "wss://hub.example.org:8443/ws/kiosk",
            "http://127.0.0.1:8080/?a=b&c=d#x",
            "http://[::1]:9000",
        ]
    ),
)
def test_uri_round_trip(code: EnrolmentCode, hub: str) -> None:
    parsed = parse_enrolment_uri(enrolment_uri(hub, code, FINGERPRINT))
    assert parsed.hub_url == hub
    assert parsed.code == code
    assert parsed.ca_fingerprint == FINGERPRINT


def test_uri_is_percent_encoded_and_normalises_the_fingerprint() -> None:
    code = EnrolmentCode("K7QX", "3M9PHT4R2WNC")
    grouped = ":".join(["AB"] * 32)
    uri = enrolment_uri("https://hub.example.org/x?y=1", code, grouped)
    assert uri == (
        "branch-kiosk-enrol:?hub=https%3A%2F%2Fhub.example.org%2Fx%3Fy%3D1"
        f"&code=K7QX-3M9P-HT4R-2WNC&ca={FINGERPRINT}"
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("https://hub.example.org", "starts with branch-kiosk-enrol:?"),
        ("branch-kiosk-enrol:?hub=https%3A%2F%2Fh&code=K7QX-3M9P-HT4R-2WNC", "exactly one ca="),
        (
            f"branch-kiosk-enrol:?hub=https%3A%2F%2Fh&hub=http%3A%2F%2Fx"
            f"&code=K7QX-3M9P-HT4R-2WNC&ca={FINGERPRINT}",
            "exactly one hub=",
        ),
        (
            f"branch-kiosk-enrol:?hub=ftp%3A%2F%2Fh&code=K7QX-3M9P-HT4R-2WNC&ca={FINGERPRINT}",
            "http",
        ),
        (f"branch-kiosk-enrol:?hub=https%3A%2F%2Fh&code=K7QX-3M9P&ca={FINGERPRINT}", "characters"),
        (
            "branch-kiosk-enrol:?hub=https%3A%2F%2Fh&code=K7QX-3M9P-HT4R-2WNC&ca=abc",
            "64 hex digits",
        ),
        (
            f"branch-kiosk-enrol:?hub=https%3A%2F%2Fh&code=K7QX-3M9P-HT4R-2WNC&ca={FINGERPRINT}&x=1",
            "other than",
        ),
        ("branch-kiosk-enrol:?&&=", "malformed|exactly one"),
    ],
)
def test_uri_parse_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(BadEnrolmentUri, match=says):
        parse_enrolment_uri(text)


@given(st.text())
def test_uri_parse_raises_only_bad_enrolment_uri(text: str) -> None:
    for candidate in (text, "branch-kiosk-enrol:?" + text):
        try:
            parse_enrolment_uri(candidate)
        except BadEnrolmentUri:
            pass


def test_uri_survives_a_qr_code_read_by_an_independent_decoder(tmp_path: Path) -> None:
    zbarimg = require_tool("zbarimg", "zbar-tools")
    uri = enrolment_uri("https://hub.example.org", EnrolmentCode.new(), FINGERPRINT)
    png = tmp_path / "code.png"
    segno.make(uri, error="m").save(str(png), scale=4)
    read = subprocess.run(
        [zbarimg, "--quiet", "--raw", str(png)], capture_output=True, text=True, check=True
    )
    assert parse_enrolment_uri(read.stdout.strip()).code == parse_enrolment_uri(uri).code
