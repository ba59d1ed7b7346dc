"""The one YAML writer of every target: YAML as people write it by hand.

Templates write scalars and short lists with `yaml_scalar` and `yaml_flow`,
and nested data with `to_yaml`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml


WIDTH = 1000  # PyYAML folds lines longer than this


class Dumper(yaml.SafeDumper):
    """Block YAML as people write it: nested lists indented, short scalar lists inline."""

    # How the quick writer writes instances of str and dict subclasses (see `_QuickWriter`):
    # "str" as any string, "double" always double-quoted, "flow" a mapping on one line.
    quick_kinds: dict[type, str] = {}

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)

    def choose_scalar_style(self):
        if _UNPRINTABLE.search(self.event.value) or "\x85" in self.event.value:
            return '"'  # only a double-quoted scalar can escape line separators and the like
        style = super().choose_scalar_style()
        if style == "'" and "'" in self.event.value:
            return '"'  # "it's" reads better than 'it''s'
        return style


def _represent_list(dumper: yaml.SafeDumper, data: list):
    inline = bool(data) and all(isinstance(v, (str, int, float, bool)) or v is None for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline or not data)


Dumper.add_representer(list, _represent_list)


def to_yaml(data: Any, indent: int = 0, dumper: type[Dumper] = Dumper) -> str:
    """Data as block YAML, indented to sit in a template."""
    try:
        text = _QuickWriter(dumper).document(data)
    except _Unsure:  # PyYAML's emitter decides what the quick writer does not know for certain
        text = yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=WIDTH)
    pad = " " * indent
    return "\n".join(pad + line if line else line for line in text.rstrip("\n").split("\n"))


# A YAML plain scalar is safe when it cannot be read as anything but this string.
_PLAIN_SAFE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./@+-]*( [A-Za-z0-9_./@+()-]+)*$")
_YAML_SPECIAL = re.compile(
    r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~)$"
)


def yaml_scalar(value: Any) -> str:
    """One YAML scalar: plain when unambiguous, double-quoted (JSON escapes) otherwise."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if _PLAIN_SAFE.match(text) and not _YAML_SPECIAL.match(text):
        return text
    return _UNPRINTABLE.sub(_escape, json.dumps(text, ensure_ascii=False))


# What JSON leaves raw but a YAML reader refuses (DEL, C1 controls, BOM, non-characters) or
# reads as a line break (NEL, U+2028, U+2029): written as the escapes both languages read.
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def yaml_flow(values: Any) -> str:
    """A short list inline: `[a, b, "c d"]`."""
    return "[" + ", ".join(yaml_scalar(v) for v in values) + "]"


class _Unsure(Exception):
    """The quick writer cannot tell for certain what PyYAML would write."""


_STR_TAG = yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG
# What PyYAML's scalar analysis finds in a one-line string of printable characters: indicators that
# forbid a plain scalar in block context (a mapping's values, block lists) or in flow context
# (inline lists and mappings).
_ONE_LINE = re.compile(r"[\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]*")
_BLOCK_INDICATORS = re.compile(r"^(?:[#,\[\]{}&*!|>'\"%@`]|[-?:](?: |$)|---|\.\.\.)|: |:$| #")
_FLOW_INDICATORS = re.compile(r"^(?:[#,\[\]{}&*!|>'\"%@`]|-(?: |$)|---|\.\.\.)|[,?\[\]{}:]| #")
_MAX_LINE = WIDTH - 100  # leave PyYAML the lines near its folding width
_PLAIN_KINDS = {dict: "block", str: "str", list: "list"}


class _QuickWriter:
    """Writes what `yaml.dump(data, Dumper=dumper, ...)` in `to_yaml` writes, ten times faster.

    It knows dicts with string keys, lists, strings, ints, booleans and None, the
    way `Dumper` lays them out. Wherever PyYAML's choice is not certain (a string
    with a colon or a line break, a long line, another type) it raises `_Unsure`
    and PyYAML writes the whole document; tests compare the two on every
    generated file and on random data.
    """

    def __init__(self, dumper: type[Dumper]):
        self.kinds = dumper.quick_kinds
        self.resolve = _resolver(dumper)
        self.lines: list[str] = []

    def document(self, data: Any) -> str:
        if isinstance(data, dict) and data and self._kind(data) == "block":
            self._mapping(data, 0)
        elif type(data) is list and data and not _inline(data):
            self._sequence(data, 0)
        else:
            raise _Unsure  # a lone scalar or flow collection: PyYAML adds document markers
        return "\n".join(self.lines) + "\n"

    def _line(self, text: str) -> None:
        if len(text) > _MAX_LINE:
            raise _Unsure
        self.lines.append(text)

    def _kind(self, value: Any) -> str:
        found = _PLAIN_KINDS.get(type(value)) or self.kinds.get(type(value))
        if found is None:
            raise _Unsure
        return found

    def _mapping(self, data: dict, indent: int, first: str = "") -> None:
        pad = " " * indent
        for key, value in data.items():
            if type(key) is not str or not key or len(key) > 100:
                raise _Unsure  # not a simple key: PyYAML writes `? key`
            head = (first or pad) + self._scalar(key, in_flow=False) + ":"
            first = ""
            self._entry(head, value, indent)

    def _entry(self, head: str, value: Any, indent: int) -> None:
        """`head` (a key and colon, or a dash) followed by the value, inline or as a nested block."""
        if type(value) is list and value and not _inline(value):
            self._line(head)
            self._sequence(value, indent + 2)
        elif isinstance(value, dict) and value and self._kind(value) == "block":
            self._line(head)
            self._mapping(value, indent + 2)
        else:
            self._line(head + " " + self._flow(value, in_flow=False))

    def _sequence(self, items: list, indent: int) -> None:
        pad = " " * indent
        for item in items:
            if isinstance(item, dict) and item and self._kind(item) == "block":
                self._mapping(item, indent + 2, first=pad + "- ")
            elif type(item) is list and item and not _inline(item):
                raise _Unsure  # a list directly in a list
            else:
                self._line(pad + "- " + self._flow(item, in_flow=False))

    def _flow(self, value: Any, in_flow: bool) -> str:
        """A scalar, an inline list or a one-line mapping."""
        if value is None:
            return "null"
        if value is True or value is False:
            return "true" if value else "false"
        if type(value) is int:
            return str(value)
        if type(value) is list:
            return "[" + ", ".join(self._flow(v, in_flow=True) for v in value) + "]"
        if isinstance(value, dict):
            if value and self._kind(value) != "flow":
                raise _Unsure
            if not all(type(k) is str and k for k in value):
                raise _Unsure
            items = (self._scalar(k, in_flow=True) + ": " + self._flow(v, in_flow=True) for k, v in value.items())
            return "{" + ", ".join(items) + "}"
        if isinstance(value, str):
            return self._scalar(value, in_flow)
        raise _Unsure

    def _scalar(self, value: str, in_flow: bool) -> str:
        """PyYAML's choice for a one-line string: plain where it reads back as this string, else quoted."""
        kind = self._kind(value)
        if kind == "double":
            return _double_quoted(value)
        if kind != "str" or not _ONE_LINE.fullmatch(value):
            raise _Unsure  # line breaks and escapes: PyYAML's rules
        if value and self.resolve(value) == _STR_TAG and value[0] != " " and value[-1] != " ":
            indicators = _FLOW_INDICATORS if in_flow else _BLOCK_INDICATORS
            if not indicators.search(value):
                return value
        return _double_quoted(value) if "'" in value else "'" + value + "'"  # Dumper: "it's", not 'it''s'


def _inline(items: list) -> bool:
    """What `_represent_list` writes inline: scalars only."""
    return all(isinstance(v, (str, int, float, bool)) or v is None for v in items)


def _double_quoted(value: str) -> str:
    if not _ONE_LINE.fullmatch(value):
        raise _Unsure  # escapes and line breaks: PyYAML's rules
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _resolver(dumper: type[Dumper]):
    resolvers = dumper.yaml_implicit_resolvers
    anywhere = resolvers.get(None, [])

    def resolve(value: str) -> str:
        """The tag a plain scalar would be read as (PyYAML's implicit resolution, as `Resolver.resolve`)."""
        for tag, regexp in resolvers.get(value[0], []) + anywhere:
            if regexp.match(value):
                return tag
        return _STR_TAG

    return resolve
