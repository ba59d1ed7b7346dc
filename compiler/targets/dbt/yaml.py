"""YAML as dbt reads it: every spec string renders back to itself, written as people write dbt YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...build.memo import Memo
from ..render import jinja_literal
from ..yaml import Dumper, to_yaml


class Jinja(str):
    """A string that is meant for dbt's Jinja: written as it is, never escaped."""


class Unrendered(str):
    """Text dbt never renders (a unit test's description): written as it is, never escaped."""


class Row(dict):
    """A fixture row, written inline (`{id: 1, name: x}`) as people write test data."""


class DbtDumper(Dumper):
    """The shared writer, knowing dbt's kinds of strings and fixture rows."""


DbtDumper.add_representer(
    Jinja, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style='"')
)
DbtDumper.add_representer(Unrendered, lambda dumper, data: dumper.represent_str(str(data)))
DbtDumper.add_representer(Row, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True))
DbtDumper.quick_kinds = {Jinja: "double", Unrendered: "str", Row: "flow"}


def dbt_yaml(data: Any, indent: int = 0) -> str:
    """Data already made dbt-safe (`dbt_text`), as block YAML."""
    return to_yaml(data, indent, DbtDumper)


def dbt_text(value: Any) -> Any:
    """Spec data made safe for a dbt YAML file: every string renders back to itself."""
    if isinstance(value, (Jinja, Unrendered)):
        return value
    if isinstance(value, str):
        return jinja_literal(value)
    if isinstance(value, dict):
        return type(value)({k: dbt_text(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return [dbt_text(v) for v in value]
    return value


@dataclass(frozen=True)
class _YamlInput:
    typed: Any  # the data as `_typed` writes it: all the YAML depends on
    indent: int
    data: Any = field(compare=False)


def _write_yaml(given: _YamlInput) -> str:
    return dbt_yaml(given.data, given.indent)


def remembered_yaml(memo: Memo, data: Any, indent: int) -> str:
    """to_yaml of spec data, remembered by content: PyYAML's emitter is the slow part of a rebuild."""
    safe = dbt_text(data)
    return memo.cached(_write_yaml, _YamlInput(_typed(safe), indent, safe))


def rows(data) -> list[dict]:
    return [Row(row) for row in data]


def _typed(value: Any) -> Any:
    """Data as JSON that keeps what the YAML depends on: key order and the kind of each string."""
    if isinstance(value, dict):
        return ["R" if isinstance(value, Row) else "M", [[k, _typed(v)] for k, v in value.items()]]
    if isinstance(value, list):
        return ["L", [_typed(v) for v in value]]
    if isinstance(value, (Jinja, Unrendered)):
        return ["J" if isinstance(value, Jinja) else "U", str(value)]
    if value is None or isinstance(value, (str, int, float)):
        return value
    return ["O", type(value).__name__, str(value)]  # dates and the like: YAML writes them unquoted
