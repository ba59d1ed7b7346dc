"""The one YAML writer of every target: YAML as people write it by hand.

Templates write scalars and short lists with `yaml_scalar` and `yaml_flow`,
and nested data with `to_yaml`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml


class Dumper(yaml.SafeDumper):
    """Block YAML as people write it: nested lists indented, short scalar lists inline."""

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
    text = yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
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
