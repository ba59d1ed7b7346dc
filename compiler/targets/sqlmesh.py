"""The SQLMesh project: config, SQL and Python models, external models, unit tests.

Cross-engine wiring (see config.py.j2): SQLMesh gateways are named after the
spec's environments and carry `meshgen_dbt_suffix`, the schema suffix dbt
gives that environment. A SQLMesh model reads a dbt model as
`<schema>@{meshgen_dbt_suffix}.<table>`, so each environment reads the dbt
table of the same environment, and external_models.yaml declares that table
once per environment schema with the contract's (or the inferred) columns.
"""

from __future__ import annotations

import hashlib
import posixpath
from functools import lru_cache
from typing import Iterable

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from ..frontend import seeds
from ..analysis import Analysis
from ..semantics.types import sqlmesh_type, type_class
from ..build.memo import Memo
from ..execution import ENVIRONMENT_OVERRIDE, EXECUTION_TIME_ENV, EXTERNAL_TAG, project_start
from .files import GeneratedFile
from ..ir import Constraint, Contract, Environment, EnvRef, Gateway, Model, Spec
from .render import python_literal, render, sql_string
from ..sqltext import generate, literal, rewrite_tables, with_time_range
from ..warehouses import INTEGER_KEYS, warehouse

SUFFIX_VARIABLE = "meshgen_dbt_suffix"
_TIME_MACROS = {"date": ("@start_ds", "@end_ds")}  # other types compare against timestamps
# pandas (SQLMesh's CSV reader) reads only an empty field as NULL, as dbt does.
_CSV_SETTINGS = "csv_settings (keep_default_na = FALSE, na_values = [''])"

def default_environment(spec: Spec) -> Environment:
    """The environment SQLMesh uses without `--gateway`: dev when there is one (local, cheap)."""
    return next((e for e in spec.environments if e.name == "dev"), spec.environments[0])


def stamp(model: Model, analysis: Analysis) -> str:
    """What SQLMesh cannot see changing in a model's inputs: the other engine's models it depends on, its Python code.

    A new stamp makes a new version of the model, built from scratch.
    """
    parts = [p for p in (analysis.models[model.name].foreign_digest, model.python_digest) if p]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16] if parts else ""


# -- config -----------------------------------------------------------------


def _python_value(value, integer: bool = False) -> str:
    if isinstance(value, EnvRef):
        return f"env_int({value.name!r})" if integer else f"env({value.name!r})"
    return python_literal(value)


def _connection(spec: Spec, gateway: Gateway) -> str:
    if gateway.type == "duckdb":
        path = spec.path_from(spec.output.sqlmesh, str(gateway.get("path", "warehouse.duckdb")))
        items = ["'type': 'duckdb'", f"'database': str((HERE / {path!r}).resolve())"]
        if gateway.get("extensions"):
            items.append(f"'extensions': {list(gateway.get('extensions'))!r}")
    else:
        items = [f"'type': {gateway.type!r}"]
        mapping = warehouse(gateway.type).sqlmesh_keys
        for key, value in gateway.settings:
            items.append(f"{mapping[key]!r}: {_python_value(value, integer=key in INTEGER_KEYS)}")
        if gateway.type == "trino" and gateway.get("password"):
            items.append("'method': 'basic'")
        # Import the warehouse driver when the gateway is used, not when the config loads:
        # working on dev must not need every environment's driver installed.
        items.append("'check_import': False")
    return "{" + ", ".join(items) + "}"


def _config(spec: Spec) -> GeneratedFile:
    gateways = [
        {
            "name": env.name,
            "connection": _connection(spec, spec.gateway(env.gateway)),
        }
        for env in spec.environments
    ]
    text = render(
        "sqlmesh/config.py.j2",
        project=spec.project,
        environments=spec.environments,
        gateways=gateways,
        default_gateway=default_environment(spec).name,
        dialect=spec.project.dialect,
        start=project_start(spec),
    )
    return GeneratedFile(posixpath.join(spec.output.sqlmesh, "config.py"), text)


def _guard(spec: Spec) -> GeneratedFile:
    text = render(
        "sqlmesh/meshgen_macros.py.j2",
        prod=[e.name for e in spec.environments if e.is_prod],
        override=ENVIRONMENT_OVERRIDE,
    )
    return GeneratedFile(posixpath.join(spec.output.sqlmesh, "macros", "meshgen.py"), text)


# -- models -----------------------------------------------------------------


@lru_cache(maxsize=None)
def _identifier(name: str, dialect: str) -> str:
    return Dialect.get_or_raise(dialect).quote_identifier(exp.to_identifier(name), identify=False).sql(dialect=dialect)


def _kind(model: Model, spec: Spec) -> str:
    dialect = spec.project.dialect
    if model.kind == "seed":
        if inline_seed(model, spec.analysis, dialect):
            return "FULL"
        path = spec.path_from(posixpath.join(spec.output.sqlmesh, "models", model.schema), model.seed_file)
        return f"SEED (path {sql_string(path)}, {_CSV_SETTINGS})"
    if model.kind == "incremental_by_time_range":
        options = f"time_column {_identifier(model.time_column, dialect)}"
        lookback = spec.analysis.models[model.name].lookback
        return f"INCREMENTAL_BY_TIME_RANGE ({options}, lookback {lookback})" if lookback else f"INCREMENTAL_BY_TIME_RANGE ({options})"
    if model.kind in ("incremental_by_unique_key", "scd_type_2"):
        keys = ", ".join(_identifier(k, dialect) for k in model.unique_key)
        key_sql = keys if len(model.unique_key) == 1 else f"({keys})"
        if model.kind == "scd_type_2":
            # The first version of a row is valid from its own updated_at, as in a dbt snapshot.
            updated_at = _identifier(model.updated_at, dialect)
            return f"SCD_TYPE_2_BY_TIME (unique_key {key_sql}, updated_at_name {updated_at}, updated_at_as_valid_from TRUE)"
        return f"INCREMENTAL_BY_UNIQUE_KEY (unique_key {key_sql})"
    return {"full": "FULL", "view": "VIEW"}[model.kind]


def _python_kind(model: Model, analysis: Analysis) -> str:
    """A Python model's kind, as the `@model` decorator takes it."""
    if model.kind != "incremental_by_time_range":
        return "ModelKindName.FULL"
    options = {"name": "ModelKindName.INCREMENTAL_BY_TIME_RANGE", "time_column": repr(model.time_column)}
    if analysis.models[model.name].lookback:
        options["lookback"] = repr(analysis.models[model.name].lookback)
    return "dict(" + ", ".join(f"{key}={value}" for key, value in options.items()) + ")"


def inline_seed(model: Model, analysis: Analysis, dialect: str) -> bool:
    """Whether SQLMesh's CSV reader would change a text column of the seed, so its rows go into the model as SQL.

    pandas reads a column whose every value looks like a number as numbers: `0742`
    would become `742`, and with an empty field `5411` would become `5411.0`.
    """
    text = {c.name for c in analysis.models[model.name].output or () if type_class(c.type, dialect) == "text"}
    return any(seeds.pandas_changes_text(model.seed.values(c)) for c in text)


def _audits(contract: Contract | None, analysis: Analysis, dialect: str) -> list[tuple[str, dict]]:
    """Contract constraints as SQLMesh built-in audits: (name, {argument: SQL})."""
    if contract is None:
        return []
    not_null = [c.name for c in contract.columns if c.not_null]
    unique = [c.name for c in contract.columns if c.unique]
    audits: list[tuple[str, dict]] = []
    if not_null:
        audits.append(("not_null", {"columns": not_null}))
    if unique:
        audits.append(("unique_values", {"columns": unique}))
    checks = []
    for column in contract.columns:
        for constraint in column.constraints:
            audits.extend(_column_audit(column.name, constraint))
            if constraint.kind == "check":
                checks.append(generate(analysis.checks[constraint.expression], dialect, pretty=False))
    if checks:
        audits.append(("forall", {"criteria": checks}))
    return audits


def _column_audit(column: str, constraint: Constraint) -> list[tuple[str, dict]]:
    if constraint.kind == "accepted_values":
        return [("accepted_values", {"column": column, "is_in": list(constraint.values)})]
    if constraint.kind == "range":
        bounds = {"column": column}
        if constraint.low is not None:
            bounds["min_v"] = constraint.low
        if constraint.high is not None:
            bounds["max_v"] = constraint.high
        return [("accepted_range", bounds)]
    return []


def _sql_audit(name: str, args: dict, dialect: str) -> str:
    parts = []
    for key, value in args.items():
        if key == "columns":
            value_sql = "(" + ", ".join(_identifier(c, dialect) for c in value) + ")"
        elif key == "column":
            value_sql = _identifier(value, dialect)
        elif key == "criteria":
            value_sql = "(" + ", ".join(value) + ")"
        elif key == "is_in":
            value_sql = "(" + ", ".join(literal(v, dialect) for v in value) + ")"
        else:
            value_sql = literal(value, dialect)
        parts.append(f"{key} := {value_sql}")
    return f"{name}({', '.join(parts)})"


def _python_audit(name: str, args: dict) -> str:
    # Audit columns must be column expressions: a plain string would be compared as a literal.
    parts = []
    for key, value in args.items():
        if key == "columns":
            value_py = "[" + ", ".join(f"exp.column({c!r})" for c in value) + "]"
        elif key == "column":
            value_py = f"exp.column({value!r})"
        elif key == "criteria":
            value_py = "[" + ", ".join(f"parse_one({c!r})" for c in value) + "]"
        else:
            value_py = repr(value)
        parts.append(f"{key!r}: {value_py}")
    return f"({name!r}, {{{', '.join(parts)}}})"


def _columns(model: Model, analysis: Analysis, dialect: str) -> list[tuple[str, str]]:
    """Declared column types: the contract's, and a seed's (in the file's order) so it loads as on dbt."""
    if model.seed is not None:
        return [(_identifier(c.name, dialect), sqlmesh_type(c.type, dialect)) for c in analysis.models[model.name].output]
    if model.contract is None:
        return []
    return [(_identifier(c.name, dialect), sqlmesh_type(c.type, dialect)) for c in model.contract.columns]


def _column_descriptions(model: Model) -> list[tuple[str, str]]:
    if model.contract is None:
        return []
    return [(c.name, c.description) for c in model.contract.columns if c.description]


def _query(model: Model, spec: Spec) -> str:
    analysis = spec.analysis
    dialect = spec.project.dialect

    def to_env_table(name: str, table: exp.Table) -> exp.Expression | None:
        if name in analysis.models and analysis.engine(name) == "dbt":
            schema, _, table_name = name.partition(".")
            # SQLMesh interpolates @{var} inside the identifier at load time.
            return exp.Table(
                this=exp.to_identifier(table_name),
                db=exp.Var(this=f"{schema}@{{{SUFFIX_VARIABLE}}}"),
                alias=table.args.get("alias"),
            )
        return None

    def compute() -> str:
        query = rewrite_tables(analysis.models[model.name].query, to_env_table)
        if model.kind == "incremental_by_time_range":
            output = {c.name: c.type for c in analysis.models[model.name].output or ()}
            start, end = _TIME_MACROS.get(type_class(output.get(model.time_column, ""), dialect), ("@start_ts", "@end_ts"))
            query = with_time_range(
                query,
                model.time_column,
                lambda column: exp.Between(this=column, low=exp.var(start), high=exp.var(end)),
                "_meshgen_interval",
            )
        return generate(query, dialect, owned=True).rstrip()

    info = analysis.models[model.name]
    dbt_upstreams = [u for u in info.upstreams if u in analysis.models and analysis.engine(u) == "dbt"]
    key = Memo.key("sqlmesh-query", dialect, model.sql.text, dbt_upstreams, model.kind, model.time_column, info.output)
    return analysis.memo.get(key, compute)


def _seed_query(model: Model, spec: Spec) -> str:
    """A seed's rows as SQL, each value cast to its column's type (see `inline_seed`)."""
    dialect = spec.project.dialect
    columns = spec.analysis.models[model.name].output
    rows = [tuple(exp.null() if v == "" else exp.Literal.string(v) for v in row) for row in model.seed.rows]
    values = exp.values(rows, alias="seed_rows", columns=[c.name for c in columns])
    casts = [exp.cast(exp.column(c.name, table="seed_rows"), exp.DataType.build(c.type, dialect=dialect)).as_(c.name) for c in columns]
    return generate(exp.select(*casts).from_(values), dialect, owned=True).rstrip()


def _sql_model(model: Model, spec: Spec) -> GeneratedFile:
    dialect = spec.project.dialect
    audits = [_sql_audit(name, args, dialect) for name, args in _audits(model.contract, spec.analysis, dialect)]
    if model.kind != "seed":
        query = _query(model, spec)
    else:
        query = _seed_query(model, spec) if inline_seed(model, spec.analysis, dialect) else None
    text = render(
        "sqlmesh/model.sql.j2",
        model=model,
        kind=_kind(model, spec),
        stamp=stamp(model, spec.analysis),
        columns=_columns(model, spec.analysis, dialect),
        column_descriptions=[(_identifier(n, dialect), t) for n, t in _column_descriptions(model)],
        audits=audits,
        query=query,
        inlined_seed=model.kind == "seed" and query is not None,
    )
    return GeneratedFile(posixpath.join(spec.output.sqlmesh, "models", model.schema, f"{model.table}.sql"), text)


def _python_model(model: Model, spec: Spec) -> GeneratedFile:
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
        model=model,
        kind=_python_kind(model, analysis),
        stamp=stamp(model, analysis),
        time_env=EXECUTION_TIME_ENV,
        columns=[(c.name, sqlmesh_type(c.type, dialect)) for c in model.contract.columns],
        column_descriptions=_column_descriptions(model),
        depends_on=depends_on,
        dbt_upstreams=dbt_upstreams,
        dialect=dialect,
        suffix_variable=SUFFIX_VARIABLE,
        audits=[_python_audit(name, args) for name, args in _audits(model.contract, spec.analysis, dialect)],
        spec_folder=spec.path_from(folder, "."),
        module=module,
        function=function,
    )
    return GeneratedFile(posixpath.join(folder, f"{model.table}.py"), text)


# -- external models and tests ----------------------------------------------


def _columns_of(spec: Spec, name: str) -> list[tuple[str, str]]:
    dialect = spec.project.dialect
    source = next((s for s in spec.sources if s.name == name), None)
    if source is not None:
        return [(c.name, sqlmesh_type(c.type, dialect)) for c in source.columns]
    model = spec.model(name)
    if model.contract is not None:
        return [(c.name, sqlmesh_type(c.type, dialect)) for c in model.contract.columns]
    output = spec.analysis.models[name].output or ()
    return [(c.name, sqlmesh_type(c.type, dialect) if c.type else "UNKNOWN") for c in output]


def _external_models(spec: Spec, sqlmesh_models: list[Model]) -> GeneratedFile:
    analysis = spec.analysis
    read = sorted({u for m in sqlmesh_models for u in analysis.models[m.name].upstreams})
    tables = []
    for name in read:
        if name not in analysis.models:
            source = next(s for s in spec.sources if s.name == name)
            tables.append({"name": name, "gateway": "", "description": source.description, "columns": _columns_of(spec, name)})
        elif analysis.engine(name) == "dbt":
            for env, env_name in zip(spec.environments, _environment_names(spec, name)):
                description = f"Built by dbt ({name}) in environment {env.name}."
                tables.append({"name": env_name, "gateway": env.name, "description": description, "columns": _columns_of(spec, name)})
    text = render("sqlmesh/external_models.yaml.j2", tables=tables, tag=EXTERNAL_TAG)
    return GeneratedFile(posixpath.join(spec.output.sqlmesh, "external_models.yaml"), text)


def _environment_names(spec: Spec, name: str) -> list[str]:
    """A dbt-built table's name in every environment, as SQLMesh sees it."""
    schema, _, table = name.partition(".")
    return [f"{env.schema_for(schema)}.{table}" for env in spec.environments]


def _test_inputs(spec: Spec, given) -> list[tuple[str, list[dict]]]:
    """Test inputs by the names the model reads under any gateway.

    A dbt upstream is named per environment (`core__dev.x`, `core.x`, ...), and
    SQLMesh checks inputs against the names of the gateway it runs under, so
    its rows are given under every environment's name.
    """
    inputs = []
    for table, rows in given:
        rows = [dict(r) for r in rows]
        if table in spec.analysis.models and spec.analysis.engine(table) == "dbt":
            inputs.extend((name, rows) for name in _environment_names(spec, table))
        else:
            inputs.append((table, rows))
    return inputs


def _tests(model: Model, spec: Spec) -> Iterable[GeneratedFile]:
    for test in model.tests:
        test_vars = {}
        if model.kind == "incremental_by_time_range":
            test_vars = {"start": model.start or "1970-01-01", "end": "2099-12-31"}
        test_id = f"test_{model.schema}__{model.table}__{test.name}"
        body = {
            "id": test_id,
            "model": model.name,
            "description": test.description,
            "vars": test_vars,
            "inputs": _test_inputs(spec, test.given),
            "expect": [dict(r) for r in test.expect],
        }
        path = posixpath.join(spec.output.sqlmesh, "tests", f"{test_id}.yaml")
        yield GeneratedFile(path, render("sqlmesh/test.yaml.j2", test=body))


def emit(spec: Spec) -> list[GeneratedFile]:
    analysis = spec.analysis
    models = [spec.model(name) for name in analysis.order if analysis.engine(name) == "sqlmesh"]
    if not models:
        return []
    files = [
        _config(spec),
        _guard(spec),
        GeneratedFile(posixpath.join(spec.output.sqlmesh, ".gitignore"), render("sqlmesh/gitignore.j2")),
        _external_models(spec, models),
    ]
    for model in models:
        files.append(_python_model(model, spec) if model.language == "python" else _sql_model(model, spec))
        files.extend(_tests(model, spec))
    return files
