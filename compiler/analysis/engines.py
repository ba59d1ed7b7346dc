"""Engine assignment: pin > first matching override > first matching rule > default.

Every decision keeps its trail (each override and rule tried, and why it did
or did not match) so `meshgen explain` can show it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..ir import Condition, Engines, Model

_COMPARE = {"gt": (operator.gt, ">"), "gte": (operator.ge, ">="), "lt": (operator.lt, "<"), "lte": (operator.le, "<=")}


@dataclass(frozen=True)
class Step:
    kind: str  # pin | override | rule | default
    name: str  # rule name, override globs, or ""
    engine: str
    matched: bool
    reason: str


@dataclass(frozen=True)
class Decision:
    engine: str
    decided_by: Step
    trail: tuple[Step, ...]  # every step tried, in order, the deciding one last

    @property
    def summary(self) -> str:
        step = self.decided_by
        label = {"pin": "pinned by the model's `engine`", "default": "engines.default"}.get(step.kind)
        return label or f"{step.kind} {step.name}"


def decide(model: Model, engines: Engines) -> Decision:
    trail: list[Step] = []
    if model.engine_pin:
        step = Step("pin", "", model.engine_pin, True, f"model sets `engine: {model.engine_pin}`")
        return Decision(model.engine_pin, step, (step,))
    for override in engines.overrides:
        hits = [glob for glob in override.models if fnmatchcase(model.name, glob)]
        name = ", ".join(override.models)
        reason = f"name matches {hits[0]}" if hits else f"name matches none of {name}"
        if override.reason and hits:
            reason += f" ({override.reason})"
        step = Step("override", name, override.engine, bool(hits), reason)
        trail.append(step)
        if hits:
            return Decision(override.engine, step, tuple(trail))
    for rule in engines.rules:
        matched, reason = evaluate(rule.when, model)
        step = Step("rule", rule.name, rule.engine, matched, reason)
        trail.append(step)
        if matched:
            return Decision(rule.engine, step, tuple(trail))
    step = Step("default", "", engines.default, True, "no override or rule matched")
    trail.append(step)
    return Decision(engines.default, step, tuple(trail))


def evaluate(condition: Condition, model: Model) -> tuple[bool, str]:
    """Whether the condition holds, and a sentence saying why (every part must hold)."""
    checks: list[tuple[bool, str]] = []
    for field, actual in (
        ("language", model.language),
        ("layer", model.layer),
        ("domain", model.domain),
        ("kind", model.kind),
    ):
        wanted = getattr(condition, field)
        if wanted:
            checks.append(_one_of(field, actual, wanted))
    if condition.tags:
        shared = sorted(set(model.tags) & set(condition.tags))
        checks.append(
            (True, f"has tag {shared[0]}") if shared else (False, f"has none of the tags {', '.join(condition.tags)}")
        )
    if condition.name:
        hit = next((g for g in condition.name if fnmatchcase(model.name, g)), None)
        checks.append((True, f"name matches {hit}") if hit else (False, f"name matches none of {', '.join(condition.name)}"))
    if condition.attribute:
        checks.append(_attribute(condition, model))
    if condition.any_of:
        results = [evaluate(c, model) for c in condition.any_of]
        hit = next((r for r in results if r[0]), None)
        checks.append(hit if hit else (False, "none of: " + "; ".join(r[1] for r in results)))
    if condition.all_of:
        results = [evaluate(c, model) for c in condition.all_of]
        miss = next((r for r in results if not r[0]), None)
        checks.append(miss if miss else (True, " and ".join(r[1] for r in results)))
    if condition.negated:
        matched, reason = evaluate(condition.negated, model)
        checks.append((not matched, f"not ({reason})"))
    failed = [reason for ok, reason in checks if not ok]
    if failed:
        return False, "; ".join(failed)
    return True, " and ".join(reason for _, reason in checks)


def _one_of(field: str, actual: str, wanted: tuple[str, ...]) -> tuple[bool, str]:
    shown = actual or "(none)"
    if actual in wanted:
        return True, f"{field} is {shown}"
    options = wanted[0] if len(wanted) == 1 else "one of " + ", ".join(wanted)
    return False, f"{field} is {shown}, not {options}"


def _attribute(condition: Condition, model: Model) -> tuple[bool, str]:
    key, op, operand = condition.attribute, condition.operator, condition.operand
    if key not in model.attributes:
        return False, f"attribute {key} is not set"
    value = model.attributes[key]
    if op == "equals":
        return value == operand, f"attribute {key} is {value!r}" + ("" if value == operand else f", not {operand!r}")
    if op == "in":
        return value in operand, f"attribute {key} is {value!r}" + ("" if value in operand else f", not one of {list(operand)}")
    compare, symbol = _COMPARE[op]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False, f"attribute {key} is {value!r}, not a number to compare with {symbol} {operand}"
    held = compare(value, operand)
    return held, f"attribute {key} = {value} {'' if held else 'is not '}{symbol} {operand}".replace("  ", " ")
