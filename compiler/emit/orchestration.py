"""Orchestration: the manifest of stages, and Airflow and Dagster files that run it.

Both orchestrator files embed the plan from `compiler/orchestration.py` as
Python literals (the same commands `meshgen run` executes), find the output
root relative to their own location, and do nothing at import time but build
their DAG / job objects.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from pathlib import PurePosixPath

from ..generated import GeneratedFile
from ..ir import Spec
from ..orchestration import manifest, most_frequent_cron
from ..render import jinja_literal, render

# Airflow reads a bash_command ending in one of these as the name of a script file to render.
_AIRFLOW_SCRIPT_SUFFIXES = (".sh", ".bash")


def emit(spec: Spec) -> list[GeneratedFile]:
    if not spec.analysis.stages:
        return []
    plan = manifest(spec)
    folder = spec.output.orchestration_dir
    path = posixpath.normpath(posixpath.join(folder, "manifest.json"))
    files = [GeneratedFile(path, json.dumps(plan, indent=2, sort_keys=False) + "\n")]
    if spec.output.airflow:
        path = posixpath.normpath(posixpath.join(folder, "airflow", f"{spec.project.name}_dag.py"))
        text = render("orchestration/airflow_dag.py.j2", **_context(spec, plan, path, _airflow_line))
        files.append(GeneratedFile(path, text))
    if spec.output.dagster:
        path = posixpath.normpath(posixpath.join(folder, "dagster", "definitions.py"))
        text = render("orchestration/dagster_definitions.py.j2", **_context(spec, plan, path, shlex.join))
        files.append(GeneratedFile(path, text))
    return files


def _context(spec: Spec, plan: dict, path: str, command_line) -> dict:
    folder = PurePosixPath(path).parent
    environments = []
    for entry in plan["environments"]:
        where = f"gateway `{entry['gateway']}` ({entry['gateway_type']}"
        where += f": `{entry['database']}`)" if "database" in entry else ")"
        environments.append({**entry, "where": where})
    stages = [
        {
            "name": f"stage_{stage['index']}_{stage['engine']}",
            "engine": stage["engine"],
            "cron": stage["cron"],
            "models": stage["models"],
            # One line of shell syntax per command (manifest.json keeps the argument lists).
            "commands": {env: [command_line(argv) for argv in argvs] for env, argvs in stage["commands"].items()},
        }
        for stage in plan["stages"]
    ]
    start = spec.project.start
    return {
        "project": spec.project,
        # The output root is this many folders above the generated file (which is never at the root).
        "root_depth": len(folder.parts),
        "root_relative": posixpath.relpath(".", str(folder)),
        "start": tuple(int(part) for part in start.split("-")) if start else None,
        "schedule": _schedule(spec),
        "environments": environments,
        "shared_databases": _shares_a_database(environments),
        "stages": stages,
    }


def _schedule(spec: Spec) -> str:
    """The most frequent schedule of any model."""
    cron = most_frequent_cron(m.cron for m in spec.models)
    return "@yearly" if cron == "@annually" else cron  # Airflow's preset name; Dagster knows both


def _shares_a_database(environments: list[dict]) -> bool:
    """Whether two environments write one DuckDB file (their runs must not overlap)."""
    databases = [env["database"] for env in environments if "database" in env]
    return len(databases) != len(set(databases))


def _airflow_line(argv: list[str]) -> str:
    """One shell command line, as BashOperator's Jinja rendering gives it back unchanged."""
    line = shlex.join(argv)
    if line.endswith(_AIRFLOW_SCRIPT_SUFFIXES):
        line += " "  # Airflow's documented way to say "this is a command, not a script file"
    return jinja_literal(line)
