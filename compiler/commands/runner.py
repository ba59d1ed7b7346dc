"""`meshgen deploy` and `meshgen run`: the stages in order with the real sqlmesh and dbt CLIs.

Both verbs (see `execution`) pin one execution time for all their stages.
Stages run strictly one after the other (DuckDB allows one writer at a time).
Before the first stage starts, the engines and the environment's warehouse drivers
are checked (`engines`); before a stage starts, its prerequisites are checked; the
first failure stops with a report naming the stage, the model and the tool's own error.

A deploy of every model is staged, so a failure never leaves the environment half
built: SQLMesh plans into `<env>__next`, dbt copies the tables it may change first
(`meshgen_deploy_begin`), and only when every stage succeeded are SQLMesh's versions
promoted and dbt's views repointed (`execution.deploy_finish`); a failure restores
dbt's tables and drops the staging environment (`execution.deploy_rollback`).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .. import schedule
from ..analysis.stages import Stage
from ..errors import EXIT_INTERRUPTED, Location, fail, shown
from ..execution import (
    Prerequisite,
    database_path,
    dbt_node_name,
    deploy_begin,
    deploy_commands,
    environment,
    deploy_finish,
    deploy_rollback,
    format_time,
    most_frequent_cron,
    prerequisites,
    renamed_as,
    run_invocation,
    time_environment,
    with_time,
)
from ..ir import Environment, Spec
from ..warehouses import Warehouse, warehouse
from .engines import check_engines, check_warehouse_free, tool_path

Echo = Callable[[str], None]
_TAIL_LINES = 25
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
# What `sqlmesh run` says of an environment no plan has created.
_NOT_DEPLOYED = re.compile(r"Environment '[^']+' was not found")


@dataclass
class StageFailure:
    stage: Stage
    model: str
    message: str

    def report(self, total: int) -> str:
        lines = [
            f"meshgen failed in stage {self.stage.index}/{total} ({self.stage.engine})",
            f"  model: {self.model or 'not named by the tool; see its output below'}",
            "  error:",
        ]
        lines += [f"    {line}" for line in self.message.rstrip().splitlines()]
        return "\n".join(lines)


@dataclass(frozen=True)
class Step:
    """A stage's commands in this deploy or run (none: nothing in it is due)."""

    stage: Stage
    commands: tuple[tuple[str, ...], ...]
    staged: bool = False  # part of a staged deploy: dbt reads SQLMesh's staging environment


Commands = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Switch:
    """A staged deploy's commands around its stages."""

    begin: Commands  # before the first stage
    finish: Commands  # when every stage succeeded; the first is the promotion
    rollback: Commands  # when one failed


def parse_time(text: str, option: str) -> datetime:
    """A time given on the command line, as naive UTC."""
    value = text.strip().removesuffix("Z")
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    raise fail(Location(option), f"'{text}' is not a time", "write it as YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (UTC)")


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


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


def _timed(commands: list[list[str]], at: datetime) -> Commands:
    return tuple(tuple(with_time(c, at)) for c in commands)


def deploy_steps(spec: Spec, stages: list[Stage], env: Environment, name: str, at: datetime, staged: bool = False) -> list[Step]:
    return [Step(s, _timed(deploy_commands(spec, s, env, name, staged), at), staged) for s in stages]


def deploy_switch(spec: Spec, env: Environment, name: str, at: datetime) -> Switch:
    return Switch(
        _timed(deploy_begin(spec, env), at), _timed(deploy_finish(spec, env, name), at), _timed(deploy_rollback(spec, env, name), at)
    )


def run_steps(spec: Spec, stages: list[Stage], env: Environment, name: str, after: datetime, at: datetime) -> list[Step]:
    steps = []
    for stage in stages:
        command = run_invocation(spec, stage, env, name).due(after, at)
        steps.append(Step(stage, (tuple(with_time(command, at)),) if command else ()))
    return steps


def run_window(spec: Spec, at: datetime) -> tuple[datetime, datetime]:
    """What a run at `at` covers: the last period of the platform's most frequent schedule."""
    return schedule.run_window(most_frequent_cron(m.cron for m in spec.models), at)


def describe(
    spec: Spec, env: Environment, verb: str, steps: list[Step], name: str, at: datetime, switch: Switch | None = None
) -> str:
    """The plan `--dry-run` prints."""
    shown = f"{env.name} (as {name})" if name else env.name
    lines = [f"{spec.project.name}: {verb} of {len(steps)} stage(s) in environment {shown}, execution time {format_time(at)}"]
    if switch and switch.begin:
        lines.append("before the stages (copies of the dbt tables the deploy may change):")
        lines += [f"  $ {shlex.join(c)}" for c in switch.begin]
    for step in steps:
        stage = step.stage
        lines.append(f"stage {stage.index} ({stage.engine}): {', '.join(stage.models)}")
        if not step.commands:
            lines.append("  nothing due")
            continue
        for check in prerequisites(spec, stage, env, name, step.staged):
            lines.append(f"  check {check.check} {check.table}" + (f" within {check.max_age}" if check.max_age else ""))
        for command in step.commands:
            lines.append(f"  $ {shlex.join(command)}")
    if switch:
        lines.append(f"when every stage succeeded (switch {shown} over):")
        lines += [f"  $ {shlex.join(c)}" for c in switch.finish]
        lines.append(f"when a stage failed ({shown} is left as it was):")
        lines += [f"  $ {shlex.join(c)}" for c in switch.rollback]
    return "\n".join(lines)


def check_prerequisites(spec: Spec, root: Path, env: Environment, stage: Stage, name: str, staged: bool = False) -> str:
    """An error message, or "" when every prerequisite holds (checked on DuckDB gateways)."""
    if spec.gateway(env.gateway).type != "duckdb":
        return ""
    checks = prerequisites(spec, stage, env, name, staged)
    if not checks:
        return ""
    try:
        import duckdb
    except ImportError:
        return ""
    database = root / database_path(spec, env)
    if not database.exists():
        return f"the database {database_path(spec, env)} does not exist yet (missing: {checks[0].table})"
    try:
        with duckdb.connect(str(database), read_only=True) as connection:
            for check in checks:
                problem = _check(connection, check)
                if problem:
                    return problem
    except duckdb.Error as error:  # locked by another process since the run started, most likely
        return f"cannot read the warehouse {database_path(spec, env)} to check prerequisites: {shown(str(error).splitlines()[0])}"
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
        age_limit = schedule.duration(check.max_age)
        current = datetime.now(timezone.utc).replace(tzinfo=None)
        if newest is None or (isinstance(newest, datetime) and current - newest.replace(tzinfo=None) > age_limit):
            return f"prerequisite failed: {check.table}.{check.column} is older than {check.max_age} ({check.reason})"
    return ""


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


def run_command(root: Path, command: tuple[str, ...], at: datetime, facts: Warehouse) -> tuple[int, str]:
    """Run one engine command from the output root: its exit code and output."""
    argv = [tool_path(command[0], facts), *command[1:]]
    variables = {**os.environ, **time_environment(at)}
    result = subprocess.run(argv, cwd=root, capture_output=True, text=True, env=variables)
    return result.returncode, result.stdout + result.stderr


def failed_command(command: tuple[str, ...], code: int, output: str) -> str:
    tail = "\n".join(line for line in output.splitlines() if line.strip())
    tail = "\n".join(tail.splitlines()[-_TAIL_LINES:])
    return f"$ {shlex.join(command)}\nexited with {code}:\n{tail}"


def run_step(spec: Spec, root: Path, env: Environment, step: Step, name: str, at: datetime) -> StageFailure | None:
    stage = step.stage
    problem = check_prerequisites(spec, root, env, stage, name, step.staged)
    if problem:
        return StageFailure(stage, "", problem)
    for command in step.commands:
        code, output = run_command(root, command, at, warehouse(spec.gateway(env.gateway).type))
        if code != 0:
            if _NOT_DEPLOYED.search(output):
                shown = name or env.name
                message = f"environment {shown} has not been deployed yet: run `meshgen deploy --env {env.name}` first"
                return StageFailure(stage, "", message)
            return StageFailure(stage, failing_model(stage, output), failed_command(command, code, output))
    return None


def run_commands(root: Path, commands: Commands, at: datetime, facts: Warehouse, rolling_back: bool = False) -> str:
    """Run commands in order: "" when all succeeded, else what failed.

    `rolling_back`: a staging environment that was never created (the first plan failed) is no failure.
    """
    for command in commands:
        code, output = run_command(root, command, at, facts)
        if code != 0 and not (rolling_back and "invalidate" in command and _NOT_DEPLOYED.search(output)):
            return failed_command(command, code, output)
    return ""


def roll_back(root: Path, env: Environment, name: str, switch: Switch, at: datetime, facts: Warehouse, echo: Echo) -> None:
    shown = name or env.name
    problem = run_commands(root, switch.rollback, at, facts, rolling_back=True)
    if problem:
        echo(f"meshgen could not restore environment {shown}; its dbt tables' copies are kept:\n{problem}")
    else:
        echo(f"environment {shown} was left as it was: dbt's tables restored, SQLMesh's staged versions dropped")


def execute(
    spec: Spec,
    root: Path,
    verb: str,
    env_name: str,
    select: list[str],
    dry_run: bool,
    echo: Echo,
    at: datetime | None = None,
    since: datetime | None = None,
) -> int:
    """Deploy to or run an environment (`verb`: deploy | run); returns the exit code."""
    env = environment(spec, env_name)
    name = renamed_as(env)
    at = at or now()
    stages = selected_stages(spec, select)
    # A partial deploy (--select) promotes its models stage by stage, as before.
    switch = deploy_switch(spec, env, name, at) if verb == "deploy" and not select else None
    if verb == "deploy":
        steps = deploy_steps(spec, stages, env, name, at, staged=switch is not None)
    else:
        after = since if since is not None else run_window(spec, at)[0]
        if after >= at:
            window = f"({format_time(after)}, {format_time(at)}]"
            raise fail(Location("--since"), f"the run's window {window} is empty", "give a --since before the execution time")
        steps = run_steps(spec, stages, env, name, after, at)
    if dry_run:
        echo(describe(spec, env, verb, steps, name, at, switch))
        return 0
    switch_tools = [command[0] for commands in ((switch.begin, switch.finish, switch.rollback) if switch else ()) for command in commands]
    check_engines(spec, env, [step.stage.engine for step in steps if step.commands] + switch_tools)
    check_warehouse_free(spec, root, env)
    try:
        return _execute_steps(spec, root, verb, env, name, steps, switch, at, echo)
    except KeyboardInterrupt:
        echo(f"meshgen: interrupted; {_interrupted_state(verb, switch)}")
        if switch:
            roll_back(root, env, name, switch, at, warehouse(spec.gateway(env.gateway).type), echo)
        return EXIT_INTERRUPTED


def _interrupted_state(verb: str, switch: Switch | None) -> str:
    if switch:
        return "the environment was not switched over: its tables are as they were before this deploy"
    return (
        "the stages reported done above are applied; the stage that was running may have applied some of its "
        f"models (each engine applies a model as a whole): run `meshgen {verb}` again to finish"
    )


def _execute_steps(spec: Spec, root: Path, verb: str, env: Environment, name: str, steps: list[Step], switch: Switch | None, at: datetime, echo: Echo) -> int:
    facts = warehouse(spec.gateway(env.gateway).type)
    total = len(steps)
    started = time.monotonic()
    echo(f"{spec.project.name}: {verb} {env.name}, execution time {format_time(at)}")
    if switch:
        problem = run_commands(root, switch.begin, at, facts)
        if problem:
            echo(f"meshgen failed before stage 1 (copying dbt's tables); nothing was changed:\n{problem}")
            return 1
    for position, step in enumerate(steps, 1):
        stage = step.stage
        label = f"[{position}/{total}] stage {stage.index} · {stage.engine} · {', '.join(stage.models)}"
        if not step.commands:
            echo(f"{label}: nothing due")
            continue
        echo(label)
        stage_started = time.monotonic()
        failure = run_step(spec, root, env, step, name, at)
        if failure:
            echo(failure.report(len(spec.analysis.stages)))
            if switch:
                roll_back(root, env, name, switch, at, facts, echo)
            return 1
        echo(f"      done in {time.monotonic() - stage_started:.1f}s")
    if switch:
        echo(f"switching {name or env.name} over")
        for position, command in enumerate(switch.finish):
            problem = run_commands(root, (command,), at, facts)
            if problem and position == 0 and command[0] == "sqlmesh":
                echo(f"meshgen failed promoting SQLMesh's staged versions:\n{problem}")
                roll_back(root, env, name, switch, at, facts, echo)
                return 1
            if problem:
                hint = f"run `meshgen deploy --env {env.name}` again to finish it"
                echo(f"meshgen switched {name or env.name} over, but a step after the promotion failed ({hint}):\n{problem}")
                return 1
    echo(f"{total} stage(s) done in {time.monotonic() - started:.1f}s ({env.name})")
    return 0
