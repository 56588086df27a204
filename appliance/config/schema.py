"""``ConfigError`` and :func:`decode`: msgspec checks a table against its schema, and a
refusal becomes a ``ConfigError`` that names the key in our words.

msgspec reports ``Expected `int` >= 1 - at `$.ui.fields[1].max_length```; a technician reads
``configuration key 'ui.fields[1].max_length': must be a whole number between 1 and 200``. The
problem text is the field's ``Meta(description=...)`` when it has one, else it is derived from
the field's type and constraints; ``Meta(extra={"unknown_key": ...})`` words a table's unknown
keys. An error inside a list or table of plain values names the whole setting.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
from msgspec import inspect as mi

NO_NUL = r"^[^\x00]*\Z"  # a pattern for file paths: the OS refuses NUL anyway, say so early
_SEGMENT = re.compile(r"\.(\w+)|\[(\d+)\]|\[\.\.\.\]")
_NAME_MAX = 60  # unknown key names are echoed back: keep the message one readable line
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # a TOML bare key


class ConfigError(ValueError):
    """A configuration value is missing or wrong; ``key`` names it (dotted for sections)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"configuration key {key!r}: {problem}")
        self.key = key
        self.problem = problem


def decode(value: object, schema: Any, *, at: str = "") -> Any:
    """``value`` converted to ``schema`` (a msgspec type), or :class:`ConfigError`.

    ``at`` is the key of ``value`` in the whole configuration (``"ui"``), empty for the file.
    """
    try:
        return msgspec.convert(value, schema)
    except msgspec.ValidationError as exc:
        key, problem = _translate(str(exc), mi.type_info(schema), value, at)
        raise ConfigError(key, problem) from None


def _translate(message: str, root: mi.Type, data: object, at: str) -> tuple[str, str]:
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        text, where = message, "$`"
    segments = where.removesuffix("`")
    if segments.startswith("key` in `"):  # a table's key of the wrong type: name the table
        segments = segments.removeprefix("key` in `").removesuffix("`")
    spot = _Spot(at, root, data)
    tag_of: mi.Type | None = None
    for match in _SEGMENT.finditer(segments.removeprefix("$")):
        name, index = match.group(1), match.group(2)
        if name is not None and _tagged(spot.node) and name == _tag_field(spot.node):
            tag_of = spot.node  # the error is the backend (tag) itself
            spot = spot.child(name, mi.AnyType())
            break
        if name is not None and isinstance(spot.node, mi.StructType):
            field = next((f for f in spot.node.fields if f.encode_name == name), None)
            if field is None:
                break
            spot = spot.child(name, field.type)
        elif index is not None and isinstance(spot.node, mi.ListType):
            item = _Spot("", spot.node.item_type, None).node
            if not isinstance(item, mi.StructType | mi.UnionType):
                break  # a list of plain values is one setting
            spot = spot.item(int(index), spot.node.item_type)
        elif match.group(0) == "[...]" and isinstance(spot.node, mi.DictType):
            # msgspec does not say which entry of a table failed: find it (label.en).
            name = _wrong_entry(spot.data, spot.node.value_type)
            if name is None:
                break
            spot = spot.child(name, spot.node.value_type)
        else:
            break
    if tag_of is not None:
        return spot.key, _unknown_tag(tag_of, spot.data)
    if text.startswith("Object contains unknown field `"):
        name = text.removeprefix("Object contains unknown field `").removesuffix("`")
        return spot.join(name[:_NAME_MAX]), spot.unknown_key()
    if text.startswith("Object missing required field `"):
        name = text.removeprefix("Object missing required field `").removesuffix("`")
        return spot.join(name), spot.missing(name)
    return spot.key or "config", spot.problem()


def key_part(name: str) -> str:
    """One step of a dotted key as TOML writes it: bare when it can be, else quoted.

    An unknown key such as ``"."`` or ``"a.b"`` would otherwise make the error's key ambiguous.
    """
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)


class _Spot:
    """A place in the configuration: its key, its schema node and the raw value there."""

    def __init__(self, key: str, node: mi.Type, data: object) -> None:
        self.key = key
        self.data = data
        self.description: str | None = None
        self.extra: dict[str, Any] = {}
        # Unwrap Annotated metadata and optional values; pick a tagged variant by its tag.
        while True:
            if isinstance(node, mi.Metadata):
                schema = node.extra_json_schema or {}
                self.description = self.description or schema.get("description")
                self.extra = self.extra or dict(node.extra or {})
                node = node.type
                continue
            if isinstance(node, mi.UnionType):
                options = [t for t in node.types if not isinstance(t, mi.NoneType)]
                if len(options) == 1:
                    node = options[0]
                    continue
                chosen = _variant(options, data)
                if chosen is not None:
                    node = chosen
                    continue
            break
        self.node = node

    def join(self, name: str) -> str:
        part = key_part(name)
        return f"{self.key}.{part}" if self.key else part

    def child(self, name: str, node: mi.Type) -> _Spot:
        value = self.data.get(name) if isinstance(self.data, dict) else None
        return _Spot(self.join(name), node, value)

    def item(self, index: int, node: mi.Type) -> _Spot:
        value = self.data[index] if isinstance(self.data, list) and index < len(self.data) else None
        return _Spot(f"{self.key}[{index}]", node, value)

    def unknown_key(self) -> str:
        if "unknown_key" in self.extra:
            return str(self.extra["unknown_key"])
        node = self.node
        if isinstance(node, mi.StructType) and node.tag is not None:
            return f"not a setting of the {node.tag} {node.tag_field}"
        return "unknown key (check the spelling)"

    def missing(self, name: str) -> str:
        node = self.node
        if _tagged(node) and name == _tag_field(node):
            return f"missing: choose {_tags(node)}"
        if isinstance(node, mi.StructType):
            if node.tag is not None:
                return f"missing: the {node.tag} {node.tag_field} needs a {name}"
            field = next((f for f in node.fields if f.encode_name == name), None)
            if field is not None:
                return "missing: " + _Spot(self.join(name), field.type, None).problem()
        return "missing"

    def problem(self) -> str:
        if self.description:
            return self.description
        if not self.key:
            return "must be a table of keys"
        return _describe(self.node, self.key)


def _describe(node: mi.Type, key: str) -> str:
    if isinstance(node, mi.BoolType):
        return "must be true or false"
    if isinstance(node, mi.IntType | mi.FloatType):
        kind = "a whole number" if isinstance(node, mi.IntType) else "a number"
        text = f"must be {kind}{_range(node.ge, node.le)}"
        return text + (f", a multiple of {node.multiple_of}" if node.multiple_of else "")
    if isinstance(node, mi.StrType):
        return "must be a non-empty string" if node.min_length else "must be a string"
    if isinstance(node, mi.LiteralType):
        return "must be one of " + ", ".join(repr(v) for v in node.values)
    if isinstance(node, mi.ListType):
        limit = f" of at most {node.max_length}" if node.max_length is not None else ""
        return f"must be a list{limit}"
    if isinstance(node, mi.StructType | mi.DictType) or _tagged(node):
        return "must be a table" if "[" in key else f"must be a table ([{key}])"
    return "has the wrong type"


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" between {low:g} and {high:g}"
    if low is not None:
        return f" of at least {low:g}"
    return f" of at most {high:g}" if high is not None else ""


def _tagged(node: mi.Type) -> bool:
    """A union of tagged structs (``[devices.camera]``: one struct per backend)?"""
    if not isinstance(node, mi.UnionType):
        return False
    options = [t for t in node.types if not isinstance(t, mi.NoneType)]
    return bool(options) and all(isinstance(t, mi.StructType) and t.tag for t in options)


def _structs(node: mi.Type) -> list[mi.StructType]:
    types = node.types if isinstance(node, mi.UnionType) else ()
    return [t for t in types if isinstance(t, mi.StructType)]


def _tag_field(node: mi.Type) -> str | None:
    return next((t.tag_field for t in _structs(node)), None)


def _tags(node: mi.Type) -> str:
    return ", ".join(sorted(str(t.tag) for t in _structs(node)))


def _variant(options: list[mi.Type], data: object) -> mi.Type | None:
    if not isinstance(data, dict):
        return None
    for option in options:
        if isinstance(option, mi.StructType) and option.tag_field is not None:
            if option.tag is not None and data.get(option.tag_field) == option.tag:
                return option
    return None


def _wrong_entry(table: object, node: mi.Type) -> str | None:
    """The first key of ``table`` whose value is not of ``node``'s plain type."""
    kinds = {mi.StrType: str, mi.IntType: int, mi.FloatType: int | float, mi.BoolType: bool}
    kind = kinds.get(type(_Spot("", node, None).node))
    if kind is None or not isinstance(table, dict):
        return None
    for key, value in table.items():
        # TOML's true is no number, though Python's bool is an int
        fits = kind is bool if isinstance(value, bool) else isinstance(value, kind)
        if isinstance(key, str) and not fits:
            return key
    return None


def _unknown_tag(node: mi.Type, value: object) -> str:
    return f"unknown {_tag_field(node)} {str(value)[:40]!r} (choose {_tags(node)})"
