"""What SQLMesh reads but does not build (external models), and the unit tests."""

from __future__ import annotations

import posixpath
from typing import Iterable

from ... import semantics
from ...execution import EXTERNAL_TAG
from ...ir import Model, Spec
from ...semantics.types import sqlmesh_type
from ..files import GeneratedFile
from ..render import render


def _columns_of(spec: Spec, name: str) -> list[tuple[str, str]]:
    """A table's columns with SQLMesh's spelling of their types (see `semantics.table_columns`)."""
    dialect = spec.project.dialect
    return [(c.name, sqlmesh_type(c.type, dialect) if c.type else "UNKNOWN") for c in semantics.table_columns(spec, name)]


def external_models(spec: Spec, sqlmesh_models: list[Model]) -> GeneratedFile:
    analysis = spec.analysis
    read = sorted({u for m in sqlmesh_models for u in analysis.models[m.name].upstreams})
    tables = []
    for name in read:
        if name not in analysis.models:
            source = spec.source(name)
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


def _test_inputs(given) -> list[tuple[str, list[dict]]]:
    """Test inputs by the names the model reads on the unit-test gateway: every table by its
    prod name (that gateway gives dbt-built tables no environment suffix)."""
    return [(table, [dict(r) for r in rows]) for table, rows in given]


def tests(model: Model, spec: Spec) -> Iterable[GeneratedFile]:
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
            "inputs": _test_inputs(test.given),
            "expect": [dict(r) for r in test.expect],
        }
        path = posixpath.join(spec.output.sqlmesh, "tests", f"{test_id}.yaml")
        yield GeneratedFile(path, render("sqlmesh/test.yaml.j2", test=body))
