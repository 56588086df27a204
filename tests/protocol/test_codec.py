"""Round trips and bad input for both protocol channels (property-based)."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import MAX_FRAME_BYTES, channel, messages
from protocol.codec import Registry, Rule
from protocol.errors import (
    FrameTooLarge,
    InvalidValue,
    MalformedFrame,
    MissingField,
    ProtocolError,
    UnknownField,
    UnknownType,
    UnsupportedVersion,
    WrongType,
)

REGISTRIES = (messages.SIGNALLING, channel.CHANNEL)
ALL_TYPES = [(reg, cls) for reg in REGISTRIES for cls in reg.types.values()]

_SAFE_TEXT_ALPHABET = st.characters(codec="utf-8", exclude_characters="\x00")
_SAFE_TEXT = st.text(alphabet=_SAFE_TEXT_ALPHABET)


def _value_strategy(tp: Any, r: Rule) -> st.SearchStrategy[Any]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in get_args(tp) if a is not type(None)]
        return st.none() | _value_strategy(inner, r)
    if origin is Literal:
        return st.sampled_from(get_args(tp))
    if tp is bool:
        return st.booleans()
    if tp is int:
        lo = int(r.minimum) if r.minimum is not None else -(2**53) + 1
        hi = int(r.maximum) if r.maximum is not None else 2**53 - 1
        return st.integers(min_value=lo, max_value=hi)
    if tp is float:
        return st.floats(
            min_value=r.minimum, max_value=r.maximum, allow_nan=False, allow_infinity=False
        )
    if tp is str:
        if r.pattern is not None:
            return st.from_regex(r.pattern, fullmatch=True)
        return st.text(
            alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
            min_size=r.min_len or 0,
            max_size=min(r.max_len or 200, 200),
        )
    if origin is tuple:
        (item, _) = get_args(tp)
        low = r.min_items or 0
        high = max(low, min(r.max_items or 3, 3))
        return st.lists(_value_strategy(item, Rule()), min_size=low, max_size=high).map(tuple)
    if dataclasses.is_dataclass(tp):
        return message_strategy(tp)  # type: ignore[arg-type]
    raise AssertionError(f"no strategy for {tp!r}")


def _signature_request() -> st.SearchStrategy[Any]:
    """Placements that go together: a field, a page with its box, or neither."""
    coordinate = st.floats(min_value=0, max_value=channel.BOX_MAX / 2, allow_nan=False)
    size = st.floats(min_value=1, max_value=channel.BOX_MAX / 2, allow_nan=False)
    box = st.tuples(coordinate, coordinate, size, size).map(
        lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3])
    )
    ids = st.from_regex(channel.TRANSFER_ID_PATTERN, fullmatch=True)
    common = {
        "id": ids,
        "document": ids,
        "sha256": st.from_regex(channel.SHA256_PATTERN, fullmatch=True),
        "signer": st.none() | st.text(_SAFE_TEXT_ALPHABET, min_size=1, max_size=channel.SIGNER_MAX),
    }
    field = st.builds(
        channel.SignatureRequest,
        field=st.from_regex(channel.SIGNATURE_FIELD_PATTERN, fullmatch=True),
        **common,
    )
    placed = st.builds(
        channel.SignatureRequest,
        page=st.integers(min_value=0, max_value=channel.PAGE_MAX),
        box=box,
        **common,
    )
    return field | placed | st.builds(channel.SignatureRequest, **common)


# Messages whose fields constrain each other get a strategy of their own.
CONSTRAINED: dict[type[Any], Any] = {channel.SignatureRequest: _signature_request}


def message_strategy(cls: type[Any]) -> st.SearchStrategy[Any]:
    if cls in CONSTRAINED:
        return typing.cast(st.SearchStrategy[Any], CONSTRAINED[cls]())
    hints = typing.get_type_hints(cls)
    kwargs = {
        f.name: _value_strategy(hints[f.name], f.metadata.get("rule", Rule()))
        for f in dataclasses.fields(cls)
    }
    return st.builds(cls, **kwargs)


any_message = st.sampled_from(ALL_TYPES).flatmap(
    lambda pair: st.tuples(st.just(pair[0]), message_strategy(pair[1]))
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(any_message)
def test_round_trip(pair: tuple[Registry, Any]) -> None:
    registry, msg = pair
    assert registry.decode(registry.encode(msg)) == msg


@settings(max_examples=500)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_only_raise_protocol_errors(raw: bytes) -> None:
    for registry in REGISTRIES:
        try:
            registry.decode(raw)
        except ProtocolError:
            pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _SAFE_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_SAFE_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=500)
@given(
    st.dictionaries(
        st.sampled_from(["v", "type", "role", "sdp", "consultation_id", "text", "x"]) | _SAFE_TEXT,
        json_values,
        max_size=6,
    ),
    st.sampled_from([t for reg in REGISTRIES for t in reg.types]),
)
def test_arbitrary_objects_decode_or_raise_typed(obj: dict[str, Any], type_name: str) -> None:
    obj.setdefault("v", 1)
    obj.setdefault("type", type_name)
    for registry in REGISTRIES:
        try:
            msg = registry.decode(json.dumps(obj))
        except ProtocolError as exc:
            assert exc.code != "protocol_error"  # always a specific subclass
        else:
            assert registry.decode(registry.encode(msg)) == msg


@settings(max_examples=200)
@given(any_message, _SAFE_TEXT.filter(lambda k: k not in ("v", "type")))
def test_unknown_field_is_rejected(pair: tuple[Registry, Any], key: str) -> None:
    registry, msg = pair
    obj = json.loads(registry.encode(msg))
    if key in obj:
        return
    obj[key] = 1
    with pytest.raises(UnknownField):
        registry.decode(json.dumps(obj))


@settings(max_examples=200)
@given(any_message, st.data())
def test_missing_required_field_is_rejected(pair: tuple[Registry, Any], data: Any) -> None:
    registry, msg = pair
    required = [
        f.name
        for f in dataclasses.fields(msg)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if not required:
        return
    name = data.draw(st.sampled_from(required))
    obj = json.loads(registry.encode(msg))
    del obj[name]
    with pytest.raises(MissingField) as info:
        registry.decode(json.dumps(obj))
    assert info.value.field == name


@settings(max_examples=200)
@given(any_message, st.data())
def test_wrong_type_is_rejected(pair: tuple[Registry, Any], data: Any) -> None:
    registry, msg = pair
    obj = json.loads(registry.encode(msg))
    names = [f.name for f in dataclasses.fields(msg) if f.name in obj]
    if not names:
        return
    name = data.draw(st.sampled_from(names))
    current = obj[name]
    # A value of a JSON type the field never takes: objects for scalars, strings otherwise.
    obj[name] = {"nested": True} if not isinstance(current, dict) else "text"
    with pytest.raises(WrongType):
        registry.decode(json.dumps(obj))


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("", MalformedFrame),
        ("{", MalformedFrame),
        ("[]", MalformedFrame),
        ('"hello"', MalformedFrame),
        ("NaN", MalformedFrame),
        (b"\xff\xfe", MalformedFrame),
        ('{"type":"heartbeat","ts":1}', UnsupportedVersion),
        ('{"v":2,"type":"heartbeat","ts":1}', UnsupportedVersion),
        ('{"v":"1","type":"heartbeat","ts":1}', UnsupportedVersion),
        ('{"v":true,"type":"heartbeat","ts":1}', UnsupportedVersion),
        ('{"v":1}', MissingField),
        ('{"v":1,"type":"launch_missiles"}', UnknownType),
        ('{"v":1,"type":"chat","id":"a","text":"x","ts":1}', UnknownType),  # wrong channel
        ('{"v":1,"type":"heartbeat"}', MissingField),
        ('{"v":1,"type":"heartbeat","ts":"1"}', WrongType),
        ('{"v":1,"type":"heartbeat","ts":true}', WrongType),
        ('{"v":1,"type":"heartbeat","ts":1.5}', WrongType),
        ('{"v":1,"type":"heartbeat","ts":-1}', InvalidValue),
        ('{"v":1,"type":"heartbeat","ts":1e400}', WrongType),
        ('{"v":1,"type":"heartbeat","ts":9007199254740992}', InvalidValue),
        ('{"v":1,"type":"heartbeat","ts":1,"extra":0}', UnknownField),
        ('{"v":1,"type":"hello","role":"root"}', InvalidValue),
        ('{"v":1,"type":"hello","role":"kiosk","token":"\\u0000"}', InvalidValue),
        ('{"v":1,"type":"hello","role":"kiosk","token":"\\ud800"}', InvalidValue),
        ('{"v":1,"type":"accept","consultation_id":"short"}', InvalidValue),
        ('{"v":1,"type":"accept","consultation_id":"abcdefgh\\n"}', InvalidValue),
        ('{"v":1,"type":"offer","consultation_id":"abcdefgh","sdp":""}', InvalidValue),
        ('{"v":1,"type":"queue","entries":[{"consultation_id":"abcdefgh"}]}', MissingField),
        ('{"v":1,"type":"queue","entries":{}}', WrongType),
        ('{"v":1,"type":"error","code":"teapot","message":"x"}', InvalidValue),
    ],
)
def test_bad_frames(raw: str | bytes, error: type[ProtocolError]) -> None:
    with pytest.raises(error):
        messages.decode(raw)


def test_oversize_frame_is_rejected_before_parsing() -> None:
    sdp = "a" * MAX_FRAME_BYTES
    raw = json.dumps({"v": 1, "type": "offer", "consultation_id": "abcdefgh", "sdp": sdp})
    with pytest.raises(FrameTooLarge):
        messages.decode(raw)
    # Multibyte characters count in bytes, not characters.
    raw = '{"v":1,"type":"heartbeat","ts":1,"x":"' + "\u20ac" * (MAX_FRAME_BYTES // 3) + '"}'
    with pytest.raises(FrameTooLarge):
        messages.decode(raw)


def test_string_limits_count_characters() -> None:
    ok = channel.Chat(id="m1", text="ß" * channel.CHAT_MAX, ts=1)
    assert channel.decode(channel.encode(ok)) == ok
    too_long = json.dumps({"v": 1, "type": "chat", "id": "m1", "text": "ß" * 4001, "ts": 1})
    with pytest.raises(InvalidValue):
        channel.decode(too_long)


def test_encode_refuses_foreign_or_invalid_messages() -> None:
    with pytest.raises(TypeError):
        messages.SIGNALLING.encode(channel.Chat(id="a", text="x", ts=1))
    with pytest.raises(InvalidValue):
        messages.encode(messages.Accept(consultation_id="bad id"))


def test_errors_carry_the_field() -> None:
    with pytest.raises(WrongType) as info:
        messages.decode(
            '{"v":1,"type":"queue_position","consultation_id":"abcdefgh",'
            '"position":"1","waiting":1}'
        )
    assert info.value.field == "position"
    assert info.value.code == "wrong_type"


def test_every_error_code_is_a_valid_error_message_code() -> None:
    from protocol.errors import ERROR_CLASSES

    allowed = set(get_args(messages.ErrorCode))
    assert {cls.code for cls in ERROR_CLASSES} <= allowed


SECRET = "s3cr3t-c0ntent"
HEX = "ab" * 32
TOKEN = "T" * 43


@pytest.mark.parametrize(
    ("message", "hidden"),
    [
        (messages.ResumeGrant(consultation_id="abcdefgh", token=TOKEN), TOKEN),
        (messages.Resume(consultation_id="abcdefgh", token=TOKEN), TOKEN),
        (messages.Hello(role="kiosk", token=SECRET), SECRET),
        (messages.Hello(role="adviser", csrf=SECRET), SECRET),
        (channel.Continuity(secret=HEX), HEX),
        (channel.Chat(id="a", text=SECRET, ts=1), SECRET),
        (channel.HistoryChat(id="a", text=SECRET, ts=1, author="kiosk"), SECRET),
        (channel.Intake(fields=(channel.IntakeField(key="name", value=SECRET),)), SECRET),
        (
            channel.FileOffer(
                id="t" * 22,
                name=SECRET,
                size=1,
                mime="application/pdf",
                sha256="cd" * 32,
                purpose="file",
                blob="b" * 22,
                key=HEX,
            ),
            HEX,
        ),
    ],
)
def test_secrets_stay_out_of_reprs(message: Any, hidden: str) -> None:
    # A message in a log line or a traceback by mistake must not carry keys, tokens or
    # personal data; the wire form still does (the repr flag changes nothing else).
    assert hidden not in repr(message)
    assert SECRET not in repr(message)
    registry = messages.SIGNALLING if message.TYPE in messages.SIGNALLING.types else channel.CHANNEL
    assert registry.decode(registry.encode(message)) == message
    assert hidden in registry.encode(message)


def test_field_types_are_resolved_once_per_message_class() -> None:
    """Decoding resolves a class's type hints once, not per frame (issue 17: per-message CPU)."""
    from protocol.codec import field_types

    beat = channel.CHANNEL.types["beat"]
    frame = json.dumps({"v": 1, "type": "beat", "ts": 1})
    first = channel.CHANNEL.decode(frame)
    resolved = field_types(beat)
    assert channel.CHANNEL.decode(frame) == first
    assert field_types(beat) is resolved  # the same mapping: not resolved again
    assert dict(resolved) == {"ts": int}
    # The cached mapping is shared by every decode, so nobody may change it.
    with pytest.raises(TypeError):
        resolved["ts"] = str  # type: ignore[index]
