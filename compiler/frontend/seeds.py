"""Seed files: read once, typed once, so both engines load the same table.

SQLMesh reads a seed with pandas and dbt with agate; left to themselves they
guess different types (BIGINT vs INTEGER, VARCHAR vs DATE) and read different
strings as NULL. meshgen reads the CSV itself, infers one type per column
(or takes the contract's), and declares it to both. Only an empty field is
NULL; a value that either reader would take for NULL is refused.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

# What agate (dbt) reads as NULL besides "", compared lower-case; SQLMesh's pandas is told to read only "" as NULL.
_DBT_NULLS = {"null"}
_INTEGER = re.compile(r"^[+-]?(0|[1-9][0-9]*)$")
_CANONICAL_INTEGER = re.compile(r"^(0|-?[1-9][0-9]*)$")  # what an integer reads back as
_NUMBER = re.compile(r"^[+-]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")  # a leading zero is text
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_BOOLEAN = {"true", "false"}
# pandas turns a column whose every value looks like a number into numbers, before SQLMesh casts it back to text.
_PANDAS_NUMBER = re.compile(r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$|^\s*[+-]?(inf|infinity|nan)\s*$", re.I)


@dataclass(frozen=True)
class SeedTable:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # as written; "" is NULL

    def values(self, column: str) -> list[str]:
        index = self.header.index(column)
        return [row[index] for row in self.rows]


class SeedError(ValueError):
    """A seed file meshgen cannot load the same way on both engines."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def read(text: str) -> SeedTable:
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise SeedError(f"not a readable CSV file: {error}", "save it as comma-separated values, quoting fields that hold commas or quotes") from None
    lines = [line for line in lines if line]
    if not lines:
        raise SeedError("the file is empty", "the first line names the columns")
    header = tuple(name.strip() for name in lines[0])
    if len(set(header)) != len(header) or not all(header):
        raise SeedError(f"the header has empty or repeated column names: {', '.join(header)}", "give every column of the first line its own name")
    for number, line in enumerate(lines[1:], start=2):
        if len(line) != len(header):
            raise SeedError(
                f"line {number} has {len(line)} fields; the header has {len(header)}",
                "every line needs one field per column; quote a field that holds a comma",
            )
        for column, value in zip(header, line):
            if value.strip().lower() in _DBT_NULLS:
                raise SeedError(
                    f"line {number}, column {column}: '{value}' reads as NULL in dbt but as text in SQLMesh",
                    "leave the field empty for NULL",
                )
    return SeedTable(header, tuple(tuple(line) for line in lines[1:]))


def infer_type(values: list[str]) -> str:
    """One type for a column: the narrowest of bigint, double, boolean, date, timestamp that fits every value, else varchar."""
    present = [v for v in values if v != ""]
    if not present:
        return "varchar"
    if all(_INTEGER.match(v) for v in present):
        return "bigint"
    if all(_NUMBER.match(v) for v in present):
        return "double"
    if all(v.lower() in _BOOLEAN for v in present):
        return "boolean"
    if all(_DATE.match(v) for v in present):
        return "date"
    if all(_TIMESTAMP.match(v) for v in present):
        return "timestamp"
    return "varchar"


def pandas_changes_text(values: list[str]) -> bool:
    """Whether SQLMesh, reading a text column with pandas, would store other strings than the file holds.

    pandas reads a column whose every value looks like a number (or a boolean) as
    numbers (booleans), and SQLMesh turns them back into text: `0742` becomes `742`,
    and in a column with an empty field `5411` becomes `5411.0`.
    """
    present = [v for v in values if v != ""]
    if not present:
        return False
    if all(v.strip().lower() in _BOOLEAN for v in present):
        return not all(v in ("True", "False") for v in present)
    if not all(_PANDAS_NUMBER.match(v) for v in present):
        return False
    return len(present) < len(values) or not all(_CANONICAL_INTEGER.match(v) for v in present)
