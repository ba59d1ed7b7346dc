"""The dbt project: profiles, one schema rule, models, seeds, snapshots, sources, data and unit tests.

Only models the analysis puts on dbt become dbt nodes. Cross-engine wiring:

* every dbt node lands by the rule SQLMesh's virtual layer follows (`<schema>`
  in prod, `<schema>__<env>` elsewhere, `<env>` being the target's name unless
  MESHGEN_ENVIRONMENT renames it): `macros/generate_schema_name.sql` implements
  it, and each folder gets its `+schema`;
* a dbt model reads a SQLMesh model through a source `sqlmesh_<schema>` whose
  schema is the same rule evaluated for the target, so dev reads dev;
* dbt models that SQLMesh reads are `access: public`: they are an interface.

Model SQL is the AST from the analysis (never parsed again) with its table
references swapped for `ref()`/`source()` calls, generated in the dialect of
the dev environment's gateway. Every piece of spec text that lands in a file
dbt renders goes through `jinja_literal`, so it reaches dbt as written.
"""

from __future__ import annotations

import csv
import io
import posixpath
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable

import yaml
from sqlglot import exp

from ..semantics.types import type_class, warehouse_type
from ..errors import Diagnostic
from ..execution import EXECUTION_TIME_VAR
from .files import GeneratedFile
from ..ir import Column, EnvRef, Environment, Model, Spec
from .render import jinja_literal, render
from ..build.memo import Memo
from ..sqltext import generate, literal, rewrite_tables, with_time_range
from ..warehouses import INTEGER_KEYS, warehouse

# The alias of a query wrapped to filter its output.
_SUBQUERY = "model_rows"


class Jinja(str):
    """A string that is meant for dbt's Jinja: written as it is, never escaped."""


class Unrendered(str):
    """Text dbt never renders (a unit test's description): written as it is, never escaped."""


class _Row(dict):
    """A fixture row, written inline (`{id: 1, name: x}`) as people write test data."""


class _Dumper(yaml.SafeDumper):
    """Block YAML as people write it: nested lists indented, short scalar lists inline."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)

    def choose_scalar_style(self):
        style = super().choose_scalar_style()
        if style == "'" and "'" in self.event.value:
            return '"'  # "it's" reads better than 'it''s'
        return style


def _represent_list(dumper: yaml.SafeDumper, data: list):
    inline = bool(data) and all(isinstance(v, (str, int, float, bool)) or v is None for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline or not data)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(
    Jinja, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style='"')
)
_Dumper.add_representer(Unrendered, lambda dumper, data: dumper.represent_str(str(data)))
_Dumper.add_representer(_Row, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True))


def dbt_text(value: Any) -> Any:
    """Spec data made safe for a dbt YAML file: every string renders back to itself."""
    if isinstance(value, (Jinja, Unrendered)):
        return value
    if isinstance(value, str):
        return jinja_literal(value)
    if isinstance(value, dict):
        return type(value)({k: dbt_text(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return [dbt_text(v) for v in value]
    return value


def to_yaml(data: Any, indent: int = 0) -> str:
    """Data (already dbt-safe) as block YAML, indented to sit in a template."""
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
    pad = " " * indent
    return "\n".join(pad + line if line else line for line in text.rstrip("\n").split("\n"))


def _typed(value: Any) -> Any:
    """Data as JSON that keeps what the YAML depends on: key order and the kind of each string."""
    if isinstance(value, dict):
        return ["R" if isinstance(value, _Row) else "M", [[k, _typed(v)] for k, v in value.items()]]
    if isinstance(value, list):
        return ["L", [_typed(v) for v in value]]
    if isinstance(value, (Jinja, Unrendered)):
        return ["J" if isinstance(value, Jinja) else "U", str(value)]
    if value is None or isinstance(value, (str, int, float)):
        return value
    return ["O", type(value).__name__, str(value)]  # dates and the like: YAML writes them unquoted


def target_dialect(spec: Spec) -> str:
    """The dialect dbt's SQL is written in: the dev environment's gateway (else the first environment's)."""
    environment = next((e for e in spec.environments if e.name == "dev"), spec.environments[0])
    return spec.gateway(environment.gateway).type


@dataclass(frozen=True)
class _Reader:
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


class _Project:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.analysis = spec.analysis
        self.root = spec.output.dbt
        self.dialect = target_dialect(spec)
        self.gateway_types = sorted({spec.gateway(e.gateway).type for e in spec.environments})
        self.models = [spec.model(n) for n in self.analysis.order if self.analysis.engine(n) == "dbt"]
        self.dbt_names = {m.name for m in self.models}
        self.sources = {s.name: s for s in spec.sources}

    # -- naming --------------------------------------------------------------
    @staticmethod
    def sqlmesh_source(name: str) -> str:
        return "sqlmesh_" + name.split(".", 1)[0]

    def reader(self, name: str) -> _Reader:
        schema, _, table = name.partition(".")
        if name in self.dbt_names:
            return _Reader("ref", (table,))
        if name in self.sources:
            return _Reader("source", (schema, table))
        return _Reader("source", (self.sqlmesh_source(name), table))

    def _sqlmesh_upstreams(self) -> list[str]:
        found = {
            u
            for m in self.models
            for u in self.analysis.models[m.name].upstreams
            if u in self.analysis.models and self.analysis.engine(u) == "sqlmesh"
        }
        return sorted(found)

    def _read_by_sqlmesh(self, model: Model) -> bool:
        return any(self.analysis.engine(d) == "sqlmesh" for d in self.analysis.downstreams.get(model.name, ()))

    @staticmethod
    def resource(model: Model) -> str:
        return {"seed": "seed", "scd_type_2": "snapshot"}.get(model.kind, "model")

    def folder(self, model: Model) -> str:
        return posixpath.join(self.root, self.resource(model) + "s", model.schema)

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    # -- types -----------------------------------------------------------------
    def data_type(self, type_text: str) -> str:
        return warehouse_type(type_text, self.spec.project.dialect, self.dialect)

    def columns_of(self, name: str) -> list[tuple[str, str, str]]:
        """(name, data_type, description) of a source or model, from its declaration, contract or inference."""
        if name in self.sources:
            return [(c.name, self.data_type(c.type), c.description) for c in self.sources[name].columns]
        model = self.spec.model(name)
        if model.contract:
            return [(c.name, self.data_type(c.type), c.description) for c in model.contract.columns]
        output = self.analysis.models[name].output or ()
        return [(c.name, self.data_type(c.type) if c.type else "", "") for c in output]

    def _time_type(self, model: Model) -> str:
        columns = {name: kind for name, kind, _ in self.columns_of(model.name)}
        return "date" if type_class(columns.get(model.time_column, ""), self.dialect) == "date" else "timestamp"

    def _identifier(self, name: str) -> str:
        return generate(exp.column(name), self.dialect, pretty=False)

    # -- SQL -------------------------------------------------------------------
    def sql_body(self, model: Model) -> str:
        """The model's SELECT with dbt's ref()/source() calls, Jinja in the spec's text neutralised."""
        info = self.analysis.models[model.name]
        readers = [(u, self.reader(u).jinja) for u in info.upstreams]
        key = Memo.key("dbt-sql", self.dialect, model.sql.text, readers, model.kind, model.time_column)
        return self.analysis.memo.get(key, lambda: self._render_sql_body(model))

    def _render_sql_body(self, model: Model) -> str:
        original = model.sql.text
        prefix = "__meshgen_jinja_"
        while prefix in original:
            prefix += "_"
        calls: dict[str, str] = {}

        def placeholder(jinja: str) -> exp.Var:
            token = f"{prefix}{len(calls)}__"
            calls[token] = jinja
            return exp.Var(this=token)

        def to_dbt(name: str, table: exp.Table) -> exp.Expression:
            return exp.Table(this=placeholder(self.reader(name).jinja), alias=table.args.get("alias"))

        query = rewrite_tables(self.analysis.models[model.name].query, to_dbt)
        if model.kind == "incremental_by_time_range":
            query = self._time_range(query, model, placeholder)
        text = generate(query, self.dialect, owned=True)
        pieces = text.split(prefix)
        if len(pieces) != len(calls) + 1:
            raise RuntimeError(f"model {model.name}: placeholders for dbt calls were not generated once each")
        out = [jinja_literal(pieces[0], before_expression=len(pieces) > 1, in_template=True)]
        for index, piece in enumerate(pieces[1:], start=1):
            number, _, rest = piece.partition("__")
            out.append(calls[f"{prefix}{number}__"])
            out.append(jinja_literal(rest, before_expression=index < len(pieces) - 1, in_template=True))
        return "".join(out)

    def _time_range(self, query: exp.Query, model: Model, placeholder: Callable[[str], exp.Var]) -> exp.Query:
        """SQLMesh's interval form: the rows of the intervals this build loads (macros/meshgen_time_range.sql)."""
        low, high = placeholder("{{ meshgen_time_range_low() }}"), placeholder("{{ meshgen_time_range_high() }}")

        def in_range(column: exp.Expression) -> exp.Expression:
            return exp.and_(exp.GTE(this=column, expression=low), exp.LT(this=column.copy(), expression=high.copy()))

        return with_time_range(query, model.time_column, in_range, _SUBQUERY)

    def time_range_config(self, model: Model) -> dict:
        """What the time-range macros need to know of a model: its column, unit, lookback and start."""
        info = self.analysis.models[model.name]
        return {
            "column": model.time_column,
            "type": self._time_type(model),
            "unit": model.interval_unit,
            "lookback": info.lookback,
            "start": model.start,
            "fingerprint": info.fingerprint,
        }

    # -- config ------------------------------------------------------------------
    def _upsert_strategy(self) -> str:
        strategies = sorted({warehouse(t).upsert for t in self.gateway_types})
        if len(strategies) == 1:
            return repr(strategies[0])
        merge_types = [t for t in self.gateway_types if warehouse(t).upsert == "merge"]
        return f"'merge' if target.type in {merge_types!r} else 'delete+insert'"

    def model_config(self, model: Model) -> list[tuple[str, str]]:
        """`config()` arguments of a SQL or Python model, as (key, Python/Jinja literal)."""
        if model.kind == "view":
            return [("materialized", "'view'")]
        if model.kind == "incremental_by_time_range":
            return [
                ("materialized", "'incremental'"),
                ("incremental_strategy", "'meshgen_time_range'"),
                ("meshgen_time_range", repr(self.time_range_config(model))),
                ("post_hook", '"{{ meshgen_record_time_range() }}"'),
                ("on_schema_change", "'fail'"),
            ]
        if model.kind == "incremental_by_unique_key":
            key = model.unique_key[0] if len(model.unique_key) == 1 else list(model.unique_key)
            return [
                ("materialized", "'incremental'"),
                ("incremental_strategy", self._upsert_strategy()),
                ("unique_key", repr(key)),
                ("on_schema_change", "'fail'"),
            ]
        return [("materialized", "'table'")]

    # -- properties ------------------------------------------------------------
    def _owner(self, model: Model) -> str:
        return model.owner or (model.contract.owner if model.contract else "") or self.spec.project.owner

    def _description(self, model: Model) -> str:
        return model.description or (model.contract.description if model.contract else "")

    def _tests(self, column: Column) -> list:
        tests: list = []
        if column.not_null:
            tests.append("not_null")
        if column.unique:
            tests.append("unique")
        for constraint in column.constraints:
            if constraint.kind == "accepted_values":
                values = list(constraint.values)
                arguments: dict[str, Any] = {"values": values}
                if not all(isinstance(v, str) and "'" not in v and "\\" not in v for v in values):
                    # dbt's accepted_values puts strings between quotes without escaping them.
                    arguments = {"values": [self.sql_literal(v) for v in values], "quote": False}
                tests.append({"accepted_values": {"arguments": arguments}})
            elif constraint.kind == "range":
                bounds = {}
                if constraint.low is not None:
                    bounds["min_value"] = constraint.low
                if constraint.high is not None:
                    bounds["max_value"] = constraint.high
                tests.append({"accepted_range": {"arguments": bounds}})
            elif constraint.kind == "check":
                tests.append({"expression_is_true": {"arguments": {"expression": self.check_sql(constraint.expression)}}})
        return tests

    def sql_literal(self, value: Any) -> str:
        return literal(value, self.dialect)

    def check_sql(self, expression: str) -> str:
        parsed = (self.analysis.checks or {}).get(expression)
        return generate(parsed, self.dialect, pretty=False) if parsed is not None else expression

    def _column_constraints(self, column: Column) -> list[dict]:
        if column.has("primary_key"):
            return [{"type": "primary_key"}]
        constraints = []
        if column.not_null:
            constraints.append({"type": "not_null"})
        if column.unique:
            constraints.append({"type": "unique"})
        return constraints

    def _enforces_constraints(self, model: Model) -> bool:
        """Warehouse constraints need a table dbt creates from SQL (not a view, seed, snapshot or Python)."""
        return model.language == "sql" and model.kind not in ("view", "seed", "scd_type_2")

    def properties(self, model: Model) -> dict:
        resource = self.resource(model)
        entry: dict[str, Any] = {"name": model.table}
        if self._description(model):
            entry["description"] = self._description(model)
        config: dict[str, Any] = {}
        contract = model.contract
        if resource == "seed":  # the same types SQLMesh is given: the contract's, or inferred from the file
            config["column_types"] = {c.name: self.data_type(c.type) for c in self.analysis.models[model.name].output}
        if resource == "model" and contract and model.language == "sql":
            # dbt enforces contracts on SQL models only; a Python model casts to the contract itself.
            config["contract"] = {"enforced": True}
        if resource == "model" and self._read_by_sqlmesh(model):
            config["access"] = "public"
        if model.language == "python":
            # Rendered when dbt parses; the model reads them with dbt.config.get (Python models have no var()).
            config["meshgen_execution_time"] = Jinja("{{ var('" + EXECUTION_TIME_VAR + "', '') }}")
            config["meshgen_target"] = Jinja("{{ target.name }}")
        if model.domain:
            config["group"] = model.domain
        if model.tags:
            config["tags"] = list(model.tags)
        meta = {}
        if self._owner(model):
            meta["owner"] = self._owner(model)
        if model.layer:
            meta["layer"] = model.layer
        if meta:
            config["meta"] = meta
        if config:
            entry["config"] = config
        constraints = self._enforces_constraints(model) and contract is not None
        if constraints:
            checks = [
                {"type": "check", "expression": self.check_sql(c.expression)}
                for column in contract.columns
                for c in column.constraints
                if c.kind == "check"
            ]
            if checks:
                entry["constraints"] = checks
        columns = []
        if contract:
            for column in contract.columns:
                item: dict[str, Any] = {"name": column.name}
                if column.description:
                    item["description"] = column.description
                item["data_type"] = self.data_type(column.type)
                if constraints and self._column_constraints(column):
                    item["constraints"] = self._column_constraints(column)
                if self._tests(column):
                    item["data_tests"] = self._tests(column)
                columns.append(item)
        else:
            for name, data_type, _ in self.columns_of(model.name):
                columns.append({"name": name, "data_type": data_type} if data_type else {"name": name})
        if resource == "snapshot":
            columns += [
                {"name": "valid_from", "description": f"When this version of the row became current (its {model.updated_at})."},
                {"name": "valid_to", "description": "When a newer version replaced this one; NULL while it is current."},
            ]
        if columns:
            entry["columns"] = columns
        return entry

    def unit_tests(self, model: Model) -> list[dict]:
        if model.language != "sql" or self.resource(model) != "model":
            return []
        upstreams = self.analysis.models[model.name].upstreams
        tests = []
        for test in model.tests:
            given = dict(test.given)
            inputs = [{"input": self.reader(t).call, "rows": _rows(rows)} for t, rows in test.given]
            inputs += [{"input": self.reader(t).call, "rows": []} for t in upstreams if t not in given]
            entry: dict[str, Any] = {"name": test.name}
            if test.description:
                entry["description"] = Unrendered(test.description)
            entry["model"] = model.table
            entry["given"] = inputs
            entry["expect"] = {"rows": _rows(test.expect)}
            if model.kind == "incremental_by_time_range":
                entry["overrides"] = {"macros": self._whole_time_range(model)}
            tests.append(entry)
        return tests

    def _whole_time_range(self, model: Model) -> dict[str, str]:
        """A unit test reads its rows whatever their time: the range from the model's start on, as in SQLMesh's tests."""
        kind = exp.DataType.build(self._time_type(model))
        bounds = {"meshgen_time_range_low": model.start, "meshgen_time_range_high": "2100-01-01"}
        return {name: generate(exp.cast(exp.Literal.string(day), kind), self.dialect, pretty=False) for name, day in bounds.items()}

    def yaml(self, data: Any, indent: int) -> str:
        """to_yaml of dbt-safe data, remembered by content: PyYAML's emitter is the slow part of a rebuild."""
        safe = dbt_text(data)
        return self.analysis.memo.get(Memo.key("dbt-yaml", _typed(safe), indent), lambda: to_yaml(safe, indent))

    # -- files -----------------------------------------------------------------
    def files(self) -> list[GeneratedFile]:
        files = [
            GeneratedFile(self.path("dbt_project.yml"), self._dbt_project()),
            GeneratedFile(self.path("profiles.yml"), self._profiles()),
            GeneratedFile(self.path(".gitignore"), render("dbt/gitignore.j2")),
            GeneratedFile(self.path("macros", "generate_schema_name.sql"), render("dbt/generate_schema_name.sql.j2")),
        ]
        if self._has_time_ranges():
            files.append(GeneratedFile(self.path("macros", "meshgen_time_range.sql"), render("dbt/meshgen_time_range.sql.j2")))
        files.extend(self._generic_tests())
        files.extend(self._sources())
        files.extend(self._groups())
        for folder, models in _by_folder(self.models, self.folder).items():
            files.extend(self._node_file(m) for m in models)
            files.append(self._properties_file(folder, models))
        return sorted(files, key=lambda f: f.path)

    def _has_time_ranges(self) -> bool:
        """Whether a SQL model is a time range (it needs macros/meshgen_time_range.sql and its state table)."""
        return any(m.kind == "incremental_by_time_range" and m.language == "sql" for m in self.models)

    def _dbt_project(self) -> str:
        folders: dict[str, list[str]] = {"models": [], "seeds": [], "snapshots": []}
        for model in self.models:
            schemas = folders[self.resource(model) + "s"]
            if model.schema not in schemas:
                schemas.append(model.schema)
        environments = [(e.name, self.spec.gateway(e.gateway).type) for e in self.spec.environments]
        return render(
            "dbt/dbt_project.yml.j2",
            project=self.spec.project,
            backfill_starts=self.yaml(backfill_starts(self.spec), 4) if backfill_starts(self.spec) else "",
            time_ranges=self._has_time_ranges(),
            folders={k: sorted(v) for k, v in folders.items() if v},
            dialect=self.dialect,
            other_dialects=[(name, kind) for name, kind in environments if kind != self.dialect],
        )

    def _profiles(self) -> str:
        default = next((e for e in self.spec.environments if e.name == "dev"), self.spec.environments[0])
        outputs = {e.name: self._output(e) for e in self.spec.environments}
        profile = {self.spec.project.name: {"target": default.name, "outputs": outputs}}
        return render("dbt/profiles.yml.j2", profile=to_yaml(dbt_text(profile)))

    def _output(self, environment: Environment) -> dict:
        gateway = self.spec.gateway(environment.gateway)
        output: dict[str, Any] = {"type": gateway.type}
        if gateway.type == "duckdb":
            # dbt (1.11) opens a relative path from the directory it is started in, not from the
            # project: anchor it at the folder of this profiles.yml, which is the project folder.
            relative = self.spec.path_from(self.root, str(gateway.get("path", "warehouse.duckdb")))
            output["path"] = Jinja("{{ flags.PROFILES_DIR }}/" + jinja_literal(relative))
        facts = warehouse(gateway.type)
        settings = {**facts.profile_defaults, **dict(gateway.settings)}
        for key, profile_key in facts.profile_keys.items():
            if key in settings:
                output[profile_key] = _profile_value(settings[key], integer=key in INTEGER_KEYS)
        if gateway.type == "trino":
            output["method"] = "ldap" if "password" in settings else "none"
        if facts.target_schema:
            output["schema"] = facts.target_schema
        else:  # BigQuery: a dataset instead
            output["dataset"] = self.spec.project.name
        output["threads"] = environment.dbt_threads
        return output

    def _generic_tests(self) -> Iterable[GeneratedFile]:
        kinds = {c.kind for m in self.models if m.contract for col in m.contract.columns for c in col.constraints}
        for kind, name in (("range", "accepted_range"), ("check", "expression_is_true")):
            if kind in kinds:
                yield GeneratedFile(self.path("tests", "generic", f"{name}.sql"), render(f"dbt/{name}.sql.j2"))

    def _sources(self) -> Iterable[GeneratedFile]:
        read = sorted({u for m in self.models for u in self.analysis.models[m.name].upstreams})
        raw: dict[str, list[dict]] = {}
        for name in read:
            if name in self.sources:
                source = self.sources[name]
                raw.setdefault(source.schema, []).append(self._source_table(name, source.description, source.owner))
        for schema, tables in raw.items():
            entry = {"name": schema, "schema": schema, "tables": tables}
            yield self._sources_file(schema, entry)
        sqlmesh: dict[str, list[dict]] = {}
        for name in self._sqlmesh_upstreams():
            model = self.spec.model(name)
            sqlmesh.setdefault(model.schema, []).append(self._source_table(name, self._description(model), self._owner(model)))
        for schema, tables in sqlmesh.items():
            source_name = self.sqlmesh_source(f"{schema}.x")
            entry = {
                "name": source_name,
                "description": f"Tables SQLMesh builds in schema {schema}, read from the environment dbt runs in "
                f"({schema} in prod, {schema}__<environment> elsewhere).",
                # The rule of macros/generate_schema_name.sql, evaluated when dbt parses.
                "schema": Jinja(
                    "{{ '" + schema + "' if target.name == 'prod' else '" + schema
                    + "__' ~ (env_var('MESHGEN_ENVIRONMENT', '') or target.name) }}"
                ),
                "config": {"meta": {"produced_by": "sqlmesh"}},
                "tables": tables,
            }
            yield self._sources_file(source_name, entry)

    def _source_table(self, name: str, description: str, owner: str) -> dict:
        table: dict[str, Any] = {"name": name.split(".", 1)[1]}
        if description:
            table["description"] = description
        if owner:
            table["config"] = {"meta": {"owner": owner}}
        columns = [
            {"name": n, **({"description": d} if d else {}), **({"data_type": t} if t else {})} for n, t, d in self.columns_of(name)
        ]
        if columns:
            table["columns"] = columns
        return table

    def _sources_file(self, source_name: str, entry: dict) -> GeneratedFile:
        # Table by table, so a rebuild re-emits only the tables that changed; `tables` is the entry's last key.
        header = {k: v for k, v in entry.items() if k != "tables"}
        chunks = [self.yaml([header], 2), "    tables:", *(self.yaml([t], 6) for t in entry["tables"])]
        text = render("dbt/properties.yml.j2", sections=[("sources", ["\n".join(chunks)])])
        return GeneratedFile(self.path("models", "sources", f"_{source_name}__sources.yml"), text)

    def _groups(self) -> Iterable[GeneratedFile]:
        domains: dict[str, list[Model]] = {}
        for model in self.models:
            if model.domain:
                domains.setdefault(model.domain, []).append(model)
        if not domains:
            return
        groups = []
        for domain in sorted(domains):
            owners = Counter(self._owner(m) for m in domains[domain] if self._owner(m))
            owner = max(owners, key=lambda o: (owners[o], -[self._owner(m) for m in domains[domain]].index(o))) if owners else ""
            key = "email" if "@" in owner and " " not in owner else "name"
            groups.append({"name": domain, "owner": {key: owner or domain}})
        text = render("dbt/properties.yml.j2", sections=[("groups", [self.yaml(groups, 2)])])
        yield GeneratedFile(self.path("models", "_groups.yml"), text)

    def _properties_file(self, folder: str, models: list[Model]) -> GeneratedFile:
        resource = self.resource(models[0])
        nodes = [self.yaml([self.properties(m)], 2) for m in models]
        sections = [(resource + "s", nodes)]
        unit_tests = [self.yaml([t], 2) for m in models for t in self.unit_tests(m)]
        if unit_tests:
            sections.append(("unit_tests", unit_tests))
        schema = posixpath.basename(folder)
        return GeneratedFile(posixpath.join(folder, f"_{schema}__{resource}s.yml"), render("dbt/properties.yml.j2", sections=sections))

    def _node_file(self, model: Model) -> GeneratedFile:
        folder = self.folder(model)
        if model.kind == "seed":
            return GeneratedFile(posixpath.join(folder, f"{model.table}.csv"), seed_csv(model))
        if model.language == "python":
            return GeneratedFile(posixpath.join(folder, f"{model.table}.py"), self._python_model(model))
        if model.kind == "scd_type_2":
            text = render(
                "dbt/snapshot.sql.j2",
                model=model,
                unique_key=model.unique_key[0] if len(model.unique_key) == 1 else list(model.unique_key),
                sql=self.sql_body(model),
            )
            return GeneratedFile(posixpath.join(folder, f"{model.table}.sql"), text)
        extra = [u for u in model.depends_on if u not in self.analysis.models[model.name].reads]
        text = render(
            "dbt/model.sql.j2",
            model=model,
            config=self.model_config(model),
            depends_on=[self.reader(u).jinja for u in sorted(extra)],
            sql=self.sql_body(model),
            lookback=self.analysis.models[model.name].lookback,
        )
        return GeneratedFile(posixpath.join(folder, f"{model.table}.sql"), text)

    def _python_model(self, model: Model) -> str:
        module, function = model.entrypoint.split(":")
        upstreams = self.analysis.models[model.name].upstreams
        return render(
            "dbt/python_model.py.j2",
            model=model,
            spec_folder=self.spec.path_from(self.root, "."),
            module=module,
            function=function,
            tables=[(u, self.reader(u).python) for u in upstreams],
            columns=[(c.name, self.data_type(c.type)) for c in model.contract.columns],
            start=model.start or self.spec.project.start,
            backfill_starts=backfill_starts(self.spec),
            unit=model.interval_unit,
        )


def backfill_starts(spec: Spec) -> dict[str, str]:
    """Environment -> the first date its deploys load (the environments with a backfill window)."""
    return {e.name: e.backfill_start for e in spec.environments if e.backfill_start}


def seed_csv(model: Model) -> str:
    """The seed's rows as a CSV file dbt loads (the spec's file, written out again in one dialect)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(model.seed.header)
    writer.writerows(model.seed.rows)
    return buffer.getvalue()


def _profile_value(value: Any, integer: bool = False) -> Any:
    if isinstance(value, EnvRef):
        return Jinja("{{ env_var('" + value.name + "')" + (" | as_number" if integer else "") + " }}")
    if isinstance(value, tuple):
        return list(value)
    return value


def _rows(rows) -> list[dict]:
    return [_Row(row) for row in rows]


def _by_folder(models: list[Model], folder: Callable[[Model], str]) -> dict[str, list[Model]]:
    grouped: dict[str, list[Model]] = {}
    for model in models:
        grouped.setdefault(folder(model), []).append(model)
    return grouped


def check(spec: Spec) -> list[Diagnostic]:
    """What dbt cannot build, found before anything is written (`meshgen validate` runs it too)."""
    analysis = spec.analysis
    models = [spec.model(n) for n in analysis.order if analysis.engine(n) == "dbt"]
    errors = []
    seen: dict[str, Model] = {}
    for model in models:
        other = seen.setdefault(model.table, model)
        if other is not model:
            errors.append(
                Diagnostic(
                    model.location,
                    f"dbt models '{other.name}' and '{model.name}' have the same table name '{model.table}'",
                    "dbt names a model by its table, so tables of dbt models must be unique across schemas: rename one",
                )
            )
    read_from_sqlmesh = {
        u for m in models for u in analysis.models[m.name].upstreams if u in analysis.models and analysis.engine(u) == "sqlmesh"
    }
    raw_schemas = {s.schema: s for s in reversed(spec.sources)}
    for schema in sorted({_Project.sqlmesh_source(n) for n in read_from_sqlmesh}):
        if schema in raw_schemas:
            errors.append(
                Diagnostic(
                    raw_schemas[schema].location,
                    f"source schema '{schema}' clashes with the dbt source meshgen declares for SQLMesh-built tables",
                    "rename that source schema",
                )
            )
    return errors


def emit(spec: Spec) -> list[GeneratedFile]:
    if not any(spec.analysis.engine(m.name) == "dbt" for m in spec.models):
        return []
    return _Project(spec).files()
