"""The dbt properties YAML: descriptions, owners, contracts, constraints, data and unit tests, sources, groups."""

from __future__ import annotations

import posixpath
from collections import Counter
from typing import Any, Iterable

from ... import semantics
from ...execution import EXECUTION_TIME_ENV, EXECUTION_TIME_VAR, SQLMESH_ENVIRONMENT_ENV
from ...ir import Column, Model
from ...semantics.checks import AcceptedValues, Check, Expression, NotNull, Range, References, Unique, column_checks
from ...semantics.kinds import kind_facts
from ..files import GeneratedFile
from ..render import render
from .project import DbtProject, sqlmesh_source
from .sql import whole_time_range
from .yaml import Jinja, Unrendered, rows


def properties_file(project: DbtProject, folder: str, models: list[Model]) -> GeneratedFile:
    resource = project.resource(models[0])
    nodes = [project.yaml([properties(project, m)], 2) for m in models]
    sections = [(resource + "s", nodes)]
    tests = [project.yaml([t], 2) for m in models for t in unit_tests(project, m)]
    if tests:
        sections.append(("unit_tests", tests))
    schema = posixpath.basename(folder)
    return GeneratedFile(posixpath.join(folder, f"_{schema}__{resource}s.yml"), render("dbt/properties.yml.j2", sections=sections))


def properties(project: DbtProject, model: Model) -> dict:
    resource = project.resource(model)
    entry: dict[str, Any] = {"name": model.table}
    if semantics.description(model):
        entry["description"] = semantics.description(model)
    config = _config(project, model, resource)
    if config:
        entry["config"] = config
    contract = model.contract
    constraints = _enforces_constraints(model) and contract is not None
    if constraints:
        checks = [{"type": "check", "expression": project.check_sql(c.expression)} for column in contract.columns for c in column.constraints if c.kind == "check"]
        if checks:
            entry["constraints"] = checks
    columns = []
    if contract:
        for column in contract.columns:
            item: dict[str, Any] = {"name": column.name}
            if column.description:
                item["description"] = column.description
            item["data_type"] = project.data_type(column.type)
            if constraints and _column_constraints(column):
                item["constraints"] = _column_constraints(column)
            tests = [_data_test(project, check) for check in column_checks(column)]
            if tests:
                item["data_tests"] = tests
            columns.append(item)
    else:
        for name, data_type, _ in project.columns_of(model.name):
            columns.append({"name": name, "data_type": data_type} if data_type else {"name": name})
    if resource == "snapshot":
        columns += [
            {"name": "valid_from", "description": f"When this version of the row became current (its {model.updated_at})."},
            {"name": "valid_to", "description": "When a newer version replaced this one; NULL while it is current."},
        ]
    if columns:
        entry["columns"] = columns
    return entry


def _config(project: DbtProject, model: Model, resource: str) -> dict:
    config: dict[str, Any] = {}
    contract = model.contract
    if resource == "seed":  # the same types SQLMesh is given: the contract's, or inferred from the file
        config["column_types"] = {c.name: project.data_type(c.type) for c in project.analysis.models[model.name].output}
    if resource == "model" and contract and model.language == "sql":
        # dbt enforces contracts on SQL models only; a Python model casts to the contract itself.
        config["contract"] = {"enforced": True}
    if resource == "model" and project.read_by_sqlmesh(model):
        config["access"] = "public"
    if model.language == "python":
        # Rendered when dbt parses; the model reads them with dbt.config.get (Python models have no var()).
        config["meshgen_execution_time"] = Jinja("{{ var('" + EXECUTION_TIME_VAR + "', '') or env_var('" + EXECUTION_TIME_ENV + "', '') }}")
        config["meshgen_target"] = Jinja("{{ target.name }}")
    if model.domain:
        config["group"] = model.domain
    if model.tags:
        config["tags"] = list(model.tags)
    meta = {}
    if semantics.owner(project.spec, model):
        meta["owner"] = semantics.owner(project.spec, model)
    if model.layer:
        meta["layer"] = model.layer
    if meta:
        config["meta"] = meta
    return config


def _data_test(project: DbtProject, check: Check) -> Any:
    if isinstance(check, NotNull):
        return "not_null"
    if isinstance(check, Unique):
        return "unique"
    if isinstance(check, AcceptedValues):
        values = list(check.values)
        arguments: dict[str, Any] = {"values": values}
        if not all(isinstance(v, str) and "'" not in v and "\\" not in v for v in values):
            # dbt's accepted_values puts strings between quotes without escaping them.
            arguments = {"values": [project.sql_literal(v) for v in values], "quote": False}
        return {"accepted_values": {"arguments": arguments}}
    if isinstance(check, Range):
        bounds = {}
        if check.low is not None:
            bounds["min_value"] = check.low
        if check.high is not None:
            bounds["max_value"] = check.high
        return {"accepted_range": {"arguments": bounds}}
    if isinstance(check, References):
        return {"relationships": {"arguments": {"to": project.reader(check.table).call, "field": check.to_column}}}
    assert isinstance(check, Expression)
    return {"expression_is_true": {"arguments": {"expression": project.check_sql(check.text)}}}


def _column_constraints(column: Column) -> list[dict]:
    if column.has("primary_key"):
        return [{"type": "primary_key"}]
    constraints = []
    if column.not_null:
        constraints.append({"type": "not_null"})
    if column.unique:
        constraints.append({"type": "unique"})
    return constraints


def _enforces_constraints(model: Model) -> bool:
    """Warehouse constraints need a table dbt creates from SQL (not a view, seed, snapshot or Python)."""
    return model.language == "sql" and kind_facts(model.kind).dbt_materialized in ("table", "incremental")


def unit_tests(project: DbtProject, model: Model) -> list[dict]:
    if model.language != "sql" or project.resource(model) != "model":
        return []
    upstreams = project.analysis.models[model.name].upstreams
    tests = []
    for test in model.tests:
        given = dict(test.given)
        inputs = [{"input": project.reader(t).call, "rows": rows(data)} for t, data in test.given]
        inputs += [{"input": project.reader(t).call, "rows": []} for t in upstreams if t not in given]
        entry: dict[str, Any] = {"name": test.name}
        if test.description:
            entry["description"] = Unrendered(test.description)
        entry["model"] = model.table
        entry["given"] = inputs
        entry["expect"] = {"rows": rows(test.expect)}
        if model.kind == "incremental_by_time_range":
            entry["overrides"] = {"macros": whole_time_range(project, model)}
        tests.append(entry)
    return tests


def generic_tests(project: DbtProject) -> Iterable[GeneratedFile]:
    kinds = {c.kind for m in project.models if m.contract for col in m.contract.columns for c in col.constraints}
    for kind, name in (("range", "accepted_range"), ("check", "expression_is_true")):
        if kind in kinds:
            yield GeneratedFile(project.path("tests", "generic", f"{name}.sql"), render(f"dbt/{name}.sql.j2"))


def sources(project: DbtProject) -> Iterable[GeneratedFile]:
    read = sorted({u for m in project.models for u in project.analysis.models[m.name].upstreams})
    raw: dict[str, list[dict]] = {}
    for name in read:
        if name in project.sources:
            source = project.sources[name]
            raw.setdefault(source.schema, []).append(_source_table(project, name, source.description, source.owner))
    for schema, tables in raw.items():
        yield _sources_file(project, schema, {"name": schema, "schema": schema, "tables": tables})
    built: dict[str, list[dict]] = {}
    for name in project.sqlmesh_upstreams():
        model = project.spec.model(name)
        table = _source_table(project, name, semantics.description(model), semantics.owner(project.spec, model))
        built.setdefault(model.schema, []).append(table)
    for schema, tables in built.items():
        source_name = sqlmesh_source(f"{schema}.x")
        entry = {
            "name": source_name,
            "description": f"Tables SQLMesh builds in schema {schema}, read from the environment dbt runs in "
            f"({schema} in prod, {schema}__<environment> elsewhere), or during a deploy from the SQLMesh "
            f"environment the environment variable {SQLMESH_ENVIRONMENT_ENV} names ({schema}__<that environment>).",
            # The rule of macros/generate_schema_name.sql, evaluated when dbt parses.
            "schema": Jinja(
                "{{ '" + schema + "__' ~ env_var('" + SQLMESH_ENVIRONMENT_ENV + "') if env_var('" + SQLMESH_ENVIRONMENT_ENV
                + "', '') else '" + schema + "' if target.name == 'prod' else '" + schema
                + "__' ~ (env_var('MESHGEN_ENVIRONMENT', '') or target.name) }}"
            ),
            "config": {"meta": {"produced_by": "sqlmesh"}},
            "tables": tables,
        }
        yield _sources_file(project, source_name, entry)


def _source_table(project: DbtProject, name: str, description: str, owner: str) -> dict:
    table: dict[str, Any] = {"name": name.split(".", 1)[1]}
    if description:
        table["description"] = description
    if owner:
        table["config"] = {"meta": {"owner": owner}}
    columns = [
        {"name": n, **({"description": d} if d else {}), **({"data_type": t} if t else {})} for n, t, d in project.columns_of(name)
    ]
    if columns:
        table["columns"] = columns
    return table


def _sources_file(project: DbtProject, source_name: str, entry: dict) -> GeneratedFile:
    # Table by table, so a rebuild re-emits only the tables that changed; `tables` is the entry's last key.
    header = {k: v for k, v in entry.items() if k != "tables"}
    chunks = [project.yaml([header], 2), "    tables:", *(project.yaml([t], 6) for t in entry["tables"])]
    text = render("dbt/properties.yml.j2", sections=[("sources", ["\n".join(chunks)])])
    return GeneratedFile(project.path("models", "sources", f"_{source_name}__sources.yml"), text)


def groups(project: DbtProject) -> Iterable[GeneratedFile]:
    domains: dict[str, list[Model]] = {}
    for model in project.models:
        if model.domain:
            domains.setdefault(model.domain, []).append(model)
    if not domains:
        return
    entries = []
    for domain in sorted(domains):
        owners_in_order = [semantics.owner(project.spec, m) for m in domains[domain]]
        counts = Counter(o for o in owners_in_order if o)
        owner = max(counts, key=lambda o: (counts[o], -owners_in_order.index(o))) if counts else ""
        key = "email" if "@" in owner and " " not in owner else "name"
        entries.append({"name": domain, "owner": {key: owner or domain}})
    text = render("dbt/properties.yml.j2", sections=[("groups", [project.yaml(entries, 2)])])
    yield GeneratedFile(project.path("models", "_groups.yml"), text)
