"""`meshgen run`: execute the stages in order with the real sqlmesh and dbt CLIs.

Stages run strictly one after the other (DuckDB allows one writer at a
time). Before a stage starts, its prerequisites are checked; the first
failure stops the run with a report naming the stage, the model and the
tool's own error.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from .analysis.stages import Stage
from .errors import Location, did_you_mean, fail
from .ir import Environment, Spec
from .orchestration import ENVIRONMENT_OVERRIDE, Prerequisite, commands, database_path, dbt_node_name, prerequisites

Echo = Callable[[str], None]
_TAIL_LINES = 25


@dataclass
class StageFailure:
    stage: Stage
    model: str
    message: str

    def report(self, total: int) -> str:
        lines = [
            f"meshgen run failed in stage {self.stage.index}/{total} ({self.stage.engine})",
            f"  model: {self.model or 'not named by the tool; see its output below'}",
            "  error:",
        ]
        lines += [f"    {line}" for line in self.message.rstrip().splitlines()]
        return "\n".join(lines)


def environment(spec: Spec, name: str) -> Environment:
    env = next((e for e in spec.environments if e.name == name), None)
    if env is None:
        known = [e.name for e in spec.environments]
        raise fail(Location(spec.project.spec_file), f"unknown environment '{name}'", did_you_mean(name, known, "environments"))
    return env


def selected_stages(spec: Spec, select: list[str]) -> list[Stage]:
    """Every stage, or with --select only the selected models, each in its own stage."""
    stages = list(spec.analysis.stages)
    if not select:
        return stages
    for name in select:
        spec.require_model(name)
    chosen = []
    for stage in stages:
        models = tuple(m for m in stage.models if m in select)
        if models:
            kept = tuple(tuple(m for m in b if m in models) for b in stage.batches)
            chosen.append(replace(stage, models=models, batches=tuple(b for b in kept if b)))
    return chosen


def tool_path(name: str) -> str:
    """The engine CLI next to this Python (a venv's bin), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        hint = {"sqlmesh": "pip install 'sqlmesh[duckdb]'", "dbt": "pip install dbt-core dbt-duckdb"}[name]
        raise fail(Location(name), f"the {name} command is not installed", hint)
    return found


def describe(spec: Spec, env: Environment, stages: list[Stage], name: str) -> str:
    """The plan `--dry-run` prints."""
    shown = f"{env.name} (as {name})" if name else env.name
    lines = [f"{spec.project.name}: {len(stages)} stage(s) in environment {shown}"]
    for stage in stages:
        lines.append(f"stage {stage.index} ({stage.engine}): {', '.join(stage.models)}")
        for check in prerequisites(spec, stage, env, name):
            lines.append(f"  check {check.check} {check.table}" + (f" within {check.max_age}" if check.max_age else ""))
        for command in commands(spec, stage, env, name):
            lines.append(f"  $ {shlex.join(command)}")
    return "\n".join(lines)


def check_prerequisites(spec: Spec, root: Path, env: Environment, stage: Stage, name: str) -> str:
    """An error message, or "" when every prerequisite holds (checked on DuckDB gateways)."""
    if spec.gateway(env.gateway).type != "duckdb":
        return ""
    checks = prerequisites(spec, stage, env, name)
    if not checks:
        return ""
    try:
        import duckdb
    except ImportError:
        return ""
    database = root / database_path(spec, env)
    if not database.exists():
        return f"the database {database_path(spec, env)} does not exist yet (missing: {checks[0].table})"
    with duckdb.connect(str(database), read_only=True) as connection:
        for check in checks:
            problem = _check(connection, check)
            if problem:
                return problem
    return ""


def _check(connection, check: Prerequisite) -> str:
    schema, table = check.table.split(".", 1)
    found = connection.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
    ).fetchone()[0]
    if not found:
        return f"prerequisite failed: table {check.table} does not exist ({check.reason})"
    if check.check == "fresh":
        newest = connection.execute(f'SELECT MAX("{check.column}") FROM "{schema}"."{table}"').fetchone()[0]
        age_limit = _duration(check.max_age)
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        if newest is None or (isinstance(newest, datetime) and now - newest.replace(tzinfo=None) > age_limit):
            return f"prerequisite failed: {check.table}.{check.column} is older than {check.max_age} ({check.reason})"
    return ""


def _duration(text: str) -> timedelta:
    unit = {"m": "minutes", "h": "hours", "d": "days"}[text[-1]]
    return timedelta(**{unit: int(text[:-1])})


def failing_model(stage: Stage, output: str) -> str:
    """The stage model the tool names in its error output, if any."""
    names = {}
    for model in stage.models:
        schema, table = model.split(".", 1)
        names[model] = [
            re.compile(rf'"{schema}(__\w+)?"\."{table}"'),
            re.compile(rf"\b{schema}(__\w+)?\.{table}\b"),
            re.compile(rf"\b(model|seed|snapshot) {dbt_node_name(model)}\b"),
        ]
    for line in output.splitlines():
        if not re.search(r"(?i)error|fail", line):
            continue
        for model, patterns in names.items():
            if any(p.search(line) for p in patterns):
                return model
    return ""


def run_stage(spec: Spec, root: Path, env: Environment, stage: Stage, name: str) -> StageFailure | None:
    problem = check_prerequisites(spec, root, env, stage, name)
    if problem:
        return StageFailure(stage, "", problem)
    for command in commands(spec, stage, env, name):
        argv = [tool_path(command[0]), *command[1:]]
        result = subprocess.run(argv, cwd=root, capture_output=True, text=True)
        if result.returncode != 0:
            output = result.stdout + result.stderr
            tail = "\n".join(line for line in output.splitlines() if line.strip())
            tail = "\n".join(tail.splitlines()[-_TAIL_LINES:])
            message = f"$ {shlex.join(command)}\nexited with {result.returncode}:\n{tail}"
            return StageFailure(stage, failing_model(stage, output), message)
    return None


def run(spec: Spec, root: Path, env_name: str, select: list[str], dry_run: bool, echo: Echo) -> int:
    env = environment(spec, env_name)
    name = "" if env.is_prod else os.environ.get(ENVIRONMENT_OVERRIDE, "")
    stages = selected_stages(spec, select)
    if dry_run:
        echo(describe(spec, env, stages, name))
        return 0
    total = len(stages)
    started = time.monotonic()
    for position, stage in enumerate(stages, 1):
        echo(f"[{position}/{total}] stage {stage.index} · {stage.engine} · {', '.join(stage.models)}")
        stage_started = time.monotonic()
        failure = run_stage(spec, root, env, stage, name)
        if failure:
            echo(failure.report(len(spec.analysis.stages)))
            return 1
        echo(f"      done in {time.monotonic() - stage_started:.1f}s")
    echo(f"{total} stage(s) done in {time.monotonic() - started:.1f}s ({env.name})")
    return 0
