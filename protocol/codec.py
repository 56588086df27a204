"""Strict encode/decode of protocol messages, driven by the dataclass definitions.

The message dataclasses (``protocol.messages`` and ``protocol.channel``) are the
one definition. From them this module validates incoming frames and exports a
JSON Schema that the adviser console's JavaScript validates against, so the two
sides cannot drift apart (a test regenerates the schema and compares).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar, Union, get_args, get_origin

from protocol.errors import (
    FrameTooLarge,
    InvalidValue,
    MalformedFrame,
    MissingField,
    UnknownField,
    UnknownType,
    UnsupportedVersion,
    WrongType,
)

PROTOCOL_VERSION = 1
# SDP with a dozen candidates is ~6 KiB; 64 KiB leaves room without letting one
# peer make the hub buffer megabytes.
MAX_FRAME_BYTES = 64 * 1024

_INT_MIN = -(2**53) + 1  # JSON numbers must survive a round trip through JS
_INT_MAX = 2**53 - 1
# NUL or a lone surrogate: one regex scan, ~10x cheaper than a per-character loop (a
# certificate hello carries ~800 characters).
_FORBIDDEN_CHARS = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class Rule:
    """Limits for one field; exported into the JSON Schema."""

    max_len: int | None = None
    min_len: int | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_items: int | None = None
    min_items: int | None = None
    description: str = ""


def rule(*, secret: bool = False, **kwargs: Any) -> Any:
    """Field metadata helper: ``x: str = rule(max_len=64)``-style declarations.

    ``secret``: keys, tokens and personal data (chat, intake, file names) stay out of the
    dataclass ``repr``, so a message that ends up in a log line or a traceback by mistake
    does not carry them there. Validation and the JSON Schema are unchanged.
    """
    default = kwargs.pop("default", dataclasses.MISSING)
    meta = {"rule": Rule(**kwargs)}
    if default is dataclasses.MISSING:
        return field(metadata=meta, repr=not secret)
    return field(default=default, metadata=meta, repr=not secret)


class Message(Protocol):
    """What every message dataclass provides."""

    TYPE: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Any]]


M = TypeVar("M")


class Registry:
    """The messages of one channel (signalling over WebSocket, or the data channel)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._types: dict[str, type[Any]] = {}

    def register(self, cls: type[M]) -> type[M]:
        """Class decorator: make ``cls`` a message of this channel."""
        type_name = cls.TYPE  # type: ignore[attr-defined]
        if type_name in self._types:
            raise RuntimeError(f"duplicate message type {type_name!r} in {self.name}")
        self._types[type_name] = cls
        return cls

    @property
    def types(self) -> Mapping[str, type[Any]]:
        return dict(self._types)

    # -- decoding ---------------------------------------------------------

    def decode(self, raw: str | bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> Any:
        """Parse and validate one frame; raise a ``ProtocolError`` subclass if it is wrong."""
        size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
        if size > max_bytes:
            raise FrameTooLarge(f"frame of {size} bytes exceeds the limit of {max_bytes}")
        try:
            obj = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise MalformedFrame(f"frame is not valid JSON: {_short(exc)}") from None
        return self.from_obj(obj)

    def from_obj(self, obj: object) -> Any:
        """Validate an already parsed JSON value."""
        if not isinstance(obj, dict):
            raise MalformedFrame("frame must be a JSON object")
        version = obj.get("v")
        if version is None:
            raise UnsupportedVersion("frame has no protocol version 'v'", field="v")
        if type(version) is not int or version != PROTOCOL_VERSION:
            raise UnsupportedVersion(
                f"protocol version {version!r} is not supported (this side speaks "
                f"{PROTOCOL_VERSION})",
                field="v",
            )
        type_name = obj.get("type")
        if not isinstance(type_name, str):
            raise MissingField("frame has no message 'type'", field="type")
        cls = self._types.get(type_name)
        if cls is None:
            raise UnknownType(
                f"unknown message type {type_name[:40]!r} on the {self.name} channel",
                field="type",
            )
        body = {k: v for k, v in obj.items() if k not in ("v", "type")}
        return _build(cls, body, path="")

    # -- encoding ---------------------------------------------------------

    def encode(self, message: object) -> str:
        """Serialise a message; it is validated first so we never send what we would reject."""
        cls = type(message)
        if self._types.get(getattr(cls, "TYPE", "")) is not cls:
            raise TypeError(f"{cls.__name__} is not a message of the {self.name} channel")
        obj: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": cls.TYPE}
        obj.update(_to_obj(message))
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        self.decode(text)  # cheap, and keeps encode and decode honest with each other
        return text

    # -- schema -----------------------------------------------------------

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema (2020-12) of every message of this channel."""
        variants = []
        for type_name, cls in sorted(self._types.items()):
            props, required = _object_schema(cls)
            props = {
                "v": {"const": PROTOCOL_VERSION},
                "type": {"const": type_name},
                **props,
            }
            variants.append(
                {
                    "title": type_name,
                    "description": (cls.__doc__ or "").strip().splitlines()[0],
                    "type": "object",
                    "properties": props,
                    "required": ["v", "type", *required],
                    "additionalProperties": False,
                }
            )
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"Branch Kiosk {self.name} protocol v{PROTOCOL_VERSION}",
            "maxBytes": MAX_FRAME_BYTES,
            "version": PROTOCOL_VERSION,
            "oneOf": variants,
        }


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _short(exc: BaseException) -> str:
    return str(exc)[:80]


_FIELD_TYPES: dict[type[Any], Mapping[str, Any]] = {}


def field_types(cls: type[Any]) -> Mapping[str, Any]:
    """Each field's resolved type hint for the message dataclass ``cls``, computed once.

    ``typing.get_type_hints`` re-evaluates every annotation string on each call: ~60 us of a
    ~75 us data-channel decode (a heartbeat every second, file progress many times a second).
    """
    found = _FIELD_TYPES.get(cls)
    if found is None:
        hints: dict[str, Any] = typing.get_type_hints(cls)
        fields = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
        found = _FIELD_TYPES[cls] = types.MappingProxyType(fields)
    return found


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _build(cls: type[M], body: dict[str, Any], *, path: str) -> M:
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = field_types(cls)
    for key in body:
        if key not in fields:
            raise UnknownField(f"unknown field {path}{key[:40]!r}", field=path + key)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        tp, optional = _unwrap_optional(hints[name])
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        if name not in body:
            if not has_default:
                raise MissingField(f"missing field {path}{name}", field=path + name)
            continue
        value = body[name]
        if value is None and optional:
            kwargs[name] = None
            continue
        r: Rule = f.metadata.get("rule", Rule())
        kwargs[name] = _check_value(tp, value, r, path=path + name)
    return cls(**kwargs)


def _check_value(tp: Any, value: Any, r: Rule, *, path: str) -> Any:
    origin = get_origin(tp)
    if origin is typing.Literal:
        allowed = get_args(tp)
        if not isinstance(value, str):
            raise WrongType(f"{path} must be a string", field=path)
        if value not in allowed:
            raise InvalidValue(f"{path} must be one of {', '.join(allowed)}", field=path)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise WrongType(f"{path} must be true or false", field=path)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise WrongType(f"{path} must be an integer", field=path)
        _check_range(value, r, path, default_min=_INT_MIN, default_max=_INT_MAX)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise WrongType(f"{path} must be a number", field=path)
        if not math.isfinite(value):
            raise InvalidValue(f"{path} must be finite", field=path)
        _check_range(value, r, path, default_min=None, default_max=None)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise WrongType(f"{path} must be a string", field=path)
        if r.max_len is not None and len(value) > r.max_len:
            raise InvalidValue(f"{path} is longer than {r.max_len} characters", field=path)
        if r.min_len is not None and len(value) < r.min_len:
            raise InvalidValue(f"{path} is shorter than {r.min_len} characters", field=path)
        if r.pattern is not None and not re.fullmatch(r.pattern, value):
            raise InvalidValue(f"{path} has an invalid format", field=path)
        if _FORBIDDEN_CHARS.search(value):
            raise InvalidValue(f"{path} contains characters that are not allowed", field=path)
        return value
    if origin is tuple:
        (item_tp, _ellipsis) = get_args(tp)
        if not isinstance(value, list):
            raise WrongType(f"{path} must be a list", field=path)
        if r.max_items is not None and len(value) > r.max_items:
            raise InvalidValue(f"{path} has more than {r.max_items} items", field=path)
        if r.min_items is not None and len(value) < r.min_items:
            raise InvalidValue(f"{path} has fewer than {r.min_items} items", field=path)
        return tuple(
            _check_value(item_tp, item, Rule(), path=f"{path}[{i}]") for i, item in enumerate(value)
        )
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise WrongType(f"{path} must be an object", field=path)
        return _build(tp, value, path=path + ".")  # type: ignore[arg-type]
    raise TypeError(f"unsupported field type {tp!r} at {path}")  # a bug in our definitions


def _check_range(
    value: float, r: Rule, path: str, *, default_min: float | None, default_max: float | None
) -> None:
    lo = r.minimum if r.minimum is not None else default_min
    hi = r.maximum if r.maximum is not None else default_max
    if lo is not None and value < lo:
        raise InvalidValue(f"{path} must be at least {lo:g}", field=path)
    if hi is not None and value > hi:
        raise InvalidValue(f"{path} must be at most {hi:g}", field=path)


def _to_obj(message: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(message):  # type: ignore[arg-type]
        value = getattr(message, f.name)
        if value is None:
            continue
        out[f.name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _to_obj(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _object_schema(cls: type[Any]) -> tuple[dict[str, Any], list[str]]:
    props: dict[str, Any] = {}
    required: list[str] = []
    hints = field_types(cls)
    for f in dataclasses.fields(cls):
        tp, optional = _unwrap_optional(hints[f.name])
        r: Rule = f.metadata.get("rule", Rule())
        schema = _type_schema(tp, r)
        if optional:
            schema = {"anyOf": [schema, {"type": "null"}]}
        if r.description:
            schema["description"] = r.description
        props[f.name] = schema
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return props, required


def _type_schema(tp: Any, r: Rule) -> dict[str, Any]:
    origin = get_origin(tp)
    if origin is typing.Literal:
        return {"type": "string", "enum": list(get_args(tp))}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int or tp is float:
        s: dict[str, Any] = {"type": "integer" if tp is int else "number"}
        lo = r.minimum if r.minimum is not None else (_INT_MIN if tp is int else None)
        hi = r.maximum if r.maximum is not None else (_INT_MAX if tp is int else None)
        if lo is not None:
            s["minimum"] = lo
        if hi is not None:
            s["maximum"] = hi
        return s
    if tp is str:
        s = {"type": "string"}
        if r.max_len is not None:
            s["maxLength"] = r.max_len
        if r.min_len is not None:
            s["minLength"] = r.min_len
        if r.pattern is not None:
            s["pattern"] = f"^(?:{r.pattern})$"
        return s
    if origin is tuple:
        (item_tp, _ellipsis) = get_args(tp)
        s = {"type": "array", "items": _type_schema(item_tp, Rule())}
        if r.max_items is not None:
            s["maxItems"] = r.max_items
        if r.min_items is not None:
            s["minItems"] = r.min_items
        return s
    if dataclasses.is_dataclass(tp):
        props, required = _object_schema(tp)  # type: ignore[arg-type]
        return {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        }
    raise TypeError(f"unsupported field type {tp!r}")
