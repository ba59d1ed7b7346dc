"""SQLMesh's models: SQL and Python models with their kinds, columns, audits and stamps."""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlglot import exp

from ... import semantics
from ...analysis.result import Analysis
from ...analysis.sql import TypedCall
from ...build.memo import Memo
from ...execution import EXECUTION_TIME_ENV
from ...frontend import seeds
from ...ir import Contract, Model, Spec
from ...semantics import portability
from ...semantics.checks import AcceptedValues, Expression, NotNull, Range, References, Unique, contract_checks, referenced_tables
from ...semantics.kinds import kind_facts
from ...semantics.types import sqlmesh_type, type_class
from ...sqltext import generate, identifier, literal, rewrite_tables, with_time_range
from ..files import GeneratedFile
from ..render import render, sql_string

SUFFIX_VARIABLE = "meshgen_dbt_suffix"
_TIME_MACROS = {"date": ("@start_ds", "@end_ds")}  # other types compare against timestamps
# pandas (SQLMesh's CSV reader) reads only an empty field as NULL, as dbt does.
_CSV_SETTINGS = ("csv_settings", "(keep_default_na = FALSE, na_values = [''])")


def stamp(model: Model, analysis: Analysis) -> str:
    """What SQLMesh cannot see changing in a model's inputs: the other engine's models it depends on, its Python code.

    A new stamp makes a new version of the model, built from scratch.
    """
    parts = [p for p in (analysis.models[model.name].foreign_digest, model.python_digest) if p]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16] if parts else ""


@dataclass(frozen=True)
class Kind:
    """A SQLMesh model kind and its properties, as the templates write them (`MODEL (kind ...)`, `@model(kind=...)`).

    Property values are spelled for the file they go in: SQL in a SQL model, Python values in a Python one.
    """

    name: str
    properties: tuple[tuple[str, Any], ...] = ()


def _kind(model: Model, spec: Spec) -> Kind:
    dialect = spec.project.dialect
    if model.kind == "seed":
        if inline_seed(model, spec.analysis, dialect):
            return Kind("FULL")
        path = spec.path_from(posixpath.join(spec.output.sqlmesh, "models", model.schema), model.seed_file)
        return Kind(kind_facts(model.kind).sqlmesh, (("path", sql_string(path)), _CSV_SETTINGS))
    if model.kind == "incremental_by_time_range":
        lookback = spec.analysis.models[model.name].lookback
        return Kind(kind_facts(model.kind).sqlmesh, (("time_column", identifier(model.time_column, dialect)),) + ((("lookback", lookback),) if lookback else ()))
    if model.kind in ("incremental_by_unique_key", "scd_type_2"):
        keys = ", ".join(identifier(k, dialect) for k in model.unique_key)
        unique_key = ("unique_key", keys if len(model.unique_key) == 1 else f"({keys})")
        if model.kind == "incremental_by_unique_key":
            return Kind(kind_facts(model.kind).sqlmesh, (unique_key,))
        # The first version of a row is valid from its own updated_at, as in a dbt snapshot.
        updated_at = identifier(model.updated_at, dialect)
        return Kind(kind_facts(model.kind).sqlmesh, (unique_key, ("updated_at_name", updated_at), ("updated_at_as_valid_from", "TRUE")))
    return Kind(kind_facts(model.kind).sqlmesh)


def _python_kind(model: Model, analysis: Analysis) -> Kind:
    """A Python model's kind, as the `@model` decorator takes it."""
    if model.kind != "incremental_by_time_range":
        return Kind(kind_facts(model.kind).sqlmesh)
    lookback = analysis.models[model.name].lookback
    return Kind(kind_facts(model.kind).sqlmesh, (("time_column", model.time_column),) + ((("lookback", lookback),) if lookback else ()))


def inline_seed(model: Model, analysis: Analysis, dialect: str) -> bool:
    """Whether SQLMesh's CSV reader would change a text column of the seed, so its rows go into the model as SQL.

    pandas reads a column whose every value looks like a number as numbers: `0742`
    would become `742`, and with an empty field `5411` would become `5411.0`.
    """
    text = {c.name for c in analysis.models[model.name].output or () if type_class(c.type, dialect) == "text"}
    return any(seeds.pandas_changes_text(model.seed.values(c)) for c in text)


REFERENCES_AUDIT = "meshgen_references"


def env_table_name(name: str, analysis: Analysis) -> str:
    """How a SQLMesh model names a table it reads: a dbt model through this gateway's environment suffix."""
    if name in analysis.models and analysis.engine(name) == "dbt":
        schema, _, table = name.partition(".")
        return f"{schema}@{{{SUFFIX_VARIABLE}}}.{table}"
    return name


def _audits(contract: Contract | None, analysis: Analysis, dialect: str) -> list[tuple[str, dict]]:
    """Contract checks as SQLMesh audits (built-in, and meshgen's for `references`): (name, {argument: SQL})."""
    checks = contract_checks(contract)
    audits: list[tuple[str, dict]] = []
    for kind, name in ((NotNull, "not_null"), (Unique, "unique_values")):
        columns = [c.column for c in checks if isinstance(c, kind)]
        if columns:
            audits.append((name, {"columns": columns}))
    for check in checks:
        if isinstance(check, AcceptedValues):
            audits.append(("accepted_values", {"column": check.column, "is_in": list(check.values)}))
        elif isinstance(check, Range):
            bounds = {"column": check.column}
            if check.low is not None:
                bounds["min_v"] = check.low
            if check.high is not None:
                bounds["max_v"] = check.high
            audits.append(("accepted_range", bounds))
    criteria = [generate(analysis.checks[c.text], dialect, pretty=False) for c in checks if isinstance(c, Expression)]
    if criteria:
        audits.append(("forall", {"criteria": criteria}))
    for check in checks:
        if isinstance(check, References):
            table = env_table_name(check.table, analysis)
            audits.append((REFERENCES_AUDIT, {"column": check.column, "to_table": table, "to_column": check.to_column}))
    return audits


def uses_references(models: list[Model]) -> bool:
    return any(isinstance(c, References) for m in models for c in contract_checks(m.contract))


def references_audit(spec: Spec) -> GeneratedFile:
    return GeneratedFile(posixpath.join(spec.output.sqlmesh, "audits", f"{REFERENCES_AUDIT}.sql"), render("sqlmesh/meshgen_references.sql.j2"))


def _sql_audit(name: str, args: dict, dialect: str) -> tuple[str, list[tuple[str, str]]]:
    """An audit and its arguments spelled in SQL, for `audits (name(key := value, ...))`."""
    parts = []
    for key, value in args.items():
        if key == "columns":
            value_sql = "(" + ", ".join(identifier(c, dialect) for c in value) + ")"
        elif key == "to_table":  # a table name, as the model's depends_on spells it
            value_sql = value
        elif key in ("column", "to_column"):
            value_sql = identifier(value, dialect)
        elif key == "criteria":
            value_sql = "(" + ", ".join(value) + ")"
        elif key == "is_in":
            value_sql = "(" + ", ".join(literal(v, dialect) for v in value) + ")"
        else:
            value_sql = literal(value, dialect)
        parts.append((key, value_sql))
    return name, parts


def _python_audit(name: str, args: dict) -> tuple[str, list[tuple[str, str]]]:
    """An audit and its arguments spelled in Python, for `audits=[(name, {key: value})]`.

    Audit columns must be column expressions: a plain string would be compared as a literal.
    """
    parts = []
    for key, value in args.items():
        if key == "columns":
            value_py = "[" + ", ".join(f"exp.column({c!r})" for c in value) + "]"
        elif key in ("column", "to_column"):
            value_py = f"exp.column({value!r})"
        elif key == "to_table":
            value_py = f"exp.to_table({value!r})"
        elif key == "criteria":
            value_py = "[" + ", ".join(f"parse_one({c!r})" for c in value) + "]"
        else:
            value_py = repr(value)
        parts.append((key, value_py))
    return name, parts


def _columns(model: Model, analysis: Analysis, dialect: str) -> list[tuple[str, str]]:
    """Declared column types: the contract's, and a seed's (in the file's order) so it loads as on dbt."""
    if model.seed is not None:
        return [(identifier(c.name, dialect), sqlmesh_type(c.type, dialect)) for c in analysis.models[model.name].output]
    if model.contract is None:
        return []
    return [(identifier(c.name, dialect), sqlmesh_type(c.type, dialect)) for c in model.contract.columns]


def _column_descriptions(model: Model) -> list[tuple[str, str]]:
    if model.contract is None:
        return []
    return [(c.name, c.description) for c in model.contract.columns if c.description]


@dataclass(frozen=True)
class _QueryInput:
    """All a SQL model's SQLMesh query depends on."""

    dialect: str
    sql: str
    dbt_upstreams: tuple[str, ...]  # read from the environment's dbt tables
    time_column: str  # "" unless the model is a time range
    time_family: str  # the type family of the time column
    # Calls some environments' warehouses have no overload for, with those environments (semantics/portability.py).
    rewrites: tuple[tuple[portability.Rewrite, tuple[str, ...]], ...]
    query: Callable[[], exp.Query] = field(compare=False)  # the parse of `sql`


def _query(model: Model, spec: Spec, memo: Memo) -> str:
    analysis = spec.analysis
    info = analysis.models[model.name]
    output = {c.name: c.type for c in info.output or ()}
    time_column = model.time_column if model.kind == "incremental_by_time_range" else ""
    given = _QueryInput(
        spec.project.dialect,
        model.sql.text,
        tuple(u for u in info.upstreams if u in analysis.models and analysis.engine(u) == "dbt"),
        time_column,
        type_class(output.get(time_column, ""), spec.project.dialect) if time_column else "",
        portability.rewritten_by_environment(spec, info.calls),
        lambda: info.query,
    )
    return memo.cached(_sqlmesh_query, given)


def _sqlmesh_query(given: _QueryInput) -> str:
    def to_env_table(name: str, table: exp.Table) -> exp.Expression | None:
        if name not in given.dbt_upstreams:
            return None
        schema, _, table_name = name.partition(".")
        # SQLMesh interpolates @{var} inside the identifier at load time.
        return exp.Table(
            this=exp.to_identifier(table_name),
            db=exp.Var(this=f"{schema}@{{{SUFFIX_VARIABLE}}}"),
            alias=table.args.get("alias"),
        )

    query = rewrite_tables(_per_gateway(given.query(), given.rewrites), to_env_table)
    if given.time_column:
        start, end = _TIME_MACROS.get(given.time_family, ("@start_ts", "@end_ts"))
        query = with_time_range(
            query,
            given.time_column,
            lambda column: exp.Between(this=column, low=exp.var(start), high=exp.var(end)),
            "_meshgen_interval",
        )
    return generate(query, given.dialect, owned=True).rstrip()


def _per_gateway(query: exp.Query, rewrites: tuple[tuple[portability.Rewrite, tuple[str, ...]], ...]) -> exp.Query:
    """The query with each rewritten call chosen at load time by SQLMesh's gateway: `@IF(@gateway IN (...), rewritten, as written)`."""
    chosen = {call: (cast, gateways) for (call, cast), gateways in rewrites}

    def choose(call: TypedCall, node: exp.Expression) -> exp.Expression:
        cast, gateways = chosen[call]
        on_gateway = exp.In(this=exp.var("@gateway"), expressions=[exp.Literal.string(g) for g in gateways])
        return exp.Anonymous(this="@IF", expressions=[on_gateway, portability.rewritten_call(call, node.copy(), cast), node])

    return portability.rewrite_each(query, tuple(chosen), choose)


def _seed_query(model: Model, spec: Spec) -> str:
    """A seed's rows as SQL, each value cast to its column's type (see `inline_seed`)."""
    dialect = spec.project.dialect
    columns = spec.analysis.models[model.name].output
    rows = [tuple(exp.null() if v == "" else exp.Literal.string(v) for v in row) for row in model.seed.rows]
    values = exp.values(rows, alias="seed_rows", columns=[c.name for c in columns])
    casts = [exp.cast(exp.column(c.name, table="seed_rows"), exp.DataType.build(c.type, dialect=dialect)).as_(c.name) for c in columns]
    return generate(exp.select(*casts).from_(values), dialect, owned=True).rstrip()


def _metadata(model: Model, spec: Spec) -> dict:
    """What SQL and Python models alike say of themselves besides their kind."""
    return {"model": model, "owner": semantics.owner(spec, model), "description": semantics.description(model), "stamp": stamp(model, spec.analysis)}


def sql_model(model: Model, spec: Spec, memo: Memo) -> GeneratedFile:
    dialect = spec.project.dialect
    audits = [_sql_audit(name, args, dialect) for name, args in _audits(model.contract, spec.analysis, dialect)]
    if model.kind != "seed":
        query = _query(model, spec, memo)
    else:
        query = _seed_query(model, spec) if inline_seed(model, spec.analysis, dialect) else None
    text = render(
        "sqlmesh/model.sql.j2",
        **_metadata(model, spec),
        kind=_kind(model, spec),
        columns=_columns(model, spec.analysis, dialect),
        column_descriptions=[(identifier(n, dialect), t) for n, t in _column_descriptions(model)],
        audits=audits,
        # A references check reads its table: SQLMesh must build it first and map it in the audit.
        depends_on=sorted(env_table_name(t, spec.analysis) for t in referenced_tables(model.contract) - {model.name}),
        query=query,
        inlined_seed=model.kind == "seed" and query is not None,
    )
    return GeneratedFile(posixpath.join(spec.output.sqlmesh, "models", model.schema, f"{model.table}.sql"), text)


def python_model(model: Model, spec: Spec) -> GeneratedFile:
    dialect = spec.project.dialect
    folder = posixpath.join(spec.output.sqlmesh, "models", model.schema)
    module, function = model.entrypoint.split(":")
    analysis = spec.analysis
    upstreams = analysis.models[model.name].upstreams
    dbt_upstreams = {u: tuple(u.split(".")) for u in upstreams if u in analysis.models and analysis.engine(u) == "dbt"}
    # A dbt upstream is read from this gateway's environment, as in SQL models (SQLMesh renders the variable).
    depends_on = [f"{u.split('.')[0]}@{{{SUFFIX_VARIABLE}}}.{u.split('.')[1]}" if u in dbt_upstreams else u for u in upstreams]
    text = render(
        "sqlmesh/python_model.py.j2",
        **_metadata(model, spec),
        kind=_python_kind(model, analysis),
        time_env=EXECUTION_TIME_ENV,
        columns=[(c.name, sqlmesh_type(c.type, dialect)) for c in model.contract.columns],
        column_descriptions=_column_descriptions(model),
        depends_on=depends_on,
        dbt_upstreams=dbt_upstreams,
        dialect=dialect,
        suffix_variable=SUFFIX_VARIABLE,
        audits=[_python_audit(name, args) for name, args in _audits(model.contract, spec.analysis, dialect)],
        module=module,
        function=function,
    )
    return GeneratedFile(posixpath.join(folder, f"{model.table}.py"), text)
