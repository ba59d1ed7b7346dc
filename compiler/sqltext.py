"""SQL generation shared by the targets: one generator per dialect, reused.

Building a sqlglot generator is costly (measured ~7 ms with the compiled
sqlglot); reusing one per dialect keeps generation near 1 ms per model.
"""

from __future__ import annotations

from functools import cache
from typing import Callable

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel

from .errors import Location, MeshgenError, fail


@cache
def _generator(dialect: str, pretty: bool, comments: bool = False, **options):
    return Dialect.get_or_raise(dialect).generator(pretty=pretty, comments=comments, **options)


def generate(expression: exp.Expression, dialect: str, pretty: bool = True, owned: bool = False) -> str:
    """SQL text; `owned`: the caller's own copy, which generation may change (saves copying it again)."""
    return _generator(dialect, pretty).generate(expression, copy=not owned)


def sql_of(expression: exp.Expression, dialect: str) -> str:
    """What `expression.sql(dialect=...)` writes (comments kept), with the dialect's reused generator.

    `Expression.sql` builds a new generator on every call, which with the compiled
    sqlglot re-parses the dialect's SQL templates each time (about 3 ms for DuckDB).
    """
    return _generator(dialect, False, True).generate(expression, copy=True)


def unsupported_constructs(expression: exp.Expression, dialect: str) -> list[str]:
    """What sqlglot reports it cannot express when it writes the expression in `dialect` (the text is dropped)."""
    generator = _generator(dialect, False, False, unsupported_level=ErrorLevel.IGNORE)
    generator.generate(expression, copy=True)
    return list(dict.fromkeys(generator.unsupported_messages))


def compiled_sqlglot() -> bool:
    """Whether this Python's sqlglot is the compiled build (sqlglotc, meshgen's `fast` extra)."""
    import sqlglot.parser

    return not sqlglot.parser.__file__.endswith(".py")


def sqlmesh_beside_compiled(where: str) -> MeshgenError:
    """SQLMesh subclasses sqlglot's classes, which the compiled build forbids: it fails to import beside it."""
    return fail(
        Location(where),
        "SQLMesh cannot run beside the compiled sqlglot (sqlglotc) installed in its Python: its classes extend sqlglot's",
        "run `pip uninstall sqlglotc` in that environment; meshgen's `fast` extra is for environments without SQLMesh "
        "(a pre-commit hook, a CI step that only builds)",
    )


# Words PostgreSQL reserves (DuckDB's parser is PostgreSQL's): as bare names they are read as syntax,
# and sqlglot, which parses them leniently, leaves them unquoted.
RESERVED_WORDS = frozenset(
    """all analyse analyze and any array as asc asymmetric both case cast check collate column constraint
    create current_catalog current_date current_role current_time current_timestamp current_user default
    deferrable desc distinct do else end except false fetch for foreign from grant group having in initially
    intersect into lateral leading limit localtime localtimestamp not null offset on only or order placing
    primary references returning select session_user some symmetric table then to trailing true union
    unique user using variadic when where window with""".split()
)


def identifier_node(name: str, dialect: str) -> exp.Identifier:
    """A name as the dialect must write it: quoted when it is a reserved word or the dialect folds its case."""
    if name.lower() in RESERVED_WORDS:
        return exp.to_identifier(name, quoted=True)
    return Dialect.get_or_raise(dialect).quote_identifier(exp.to_identifier(name), identify=False)


@cache
def identifier(name: str, dialect: str) -> str:
    return sql_of(identifier_node(name, dialect), dialect)


def literal(value, dialect: str) -> str:
    """A Python bool, number or string as a SQL literal of the dialect."""
    if isinstance(value, bool):
        node = exp.Boolean(this=value)
    elif isinstance(value, (int, float)):
        node = exp.Literal.number(value)
    else:
        node = exp.Literal.string(str(value))
    return generate(node, dialect, pretty=False)


def rewrite_tables(query: exp.Query, replace: Callable[[str, exp.Table], exp.Expression | None]) -> exp.Query:
    """A copy of the query with table references swapped.

    `replace(name, table)` gets each `schema.table` reference (CTE names and
    table functions are not passed) and returns the expression to put in its
    place, or None to keep it. Aliases are kept.
    """
    copy = query.copy()
    for table in list(copy.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier) or not table.db:
            continue
        replacement = replace(f"{table.db}.{table.name}".lower(), table)
        if replacement is not None:
            table.replace(replacement)
    return copy


def with_time_range(
    query: exp.Query, time_column: str, in_range: Callable[[exp.Expression], exp.Expression], subquery: str
) -> exp.Query:
    """The query restricted to the rows whose `time_column` passes `in_range`, filtering its input where that is the same.

    The predicate goes into the query's own WHERE, on the expression the time column
    is made of, when that keeps the result equal: a single SELECT without window
    functions, DISTINCT or LIMIT, and, if it aggregates, the expression is one of its
    GROUP BY keys (a filter on a group key is the same before or after grouping).
    Otherwise the query is wrapped and its output filtered. `query` is the caller's
    own copy; the result may share its nodes.
    """
    source = _time_source(query, time_column)
    if source is not None:
        return query.where(in_range(source.copy()), copy=False)
    column = exp.column(time_column, table=subquery)
    return exp.select("*").from_(query.subquery(subquery)).where(in_range(column))


def _time_source(query: exp.Query, time_column: str) -> exp.Expression | None:
    """The expression the time column is made of, when filtering on it in the WHERE is equivalent."""
    if not isinstance(query, exp.Select):
        return None
    if any(query.args.get(key) for key in ("distinct", "limit", "offset", "qualify")):
        return None
    projection = next((s for s in query.selects if s.alias_or_name == time_column), None)
    if projection is None or any(s.find(exp.Window) for s in query.selects):
        return None
    source = projection.unalias()
    if isinstance(source, exp.Star) or source.find(exp.AggFunc, exp.Window, exp.Subquery, exp.Query, exp.Rand):
        return None
    aliases = {s.alias for s in query.selects if s.alias and s is not projection}
    if any(not c.table and c.name in aliases for c in source.find_all(exp.Column)):
        return None  # it reads another output column by its alias, which a WHERE cannot see everywhere
    group = query.args.get("group")
    if group is not None:
        if group.args.get("rollup") or group.args.get("cube") or group.args.get("grouping_sets"):
            return None
        if not any(key == source for key in group.expressions):
            return None
    elif any(s.find(exp.AggFunc) for s in query.selects):
        return None
    return source
