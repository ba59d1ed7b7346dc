"""The dbt project as a whole: its models, how one model reads another, where each node lives, types."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any, Callable

from ... import semantics
from ...build.memo import Memo
from ...ir import Model, Spec
from ...semantics.kinds import kind_facts
from ...semantics.types import portable_type, type_class, warehouse_type
from ...sqltext import generate, literal
from .yaml import Jinja, remembered_yaml


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
        # Every warehouse dbt runs on gets SQL and types of its own dialect; the dev one is the default.
        self.dialects = [self.dialect] + [t for t in self.gateway_types if t != self.dialect]
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

    # -- per warehouse ---------------------------------------------------------
    def per_target_block(self, text_for: Callable[[str], str]) -> str:
        """A file's text for each warehouse: one text, or branches on dbt's `target.type` where they differ."""
        default, others = self._texts(text_for)
        if not others:
            return default
        branches = "".join(f"{{% {'if' if i == 0 else 'elif'} target.type == '{d}' %}}\n{t}\n" for i, (d, t) in enumerate(others))
        return f"{branches}{{% else %}}\n{default}\n{{% endif %}}"

    def per_target_value(self, text_for: Callable[[str], str]) -> str:
        """A YAML value for each warehouse: one text, or a Jinja expression on `target.type` dbt renders."""
        default, others = self._texts(text_for)
        if not others:
            return default
        choices = " ".join(f"{t!r} if target.type == '{d}' else" for d, t in others)
        return Jinja(f"{{{{ {choices} {default!r} }}}}")

    def _texts(self, text_for: Callable[[str], str]) -> tuple[str, list[tuple[str, str]]]:
        default = text_for(self.dialect)
        others = [(d, text) for d in self.dialects[1:] if (text := text_for(d)) != default]
        return default, others

    # -- types and values -----------------------------------------------------
    def data_type(self, type_text: str) -> str:
        """The type as dbt's `data_type` (contracts, seed `column_types`) spells it: one spelling every warehouse reads alike, if any."""
        return portable_type(type_text, self.spec.project.dialect, tuple(self.dialects)) or self.per_target_value(
            lambda kind: self.data_type_on(type_text, kind)
        )

    def data_type_on(self, type_text: str, kind: str) -> str:
        return warehouse_type(type_text, self.spec.project.dialect, kind)

    def columns_of(self, name: str) -> list[tuple[str, str, str]]:
        """(name, data_type, description) of a source or model (see `semantics.table_columns`)."""
        return [(c.name, self.data_type(c.type) if c.type else "", c.description) for c in semantics.table_columns(self.spec, name)]

    def time_type(self, model: Model) -> str:
        columns = {c.name: c.type for c in semantics.table_columns(self.spec, model.name)}
        return "date" if type_class(columns.get(model.time_column, ""), self.spec.project.dialect) == "date" else "timestamp"

    def sql_literal(self, value: Any) -> str:
        return self.per_target_value(lambda kind: literal(value, kind))

    def check_sql(self, expression: str) -> str:
        parsed = (self.analysis.checks or {}).get(expression)
        if parsed is None:
            return expression
        return self.per_target_value(lambda kind: generate(parsed, kind, pretty=False))

    def yaml(self, data: Any, indent: int) -> str:
        return remembered_yaml(self.memo, data, indent)

    def has_time_ranges(self) -> bool:
        """Whether a SQL model is a time range (it needs macros/meshgen_time_range.sql and its state table)."""
        return any(m.kind == "incremental_by_time_range" and m.language == "sql" for m in self.models)


def backfill_starts(spec: Spec) -> dict[str, str]:
    """Environment -> the first date its deploys load (the environments with a backfill window)."""
    return {e.name: e.backfill_start for e in spec.environments if e.backfill_start}
