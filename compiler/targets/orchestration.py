"""Orchestration: the manifest of stages, and Airflow and Dagster files that run it model by model.

Both orchestrator files hold the per-model graph as Python literals (engine,
stage, schedule, upstreams, contract checks) and meshgen's cron rules
(`compiler/cron.py`), so they decide what is due as `meshgen run` does. They
build one task or asset per model, start one `meshgen run` per stage for the
models that are due and whose upstreams succeeded, and report each model from
its `--report`. They find the output root relative to their own location and
do nothing at import time but build their DAG / asset objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import posixpath
import re
from pathlib import Path, PurePosixPath

from .. import cron, schedule, semantics
from ..execution import manifest, most_frequent_cron
from ..semantics.checks import describe_check, named_checks
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
    if not (spec.output.airflow or spec.output.dagster):
        return files
    shared = _context(spec, plan)
    if spec.output.airflow:
        path = posixpath.normpath(posixpath.join(folder, "airflow", f"{spec.project.name}_dag.py"))
        files.append(GeneratedFile(path, render("orchestration/airflow_dag.py.j2", **shared, **_location(path))))
        if shared["pools"]:
            pools_file = posixpath.normpath(posixpath.join(folder, "airflow", "pools.json"))
            files.append(GeneratedFile(pools_file, json.dumps(shared["pools"], indent=2) + "\n"))
    if spec.output.dagster:
        path = posixpath.normpath(posixpath.join(folder, "dagster", "definitions.py"))
        files.append(GeneratedFile(path, render("orchestration/dagster_definitions.py.j2", **shared, **_location(path))))
    return files


def _location(path: str) -> dict:
    """Where a generated file finds the output root: this many folders up (it is never at the root)."""
    folder = PurePosixPath(path).parent
    return {"root_depth": len(folder.parts), "root_relative": posixpath.relpath(".", str(folder))}


def _context(spec: Spec, plan: dict) -> dict:
    """What both orchestrator files are generated from."""
    start = spec.project.start
    environments = _environments(spec, plan)
    return {
        "project": spec.project,
        "spec_path": posixpath.normpath(posixpath.join(spec.project.spec_folder, spec.project.spec_file)),
        "start": tuple(int(part) for part in start.split("-")) if start else None,
        "schedule": _schedule(spec),
        "retries": spec.retries,
        "environments": environments,
        "shared_databases": _shares_a_database(plan["environments"]),
        "stages": _stages(spec),
        "cpu_pool": _cpu_pool(spec, plan),
        "pools": _pools(spec, environments, plan),
        "pool": f"meshgen_{spec.project.name}",
        "models": [_model(spec, model) for model in spec.models],
        "sources": _sources(spec),
        **cron_source(),
    }


def _environments(spec: Spec, plan: dict) -> list[dict]:
    environments = []
    for entry in plan["environments"]:
        where = f"gateway `{entry['gateway']}` ({entry['gateway_type']}"
        where += f": `{entry['database']}`)" if "database" in entry else ")"
        # One writer at a time on a DuckDB file: every task writing it takes the file's one slot.
        writer_pool = f"meshgen_{_slug(entry['database'])}" if "database" in entry else ""
        environments.append({**entry, "where": where, "writer_pool": writer_pool})
    return environments


def _cpu_pool(spec: Spec, plan: dict) -> dict | None:
    """A pool the size of `orchestration.max_cpu_cores`, for the environments that are not DuckDB files."""
    if not spec.limits.max_cpu_cores or all("database" in entry for entry in plan["environments"]):
        return None
    return {"name": f"meshgen_{spec.project.name}_cpu", "slots": int(spec.limits.max_cpu_cores)}


def _pools(spec: Spec, environments: list[dict], plan: dict) -> dict:
    """Airflow's pools file (`airflow pools import`): a writer pool per DuckDB file, the CPU pool."""
    found = {}
    for env in environments:
        if env["writer_pool"]:
            found[env["writer_pool"]] = {"slots": 1, "description": f"DuckDB allows a single writer on {env['database']}", "include_deferred": False}
    cpu = _cpu_pool(spec, plan)
    if cpu:
        found[cpu["name"]] = {"slots": cpu["slots"], "description": "orchestration.max_cpu_cores, a stage taking the cores its largest parallel batch asks for", "include_deferred": False}
    return found


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower()


def _stages(spec: Spec) -> list[dict]:
    """Each stage (one engine invocation) with the most CPU and memory its parallel batches use at once."""
    stages = []
    for stage in spec.analysis.stages:
        models = {m: spec.model(m) for m in stage.models}
        cores = max((sum(models[m].cpu_cores for m in batch) for batch in stage.batches), default=0)
        memory = max((sum(models[m].memory_gb for m in batch) for batch in stage.batches), default=0)
        stages.append(
            {
                "name": f"stage_{stage.index}_{stage.engine}",
                "index": stage.index,
                "engine": stage.engine,
                "models": list(stage.models),
                "cpu_cores": cores,
                "memory_gb": memory,
            }
        )
    return stages


def _model(spec: Spec, model) -> dict:
    analysis = spec.analysis
    upstreams = analysis.models[model.name].upstreams
    freshness = model.contract.freshness if model.contract else ""
    return {
        "name": model.name,
        "engine": analysis.engine(model.name),
        "stage": analysis.stage_of(model.name)[0].index,
        "cron": model.cron,
        "kind": model.kind,
        "upstreams": sorted(u for u in upstreams if spec.model(u) is not None),
        "sources": sorted(u for u in upstreams if spec.model(u) is None),
        "description": semantics.description(model),
        "owner": semantics.owner(spec, model),
        "checks": [(name, describe_check(check)) for name, check in named_checks(model.contract)],
        "freshness_minutes": int(schedule.duration(freshness).total_seconds() // 60) if freshness else 0,
    }


def _sources(spec: Spec) -> list[dict]:
    read = sorted({u for m in spec.models for u in spec.analysis.models[m.name].upstreams if spec.model(u) is None})
    return [{"name": name, "description": (spec.source(name).description if spec.source(name) else "")} for name in read]


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
