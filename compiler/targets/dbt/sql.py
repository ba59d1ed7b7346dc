"""The dbt nodes themselves: model SQL with ref()/source(), configs, snapshots, Python models, seeds."""

from __future__ import annotations

import csv
import io
import posixpath
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlglot import exp

from ...ir import Model
from ...semantics import portability
from ...sqltext import generate, rewrite_tables, with_time_range
from ...semantics.kinds import kind_facts
from ...warehouses import warehouse
from ..files import GeneratedFile
from ..render import Code, jinja_literal, render
from .project import DbtProject, backfill_starts

# The alias of a query wrapped to filter its output.
_SUBQUERY = "model_rows"


def node_file(project: DbtProject, model: Model) -> GeneratedFile:
    folder = project.folder(model)
    if model.kind == "seed":
        return GeneratedFile(posixpath.join(folder, f"{model.table}.csv"), seed_csv(model))
    if model.language == "python":
        return GeneratedFile(posixpath.join(folder, f"{model.table}.py"), _python_model(project, model))
    if model.kind == "scd_type_2":
        text = render(
            "dbt/snapshot.sql.j2",
            model=model,
            unique_key=model.unique_key[0] if len(model.unique_key) == 1 else list(model.unique_key),
            sql=sql_body(project, model),
        )
        return GeneratedFile(posixpath.join(folder, f"{model.table}.sql"), text)
    extra = [u for u in model.depends_on if u not in project.analysis.models[model.name].reads]
    text = render(
        "dbt/model.sql.j2",
        model=model,
        config=model_config(project, model),
        depends_on=[project.reader(u).jinja for u in sorted(extra)],
        sql=sql_body(project, model),
        lookback=project.analysis.models[model.name].lookback,
    )
    return GeneratedFile(posixpath.join(folder, f"{model.table}.sql"), text)


@dataclass(frozen=True)
class _SqlInput:
    """All a model's dbt SQL depends on."""

    source_dialect: str
    dialect: str
    sql: str
    readers: tuple[tuple[str, str], ...]  # each upstream with the ref()/source() call that reads it
    kind: str
    time_column: str
    rewrites: tuple[portability.Rewrite, ...]  # calls this warehouse has no overload for (semantics/portability.py)
    query: Callable[[], exp.Query] = field(compare=False)  # the parse of `sql` in `source_dialect`


def sql_body(project: DbtProject, model: Model) -> str:
    """The model's SELECT with dbt's ref()/source() calls for each warehouse, Jinja in the spec's text neutralised."""
    return project.per_target_block(lambda kind: _sql_body_on(project, model, kind))


def _sql_body_on(project: DbtProject, model: Model, kind: str) -> str:
    info = project.analysis.models[model.name]
    given = _SqlInput(
        project.spec.project.dialect,
        kind,
        model.sql.text,
        tuple((u, project.reader(u).jinja) for u in info.upstreams),
        model.kind,
        model.time_column,
        portability.rewritten_calls(project.spec, info.calls, kind),
        lambda: info.query,
    )
    return project.memo.cached(_render_sql_body, given)


def _render_sql_body(given: _SqlInput) -> str:
    original = given.sql
    prefix = "__meshgen_jinja_"
    while prefix in original:
        prefix += "_"
    calls: dict[str, str] = {}
    readers = dict(given.readers)

    def placeholder(jinja: str) -> exp.Var:
        token = f"{prefix}{len(calls)}__"
        calls[token] = jinja
        return exp.Var(this=token)

    def to_dbt(name: str, table: exp.Table) -> exp.Expression:
        return exp.Table(this=placeholder(readers[name]), alias=table.args.get("alias"))

    query = rewrite_tables(portability.rewrite(given.query(), given.rewrites), to_dbt)
    if given.kind == "incremental_by_time_range":
        query = _time_range(query, given.time_column, placeholder)
    text = generate(query, given.dialect, owned=True)
    pieces = text.split(prefix)
    if len(pieces) != len(calls) + 1:
        raise RuntimeError(f"dbt SQL of `{original[:40]}`: placeholders for dbt calls were not generated once each")
    out = [jinja_literal(pieces[0], before_expression=len(pieces) > 1, in_template=True)]
    for index, piece in enumerate(pieces[1:], start=1):
        number, _, rest = piece.partition("__")
        out.append(calls[f"{prefix}{number}__"])
        out.append(jinja_literal(rest, before_expression=index < len(pieces) - 1, in_template=True))
    return "".join(out)


def _time_range(query: exp.Query, time_column: str, placeholder: Callable[[str], exp.Var]) -> exp.Query:
    """SQLMesh's interval form: the rows of the intervals this build loads (macros/meshgen_time_range.sql)."""
    low, high = placeholder("{{ meshgen_time_range_low() }}"), placeholder("{{ meshgen_time_range_high() }}")

    def in_range(column: exp.Expression) -> exp.Expression:
        return exp.and_(exp.GTE(this=column, expression=low), exp.LT(this=column.copy(), expression=high.copy()))

    return with_time_range(query, time_column, in_range, _SUBQUERY)


def time_range_config(project: DbtProject, model: Model) -> dict:
    """What the time-range macros need to know of a model: its column, unit, lookback, start and fingerprint."""
    info = project.analysis.models[model.name]
    return {
        "column": model.time_column,
        "type": project.time_type(model),
        "unit": model.interval_unit,
        "lookback": info.lookback,
        "start": model.start,
        "fingerprint": info.fingerprint,
    }


def whole_time_range(project: DbtProject, model: Model) -> dict[str, str]:
    """A unit test reads its rows whatever their time: the range from the model's start on, as in SQLMesh's tests."""
    kind = exp.DataType.build(project.time_type(model))
    bounds = {"meshgen_time_range_low": model.start, "meshgen_time_range_high": "2100-01-01"}
    return {
        name: project.per_target_value(lambda dialect: generate(exp.cast(exp.Literal.string(day), kind), dialect, pretty=False))
        for name, day in bounds.items()
    }


def _upsert_strategy(project: DbtProject) -> str:
    strategies = sorted({warehouse(t).upsert for t in project.gateway_types})
    if len(strategies) == 1:
        return strategies[0]
    merge_types = [t for t in project.gateway_types if warehouse(t).upsert == "merge"]
    return Code(f"'merge' if target.type in {merge_types!r} else 'delete+insert'")  # decided per target by dbt


def model_config(project: DbtProject, model: Model) -> list[tuple[str, Any]]:
    """`config()` arguments of a SQL model, as (key, value): plain values, or `Code` dbt evaluates."""
    materialized = ("materialized", kind_facts(model.kind).dbt_materialized)
    if model.kind == "incremental_by_time_range":
        return [
            materialized,
            ("incremental_strategy", "meshgen_time_range"),
            ("meshgen_time_range", time_range_config(project, model)),
            ("post_hook", "{{ meshgen_record_time_range() }}"),
            ("on_schema_change", "fail"),
        ]
    if model.kind == "incremental_by_unique_key":
        key = model.unique_key[0] if len(model.unique_key) == 1 else list(model.unique_key)
        return [
            materialized,
            ("incremental_strategy", _upsert_strategy(project)),
            ("unique_key", key),
            ("on_schema_change", "fail"),
        ]
    return [materialized]


def _python_model(project: DbtProject, model: Model) -> str:
    module, function = model.entrypoint.split(":")
    upstreams = project.analysis.models[model.name].upstreams
    return render(
        "dbt/python_model.py.j2",
        model=model,
        spec_folder=project.spec.path_from(project.root, "."),
        module=module,
        function=function,
        tables=[(u, project.reader(u).python) for u in upstreams],
        columns=[(c.name, project.data_type_on(c.type, project.dialect)) for c in model.contract.columns],
        start=model.start or project.spec.project.start,
        backfill_starts=backfill_starts(project.spec),
        unit=model.interval_unit,
    )


def seed_csv(model: Model) -> str:
    """The seed's rows as a CSV file dbt loads (the spec's file, written out again in one dialect)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(model.seed.header)
    writer.writerows(model.seed.rows)
    return buffer.getvalue()
