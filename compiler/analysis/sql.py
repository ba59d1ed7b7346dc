"""Each model's SQL parsed once with sqlglot: table references and output columns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.schema import MappingSchema

from ..errors import Diagnostic, Location, closest
from ..ir import Model
from ..sqltext import generate, unsupported_constructs
from ..warehouses import overload_functions

Schema = dict[str, dict[str, dict[str, str]]]  # schema -> table -> column -> type


@dataclass(frozen=True)
class OutputColumn:
    name: str
    type: str  # the type as SQL in the project dialect; "" when it cannot be inferred


# What one model's SQL may hold. sqlglot parses deep nesting recursively and qualifies
# long AND/OR chains in quadratic time, so beyond these a model would crash or hang the
# build; each is far above hand-written SQL (use IN (...) for long lists of values).
MAX_SQL_CHARS = 100_000
MAX_NESTING = 100
MAX_BOOLEAN_TERMS = 500
_BOOLEAN = re.compile(r"\b(?:and|or)\b", re.IGNORECASE)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


def too_large(text: str) -> str:
    """Why the SQL is beyond what meshgen analyses, or "" (cheap: no parse)."""
    if len(text) > MAX_SQL_CHARS:
        return f"is {len(text):,} characters long, over the limit of {MAX_SQL_CHARS:,}"
    if text.count("(") > MAX_NESTING and _nesting(_QUOTED.sub("''", text)) > MAX_NESTING:
        return f"nests parentheses more than {MAX_NESTING} deep"
    if len(_BOOLEAN.findall(text)) > MAX_BOOLEAN_TERMS:
        return f"chains more than {MAX_BOOLEAN_TERMS} AND/OR terms"
    return ""


_JINJA = re.compile(r"\{\{|\{%|\{#")
_MACRO = re.compile(r"(?<!@)@\{?[A-Za-z_]\w*")
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def foreign_syntax(text: str) -> tuple[int, str, str] | None:
    """dbt Jinja or a SQLMesh macro in model SQL, outside string literals: (offset, message, hint)."""
    if "{" not in text and "@" not in text:
        return None
    blank = lambda m: " " * len(m.group())  # noqa: E731 - offsets kept
    bare = _COMMENT.sub(blank, _QUOTED.sub(blank, text))
    jinja = _JINJA.search(bare)
    if jinja:
        return jinja.start(), "dbt Jinja (`{{ ... }}`, `{% ... %}`) is not part of model SQL", (
            "write plain table names (schema.table): meshgen writes ref() and source() for dbt itself"
        )
    macro = _MACRO.search(bare)
    if macro:
        return macro.start(), f"SQLMesh macro `{macro.group()}` is not part of model SQL (each engine has its own)", (
            "a time-range model gets its interval filter from meshgen; for an absolute value write ABS(x)"
        )
    return None


def _nesting(text: str) -> int:
    depth = deepest = 0
    for match in re.finditer(r"[()]", text):
        depth += 1 if match.group() == "(" else -1
        deepest = max(deepest, depth)
    return deepest


def parse(model: Model, dialect: str) -> tuple[exp.Query | None, list[Diagnostic]]:
    """The model's SELECT as an AST, or diagnostics at the offending spec or file line."""
    sql = model.sql
    excess = too_large(sql.text)
    if excess:
        return None, [
            Diagnostic(
                sql.location,
                f"model '{model.name}': its SQL {excess}",
                "split it into several models (CTEs or upstream models), or use IN (...) instead of long OR chains",
            )
        ]
    foreign = foreign_syntax(sql.text)
    if foreign:
        return None, [Diagnostic(location_of(model, foreign[0]), f"model '{model.name}': {foreign[1]}", foreign[2])]
    try:
        statements = [s for s in sqlglot.parse(sql.text, dialect=dialect) if s is not None]
    except RecursionError:
        return None, [Diagnostic(sql.location, f"model '{model.name}': its SQL nests too deeply to analyse", "split it into CTEs or upstream models")]
    except ParseError as error:
        return None, [_parse_diagnostic(model, error)]
    except SqlglotError as error:
        return None, [
            Diagnostic(sql.location, f"model '{model.name}': cannot read its SQL: {error}", "check its quotes: a string or quoted name may be left open")
        ]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        found = "several statements" if len(statements) > 1 else f"a {type(statements[0]).__name__.upper()} statement" if statements else "nothing"
        return None, [
            Diagnostic(
                sql.location,
                f"model '{model.name}' must be a single SELECT query, found {found}",
                "write one SELECT (CTEs welcome) without a trailing `;`-separated statement; meshgen creates the table",
            )
        ]
    return statements[0], []


def parse_condition(text: str, dialect: str) -> tuple[exp.Expression | None, str]:
    """A contract `check`: one boolean expression over the row, or None and why it is not one."""
    if too_large(text):
        return None, f"it {too_large(text)}"
    try:
        parsed = sqlglot.parse_one(text, dialect=dialect, into=exp.Condition)
    except (SqlglotError, RecursionError):
        return None, "it is not a SQL condition"
    if isinstance(parsed, exp.Query) or parsed.find(exp.Query):
        return None, "it holds a subquery: a check tests one row, and cross-table checks are not supported"
    if isinstance(parsed, exp.Column):
        return None, "it is a bare column, not a condition"
    return parsed, ""


def _parse_diagnostic(model: Model, error: ParseError) -> Diagnostic:
    first = error.errors[0] if error.errors else {}
    line, col = first.get("line") or 1, first.get("col") or 1
    start = model.sql.location
    # Lines of a block scalar all carry its indentation; the first line starts at the scalar.
    location = Location(start.file, start.line + line - 1, col + start.col - 1)
    description = first.get("description", str(error)).split("\n")[0]
    highlight = (first.get("highlight") or "").strip()
    near = f" near '{highlight}'" if highlight else ""
    return Diagnostic(location, f"model '{model.name}': SQL syntax error{near}: {description}", "check the SQL of this model")


def table_references(query: exp.Query) -> tuple[dict[str, int], dict[str, int]]:
    """Qualified table names the query reads (CTE names excluded), and unqualified ones.

    Each maps to the character offset of its first mention in the SQL text.
    """
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    qualified: dict[str, int] = {}
    unqualified: dict[str, int] = {}
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # table functions such as range(10) or read_csv(...)
        first = table.args.get("catalog") or table.args.get("db") or table.this
        offset = first.meta.get("start", 0) if isinstance(first, exp.Expression) else 0
        if table.args.get("catalog"):
            unqualified.setdefault(table.sql(), offset)
        elif table.db:
            qualified.setdefault(f"{table.db}.{table.name}".lower(), offset)
        elif table.name not in ctes:
            unqualified.setdefault(table.name, offset)
    return dict(sorted(qualified.items())), dict(sorted(unqualified.items()))


def location_of(model: Model, offset: int) -> Location:
    """The spec (or sql_file) position of a character offset in the model's SQL."""
    text = model.sql.text
    line = text.count("\n", 0, offset)
    col = offset - (text.rfind("\n", 0, offset) + 1)
    start = model.sql.location
    # Every line of a block scalar carries the indentation of its first line.
    return Location(start.file, start.line + line, start.col + col)


@dataclass(frozen=True)
class TypedCall:
    """A call some warehouse may have no overload for, with the types sqlglot infers for it."""

    function: str  # sqlglot's expression class
    index: int  # its place among `typed_call_nodes(query)`
    arguments: tuple[tuple[str, str], ...]  # (argument name, type family: float, boolean or "")
    type: str  # the call's own type, as SQL of the project dialect ("" when unknown)
    offset: int  # where it starts in the model's SQL text


def typed_call_nodes(query: exp.Query) -> list[exp.Expression]:
    """The calls a warehouse's missing overloads name, in one fixed order (the index of `TypedCall`)."""
    return list(query.find_all(*_CALL_CLASSES)) if _CALL_CLASSES else []


_CALL_CLASSES = tuple(getattr(exp, name) for name in overload_functions())
_FLOATS = {exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE}


def _family(node: exp.Expression, float_division: bool) -> str:
    dtype = node.type
    if (dtype is not None and dtype.this in _FLOATS) or (float_division and _divides(node)):
        return "float"
    return "boolean" if dtype is not None and dtype.this == exp.DataType.Type.BOOLEAN else ""


_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Paren, exp.Neg)


def _divides(node: exp.Expression) -> bool:
    """Whether arithmetic holds a `/` that yields a double in the dialect (DuckDB's), whatever sqlglot infers.

    sqlglot writes such a division for other dialects with a cast to double, so on
    those warehouses the value is one, even where it infers a decimal.
    """
    if isinstance(node, exp.Div):
        return not node.args.get("typed")
    return isinstance(node, _ARITHMETIC) and any(_divides(child) for child in node.iter_expressions())


def _typed_calls(annotated: exp.Query, dialect: str, text: str) -> tuple[TypedCall, ...]:
    float_division = not sqlglot.Dialect.get_or_raise(dialect).TYPED_DIVISION
    found: dict[int, TypedCall] = {}
    for node in annotated.find_all(*_CALL_CLASSES) if _CALL_CLASSES else ():
        index = node.meta.get("meshgen_call")
        if index is None or index in found:  # a copy qualify made (an alias expanded) is the same call
            continue
        arguments = tuple((key, _family(value, float_division)) for key, value in node.args.items() if isinstance(value, exp.Expression))
        known = node.type is not None and not node.type.is_type(exp.DataType.Type.UNKNOWN)
        found[index] = TypedCall(type(node).__name__, index, arguments, type_text(node.type, dialect) if known else "", _start(node, text))
    return tuple(found[i] for i in sorted(found))


def _start(node: exp.Expression, text: str) -> int:
    """Where a call starts in the SQL: its own position, or the name before the first argument sqlglot placed."""
    if "start" in node.meta:
        return node.meta["start"]
    inner = [n.meta["start"] for n in node.walk() if "start" in n.meta]
    if not inner:
        return 0
    position = text.rfind("(", 0, min(inner))
    while position > 0 and (text[position - 1].isalnum() or text[position - 1] == "_"):
        position -= 1
    return max(position, 0)


def unsupported_in(query: exp.Query, dialect: str) -> list[str]:
    """What sqlglot reports it cannot express when it writes the query in another dialect."""
    return unsupported_constructs(query, dialect)


def typed_output(query: exp.Query, schema: Schema, dialect: str, text: str = "") -> tuple[tuple[OutputColumn, ...] | None, tuple[TypedCall, ...], list[list]] | None:
    """Output column names and inferred types (None when not inferable: `SELECT *` is expanded from the
    known schemas), the typed calls and the unresolved columns; None when sqlglot cannot type the query."""
    copy = query.copy()
    for index, node in enumerate(typed_call_nodes(copy)):
        node.meta["meshgen_call"] = index
    try:
        # One schema object for both passes, its column types built once per process: sqlglot
        # would otherwise parse every upstream column type again for each pass of each model.
        mapping = MappingSchema(
            {db: {table: {column: _schema_type(t, dialect) for column, t in columns.items()} for table, columns in tables.items()}
             for db, tables in schema.items()},
            dialect=dialect,
        )
        qualified = qualify(
            copy,
            schema=mapping,
            dialect=dialect,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
        unresolved = unresolved_columns(qualified, schema)
        annotated = annotate_types(qualified, schema=mapping, dialect=dialect)
    except SqlglotError:
        return None
    return _output(annotated, dialect), _typed_calls(annotated, dialect, text), unresolved


def exactly_typed_outputs(query: exp.Query) -> list[str]:
    """Output columns whose type every engine computes the same way: a CAST to a type, or a COUNT (bigint)."""
    return [
        select.alias_or_name
        for select in query.selects
        if isinstance(select.unalias(), (exp.Cast, exp.Count)) and not isinstance(select.unalias(), exp.TryCast)
    ]


def unnamed_outputs(query: exp.Query) -> list[int]:
    """Offsets of output expressions without a name (`SELECT a + 1`): each engine would invent a different one."""
    return [
        _offset_of(select)
        for select in query.selects
        if not isinstance(select, (exp.Alias, exp.Column, exp.Star)) and not select.alias
    ]


def _offset_of(node: exp.Expression) -> int:
    for inner in node.walk():
        start = inner.meta.get("start") if hasattr(inner, "meta") else None
        if start is not None:
            return start
    return 0


def unresolved_columns(qualified: exp.Query, schema: Schema) -> list[list]:
    """Columns that no table read has, or that several have: [name, offset, tables having it, closest name].

    Only when every table the query reads has known columns; else nothing is claimed.
    """
    if all(column.table for column in qualified.find_all(exp.Column)):
        return []  # qualify placed every column: the common case, one walk
    ctes = {cte.alias_or_name for cte in qualified.find_all(exp.CTE)}
    for table in qualified.find_all(exp.Table):
        known = table.db in schema and table.name in schema[table.db]
        if not known and not (not table.db and table.name in ctes):
            return []
    found: list[list] = []
    seen: set[int] = set()
    for scope in traverse_scope(qualified):
        if not isinstance(scope.expression, exp.Select) or scope.pivots:
            continue
        candidates = list(scope.unqualified_columns)
        if not scope.is_correlated_subquery:
            candidates += scope.external_columns
        for column in candidates:
            if id(column) in seen:
                continue
            seen.add(id(column))
            having = sorted(f"{db}.{t}" for db, tables in schema.items() for t, cols in tables.items() if column.name in cols)
            everything = {c for tables in schema.values() for cols in tables.values() for c in cols}
            found.append([column.name, column.this.meta.get("start", 0), having, closest(column.name, everything) or ""])
    return found


def _output(annotated: exp.Query, dialect: str) -> tuple[OutputColumn, ...] | None:
    columns = []
    for select in annotated.selects:
        if isinstance(select, exp.Star) or (isinstance(select, exp.Column) and isinstance(select.this, exp.Star)):
            return None  # a star over a table whose columns are unknown
        dtype = select.type
        known = dtype is not None and not dtype.is_type(exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL)
        columns.append(OutputColumn(select.alias_or_name, type_text(dtype, dialect) if known else ""))
    return tuple(columns)


@lru_cache(maxsize=None)
def type_text(dtype: exp.DataType, dialect: str) -> str:
    """An inferred type as SQL; remembered, as the same few types recur in every model."""
    return generate(dtype, dialect, pretty=False).lower()


@lru_cache(maxsize=None)
def _schema_type(sql_type: str, dialect: str) -> exp.DataType | str:
    """A column type as sqlglot's schema would build it; left as text when sqlglot cannot build it."""
    dialect_object = sqlglot.Dialect.get_or_raise(dialect)
    try:
        dtype = exp.DataType.from_str(sql_type, dialect=dialect_object, udt=dialect_object.SUPPORTS_USER_DEFINED_TYPES)
    except (SqlglotError, AttributeError, ValueError):
        return sql_type  # the schema raises its own error for it, as before
    return dtype.transform(dialect_object.normalize_identifier, copy=False)
