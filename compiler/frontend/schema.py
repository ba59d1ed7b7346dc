"""JSON Schema validation of a loaded spec, with errors that point at spec lines.

jsonschema's own messages echo values and name schema internals; each error
kind is translated here into a sentence about the spec, placed at the key or
value it concerns, with a "did you mean" hint where one helps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import Diagnostic, did_you_mean, shown
from .loader import JsonPath, LoadedSpec
from ..build.resources import schema_path

if TYPE_CHECKING:
    from ..build.memo import Memo

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


@cache
def spec_schema() -> dict:
    return json.loads(schema_path().read_text(encoding="utf-8"))


# Sections checked item by item against their definition, so that a rebuild re-validates only the
# items that changed: section -> (the keyword holding the items, the definition they follow).
_ITEM_SECTIONS = {"models": ("items", "model"), "sources": ("items", "source"), "contracts": ("additionalProperties", "contract")}


@cache
def _validators() -> tuple[Any, dict[str, Any]]:
    """The validator of everything but the items of _ITEM_SECTIONS, and one per item definition.

    Built once per process: building a validator resolves every $ref.
    """
    from jsonschema import Draft202012Validator

    root = spec_schema()
    properties = dict(root["properties"])
    for section, (keyword, _) in _ITEM_SECTIONS.items():
        properties[section] = {**properties[section], keyword: True}
    top = Draft202012Validator({**root, "properties": properties})
    items = {
        section: Draft202012Validator({"$schema": root["$schema"], "$defs": root["$defs"], "$ref": f"#/$defs/{definition}"})
        for section, (_, definition) in _ITEM_SECTIONS.items()
    }
    return top, items




@cache
def secret_keys() -> frozenset[str]:
    """Gateway keys that hold secrets, read from the schema so both agree."""
    defs = spec_schema()["$defs"]
    return frozenset(
        key
        for name, definition in defs.items()
        if name.endswith("Gateway")
        for key, prop in definition.get("properties", {}).items()
        if prop.get("$ref") == "#/$defs/secret"
    )


def format_path(path: JsonPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def schema_diagnostics(spec: LoadedSpec, memo: "Memo | None" = None) -> list[Diagnostic]:
    """Every schema error, translated; with a memo, items valid in an earlier build are not checked again."""
    diagnostics: dict[tuple, Diagnostic] = {}
    for error in _errors(spec.data, memo):
        for diagnostic in _translate(error, spec):
            key = (diagnostic.location, diagnostic.message)
            diagnostics.setdefault(key, diagnostic)
    return list(diagnostics.values())


@dataclass(frozen=True)
class _SchemaCheck:
    """One validator run: the whole spec's outline (section "") or one item of a section."""

    section: str
    seen: str  # the JSON of everything the validator reads of `value`
    value: Any = field(compare=False)


def _errors(data: Any, memo: "Memo | None") -> Iterator:
    """Schema errors; validity remembered in the memo is not checked again (nor jsonschema imported)."""
    if not isinstance(data, dict):
        yield from _validators()[0].iter_errors(data)
        return
    checks = [(_SchemaCheck("", _json(_outline(data)), data), ())]
    for section in _ITEM_SECTIONS:
        items = data.get(section)
        for at, item in enumerate(items) if isinstance(items, list) else items.items() if isinstance(items, dict) else ():
            checks.append((_SchemaCheck(section, _json(item), item), (section, at)))
    for (check, path), valid in zip(checks, _validity([c for c, _ in checks], memo)):
        if valid:
            continue
        errors = list(_validator(check.section).iter_errors(check.value))
        for error in errors:
            error.path.extendleft(reversed(path))  # paths relative to the spec, as the translation expects
        yield from errors


# Items still to check before a helper process takes half of them (below, forking costs more than it saves).
PARALLEL_MIN_ITEMS = 400


def _validity(checks: list[_SchemaCheck], memo: "Memo | None") -> list[bool]:
    """Whether each check passes: remembered, or checked here and, for large specs, half in a helper process."""
    from ..build import parallel
    from ..build.memo import Memo

    keys = [Memo.step_key(_valid, check) for check in checks] if memo is not None else []
    todo = [i for i in range(len(checks)) if memo is None or not memo.knows_key(keys[i])]
    half = len(todo) // 2 if len(todo) >= PARALLEL_MIN_ITEMS and parallel.available() else len(todo)
    mine, theirs = todo[:half], todo[half:]
    if theirs:
        _validators()  # built once, before the fork, for both processes
    partner = parallel.fork_helper(lambda _: [_valid(checks[i]) for i in theirs]) if theirs else None
    found = {i: _valid(checks[i]) for i in mine}
    delivered = partner.result() if partner is not None else None
    if partner is not None:
        partner.close()
    # Whatever the helper did not deliver (it failed, or could not start) is checked here.
    found.update(zip(theirs, delivered) if delivered is not None else ((i, _valid(checks[i])) for i in theirs))
    for i, valid in found.items() if memo is not None else ():
        memo.get(keys[i], lambda valid=valid: valid)  # only validity is remembered (None is not kept)
    return [bool(found[i]) if i in found else True for i in range(len(checks))]


def _valid(check: _SchemaCheck) -> bool | None:
    """True when valid; None otherwise, so that only validity is remembered and errors are reported afresh."""
    return True if _validator(check.section).is_valid(check.value) else None


def _validator(section: str) -> Any:
    top, items = _validators()
    return items[section] if section else top


def _json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=_tagged)


def _outline(data: dict) -> dict:
    """The spec with item sections reduced to what the top-level validator checks of them."""
    shapes = {
        section: ["list", len(value)] if isinstance(value, list) else ["dict", sorted(value)] if isinstance(value, dict) else value
        for section, value in data.items()
        if section in _ITEM_SECTIONS
    }
    return {**{k: v for k, v in data.items() if k not in _ITEM_SECTIONS}, **shapes}


def _tagged(value: Any) -> list:
    """A non-JSON value (a YAML date) told apart from a string with the same text."""
    return [type(value).__name__, str(value)]


def _translate(error, spec: LoadedSpec) -> Iterator[Diagnostic]:
    path = tuple(error.absolute_path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}

    def at(where: JsonPath, message: str, hint: str = "", key: bool = False) -> Diagnostic:
        return Diagnostic(spec.location(where, at_key=key), message, hint or _described(schema), format_path(where), phase=0)

    if _is_secret(path):
        yield at(
            path,
            f"literal secret in `{path[-1]}`: secrets may only come from the environment",
            f"write `{path[-1]}: {{env: {_suggest_env_name(path)}}}` and set that variable where the tools run",
        )
        return
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(schema.get("properties", {}))
        for extra in sorted(set(error.instance) - set(allowed)):
            yield at(
                path + (extra,),
                f"unknown key '{extra}' in {_describe(path)}",
                did_you_mean(extra, allowed, "keys"),
                key=True,
            )
    elif kind == "required":
        missing = error.validator_value
        for name in missing:
            if isinstance(error.instance, dict) and name not in error.instance:
                described = schema.get("properties", {}).get(name, {}).get("description", "")
                yield at(path, f"{_describe(path)} is missing the required key '{name}'", described)
    elif kind == "type":
        expected = error.validator_value
        expected = expected if isinstance(expected, list) else [expected]
        names = dict(_TYPE_NAMES, object="`{env: NAME}`") if "env" in schema.get("required", ()) else _TYPE_NAMES
        wanted = " or ".join(names.get(t, t) for t in expected)
        yield at(path, f"{_describe(path)} must be {wanted}, not {_type_of(error.instance)}", _unquote_hint(error.instance, expected))
    elif kind == "enum":
        options = [str(v) for v in error.validator_value]
        value = error.instance
        yield at(
            path,
            f"{_describe(path)} has unknown value {_short(value)}; expected one of: {', '.join(options)}",
            did_you_mean(str(value), options, "values") if isinstance(value, str) else "",
        )
    elif kind == "const":
        yield at(
            path,
            f"{_describe(path)} must be {json.dumps(error.validator_value)}, not {_short(error.instance)}",
            f"this meshgen reads spec language version {json.dumps(error.validator_value)}; write `{path[-1] if path else 'meshgen'}: {json.dumps(error.validator_value)}`"
            " (or install the meshgen release that reads yours)",
        )
    elif kind == "pattern":
        reason = schema.get("patternErrorMessage") or f"must match {error.validator_value}"
        suggestion = _pattern_suggestion(str(error.instance), error.validator_value)
        hint = f"did you mean '{suggestion}'?" if suggestion else ""
        if "propertyNames" in error.schema_path:  # a bad key: point at the key itself
            yield at(path + (error.instance,), f"name {_short(error.instance)} in {_describe(path)} {reason}", hint or _NAME_HINT, key=True)
        else:
            yield at(path, f"{_describe(path)} {_short(error.instance)} {reason}", hint)
    elif kind in ("minItems", "minProperties", "minLength"):
        yield at(path, f"{_describe(path)} must not be empty" if error.validator_value == 1 else _plain(error, path))
    else:
        yield at(path, _plain(error, path))


_NAME_HINT = "names are lowercase so they mean the same on every warehouse: letters, digits and underscores, not starting with a digit"


def _described(schema: dict) -> str:
    """The fallback hint: what the schema says the key is."""
    described = schema.get("description", "") if isinstance(schema, dict) else ""
    return f"expected: {described}" if described else "see `meshgen schema` for what this key takes"


def _unquote_hint(value: Any, expected: list) -> str:
    """A number or boolean written as a quoted string: say so."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if ("integer" in expected and text.lstrip("-").isdigit()) or (text.lower() in ("true", "false") and "boolean" in expected):
        return f"write {text.lower() if 'boolean' in expected else text} without quotes"
    return ""


def _pattern_suggestion(value: str, pattern: str) -> str:
    """The value made to fit a name pattern (lowercased, other characters as underscores), if that is enough."""
    import re

    if not pattern.startswith("^[a-z"):  # only names are worth correcting
        return ""

    fixed = re.sub(r"[^a-z0-9_.]+", "_", value.strip().lower()).strip("_")
    parts = fixed.split(".")
    candidates = [fixed, ".".join(parts[:2]), "_".join(parts)]
    return next((c for c in candidates if c and c != value and re.search(pattern, c)), "")


def _plain(error, path: JsonPath) -> str:
    return f"{_describe(path)}: {error.message}"


def _is_secret(path: JsonPath) -> bool:
    return len(path) >= 3 and path[0] == "gateways" and path[2] in secret_keys()


def _suggest_env_name(path: JsonPath) -> str:
    return f"{str(path[1]).upper()}_{str(path[2]).upper()}"


def _describe(path: JsonPath) -> str:
    if not path:
        return "the spec"
    return f"`{format_path(path)}`"


def _type_of(value: Any) -> str:
    if value is None:
        return "null (an empty value)"
    if isinstance(value, bool):
        return "true/false"
    for python_type, name in ((str, "string"), (int, "integer"), (float, "number"), (dict, "object"), (list, "array")):
        if isinstance(value, python_type):
            return _TYPE_NAMES[name]
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{shown(value)}'"
    return text if len(text) <= 70 else text[:67] + "...'"
