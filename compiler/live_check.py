"""`meshgen check`: every model compiled against an environment's warehouse, writing nothing.

Each engine plans its own models through its own adapter, in the warehouse of
the environment's gateway:

* **SQLMesh** (its Python API): the project is loaded for the environment's
  gateway, each SQL model's query is rendered (macros, time range, the
  gateway's dialect) with the tables of other SQLMesh models pointed at the
  environment's views (`<schema>__<env>.<table>`, what a deploy reads), and
  `SELECT * FROM (<query>) LIMIT 0` runs on the gateway's engine adapter.
  SQLMesh's state is never read, so a warehouse SQLMesh has not used yet gets
  no state tables.
* **dbt** (`dbtRunner`, dbt's programmatic API): `dbt show --select <model>
  --limit 0` per model and snapshot, with the project's own profile target of
  the environment. dbt compiles the node and runs it wrapped in its adapter's
  `LIMIT 0` subquery. `show`, like `compile`, runs no hooks and no
  materialization (the on-run-start hook that creates meshgen's state table
  does not run), and dbt's artifacts go to a temporary folder.

The warehouse binds every table, column, function and type the query uses,
which is what sqlglot cannot know; no row is read or written. A model whose
upstream table (a source or another model, in the environment's naming) does
not exist is skipped, not failed: a check expects an environment that has been
deployed before. Python models run no code here and seeds are CSV files, so
neither is probed.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .errors import Diagnostic, Location, fail
from .execution import (
    EXECUTION_TIME_VAR,
    database_path,
    dbt_node_name,
    environment,
    environment_table,
    format_time,
    install_hint,
    renamed_as,
)
from .interrupts import Interruption, deferred_interrupt
from .ir import Environment, Model, Spec
from .sqltext import compiled_sqlglot, sqlmesh_beside_compiled
from .warehouses import database_file

OK, FAILED, SKIPPED, NOT_PROBED = "ok", "failed", "skipped", "not probed"


@dataclass(frozen=True)
class Outcome:
    model: Model
    engine: str
    status: str  # ok | failed | skipped | not probed
    detail: str = ""  # failed: the warehouse's error; skipped, not probed: why


@dataclass
class Report:
    spec: Spec
    environment: str  # as the engines know it (MESHGEN_ENVIRONMENT may rename it)
    gateway_type: str
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> bool:
        return self.count(FAILED) > 0

    def diagnostics(self) -> list[Diagnostic]:
        """One error per failed model, at the model in the spec."""
        found = []
        for outcome in self.outcomes:
            if outcome.status == FAILED:
                message, hint = _warehouse_error(outcome.detail)
                reads = [u for u in self.spec.analysis.models[outcome.model.name].upstreams if self.spec.model(u)]
                if reads:
                    hint = "; ".join(filter(None, [hint.rstrip("."), f"it reads {', '.join(reads)} as deployed in {self.environment} now"]))
                text = f"model '{outcome.model.name}' does not compile against {self.environment} ({outcome.engine}): {message}"
                found.append(Diagnostic(outcome.model.location, text, hint))
        return found

    def notes(self) -> list[str]:
        """One line per skipped model, in the diagnostics' format."""
        return [
            f"{o.model.location}: note: model '{o.model.name}' skipped: {o.detail}"
            for o in sorted(self.outcomes, key=lambda o: o.model.location)
            if o.status == SKIPPED
        ]

    def summary(self) -> str:
        checked = self.count(OK) + self.count(FAILED)
        failed = self.count(FAILED)
        line = f"{self.spec.project.name}: {checked} model(s) checked against {self.environment} ({self.gateway_type}), "
        line += f"{failed} failed" if failed else "none failed"
        if self.count(SKIPPED):
            line += f"; {self.count(SKIPPED)} skipped (an upstream table does not exist yet)"
        kinds = [o.detail for o in self.outcomes if o.status == NOT_PROBED]
        if kinds:
            parts = [f"{kinds.count(k)} {k}{'s' if kinds.count(k) > 1 else ''}" for k in sorted(set(kinds))]
            line += f"; not probed: {', '.join(parts)}"
        return line


def check(spec: Spec, root: Path, env_name: str, select: list[str]) -> Report:
    """Plan the models (all, or the selected ones) against the environment's warehouse."""
    env = environment(spec, env_name)
    name = renamed_as(env)
    gateway = spec.gateway(env.gateway)
    if database_file(gateway) and not (root / database_path(spec, env)).exists():
        raise fail(
            Location(spec.project.spec_file),
            f"the database {database_path(spec, env)} of environment {env.name} does not exist yet",
            f"meshgen check plans models against a deployed environment: run `meshgen deploy --env {env.name}` first",
        )
    for model_name in select:
        spec.require_model(model_name)
    chosen = [spec.model(n) for n in spec.analysis.order if not select or n in select]
    report = Report(spec, name or env.name, gateway.type)
    with deferred_interrupt() as interruption:  # honoured between models, where no engine code runs
        for engine, probe_type in PROBES.items():
            models = [m for m in chosen if spec.analysis.engine(m.name) == engine]
            report.outcomes += [Outcome(m, engine, NOT_PROBED, _not_probed(m)) for m in models if _not_probed(m)]
            probed = [m for m in models if not _not_probed(m)]
            if probed:
                interruption.checkpoint()
                with probe_type(spec, root, env, name) as probe:
                    report.outcomes += _probe_all(spec, env, name, probe, probed, engine, interruption)
    return report


def _not_probed(model: Model) -> str:
    """Why a model is not planned against the warehouse, or ""."""
    if model.language == "python":
        return "Python model"
    return "seed" if model.kind == "seed" else ""


def _probe_all(
    spec: Spec, env: Environment, name: str, probe: "Probe", models: list[Model], engine: str, interruption: Interruption
) -> list[Outcome]:
    tables = {m.name: {u: environment_table(spec, env, u, name) for u in spec.analysis.models[m.name].upstreams} for m in models}
    existing = probe.existing(sorted({t for reads in tables.values() for t in reads.values()}))
    outcomes = []
    for model in models:
        missing = [u for u, table in tables[model.name].items() if table not in existing]
        if missing:
            shown_env = name or env.name
            detail = f"upstream {', '.join(missing)} {'does' if len(missing) == 1 else 'do'} not exist yet in {shown_env}"
            outcomes.append(Outcome(model, engine, SKIPPED, detail))
            continue
        interruption.checkpoint()
        error = probe.plan(model)
        outcomes.append(Outcome(model, engine, FAILED if error else OK, error))
    return outcomes


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


_LOCATOR = re.compile(r"^(LINE \d+:|\^+$|compiled code at )")
_LABEL = re.compile(r"^(HINT|DETAIL):\s*")  # PostgreSQL's
# dbt's headers: the exception's kind ("Runtime Error"), then the node ("... in model x (models/x.sql)").
_DBT_HEADER = re.compile(r"^\w+ Error( in (model|snapshot) \S+ \(.*\))?$")


def _warehouse_error(text: str) -> tuple[str, str]:
    """The warehouse's error as one line and a hint: without the tool's header and the position in a query nobody wrote."""
    lines = [" ".join(_LABEL.sub("", line.strip()).split()) for line in text.splitlines()]
    kept = [line for line in lines if line and not _LOCATOR.match(line) and not _DBT_HEADER.match(line)]
    kept = kept or [line for line in lines if line] or ["(no message)"]
    return kept[0], " ".join(kept[1:])


class Probe:
    """One engine's connection to one environment's warehouse."""

    engine = ""

    def __init__(self, spec: Spec, root: Path, env: Environment, name: str):
        self.spec, self.root, self.env, self.name = spec, root, env, name
        self.at = _now()

    def __enter__(self) -> "Probe":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass

    def unreachable(self, error: object) -> Exception:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return fail(
            Location(self.spec.project.spec_file),
            f"{self.engine} cannot plan models in environment {self.env.name}: {text}",
            "check the environment's connection settings and that its warehouse is reachable",
        )

    def missing_engine(self, package: str) -> Exception:
        gateway_type = self.spec.gateway(self.env.gateway).type
        message = f"the {package} package is not installed (meshgen check uses its Python API)"
        return fail(Location(self.engine), message, install_hint(self.engine, gateway_type))

    def existing(self, tables: list[str]) -> set[str]:
        """Which of these tables (schema.table) exist in the warehouse."""
        raise NotImplementedError

    def plan(self, model: Model) -> str:
        """The warehouse's error for the model's query, or "" when it plans."""
        raise NotImplementedError


class SqlmeshProbe(Probe):
    engine = "sqlmesh"

    def __init__(self, spec: Spec, root: Path, env: Environment, name: str):
        super().__init__(spec, root, env, name)
        if compiled_sqlglot():
            raise sqlmesh_beside_compiled(spec.project.spec_file)
        try:
            from sqlglot import exp
            from sqlmesh import Context
        except ImportError:
            raise self.missing_engine("sqlmesh") from None
        self.exp = exp
        try:
            self.context = Context(paths=[str(root / spec.output.sqlmesh)], gateway=env.name)
            self.adapter = self.context.engine_adapter
        except Exception as error:  # noqa: BLE001 - the project or gateway SQLMesh could not load
            raise self.unreachable(error) from None
        # Other SQLMesh models are read where a deploy of the environment put them (its views).
        self.mapping = {}
        for fqn, model in self.context.models.items():
            if not model.kind.is_external:
                table = exp.to_table(fqn, dialect=model.dialect)
                view = exp.table_(table.name, db=env.schema_for(table.db, name), catalog=table.catalog or None)
                self.mapping[fqn] = view.sql(dialect=model.dialect, identify=True)

    def close(self) -> None:
        self.context.close()

    def existing(self, tables: list[str]) -> set[str]:
        try:
            return {t for t in tables if self.adapter.table_exists(self.exp.to_table(t))}
        except Exception as error:  # noqa: BLE001 - the warehouse cannot be reached
            raise self.unreachable(error) from None

    def plan(self, model: Model) -> str:
        exp = self.exp
        try:
            sqlmesh_model = self.context.get_model(model.name, raise_if_missing=True)
            query = sqlmesh_model.render_query_or_raise(
                start=self.at - timedelta(days=1),
                end=self.at,
                execution_time=self.at,
                table_mapping=self.mapping,
                engine_adapter=self.adapter,
            )
            self.adapter.fetchall(exp.select("*").from_(query.subquery("meshgen_check")).limit(0))
        except Exception as error:  # noqa: BLE001 - rendering or planning failed: that is the finding
            return str(error) or type(error).__name__
        return ""


class DbtProbe(Probe):
    engine = "dbt"

    def __init__(self, spec: Spec, root: Path, env: Environment, name: str):
        super().__init__(spec, root, env, name)
        try:
            from dbt.cli.main import dbtRunner
        except ImportError:
            raise self.missing_engine("dbt-core") from None
        self.runner = dbtRunner()
        self.scratch = tempfile.TemporaryDirectory(prefix="meshgen-check-")
        project = str(root / spec.output.dbt)
        self.arguments = [
            "--project-dir", project, "--profiles-dir", project, "--target", env.name,
            "--vars", json.dumps({EXECUTION_TIME_VAR: format_time(self.at)}),
            "--target-path", self.scratch.name, "--log-path", self.scratch.name, "--log-level", "none",
        ]  # fmt: skip

    def close(self) -> None:
        self.scratch.cleanup()

    def _show(self, *arguments: str):
        return self.runner.invoke(["show", *arguments, *self.arguments])

    def existing(self, tables: list[str]) -> set[str]:
        if not tables:
            return set()
        # dbt's own relation lookup, which every adapter implements, in the Jinja of an inline query.
        pairs = ", ".join(f"({t.split('.', 1)[0]!r}, {t.split('.', 1)[1]!r})" for t in tables)
        inline = (
            "{%- set found = [] -%}"
            f"{{%- for schema, table in [{pairs}] -%}}"
            "{%- if adapter.get_relation(database=target.database, schema=schema, identifier=table) is not none -%}"
            "{%- do found.append(schema ~ '.' ~ table) -%}{%- endif -%}{%- endfor -%}"
            "select '{{ found | join(',') }}' as found"
        )
        result = self._show("--inline", inline, "--limit", "-1")
        if not result.success:
            raise self.unreachable(result.exception or "dbt show failed")
        rows = result.result.results[0].agate_table.rows
        return set(filter(None, str(rows[0][0]).split(","))) if rows else set()

    def plan(self, model: Model) -> str:
        node = dbt_node_name(model.name)
        result = self._show("--select", node, "--exclude", "resource_type:seed", "--indirect-selection", "empty", "--limit", "0")
        if result.exception is not None:
            return str(result.exception)
        runs = [r for r in (result.result.results if result.result else []) if r.node.name == node]
        if not runs:
            return f"dbt has no model or snapshot named {node}"
        return "" if str(runs[0].status) == "success" else (runs[0].message or str(runs[0].status))


PROBES = {"sqlmesh": SqlmeshProbe, "dbt": DbtProbe}
