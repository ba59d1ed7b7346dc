"""Column types: one system, on sqlglot, for every target and check.

A spec type is written in the project's dialect. Each target spells it its
own way (SQLMesh's `columns`, dbt's `data_type` for the warehouse, an ODCS
logical type), analysis compares families, and change safety compares widths.
"""

from __future__ import annotations

import re
from functools import lru_cache

from sqlglot import exp
from sqlglot.errors import SqlglotError

from ..sqltext import sql_of
from ..warehouses import warehouse

_CLASSES = {
    "number": exp.DataType.INTEGER_TYPES | exp.DataType.REAL_TYPES,
    "text": exp.DataType.TEXT_TYPES,
    "boolean": {exp.DataType.Type.BOOLEAN},
    "date": {exp.DataType.Type.DATE, exp.DataType.Type.DATE32},
    "time": {exp.DataType.Type.TIME, exp.DataType.Type.TIMETZ},
}
_TIMESTAMPS = exp.DataType.TEMPORAL_TYPES - _CLASSES["date"] - _CLASSES["time"]


@lru_cache(maxsize=None)
def type_class(sql_type: str, dialect: str) -> str:
    """A coarse family (number, text, boolean, date, time, timestamp) or "" when unknown."""
    if not sql_type:
        return ""
    try:
        dtype = exp.DataType.build(sql_type, dialect=dialect)
    except (SqlglotError, ValueError):
        return ""
    for name, members in _CLASSES.items():
        if dtype.this in members:
            return name
    return "timestamp" if dtype.this in _TIMESTAMPS else ""


@lru_cache(maxsize=None)
def valid_type(sql_type: str, dialect: str) -> bool:
    """A type the dialect knows, written whole: `DataType.build` alone reads `int int` as INT and `array<` as ARRAY."""
    import sqlglot

    try:
        dtype = exp.DataType.build(sql_type, dialect=dialect)
        sqlglot.parse_one(f"CAST(NULL AS {sql_type})", read=dialect)
    except (SqlglotError, ValueError):
        return False
    return dtype.this not in (exp.DataType.Type.USERDEFINED, exp.DataType.Type.UNKNOWN)


@lru_cache(maxsize=None)
def sqlmesh_type(type_text: str, dialect: str) -> str:
    """A type as SQLMesh's `columns` write it (sqlglot's spelling in the dialect)."""
    return sql_of(exp.DataType.build(type_text, dialect=dialect), dialect)


@lru_cache(maxsize=None)
def warehouse_type(type_text: str, source_dialect: str, warehouse_type_name: str) -> str:
    """A type as a warehouse spells it (dbt's `data_type`); a bare decimal gets the warehouse's precision and scale."""
    dtype = exp.DataType.build(type_text, dialect=source_dialect)
    bare_decimal = dtype.this == exp.DataType.Type.DECIMAL and "(" not in type_text
    defaults = warehouse(warehouse_type_name).decimal_default
    if bare_decimal and defaults:
        return f"decimal({defaults[0]},{defaults[1]})"
    if source_dialect == warehouse_type_name and warehouse(warehouse_type_name).accepts_sqlglot_types and not bare_decimal:
        return type_text.replace(", ", ",")  # the spec's own spelling, which this warehouse knows
    return sql_of(dtype, warehouse_type_name).lower().replace(", ", ",")


@lru_cache(maxsize=None)
def portable_type(type_text: str, source_dialect: str, warehouse_types: tuple[str, ...]) -> str:
    """One spelling of the type that each of the warehouses reads as its own, or "" when there is none.

    Each warehouse's own spelling is tried in turn: a warehouse accepts another's when it is
    the same text, or when it knows every sqlglot spelling and reads it as the same type.
    """
    own = {kind: warehouse_type(type_text, source_dialect, kind) for kind in warehouse_types}

    def accepts(kind: str, spelling: str) -> bool:
        if spelling == own[kind]:
            return True
        if not warehouse(kind).accepts_sqlglot_types:
            return False
        try:
            return exp.DataType.build(spelling, dialect=kind) == exp.DataType.build(own[kind], dialect=kind)
        except (SqlglotError, ValueError):
            return False

    return next((s for s in own.values() if all(accepts(k, s) for k in warehouse_types)), "")


# -- ODCS logical types ----------------------------------------------------------------

_LOGICAL_TYPES = {
    "integer": ("int", "integer", "bigint", "smallint", "tinyint", "hugeint", "int2", "int4", "int8"),
    "number": ("double", "float", "real", "decimal", "numeric", "double precision", "float4", "float8"),
    "boolean": ("boolean", "bool"),
    "date": ("date",),
    "timestamp": ("timestamp", "timestamptz", "datetime", "timestamp with time zone"),
}


def logical_type(sql_type: str) -> str:
    if sql_type.endswith("[]"):
        return "array"
    base = sql_type.split("(", 1)[0].strip()
    for logical, names in _LOGICAL_TYPES.items():
        if base in names:
            return logical
    return "string"


# -- widths, for change safety -------------------------------------------------------

_INTEGER_WIDTH = {"tinyint": 1, "smallint": 2, "int2": 2, "integer": 4, "int": 4, "int4": 4, "bigint": 8, "int8": 8, "hugeint": 16}
_FLOAT_WIDTH = {"real": 4, "float4": 4, "float": 8, "double": 8, "double precision": 8, "float8": 8}
_TEXT = ("varchar", "text", "string", "char", "character varying")


def type_change(old: str, new: str) -> str:
    """"" when equal, "widened" when every old value fits, else "narrowed" or "changed"."""
    if old == new:
        return ""
    base_old, args_old = _split_type(old)
    base_new, args_new = _split_type(new)
    if base_old in _INTEGER_WIDTH and base_new in _INTEGER_WIDTH:
        return "widened" if _INTEGER_WIDTH[base_new] >= _INTEGER_WIDTH[base_old] else "narrowed"
    if base_old in _FLOAT_WIDTH and base_new in _FLOAT_WIDTH:
        return "widened" if _FLOAT_WIDTH[base_new] >= _FLOAT_WIDTH[base_old] else "narrowed"
    if base_old in _INTEGER_WIDTH and (base_new in _FLOAT_WIDTH or base_new in ("decimal", "numeric")):
        return "widened"
    if base_old in ("decimal", "numeric") and base_new in ("decimal", "numeric"):
        precision_old, scale_old = (args_old + [18, 3])[:2]
        precision_new, scale_new = (args_new + [18, 3])[:2]
        fits = scale_new >= scale_old and precision_new - scale_new >= precision_old - scale_old
        return "widened" if fits else "narrowed"
    if base_old in _TEXT and base_new in _TEXT:
        if not args_new:
            return "widened"
        return "widened" if args_old and args_new[0] >= args_old[0] else "narrowed"
    return "changed"


def _split_type(text: str) -> tuple[str, list[int]]:
    match = re.match(r"^([a-z ]+?)\s*(?:\(([\d,\s]+)\))?$", text)
    if not match:
        return text, []
    args = [int(a) for a in match.group(2).split(",")] if match.group(2) else []
    return match.group(1).strip(), args
