"""A contract's constraints as typed checks on the rows, the one source of every target's tests.

SQLMesh writes them as audits, dbt as data tests (and warehouse constraints),
the contract documents as ODCS quality rules.
"""

from __future__ import annotations

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


Check = Union[NotNull, Unique, AcceptedValues, Range, Expression]


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
    return tuple(checks)


def contract_checks(contract: Contract | None) -> list[Check]:
    return [check for column in (contract.columns if contract else ()) for check in column_checks(column)]
