"""Orchestration: the manifest of stages, and Airflow and Dagster files that run it.

Both orchestrator files embed the plan from `compiler/execution.py` as
Python literals (the same commands `meshgen deploy` and `meshgen run`
execute) and meshgen's cron rules (`compiler/cron.py`), find the output root
relative to their own location, and do nothing at import time but build
their DAG / job objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import posixpath
from pathlib import Path, PurePosixPath

from .. import cron
from ..execution import EXECUTION_TIME, EXECUTION_TIME_ENV, manifest, most_frequent_cron
from .files import GeneratedFile
from ..ir import Spec
from .render import render

if TYPE_CHECKING:
    from ..build.memo import Memo


def emit(spec: Spec, memo: "Memo | None" = None) -> list[GeneratedFile]:
    """The files; nothing here costs enough to remember (`memo` is unused)."""
    if not spec.analysis.stages:
        return []
    plan = manifest(spec)
    folder = spec.output.orchestration_dir
    path = posixpath.normpath(posixpath.join(folder, "manifest.json"))
    files = [GeneratedFile(path, json.dumps(plan, indent=2, sort_keys=False) + "\n")]
    if spec.output.airflow:
        path = posixpath.normpath(posixpath.join(folder, "airflow", f"{spec.project.name}_dag.py"))
        files.append(GeneratedFile(path, render("orchestration/airflow_dag.py.j2", **_context(spec, plan, path))))
    if spec.output.dagster:
        path = posixpath.normpath(posixpath.join(folder, "dagster", "definitions.py"))
        files.append(GeneratedFile(path, render("orchestration/dagster_definitions.py.j2", **_context(spec, plan, path))))
    return files


def _context(spec: Spec, plan: dict, path: str) -> dict:
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
            "models": stage["models"],
            "deploy": stage["deploy"],
            "run": {
                env: {"command": run["command"], "models": [(m["cron"], m["args"]) for m in run["models"]]}
                for env, run in stage["run"].items()
            },
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
        "execution_time": EXECUTION_TIME,
        "time_env": EXECUTION_TIME_ENV,
        "retries": spec.retries,
        "environments": environments,
        "shared_databases": _shares_a_database(environments),
        "stages": stages,
        **cron_source(),
    }


def cron_source() -> dict:
    """meshgen's cron rules, copied into the generated files so they decide what is due as `meshgen run` does.

    The module's imports go to the file's imports (`cron_imports`), its code after them (`cron_code`).
    """
    text = Path(cron.__file__).read_text(encoding="utf-8")
    lines = text[text.index('"""', 3) + 3 :].strip().splitlines()  # without the module docstring
    imports = [line for line in lines if line.startswith(("import ", "from "))]
    code = "\n".join(line for line in lines if line not in imports).strip()
    banner = "# -- meshgen's cron rules (a copy of meshgen/cron.py) "
    return {"cron_imports": imports, "cron_code": f"{banner}{'-' * (100 - len(banner))}\n\n{code}\n\n# {'-' * 98}"}


def _schedule(spec: Spec) -> str:
    """The most frequent schedule of any model."""
    cron_text = most_frequent_cron(m.cron for m in spec.models)
    return "@yearly" if cron_text == "@annually" else cron_text  # Airflow's preset name; Dagster knows both


def _shares_a_database(environments: list[dict]) -> bool:
    """Whether two environments write one DuckDB file (their runs must not overlap)."""
    databases = [env["database"] for env in environments if "database" in env]
    return len(databases) != len(set(databases))
