"""A model's output column names read off its SQL, for the models whose column types nothing reads.

sqlglot's `qualify` and `annotate_types` (in `sql.typed_output`) work on a copy of
the tree and type every expression: most of a cold build. For the common shape
of model SQL (CTEs over tables, joins with ON, plain and aliased columns) the
names alone can be read directly, and every column checked to belong to exactly
one table it reads. Whenever that reading is not certain (a subquery, a star
over a join, a quoted or mixed-case name, a column no table or several tables
have) the answer is None and the full analysis decides, so diagnostics and
output stay what `qualify` gives.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import NormalizationStrategy

# Select clauses the reading knows; a select using any other is left to qualify.
_CLAUSES = {"expressions", "from", "from_", "joins", "where", "group", "having", "qualify", "order", "limit", "offset", "distinct"}
_JOIN_ARGS = {"this", "side", "kind", "on"}
# Nodes that bring scopes or names of their own (subqueries, lambdas, unnest, struct access).
_BEYOND = (exp.Query, exp.Subquery, exp.Lambda, exp.Unnest, exp.Lateral, exp.Pivot, exp.Values, exp.Dot, exp.Placeholder, exp.Parameter)


class _Unsure(Exception):
    """The reading cannot tell what qualify would find."""


def output_names(query: exp.Query, tables: Mapping[str, Sequence[str]], dialect: str) -> list[str] | None:
    """The query's output column names over `tables` (schema.table -> its column names), or None when not certain."""
    if not _folds_to_lowercase(dialect) or not isinstance(query, exp.Select):
        return None
    try:
        known: dict[str, Sequence[str]] = {}
        for cte in query.ctes:
            if cte.alias_column_names or not isinstance(cte.this, exp.Select) or cte.alias in known:
                return None
            known[_name(cte.args["alias"].this)] = _select_names(cte.this, tables, known)
        return _select_names(query, tables, known)
    except _Unsure:
        return None


def _folds_to_lowercase(dialect: str) -> bool:
    """Whether the dialect reads an unquoted lowercase name as itself (DuckDB, PostgreSQL; not Snowflake)."""
    strategy = sqlglot.Dialect.get_or_raise(dialect).NORMALIZATION_STRATEGY
    return strategy in (NormalizationStrategy.LOWERCASE, NormalizationStrategy.CASE_INSENSITIVE)


def _name(identifier: exp.Expression | None) -> str:
    """An unquoted lowercase name: the only spelling whose normalisation is itself."""
    if not isinstance(identifier, exp.Identifier) or identifier.quoted or identifier.this != identifier.this.lower():
        raise _Unsure
    return identifier.this


def _select_names(select: exp.Select, tables: Mapping[str, Sequence[str]], ctes: Mapping[str, Sequence[str]]) -> list[str]:
    if any(value and key not in _CLAUSES for key, value in select.args.items() if key not in ("with", "with_")):
        raise _Unsure
    sources = _sources(select, tables, ctes)
    aliases = {_name(s.args["alias"]) for s in select.expressions if isinstance(s, exp.Alias)}
    for key, value in select.args.items():
        if key in ("with", "with_") or not value:
            continue
        for part in value if isinstance(value, list) else [value]:
            if not isinstance(part, exp.Expression):
                continue
            for node in part.walk():
                if isinstance(node, _BEYOND) or (isinstance(node, exp.Star) and any(node.args.values())):
                    raise _Unsure
                if isinstance(node, exp.Column):  # an output alias is read as such in ORDER BY only (elsewhere, qualify decides)
                    _resolve(node, sources, aliases if key == "order" else set())
    names = _projection_names(select, sources)
    if len(set(names)) != len(names):
        raise _Unsure  # duplicates: validation reports them from the full analysis
    return names


def _sources(select: exp.Select, tables: Mapping[str, Sequence[str]], ctes: Mapping[str, Sequence[str]]) -> dict[str, Sequence[str]]:
    """What the select reads, by the name its columns use (alias or table name) -> its column names."""
    start = select.args.get("from_") or select.args.get("from")
    if start is None:
        raise _Unsure
    joins = select.args.get("joins") or []
    if any(set(k for k, v in join.args.items() if v) - _JOIN_ARGS for join in joins):
        raise _Unsure  # USING, NATURAL, ASOF and the like
    found: dict[str, Sequence[str]] = {}
    for table in [start.this] + [join.this for join in joins]:
        if not isinstance(table, exp.Table) or set(k for k, v in table.args.items() if v) - {"this", "db", "alias"}:
            raise _Unsure
        alias = table.args.get("alias")
        if alias is not None and alias.columns:
            raise _Unsure
        name, db = _name(table.this), table.args.get("db")
        columns = tables.get(f"{_name(db)}.{name}") if db is not None else ctes.get(name)
        binding = _name(alias.this) if alias is not None else name
        if columns is None or binding in found or any(c != c.lower() for c in columns):
            raise _Unsure  # columns not known, two tables under one name, or names qualify would normalise
        found[binding] = columns
    return found


def _resolve(column: exp.Column, sources: Mapping[str, Sequence[str]], aliases: set[str]) -> None:
    """Raise unless the column belongs to exactly one source (or names an output alias outside the projection)."""
    if set(k for k, v in column.args.items() if v) - {"this", "table"} or not isinstance(column.this, exp.Identifier):
        raise _Unsure
    name = _name(column.this)
    table = column.args.get("table")
    if table is not None:
        if name not in sources.get(_name(table), ()):
            raise _Unsure
        return
    having = sum(name in columns for columns in sources.values())
    if having != 1 and not (having == 0 and name in aliases):
        raise _Unsure


def _projection_names(select: exp.Select, sources: Mapping[str, Sequence[str]]) -> list[str]:
    names: list[str] = []
    for projection in select.expressions:
        if isinstance(projection, exp.Star):
            if len(sources) != 1:
                raise _Unsure
            names.extend(next(iter(sources.values())))
        elif isinstance(projection, exp.Alias):
            names.append(_name(projection.args["alias"]))
        elif isinstance(projection, exp.Column):
            names.append(_name(projection.this))
        else:
            raise _Unsure  # an unnamed output: validation reports it from the full analysis
    return names
