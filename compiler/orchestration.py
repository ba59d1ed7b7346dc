"""The execution plan: for every stage and environment, the exact commands and prerequisites.

Shared by the orchestration emitter (manifest, Airflow, Dagster) and by
`meshgen run`, so what runs locally is what the orchestrators run.
Commands are argument lists, run from the output root.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Iterable

from .analysis.stages import Stage
from .ir import Environment, Spec

_CRON_RANK = {"@hourly": 0, "@daily": 1, "@weekly": 2, "@monthly": 3, "@yearly": 4, "@annually": 4}


@dataclass(frozen=True)
class Prerequisite:
    check: str  # table_exists | fresh
    table: str
    reason: str
    column: str = ""
    max_age: str = ""

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}


def dbt_node_name(model_name: str) -> str:
    """dbt names a node by the table name (models, seeds and snapshots alike)."""
    return model_name.split(".", 1)[1]


def most_frequent_cron(crons: Iterable[str]) -> str:
    """The most frequent of some schedules (presets ranked; a cron expression counts as the most frequent)."""
    return sorted(set(crons), key=lambda c: (_CRON_RANK.get(c, -1), c))[0]


def stage_cron(spec: Spec, stage: Stage) -> str:
    return most_frequent_cron(spec.model(m).cron for m in stage.models)


def reads_other_engine(spec: Spec, model_name: str) -> bool:
    analysis = spec.analysis
    engine = analysis.engine(model_name)
    return any(u in analysis.models and analysis.engine(u) != engine for u in analysis.models[model_name].upstreams)


def sqlmesh_commands(spec: Spec, stage: Stage, env: Environment, name: str = "") -> list[list[str]]:
    base = ["sqlmesh", "-p", spec.output.sqlmesh, "--gateway", env.name, "plan"]
    if not env.is_prod:
        base.append(name or env.name)
    base += ["--auto-apply", "--no-prompts", "--skip-tests"]
    # Plan this stage and every earlier SQLMesh stage, never a later one: later stages need
    # tables dbt has not built yet. Re-selecting the earlier stages keeps one consistent plan
    # for the environment (a plan of this stage alone would re-point earlier models' views).
    earlier = [m for s in spec.analysis.stages if s.engine == "sqlmesh" and s.index < stage.index for m in s.models]
    commands = [base + [arg for m in earlier + list(stage.models) for arg in ("--select-model", m)]]
    restated = [m for m in stage.models if reads_other_engine(spec, m)]
    if restated:
        # SQLMesh does not re-run a model because dbt rewrote its input: restate it (and what reads it).
        commands.append(base + [arg for m in restated for arg in ("--restate-model", m)])
    return commands


def dbt_commands(spec: Spec, stage: Stage, env: Environment, name: str = "") -> list[list[str]]:
    project = spec.output.dbt
    nodes = [dbt_node_name(m) for m in stage.models]
    return [
        ["dbt", "build", "--project-dir", project, "--profiles-dir", project, "--target", env.name, "--select", *nodes]
    ]


def commands(spec: Spec, stage: Stage, env: Environment, name: str = "") -> list[list[str]]:
    """The stage's commands; `name` renames a non-prod environment (see ENVIRONMENT_OVERRIDE)."""
    return (sqlmesh_commands if stage.engine == "sqlmesh" else dbt_commands)(spec, stage, env, name)


# Set to run a non-prod environment under another name, e.g. one per pull request:
# SQLMesh plans into that environment and both engines use `<schema>__<name>`.
ENVIRONMENT_OVERRIDE = "MESHGEN_ENVIRONMENT"


def prerequisites(spec: Spec, stage: Stage, env: Environment, name: str = "") -> list[Prerequisite]:
    """Tables the stage reads from outside itself must exist; contracts with an SLA must be fresh."""
    analysis = spec.analysis
    inside = set(stage.models)
    checks: list[Prerequisite] = []
    needed = sorted({u for m in stage.models for u in analysis.models[m].upstreams if u not in inside})
    for upstream in needed:
        model = spec.model(upstream)
        if model is None:
            checks.append(Prerequisite("table_exists", upstream, "source"))
            continue
        table = f"{env.schema_for(model.schema, name)}.{model.table}"
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
    """A DuckDB environment's database file, relative to the output root."""
    gateway = spec.gateway(env.gateway)
    return posixpath.normpath(posixpath.join(spec.project.spec_folder, str(gateway.get("path", "warehouse.duckdb"))))


def manifest(spec: Spec) -> dict:
    environments = []
    for env in spec.environments:
        gateway = spec.gateway(env.gateway)
        entry = {"name": env.name, "gateway": gateway.name, "gateway_type": gateway.type}
        if gateway.type == "duckdb":
            entry["database"] = database_path(spec, env)
        environments.append(entry)
    return {
        "manifest_version": 1,
        "project": spec.project.name,
        "spec": spec.project.spec_file,
        "projects": {"sqlmesh": spec.output.sqlmesh, "dbt": spec.output.dbt},
        "environments": environments,
        "stages": [
            {
                "index": stage.index,
                "engine": stage.engine,
                "models": list(stage.models),
                "batches": [list(b) for b in stage.batches],
                "cron": stage_cron(spec, stage),
                "commands": {env.name: commands(spec, stage, env) for env in spec.environments},
                "prerequisites": {env.name: [p.as_dict() for p in prerequisites(spec, stage, env)] for env in spec.environments},
            }
            for stage in spec.analysis.stages
        ],
    }
