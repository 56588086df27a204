"""Conversation references: unguessable, canonical, forgiving when typed by hand."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.governance.references import (
    ALPHABET,
    REFERENCE_PATTERN,
    BadReference,
    new_reference,
    parse_reference,
)

symbols = st.text(alphabet=ALPHABET, min_size=10, max_size=10)


REFUSED = "a conversation reference is ten letters and digits, like 7K3QD-M9X2A"


def canonical(text: str) -> str:
    return f"{text[:5]}-{text[5:]}"


def test_the_alphabet_is_crockford_and_agrees_with_the_pattern() -> None:
    assert len(set(ALPHABET)) == 32
    assert not set("ILOU") & set(ALPHABET)
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]", s) for s in ALPHABET)
    assert re.fullmatch(REFERENCE_PATTERN, canonical(ALPHABET[:10]))


def test_new_references_are_canonical_distinct_and_use_every_symbol() -> None:
    made = [new_reference() for _ in range(2000)]
    assert all(re.fullmatch(REFERENCE_PATTERN, r) for r in made)
    assert all(parse_reference(r) == r for r in made)
    assert len(set(made)) == len(made)
    # 20,000 symbols drawn: a symbol never drawn would mean fewer than 50 random bits
    assert set("".join(made).replace("-", "")) == set(ALPHABET)


@given(symbols, st.data())
def test_a_reference_typed_by_hand_parses_to_its_canonical_form(
    text: str, data: st.DataObject
) -> None:
    typed = []
    for symbol in text:
        if symbol == "0":
            symbol = data.draw(st.sampled_from("0Oo"))
        elif symbol == "1":
            symbol = data.draw(st.sampled_from("1IiLl"))
        elif data.draw(st.booleans()):
            symbol = symbol.lower()
        typed.append(data.draw(st.sampled_from(["", " ", "-", " - "])) + symbol)
    written = data.draw(st.sampled_from([" ", "\t", ""])) + "".join(typed) + " "
    assert parse_reference(written) == canonical(text)


@given(st.text(max_size=80))
def test_any_text_parses_to_a_canonical_reference_or_is_refused_without_echo(text: str) -> None:
    try:
        parsed = parse_reference(text)
    except BadReference as exc:
        # one fixed message whatever was typed: a log line or a page never repeats the input
        assert str(exc) == REFUSED
        return
    assert re.fullmatch(REFERENCE_PATTERN, parsed)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "7K3QD-M9X2",  # nine symbols
        "7K3QD-M9X2AB",  # eleven
        "7K3QD-M9X2U",  # U is not a symbol
        "7K3QD-M9X2ı",  # dotless i upper-cases to I: not ASCII, refused
        "7K3QD_M9X2A",
        "7K3QD-M9X2A" + " " * 60,  # too long to be one
        "=cmd|' /C calc'!A0",
    ],
)
def test_not_a_reference(text: str) -> None:
    with pytest.raises(BadReference, match="ten letters and digits"):
        parse_reference(text)
