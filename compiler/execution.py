"""The execution model: two verbs, each a list of engine commands per stage and environment.

* **deploy** brings an environment to what the spec says: every SQLMesh stage
  is a `sqlmesh plan` of that stage's models (and every earlier SQLMesh
  stage's), which builds new versions over the environment's whole backfill
  range; every dbt stage is a `dbt build` of its models. After the first
  deploy an environment is complete. `meshgen deploy` stages it (`staged`):
  SQLMesh plans into `<env>__next`, dbt reads that and keeps copies of its tables
  (`deploy_begin`); `deploy_finish` switches over, `deploy_rollback` undoes.
* **run** is what the schedule does: in each stage, `sqlmesh run` or `dbt build`
  of the models that are due (their cron ticked since the schedule's previous
  tick); SQLMesh loads their missing intervals, dbt their new ones.

Both verbs take one execution time for all their stages, written as the
placeholder `{execution_time}` in SQLMesh's commands and given to every
command as the environment variable MESHGEN_EXECUTION_TIME, so every stage
cuts its intervals at the same point and never reads an upstream that is
still missing intervals it is about to compute. Commands are argument lists,
run from the output root; leading `NAME=value` words are variables a command
runs with, as in a shell. `meshgen deploy` and `meshgen run` run these commands;
the Airflow and Dagster files and the CI workflow run those two verbs.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from . import schedule
from .analysis.stages import Stage
from .errors import Location, did_you_mean, fail
from .ir import Environment, Spec
from .semantics.kinds import kind_facts
from .warehouses import DBT_CORE_VERSION, SQLMESH_VERSION, database_file, warehouse

EXECUTION_TIME = "{execution_time}"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Set to run a non-prod environment under another name, e.g. one per pull request:
# SQLMesh plans into that environment and both engines use `<schema>__<name>`.
ENVIRONMENT_OVERRIDE = "MESHGEN_ENVIRONMENT"
# The tag meshgen gives the external models it declares for SQLMesh (sources, dbt-built tables).
EXTERNAL_TAG = "meshgen_external"
DEFAULT_START = "2000-01-01"
# dbt variable that may carry the execution time in a dbt command run by hand (see macros/meshgen_time_range.sql).
EXECUTION_TIME_VAR = "meshgen_execution_time"
# The execution time as every engine command of a deploy or run gets it: dbt reads it when no
# variable gives one, and so do SQLMesh's Python models, whose `sqlmesh run` takes no execution time.
# An environment variable, not dbt's `--vars`: dbt parses the whole project again whenever its vars
# differ from the last command's, but when an environment variable changes, only the files reading it.
EXECUTION_TIME_ENV = "MESHGEN_EXECUTION_TIME"
# A staged deploy (`meshgen deploy`) plans SQLMesh into `<environment>__next` on the environment's
# gateway and promotes it only when every stage succeeded.
STAGING_SUFFIX = "__next"
# The SQLMesh gateway unit tests run on: in-memory DuckDB, and dbt-built tables by their prod
# names whatever MESHGEN_ENVIRONMENT says, so the fixtures name no environment.
UNIT_TEST_GATEWAY = "unit_test"
# Environment variable naming the SQLMesh environment dbt reads SQLMesh's tables from during a
# staged deploy (the staging one); an environment variable for the same reason as the time's.
SQLMESH_ENVIRONMENT_ENV = "MESHGEN_SQLMESH_ENVIRONMENT"
# A command's leading `NAME=value` words: variables it runs with, written as a shell takes them.
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Prerequisite:
    check: str  # table_exists | fresh
    table: str
    reason: str
    column: str = ""
    max_age: str = ""

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass(frozen=True)
class Invocation:
    """A stage's engine command in a run: its fixed part, then the arguments of each model that is due."""

    argv: tuple[str, ...]
    models: tuple[tuple[str, str, tuple[str, ...]], ...]  # (model, cron, arguments naming it)

    def due_models(self, after: datetime, until: datetime) -> list[str]:
        """The models whose schedule ticks in the window (after, until]."""
        return [model for model, cron, _ in self.models if schedule.is_due(cron, after, until)]

    def command_for(self, models: Iterable[str]) -> list[str]:
        """The command building these models, or [] for none."""
        chosen = set(models)
        args = [a for model, _, model_args in self.models if model in chosen for a in model_args]
        return list(self.argv) + args if args else []

    def due(self, after: datetime, until: datetime) -> list[str]:
        """The command for the models due in the window (after, until], or [] when none is."""
        return self.command_for(self.due_models(after, until))

    def as_dict(self) -> dict:
        return {"command": list(self.argv), "models": [{"model": m, "cron": c, "args": list(a)} for m, c, a in self.models]}


def environment(spec: Spec, name: str) -> Environment:
    """The environment of that name, or a user error naming the closest one."""
    env = next((e for e in spec.environments if e.name == name), None)
    if env is None:
        known = [e.name for e in spec.environments]
        raise fail(Location(spec.project.spec_file), f"unknown environment '{name}'", did_you_mean(name, known, "environments"))
    return env


def renamed_as(env: Environment) -> str:
    """The name a non-prod environment runs under: MESHGEN_ENVIRONMENT's value, else "" (its own). Prod is never renamed."""
    return "" if env.is_prod else os.environ.get(ENVIRONMENT_OVERRIDE, "")


def install_hint(engine: str, gateway_type: str = "duckdb") -> str:
    """How to install an engine (sqlmesh | dbt) for a warehouse type, pinned as the generated requirements pin it."""
    facts = warehouse(gateway_type)
    requirement = facts.driver(engine).requirement
    if engine == "dbt":
        packages = [f"dbt-core=={DBT_CORE_VERSION}", requirement]
    else:
        packages = [f"sqlmesh=={SQLMESH_VERSION}", requirement] if facts.sqlmesh_driver_package else [requirement]
    return f"pip install {shlex.join(packages)}"


def environment_table(spec: Spec, env: Environment, table: str, name: str = "") -> str:
    """Where a model or source lives in an environment: a model's schema follows the naming rule, a source's does not."""
    model = spec.model(table)
    return table if model is None else f"{env.schema_for(model.schema, name)}.{model.table}"


def dbt_node_name(model_name: str) -> str:
    """dbt names a node by the table name (models, seeds and snapshots alike)."""
    return model_name.split(".", 1)[1]


def format_time(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def with_time(argv: Iterable[str], moment: datetime) -> list[str]:
    """A command with its execution time filled in (run it with `time_environment(moment)` too)."""
    return [part.replace(EXECUTION_TIME, format_time(moment)) for part in argv]


def time_environment(moment: datetime) -> dict[str, str]:
    """Environment variables every engine command of a deploy or run gets."""
    return {EXECUTION_TIME_ENV: format_time(moment)}


def most_frequent_cron(crons: Iterable[str]) -> str:
    """The most frequent of some schedules (ties: the first in sorted order)."""
    return min(sorted(set(crons)), key=lambda c: schedule.UNITS[schedule.interval_unit(c)])


def stage_cron(spec: Spec, stage: Stage) -> str:
    return most_frequent_cron(spec.model(m).cron for m in stage.models)


def environment_name(env: Environment, name: str = "") -> str:
    """The name the engines know the environment by (`name` renames a non-prod one)."""
    return env.name if env.is_prod else (name or env.name)


def project_start(spec: Spec) -> str:
    """Where SQLMesh's intervals begin for models without a start of their own.

    Only its bookkeeping depends on it (a time-range model must have a start); it is
    fixed rather than SQLMesh's default, yesterday, so an execution time in the past works.
    """
    starts = [m.start for m in spec.models if m.start]
    return spec.project.start or min(starts, default=DEFAULT_START)


def backfill_start(spec: Spec, env: Environment) -> str:
    """Where a deploy of a non-prod environment starts loading: its backfill window, else the project's start."""
    return env.backfill_start or project_start(spec)


# -- deploy ---------------------------------------------------------------------


def staging_environment(env: Environment, name: str = "") -> str:
    """The SQLMesh environment a staged deploy of `env` builds into before it switches over."""
    return environment_name(env, name) + STAGING_SUFFIX


def _sqlmesh_base(spec: Spec, env: Environment, verb: str, name: str, staged: bool = False) -> list[str]:
    target = staging_environment(env, name) if staged else environment_name(env, name)
    return ["sqlmesh", "-p", spec.output.sqlmesh, "--gateway", env.name, verb, target]


def _earlier_sqlmesh_models(spec: Spec, stage: Stage) -> list[str]:
    stages = spec.analysis.stages
    return [m for s in stages if s.engine == "sqlmesh" and s.index < stage.index for m in s.models]


def _sqlmesh_plan(spec: Spec, env: Environment, name: str, models: Iterable[str], staged: bool) -> list[str]:
    argv = _sqlmesh_base(spec, env, "plan", name, staged)
    if staged or not env.is_prod:
        # A development plan otherwise loads only a preview; the staging plan of prod loads what prod would.
        argv += ["--start", backfill_start(spec, env) if not env.is_prod else project_start(spec)]
    argv += ["--execution-time", EXECUTION_TIME, "--select-model", f"tag:{EXTERNAL_TAG}"]
    for model in models:
        argv += ["--select-model", model]
    return argv + ["--auto-apply", "--no-prompts", "--skip-tests"]


def sqlmesh_deploy(spec: Spec, stage: Stage, env: Environment, name: str = "", staged: bool = False) -> list[str]:
    """`sqlmesh plan` of this stage and every earlier SQLMesh stage, with every external model.

    Later stages are left out: they read tables dbt has not built yet. The external
    models (sources, dbt tables) are selected too, so each version SQLMesh stores
    has all its parents and a plain `sqlmesh plan` afterwards finds nothing to change.
    `staged` plans into the staging environment instead (see `deploy_finish`).
    """
    return _sqlmesh_plan(spec, env, name, _earlier_sqlmesh_models(spec, stage) + list(stage.models), staged)


def _dbt(spec: Spec, env: Environment, verb: str) -> list[str]:
    project = spec.output.dbt
    return ["dbt", verb, "--project-dir", project, "--profiles-dir", project, "--target", env.name]


def _reading_sqlmesh_environment(argv: list[str], sqlmesh_environment: str) -> list[str]:
    """A dbt command whose sources read SQLMesh's tables from `sqlmesh_environment` ("": the environment's own)."""
    return [f"{SQLMESH_ENVIRONMENT_ENV}={sqlmesh_environment}", *argv] if sqlmesh_environment else argv


def split_command(command: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """The variables a command sets (its leading `NAME=value` words) and the command itself."""
    words = list(command)
    count = next((i for i, word in enumerate(words) if not _ASSIGNMENT.match(word)), len(words))
    return dict(word.split("=", 1) for word in words[:count]), words[count:]


def tool(command: Iterable[str]) -> str:
    """The engine a command runs: sqlmesh or dbt."""
    return split_command(command)[1][0]


def _dbt_build(spec: Spec, env: Environment, models: Iterable[str], sqlmesh_environment: str = "", verb: str = "build") -> list[str]:
    nodes = [dbt_node_name(m) for m in models]
    return _reading_sqlmesh_environment([*_dbt(spec, env, verb), "--select", *nodes], sqlmesh_environment)


def deploy_commands(spec: Spec, stage: Stage, env: Environment, name: str = "", staged: bool = False) -> list[list[str]]:
    """A stage's deploy; `staged`: SQLMesh plans into the staging environment and dbt reads it."""
    if stage.engine == "sqlmesh":
        return [sqlmesh_deploy(spec, stage, env, name, staged)]
    return [_dbt_build(spec, env, stage.models, staging_environment(env, name) if staged else "")]


# -- a slim deploy: only what changed since a base, the rest cloned from the base environment --


def dbt_base_state(spec: Spec, base: Environment, target_path: str) -> list[str]:
    """dbt's manifest of the base environment (run without MESHGEN_ENVIRONMENT): where its tables are.

    Parsed from this project: a model that did not change has the same relation in the base."""
    return [*_dbt(spec, base, "parse"), "--target-path", target_path]


def dbt_clone(spec: Spec, env: Environment, models: Iterable[str], state: str) -> list[str]:
    """dbt's own clone of the models the base already holds (on DuckDB and PostgreSQL, a view of each)."""
    return [*_dbt(spec, env, "clone"), "--state", state, "--select", *(dbt_node_name(m) for m in models)]


def drop_commands(spec: Spec, env: Environment, name: str) -> list[list[str]]:
    """A renamed environment dropped in both engines: SQLMesh's views and state, dbt's schemas."""
    commands = []
    if _sqlmesh_models(spec):
        commands.append(_sqlmesh_base(spec, env, "invalidate", name) + ["--sync"])
    if _has_dbt(spec):
        commands.append(_dbt_operation(spec, env, "meshgen_drop_environment"))
    return commands


# -- a staged deploy: build everything first, switch over only when every stage succeeded --


def _dbt_operation(spec: Spec, env: Environment, macro: str, sqlmesh_environment: str = "") -> list[str]:
    """`dbt run-operation`; given `sqlmesh_environment`, in the environment of the deploy's builds around it."""
    return _reading_sqlmesh_environment([*_dbt(spec, env, "run-operation"), macro], sqlmesh_environment)


def _has_dbt(spec: Spec) -> bool:
    return any(s.engine == "dbt" for s in spec.analysis.stages)


def _sqlmesh_models(spec: Spec) -> list[str]:
    """Every SQLMesh model, in stage order."""
    return [m for s in spec.analysis.stages if s.engine == "sqlmesh" for m in s.models]


def dbt_views_reading_sqlmesh(spec: Spec) -> list[str]:
    """dbt views that read a SQLMesh model: during a staged deploy they point at the staging environment."""
    analysis = spec.analysis
    return [
        m.name
        for m in spec.models
        if analysis.engine(m.name) == "dbt"
        and kind_facts(m.kind).dbt_materialized == "view"
        and any(spec.model(u) is not None and analysis.engine(u) == "sqlmesh" for u in analysis.models[m.name].upstreams)
    ]


def deploy_begin(spec: Spec, env: Environment, name: str = "") -> list[list[str]]:
    """Before the first stage: dbt keeps a copy of every table of the project the deploy may change."""
    return [_dbt_operation(spec, env, "meshgen_deploy_begin", staging_environment(env, name))] if _has_dbt(spec) else []


def deploy_finish(spec: Spec, env: Environment, name: str = "") -> list[list[str]]:
    """After every stage succeeded: promote SQLMesh's staged versions, repoint dbt's views, drop the copies.

    SQLMesh shares physical tables by fingerprint, so the promotion is a virtual update.
    """
    commands = []
    sqlmesh_models = _sqlmesh_models(spec)
    if sqlmesh_models:
        commands.append(_sqlmesh_plan(spec, env, name, sqlmesh_models, staged=False))
    views = dbt_views_reading_sqlmesh(spec)
    if views:
        commands.append(_dbt_build(spec, env, views, verb="run"))
    if _has_dbt(spec):
        commands.append(_dbt_operation(spec, env, "meshgen_deploy_commit"))
    if sqlmesh_models:
        commands.append(_sqlmesh_base(spec, env, "invalidate", name, staged=True) + ["--sync"])
    return commands


def deploy_rollback(spec: Spec, env: Environment, name: str = "") -> list[list[str]]:
    """After a stage failed: dbt's tables back from their copies, the staging environment dropped."""
    commands = [_dbt_operation(spec, env, "meshgen_deploy_rollback", staging_environment(env, name))] if _has_dbt(spec) else []
    if _sqlmesh_models(spec):
        commands.append(_sqlmesh_base(spec, env, "invalidate", name, staged=True) + ["--sync"])
    return commands


# -- run ------------------------------------------------------------------------


def run_invocation(spec: Spec, stage: Stage, env: Environment, name: str = "") -> Invocation:
    """A stage's command in a run: `sqlmesh run` or `dbt build` of the models due (the engine orders them)."""
    if stage.engine == "sqlmesh":
        argv = _sqlmesh_base(spec, env, "run", name) + ["--end", EXECUTION_TIME]
        models = tuple((m, spec.model(m).cron, ("--select-model", m)) for m in stage.models)
    else:
        argv = _dbt_build(spec, env, ())
        models = tuple((m, spec.model(m).cron, (dbt_node_name(m),)) for m in stage.models)
    return Invocation(tuple(argv), models)


# -- checks before a stage ------------------------------------------------------


def prerequisites(spec: Spec, stage: Stage, env: Environment, name: str = "", staged: bool = False) -> list[Prerequisite]:
    """Tables the stage reads from outside itself must exist; contracts with an SLA must be fresh.

    `staged`: a dbt stage reads SQLMesh's tables from the staging environment.
    """
    analysis = spec.analysis
    inside = set(stage.models)
    checks: list[Prerequisite] = []
    needed = sorted({u for m in stage.models for u in analysis.models[m].upstreams if u not in inside})
    for upstream in needed:
        model = spec.model(upstream)
        if model is None:
            checks.append(Prerequisite("table_exists", upstream, "source"))
            continue
        staging = staged and analysis.engine(upstream) == "sqlmesh"
        table = f"{model.schema}__{staging_environment(env, name)}.{model.table}" if staging else environment_table(spec, env, upstream, name)
        earlier = analysis.stage_of(upstream)[0]
        checks.append(Prerequisite("table_exists", table, f"built by stage {earlier.index} ({earlier.engine})"))
        column = _freshness_column(model)
        if model.contract and model.contract.freshness and column:
            reason = f"contract {model.contract.name} promises freshness {model.contract.freshness}"
            checks.append(Prerequisite("fresh", table, reason, column=column, max_age=model.contract.freshness))
    return checks


def _freshness_column(model) -> str:
    if model.time_column:
        return model.time_column
    names = {c.name for c in model.contract.columns} if model.contract else set()
    return "updated_at" if "updated_at" in names else ""


def database_path(spec: Spec, env: Environment) -> str:
    """A local-file environment's database file (DuckDB's), relative to the output root."""
    return posixpath.normpath(posixpath.join(spec.project.spec_folder, database_file(spec.gateway(env.gateway))))


# -- the manifest ---------------------------------------------------------------


def upstream_stages(spec: Spec, stage: Stage) -> list[int]:
    """The stages holding an upstream of one of this stage's models: the only ones it waits for."""
    analysis = spec.analysis
    found = {
        analysis.stage_of(u)[0].index
        for m in stage.models
        for u in analysis.models[m].upstreams
        if spec.model(u) is not None and u not in stage.models
    }
    return sorted(found)


def manifest(spec: Spec) -> dict:
    environments = []
    for env in spec.environments:
        gateway = spec.gateway(env.gateway)
        entry = {"name": env.name, "gateway": gateway.name, "gateway_type": gateway.type}
        if database_file(gateway):
            entry["database"] = database_path(spec, env)
        environments.append(entry)
    analysis = spec.analysis
    return {
        "manifest_version": 3,
        "project": spec.project.name,
        "spec": spec.project.spec_file,
        "projects": {"sqlmesh": spec.output.sqlmesh, "dbt": spec.output.dbt},
        "execution_time_placeholder": EXECUTION_TIME,
        "environments": environments,
        # The per-model graph the orchestrators follow: a model waits for its own upstreams only.
        "models": {
            m.name: {
                "engine": analysis.engine(m.name),
                "stage": analysis.stage_of(m.name)[0].index,
                "cron": m.cron,
                "upstreams": sorted(u for u in analysis.models[m.name].upstreams if spec.model(u) is not None),
            }
            for m in spec.models
        },
        "stages": [
            {
                "index": stage.index,
                "engine": stage.engine,
                "models": list(stage.models),
                "after": upstream_stages(spec, stage),
                "crons": {m: spec.model(m).cron for m in stage.models},
                "batches": [list(b) for b in stage.batches],
                "deploy": {env.name: deploy_commands(spec, stage, env) for env in spec.environments},
                "run": {env.name: run_invocation(spec, stage, env).as_dict() for env in spec.environments},
                "prerequisites": {env.name: [p.as_dict() for p in prerequisites(spec, stage, env)] for env in spec.environments},
            }
            for stage in spec.analysis.stages
        ],
    }
