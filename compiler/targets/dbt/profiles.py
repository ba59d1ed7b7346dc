"""profiles.yml (a target per environment) and dbt_project.yml (one schema per folder)."""

from __future__ import annotations

from typing import Any

from ...ir import Environment, EnvRef
from ...warehouses import INTEGER_KEYS, database_file, warehouse
from ..render import jinja_literal, render
from .project import DbtProject, backfill_starts
from .yaml import Jinja, dbt_text, dbt_yaml


def dbt_project_yml(project: DbtProject) -> str:
    spec = project.spec
    folders: dict[str, list[str]] = {"models": [], "seeds": [], "snapshots": []}
    for model in project.models:
        schemas = folders[project.resource(model) + "s"]
        if model.schema not in schemas:
            schemas.append(model.schema)
    environments = [(e.name, spec.gateway(e.gateway).type) for e in spec.environments]
    starts = backfill_starts(spec)
    return render(
        "dbt/dbt_project.yml.j2",
        project=spec.project,
        backfill_starts=project.yaml(starts, 4) if starts else "",
        time_ranges=project.has_time_ranges(),
        folders={k: sorted(v) for k, v in folders.items() if v},
        dialect=project.dialect,
        source_dialect=spec.project.dialect,
        other_dialects=[(name, kind) for name, kind in environments if kind != project.dialect],
    )


def profiles_yml(project: DbtProject) -> str:
    spec = project.spec
    default = next((e for e in spec.environments if e.name == "dev"), spec.environments[0])
    outputs = {e.name: _output(project, e) for e in spec.environments}
    profile = {spec.project.name: {"target": default.name, "outputs": outputs}}
    return render("dbt/profiles.yml.j2", profile=dbt_yaml(dbt_text(profile)))


def _output(project: DbtProject, environment: Environment) -> dict:
    spec = project.spec
    gateway = spec.gateway(environment.gateway)
    output: dict[str, Any] = {"type": gateway.type}
    if database_file(gateway):
        # dbt (1.11) opens a relative path from the directory it is started in, not from the
        # project: anchor it at the folder of this profiles.yml, which is the project folder.
        relative = spec.path_from(project.root, database_file(gateway))
        output["path"] = Jinja("{{ flags.PROFILES_DIR }}/" + jinja_literal(relative))
    facts = warehouse(gateway.type)
    settings = {**facts.profile_defaults, **dict(gateway.settings)}
    for key, profile_key in facts.profile_keys.items():
        if key in settings:
            output[profile_key] = _profile_value(settings[key], integer=key in INTEGER_KEYS)
    if facts.auth_methods:
        output["method"] = facts.auth_methods[0 if "password" in settings else 1]
    if facts.target_schema:
        output["schema"] = facts.target_schema
    else:  # BigQuery: a dataset instead
        output["dataset"] = spec.project.name
    output["threads"] = environment.dbt_threads
    return output


def _profile_value(value: Any, integer: bool = False) -> Any:
    if isinstance(value, EnvRef):
        return Jinja("{{ env_var('" + value.name + "')" + (" | as_number" if integer else "") + " }}")
    if isinstance(value, tuple):
        return list(value)
    return value
