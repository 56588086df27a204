"""The signature messages: what a request may say, and every way it can be wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from protocol import channel
from protocol.errors import InvalidValue, MissingField, ProtocolError, WrongType

ID = "req-0001"
DOC = "doc-0001"
SHA = "ab" * 32


def _request(**extra: Any) -> str:
    body = {"v": 1, "type": "signature_request", "id": ID, "document": DOC, "sha256": SHA}
    body.update(extra)
    return json.dumps(body)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"field": ""},
        {"field": "Unterschrift Kunde_1.a-b"},
        {"page": 0, "box": [10, 20, 210, 80]},
        {"page": 9999, "box": [0, 0, 14400, 14400]},
        {"signer": "Erika Mustermann"},
        {"field": None, "page": None, "box": None, "signer": None},
    ],
)
def test_good_requests_round_trip(extra: dict[str, Any]) -> None:
    message = channel.decode(_request(**extra))
    assert isinstance(message, channel.SignatureRequest)
    assert channel.decode(channel.encode(message)) == message


@pytest.mark.parametrize(
    ("extra", "error", "field"),
    [
        ({"field": "Sig", "page": 0, "box": [1, 1, 2, 2]}, InvalidValue, "field"),
        ({"field": "", "page": 0}, InvalidValue, "field"),
        ({"page": 0}, InvalidValue, "box"),
        ({"box": [1, 1, 2, 2]}, InvalidValue, "box"),
        ({"page": 0, "box": [1, 1, 2]}, InvalidValue, "box"),
        ({"page": 0, "box": [1, 1, 2, 2, 3]}, InvalidValue, "box"),
        ({"page": 0, "box": [5, 1, 2, 2]}, InvalidValue, "box"),  # x0 > x1
        ({"page": 0, "box": [1, 1, 2, 1]}, InvalidValue, "box"),  # empty height
        ({"page": 0, "box": [-1, 1, 2, 2]}, InvalidValue, "box"),
        ({"page": 0, "box": [1, 1, 2, 1e9]}, InvalidValue, "box"),
        ({"page": 0, "box": [1, 1, "2", 2]}, WrongType, "box[2]"),
        ({"page": 0, "box": {"x0": 1}}, WrongType, "box"),
        ({"page": -1, "box": [1, 1, 2, 2]}, InvalidValue, "page"),
        ({"page": 10000, "box": [1, 1, 2, 2]}, InvalidValue, "page"),
        ({"page": 1.5, "box": [1, 1, 2, 2]}, WrongType, "page"),
        ({"field": "a/b"}, InvalidValue, "field"),
        ({"field": "x" * 65}, InvalidValue, "field"),
        ({"field": "Sig\n"}, InvalidValue, "field"),
        ({"signer": ""}, InvalidValue, "signer"),
        ({"signer": "x" * 101}, InvalidValue, "signer"),
        ({"signer": "a\u0000b"}, InvalidValue, "signer"),
        ({"sha256": "AB" * 32}, InvalidValue, "sha256"),
        ({"sha256": "ab" * 31}, InvalidValue, "sha256"),
        ({"document": "short"}, InvalidValue, "document"),
        ({"id": "bad id!!"}, InvalidValue, "id"),
    ],
)
def test_bad_requests_are_refused_with_the_field(
    extra: dict[str, Any], error: type[ProtocolError], field: str
) -> None:
    with pytest.raises(error) as info:
        channel.decode(_request(**extra))
    assert info.value.field == field


def test_a_request_needs_its_document_and_hash() -> None:
    raw = json.dumps({"v": 1, "type": "signature_request", "id": ID, "sha256": SHA})
    with pytest.raises(MissingField):
        channel.decode(raw)
    raw = json.dumps({"v": 1, "type": "signature_request", "id": ID, "document": DOC})
    with pytest.raises(MissingField):
        channel.decode(raw)


def test_contradicting_placements_cannot_even_be_built() -> None:
    # The kiosk never sends (and a test never builds) what the other side must refuse.
    with pytest.raises(InvalidValue):
        channel.SignatureRequest(
            id=ID, document=DOC, sha256=SHA, field="", page=0, box=(1, 1, 2, 2)
        )


def test_status_states_and_codes() -> None:
    ok = channel.SignatureStatus(id=ID, state="failed", code="document_changed")
    assert channel.decode(channel.encode(ok)) == ok
    bad_state = {"v": 1, "type": "signature_status", "id": ID, "state": "thinking"}
    with pytest.raises(InvalidValue):
        channel.decode(json.dumps(bad_state))
    bad_code = {"v": 1, "type": "signature_status", "id": ID, "state": "failed", "code": "oops"}
    with pytest.raises(InvalidValue):
        channel.decode(json.dumps(bad_code))
    cancel = channel.SignatureCancel(id=ID)
    assert channel.decode(channel.encode(cancel)) == cancel


def test_the_signed_file_purpose_and_the_signer_stays_out_of_reprs() -> None:
    offer = channel.FileOffer(
        id="t" * 22,
        name="signed.pdf",
        size=1,
        mime="application/pdf",
        sha256="cd" * 32,
        purpose="signed",
        request_id=ID,
        blob="b" * 22,
        key="ef" * 32,
    )
    assert channel.decode(channel.encode(offer)) == offer
    request = channel.SignatureRequest(id=ID, document=DOC, sha256=SHA, signer="Erika Secret")
    assert "Erika" not in repr(request)


def test_the_schema_tells_the_console_a_box_has_four_numbers() -> None:
    schema = channel.CHANNEL.json_schema()
    (variant,) = [v for v in schema["oneOf"] if v["title"] == "signature_request"]
    box = variant["properties"]["box"]["anyOf"][0]
    assert (box["minItems"], box["maxItems"]) == (4, 4)
