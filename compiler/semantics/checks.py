"""A contract's constraints as typed checks on the rows, the one source of every target's tests.

SQLMesh writes them as audits, dbt as data tests (and warehouse constraints),
the contract documents as ODCS quality rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Union

from ..ir import Column, Contract


@dataclass(frozen=True)
class NotNull:
    column: str


@dataclass(frozen=True)
class Unique:
    column: str


@dataclass(frozen=True)
class AcceptedValues:
    column: str
    values: tuple


@dataclass(frozen=True)
class Range:
    column: str
    low: float | int | None
    high: float | int | None


@dataclass(frozen=True)
class Expression:
    """A boolean condition every row must meet (its parsed form is `Analysis.checks[text]`)."""

    column: str
    text: str


@dataclass(frozen=True)
class References:
    """Every non-null value is a value of `to_column` in `table` (a foreign key; `table` is an upstream)."""

    column: str
    table: str
    to_column: str


Check = Union[NotNull, Unique, AcceptedValues, Range, Expression, References]


@lru_cache(maxsize=1 << 14)
def column_checks(column: Column) -> tuple[Check, ...]:
    """A column's checks: not null and unique first (a primary key is both), then its constraints in order."""
    checks: list[Check] = []
    if column.not_null:
        checks.append(NotNull(column.name))
    if column.unique:
        checks.append(Unique(column.name))
    for constraint in column.constraints:
        if constraint.kind == "accepted_values":
            checks.append(AcceptedValues(column.name, constraint.values))
        elif constraint.kind == "range":
            checks.append(Range(column.name, constraint.low, constraint.high))
        elif constraint.kind == "check":
            checks.append(Expression(column.name, constraint.expression))
        elif constraint.kind == "references":
            checks.append(References(column.name, constraint.referenced_table, constraint.referenced_column))
    return tuple(checks)


def contract_checks(contract: Contract | None) -> list[Check]:
    return [check for column in (contract.columns if contract else ()) for check in column_checks(column)]


_CHECK_PREFIX = {
    NotNull: "not_null",
    Unique: "unique",
    AcceptedValues: "accepted_values",
    Range: "range",
    Expression: "check",
    References: "references",
}


def referenced_tables(contract: Contract | None) -> set[str]:
    """The tables a contract's `references` constraints read: the model depends on them."""
    return {c.table for c in contract_checks(contract) if isinstance(c, References)}


def check_kind(check: Check) -> str:
    """not_null | unique | accepted_values | range | check | references: what the constraint asks."""
    return _CHECK_PREFIX[type(check)]


def named_checks(contract: Contract | None) -> list[tuple[str, Check]]:
    """Each check with a name unique within its model (`not_null_customer_id`), as orchestrators show it.

    Names keep to letters, digits and `_`; a second check of one kind on one column gets `_2`.
    """
    named: list[tuple[str, Check]] = []
    seen: dict[str, int] = {}
    for check in contract_checks(contract):
        base = f"{check_kind(check)}_{re.sub(r'[^A-Za-z0-9_]', '_', check.column)}"
        seen[base] = seen.get(base, 0) + 1
        named.append((base if seen[base] == 1 else f"{base}_{seen[base]}", check))
    return named


def describe_check(check: Check) -> str:
    """A check in words, as orchestrators list it."""
    if isinstance(check, NotNull):
        return f"{check.column} is never null"
    if isinstance(check, Unique):
        return f"{check.column} is unique"
    if isinstance(check, AcceptedValues):
        return f"{check.column} is one of {', '.join(str(v) for v in check.values)}"
    if isinstance(check, Range):
        low = "" if check.low is None else f"at least {check.low}"
        high = "" if check.high is None else f"at most {check.high}"
        return f"{check.column} is {' and '.join(p for p in (low, high) if p)}"
    if isinstance(check, References):
        return f"{check.column} is a {check.to_column} of {check.table}"
    return f"{check.text} holds on every row"
