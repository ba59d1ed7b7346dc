"""Jinja2 rendering: one environment per process, templates compiled once.

Values never reach a template's output raw: filters quote them for the
target syntax (YAML scalars, SQL string literals, Python literals), so text
from the spec cannot break the generated file.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..build.resources import resource_dir
from .yaml import to_yaml, yaml_flow, yaml_scalar

if TYPE_CHECKING:  # Jinja is imported on the first render: `meshgen validate` imports the targets and renders nothing
    import jinja2


# Characters a text file should not carry raw: controls but newline and tab (a carriage return too:
# Python, and so SQLMesh, reads it as a newline), DEL and C1. Unicode's line separators stay: a SQL
# literal holds them exactly, and no reader of these files breaks a line there.
_RAW_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """Where a language has no escapes (a SQL literal, Markdown), control characters spelled out (`\\x1b`)."""
    return _RAW_UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def sql_string(value: Any) -> str:
    """A SQL string literal in standard syntax: quotes doubled, control characters spelled out."""
    return "'" + visible(str(value)).replace("'", "''") + "'"


# Markdown that would turn plain text into markup: HTML, emphasis, code, links, table cells.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")
_MARKDOWN_BLOCK_START = re.compile(r"^(\s*)([#>+-]|\d+[.)])")


def markdown_text(value: Any) -> str:
    """Text as one Markdown paragraph that shows exactly these characters: one line, markup escaped."""
    text = " ".join(visible(str(value).replace("\r", "\n")).split())
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return _MARKDOWN_BLOCK_START.sub(r"\1\\\2", text)


class Code(str):
    """Source in the generated file's language (an expression the tool evaluates), written as it is."""


def python_literal(value: Any) -> str:
    """A Python literal; repr of str/int/float/bool/None/tuples is always valid source. `Code` is written as it is."""
    _defined(value)
    return str(value) if isinstance(value, Code) else repr(value)


def _defined(value: Any) -> None:
    """A template's missing variable fails the render (repr() of an undefined value would print `Undefined`)."""
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        value._fail_with_undefined_error()


# What makes dbt run a string through Jinja (dbt.clients.jinja.get_rendered).
_JINJA_MARKS = ("{{", "{%", "{#", "}}", "%}", "#}")
_OPENERS = ("{{", "{%", "{#")


def jinja_literal(text: str, before_expression: bool = False, in_template: bool = False) -> str:
    """Text that Jinja (as dbt runs it) renders back to itself, for files dbt renders (YAML, SQL).

    Every `{{`, `{%` and `{#` is written as a Jinja expression printing it, so
    spec text can never open a tag. When dbt will render the text, carriage
    returns and a final newline are written as expressions too, because Jinja
    would normalise or drop them; a lone `{` right before any such expression
    is one as well. `in_template`: the text is a fragment of a larger template
    (always rendered); `before_expression`: the caller puts a `{{ ... }}` right
    after it.
    """
    if "{" not in text and "\r" not in text and not text.endswith("\n"):
        return text  # nothing below could change it: the common case, kept cheap
    size = len(text)
    rendered = in_template or any(mark in text for mark in _JINJA_MARKS)

    def as_expression(j: int) -> bool:
        """Whether the character at j is written as an expression (j == size: what follows the text)."""
        if j == size:
            return before_expression
        if text[j : j + 2] in _OPENERS:
            return True
        return rendered and (text[j] == "\r" or (text[j] == "\n" and j == size - 1 and not in_template))

    out = []
    i = 0
    while i < size:
        pair = text[i : i + 2]
        if pair in _OPENERS:
            out.append("{{ '" + pair + "' }}")
            i += 2
            continue
        char = text[i]
        if char == "{" and as_expression(i + 1):
            out.append("{{ '{' }}")
        elif char in "\r\n" and as_expression(i):
            out.append("{{ '" + ("\\r" if char == "\r" else "\\n") + "' }}")
        else:
            out.append(char)
        i += 1
    return "".join(out)


def python_safe_literal(value: Any) -> str:
    """A Python literal (str, number, bool, None, or a list/tuple of those) with no `{` in its source.

    dbt refuses a Python model whose text Jinja would change, so no tag may appear in it.
    """
    _defined(value)
    return repr(value).replace("{", "\\x7b")


@cache
def environment() -> jinja2.Environment:
    import jinja2

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
        yaml_block=to_yaml,
        yaml_flow=yaml_flow,
        sql_string=sql_string,
        markdown=markdown_text,
        py=python_literal,
        py_safe=python_safe_literal,
        jinja_literal=jinja_literal,
        json=lambda v: json.dumps(v, ensure_ascii=False),
    )
    return env


def keep_compiled_templates(folder: Path) -> None:
    """Keep compiled templates in `folder`, so later builds load them instead of compiling each (~0.1 s)."""
    import jinja2

    env = environment()
    if env.bytecode_cache is None:
        folder.mkdir(exist_ok=True)
        env.bytecode_cache = jinja2.FileSystemBytecodeCache(str(folder))  # keyed by each template's source


class TemplateError(RuntimeError):
    """A template that failed to render, named with the line it failed on (a defect in meshgen, not in the spec)."""


def render(template: str, **context: Any) -> str:
    import jinja2

    try:
        return environment().get_template(template).render(**context)
    except jinja2.TemplateError as error:
        raise TemplateError(f"template {_where(template, error)}: {error}") from error


def _where(template: str, error: jinja2.TemplateError) -> str:
    """`name:line` of the innermost template frame the error passed through (an include's, if there)."""
    from jinja2 import TemplateSyntaxError

    if isinstance(error, TemplateSyntaxError):
        return f"{error.name or template}:{error.lineno}"
    templates, where = Path(resource_dir("templates")).resolve(), template
    frame = error.__traceback__
    while frame is not None:
        path = Path(frame.tb_frame.f_code.co_filename).resolve()
        if path.suffix == ".j2" and path.is_relative_to(templates):  # Jinja points its frames at the template
            where = f"{path.relative_to(templates).as_posix()}:{frame.tb_lineno}"
        frame = frame.tb_next
    return where
