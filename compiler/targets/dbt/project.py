"""The dbt project as a whole: its models, how one model reads another, where each node lives, types."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from ... import semantics
from ...build.memo import Memo
from ...ir import Model, Spec
from ...semantics.kinds import kind_facts
from ...semantics.types import type_class, warehouse_type
from ...sqltext import generate, literal
from .yaml import remembered_yaml


def target_dialect(spec: Spec) -> str:
    """The dialect dbt's SQL is written in: the dev environment's gateway (else the first environment's)."""
    environment = next((e for e in spec.environments if e.name == "dev"), spec.environments[0])
    return spec.gateway(environment.gateway).type


def sqlmesh_source(name: str) -> str:
    """The dbt source through which dbt reads SQLMesh-built tables of a schema."""
    return "sqlmesh_" + name.split(".", 1)[0]


@dataclass(frozen=True)
class Reader:
    """How dbt reads one upstream: ref('table'), or source('name', 'table')."""

    function: str  # ref | source
    args: tuple[str, ...]

    @property
    def call(self) -> str:
        return f"{self.function}({', '.join(repr(a) for a in self.args)})"

    @property
    def jinja(self) -> str:
        return "{{ " + self.call + " }}"

    @property
    def python(self) -> str:
        return f"dbt.{self.function}({', '.join(repr(a) for a in self.args)})"


class DbtProject:
    """What every part of the dbt target needs to know of the spec, computed once."""

    def __init__(self, spec: Spec, memo: Memo | None = None):
        self.spec = spec
        self.analysis = spec.analysis
        self.memo = memo or Memo()
        self.root = spec.output.dbt
        self.dialect = target_dialect(spec)
        self.gateway_types = sorted({spec.gateway(e.gateway).type for e in spec.environments})
        self.models = [spec.model(n) for n in self.analysis.order if self.analysis.engine(n) == "dbt"]
        self.dbt_names = {m.name for m in self.models}
        self.sources = {s.name: s for s in spec.sources}

    # -- naming ----------------------------------------------------------------
    def reader(self, name: str) -> Reader:
        schema, _, table = name.partition(".")
        if name in self.dbt_names:
            return Reader("ref", (table,))
        if name in self.sources:
            return Reader("source", (schema, table))
        return Reader("source", (sqlmesh_source(name), table))

    def sqlmesh_upstreams(self) -> list[str]:
        """SQLMesh-built tables some dbt model reads."""
        found = {
            u
            for m in self.models
            for u in self.analysis.models[m.name].upstreams
            if u in self.analysis.models and self.analysis.engine(u) == "sqlmesh"
        }
        return sorted(found)

    def read_by_sqlmesh(self, model: Model) -> bool:
        return any(self.analysis.engine(d) == "sqlmesh" for d in self.analysis.downstreams.get(model.name, ()))

    @staticmethod
    def resource(model: Model) -> str:
        return kind_facts(model.kind).dbt_resource

    def folder(self, model: Model) -> str:
        return posixpath.join(self.root, self.resource(model) + "s", model.schema)

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    # -- types and values -----------------------------------------------------
    def data_type(self, type_text: str) -> str:
        return warehouse_type(type_text, self.spec.project.dialect, self.dialect)

    def columns_of(self, name: str) -> list[tuple[str, str, str]]:
        """(name, data_type, description) of a source or model (see `semantics.table_columns`)."""
        return [(c.name, self.data_type(c.type) if c.type else "", c.description) for c in semantics.table_columns(self.spec, name)]

    def time_type(self, model: Model) -> str:
        columns = {name: kind for name, kind, _ in self.columns_of(model.name)}
        return "date" if type_class(columns.get(model.time_column, ""), self.dialect) == "date" else "timestamp"

    def sql_literal(self, value: Any) -> str:
        return literal(value, self.dialect)

    def check_sql(self, expression: str) -> str:
        parsed = (self.analysis.checks or {}).get(expression)
        return generate(parsed, self.dialect, pretty=False) if parsed is not None else expression

    def yaml(self, data: Any, indent: int) -> str:
        return remembered_yaml(self.memo, data, indent)

    def has_time_ranges(self) -> bool:
        """Whether a SQL model is a time range (it needs macros/meshgen_time_range.sql and its state table)."""
        return any(m.kind == "incremental_by_time_range" and m.language == "sql" for m in self.models)


def backfill_starts(spec: Spec) -> dict[str, str]:
    """Environment -> the first date its deploys load (the environments with a backfill window)."""
    return {e.name: e.backfill_start for e in spec.environments if e.backfill_start}
