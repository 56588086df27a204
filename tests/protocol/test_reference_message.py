"""The ``reference`` message: only the hub's canonical form passes the codec (property-based).

tests/protocol/test_codec.py fuzzes every registered type, this one included; here: whatever the
reference text, the codec accepts exactly the strings of REFERENCE_PATTERN and refuses the rest
with a typed error, so a kiosk never shows a customer anything else.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import InvalidValue, ProtocolError
from protocol.messages import REFERENCE_PATTERN, ConsultationReference, decode, encode

CID = "c0nsult-4tion_01"
# Crockford base32: the digits and the letters but I, L, O and U
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def frame(reference: object) -> str:
    return json.dumps({"v": 1, "type": "reference", "consultation_id": CID, "reference": reference})


@given(st.text(alphabet=CROCKFORD, min_size=10, max_size=10))
def test_every_canonical_reference_round_trips(symbols: str) -> None:
    reference = f"{symbols[:5]}-{symbols[5:]}"
    message = ConsultationReference(consultation_id=CID, reference=reference)
    assert decode(encode(message)) == message
    assert decode(frame(reference)) == message


@given(st.text(max_size=24) | st.text(alphabet=CROCKFORD + "-ILOU ilo", max_size=14))
def test_anything_else_is_refused_with_a_typed_error(text: str) -> None:
    if re.fullmatch(REFERENCE_PATTERN, text):
        return  # drawn a valid one: the test above covers it
    with pytest.raises(InvalidValue):
        decode(frame(text))


@given(st.none() | st.integers() | st.booleans() | st.lists(st.text(max_size=3), max_size=2))
def test_a_reference_that_is_no_string_is_refused(value: object) -> None:
    with pytest.raises(ProtocolError):
        decode(frame(value))


def test_the_pattern_is_crockford_base32_in_two_groups() -> None:
    assert re.fullmatch(REFERENCE_PATTERN, "7K3QD-9XH2M")
    for bad in ("7K3QD-9XH2I", "7K3QD-9XH2L", "7K3QD-9XH2O", "7K3QD-9XH2U", "7K3QD9XH2M"):
        assert not re.fullmatch(REFERENCE_PATTERN, bad), bad
