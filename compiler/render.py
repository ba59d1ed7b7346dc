"""Jinja2 rendering: one environment per process, templates compiled once.

Values never reach a template's output raw: filters quote them for the
target syntax (YAML scalars, SQL string literals, Python literals), so text
from the spec cannot break the generated file.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import jinja2
import yaml

from .resources import resource_dir

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
    return json.dumps(text, ensure_ascii=False)


def yaml_block(value: Any, indent: int = 0) -> str:
    """Nested data as block-style YAML, indented to sit under a key in a template."""
    text = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    pad = " " * indent
    return "\n".join(pad + line if line else line for line in text.rstrip("\n").split("\n"))


def yaml_flow(values: Any) -> str:
    """A short list inline: `[a, b, "c d"]`."""
    return "[" + ", ".join(yaml_scalar(v) for v in values) + "]"


def sql_string(value: Any) -> str:
    """A SQL string literal in standard syntax: quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def python_literal(value: Any) -> str:
    """A Python literal; repr of str/int/float/bool/None/tuples is always valid source."""
    return repr(value)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        yaml=yaml_scalar,
        yaml_block=yaml_block,
        yaml_flow=yaml_flow,
        sql_string=sql_string,
        py=python_literal,
        json=lambda v: json.dumps(v, ensure_ascii=False),
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
