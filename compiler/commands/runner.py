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

import json
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
    split_command,
    time_environment,
    tool,
    with_time,
)
from ..interrupts import deferred_interrupt
from ..ir import Environment, Spec
from ..warehouses import Warehouse, warehouse
from ..model_results import BLOCKED, ENDED_BADLY, FAILED, NOT_DUE, NOT_RUN, SUCCESS, Outcome, dbt_outcomes, failed_wholesale, sqlmesh_outcomes
from ..semantics.checks import named_checks
from .engines import check_engines, check_warehouse_free, tool_path
from .progress import Progress, model_line

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
    fatal: bool = False  # nothing later can run either (the environment was never deployed)

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
        _timed(deploy_begin(spec, env, name), at), _timed(deploy_finish(spec, env, name), at), _timed(deploy_rollback(spec, env, name), at)
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
        with deferred_interrupt(), duckdb.connect(str(database), read_only=True) as connection:
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


def run_command(
    root: Path, command: tuple[str, ...], at: datetime, facts: Warehouse, on_line: Callable[[str], None] | None = None, unset: tuple[str, ...] = ()
) -> tuple[int, str]:
    """Run one engine command from the output root (without the variables `unset`): its exit code and output.

    Each line goes to `on_line` as it comes.
    """
    own, words = split_command(command)
    argv = [tool_path(words[0], facts), *words[1:]]
    variables = {k: v for k, v in os.environ.items() if k not in unset} | time_environment(at) | own
    lines = []
    with subprocess.Popen(
        argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=variables
    ) as process:
        for line in process.stdout:
            lines.append(line)
            if on_line:
                on_line(line)
    return process.returncode, "".join(lines)


def failed_command(command: tuple[str, ...], code: int, output: str) -> str:
    tail = "\n".join(line for line in output.splitlines() if line.strip())
    tail = "\n".join(tail.splitlines()[-_TAIL_LINES:])
    return f"$ {shlex.join(command)}\nexited with {code}:\n{tail}"


def stage_outcomes(spec: Spec, root: Path, stage: Stage, models: list[str], code: int, output: str, started: float) -> dict[str, Outcome]:
    """Each model's outcome in one engine process, from the engine's own report."""
    checks = {m: named_checks(spec.model(m).contract) for m in models}
    if stage.engine == "sqlmesh":
        return sqlmesh_outcomes(output, code, models, checks)
    target = root / spec.output.dbt / "target"
    fresh = (target / "run_results.json").exists() and (target / "run_results.json").stat().st_mtime >= started
    found = dbt_outcomes(target, {m: dbt_node_name(m) for m in models}, checks, output) if fresh else {}
    wholesale = failed_wholesale(models, failed_command(("dbt",), code, output)) if code else {}
    return {m: found.get(m) or wholesale.get(m) or Outcome(SUCCESS) for m in models}


def run_step(
    spec: Spec, root: Path, env: Environment, step: Step, name: str, at: datetime, models: list[str], progress: Progress
) -> tuple[dict[str, Outcome], StageFailure | None]:
    """A stage's commands: each model's outcome, and the first failure (with the model the tool names)."""
    stage = step.stage
    problem = check_prerequisites(spec, root, env, stage, name, step.staged)
    progress.start(stage.engine, models)
    if problem:
        progress.finish(failed_wholesale(models, problem))
        return failed_wholesale(models, problem), StageFailure(stage, "", problem)
    outcomes: dict[str, Outcome] = {}
    for command in step.commands:
        started = time.time()
        code, output = run_command(root, command, at, warehouse(spec.gateway(env.gateway).type), progress.output_line)
        outcomes = stage_outcomes(spec, root, stage, models, code, output, started)
        if code != 0:
            progress.finish(outcomes)
            if _NOT_DEPLOYED.search(output):
                shown = name or env.name
                message = f"environment {shown} has not been deployed yet: run `meshgen deploy --env {env.name}` first"
                return outcomes, StageFailure(stage, "", message, fatal=True)
            named = failing_model(stage, output) or next((m for m in models if outcomes[m].status == FAILED), "")
            return outcomes, StageFailure(stage, named, failed_command(command, code, output))
    progress.finish(outcomes)
    return outcomes, None


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


def _blocked_by(spec: Spec, model: str, outcomes: dict[str, Outcome]) -> str:
    """An upstream that ended badly in an earlier stage, if any: the model must not run on its old data."""
    for upstream in spec.analysis.models[model].upstreams:
        if upstream in outcomes and outcomes[upstream].status in ENDED_BADLY:
            return upstream
    return ""


def _blocked_outcome(upstream: str, outcomes: dict[str, Outcome]) -> Outcome:
    """Blocked by an upstream: named after the model that failed, however far up it is."""
    if outcomes[upstream].status == BLOCKED:
        return outcomes[upstream]
    return Outcome(BLOCKED, message=f"upstream {upstream} {outcomes[upstream].status.replace('_', ' ')}")


def write_report(path: Path | None, spec: Spec, env: Environment, verb: str, at: datetime, outcomes: dict[str, Outcome], code: int) -> None:
    """The outcome of every model, for orchestrators and CI (`--report`)."""
    if path is None:
        return
    engines = spec.analysis
    report = {
        "project": spec.project.name,
        "environment": env.name,
        "verb": verb,
        "execution_time": format_time(at),
        "exit_code": code,
        "models": {m: {"engine": engines.engine(m), **o.as_dict()} for m, o in outcomes.items()},
    }
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _run_stages(
    spec: Spec, root: Path, env: Environment, name: str, stages: list[Stage], after: datetime, at: datetime, echo: Echo, progress: Progress
) -> tuple[dict[str, Outcome], list[StageFailure]]:
    """A run: every stage builds its due models whose upstreams did not fail; unrelated branches go on."""
    outcomes: dict[str, Outcome] = {}
    failures: list[StageFailure] = []
    total = len(spec.analysis.stages)
    for stage in stages:
        invocation = run_invocation(spec, stage, env, name)
        due = invocation.due_models(after, at)
        outcomes.update({m: Outcome(NOT_DUE) for m in stage.models if m not in due})
        runnable = []
        for model in due:
            upstream = _blocked_by(spec, model, outcomes)
            if upstream:
                outcomes[model] = _blocked_outcome(upstream, outcomes)
            else:
                runnable.append(model)
        label = f"[{stage.index}/{total}] stage {stage.index} · {stage.engine} · {', '.join(stage.models)}"
        if not due:
            echo(f"{label}: nothing due")
            continue
        echo(label if runnable else f"{label}: nothing to run (upstream failures)")
        for model in due:
            if model not in runnable:
                echo(model_line(model, stage.engine, outcomes[model]))
        if not runnable:
            continue
        started = time.monotonic()
        command = tuple(with_time(invocation.command_for(runnable), at))
        stage_result, failure = run_step(spec, root, env, Step(stage, (command,)), name, at, runnable, progress)
        outcomes.update(stage_result)
        if failure:
            failures.append(failure)
            if failure.fatal:
                break
        else:
            echo(f"      done in {time.monotonic() - started:.1f}s")
    return outcomes, failures


def _run_summary(outcomes: dict[str, Outcome], failures: list[StageFailure], total: int) -> list[str]:
    lines = []
    for failure in failures:
        if failure.fatal:
            lines.append(failure.report(total))
            continue
        failed = [m for m in failure.stage.models if m in outcomes and outcomes[m].status == FAILED]
        if not failed:
            lines.append(failure.report(total))
        for model in failed:
            lines.append(StageFailure(failure.stage, model, outcomes[model].message or failure.message).report(total))
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    lines.append("models: " + ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items())))
    return lines


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
    report: Path | None = None,
    live: bool | None = None,
) -> int:
    """Deploy to or run an environment (`verb`: deploy | run); returns the exit code."""
    env = environment(spec, env_name)
    name = renamed_as(env)
    at = at or now()
    stages = selected_stages(spec, select)
    # A partial deploy (--select) promotes its models stage by stage, as before.
    switch = deploy_switch(spec, env, name, at) if verb == "deploy" and not select else None
    after = None
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
    switch_tools = [tool(command) for commands in ((switch.begin, switch.finish, switch.rollback) if switch else ()) for command in commands]
    check_engines(spec, env, [step.stage.engine for step in steps if step.commands] + switch_tools)
    check_warehouse_free(spec, root, env)
    progress = Progress(echo, live)
    try:
        return _execute_steps(spec, root, verb, env, name, stages, steps, switch, after, at, echo, progress, report)
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


def _execute_steps(
    spec: Spec, root: Path, verb: str, env: Environment, name: str, stages: list[Stage], steps: list[Step], switch: Switch | None,
    after: datetime | None, at: datetime, echo: Echo, progress: Progress, report: Path | None,
) -> int:
    started = time.monotonic()
    echo(f"{spec.project.name}: {verb} {env.name}, execution time {format_time(at)}")
    if verb == "run":
        outcomes, failures = _run_stages(spec, root, env, name, stages, after, at, echo, progress)
        code = 1 if failures else 0
        for line in _run_summary(outcomes, failures, len(spec.analysis.stages)) if failures else []:
            echo(line)
        if not failures:
            echo(f"{len(steps)} stage(s) done in {time.monotonic() - started:.1f}s ({env.name})")
        write_report(report, spec, env, verb, at, outcomes, code)
        return code
    outcomes: dict[str, Outcome] = {}
    code = _deploy(spec, root, env, name, steps, switch, at, echo, progress, outcomes)
    if code == 0:
        echo(f"{len(steps)} stage(s) done in {time.monotonic() - started:.1f}s ({env.name})")
    write_report(report, spec, env, verb, at, outcomes, code)
    return code


def _deploy(
    spec: Spec, root: Path, env: Environment, name: str, steps: list[Step], switch: Switch | None, at: datetime,
    echo: Echo, progress: Progress, outcomes: dict[str, Outcome],
) -> int:
    """A deploy: the stages in order, the first failure stops it (and a staged deploy rolls back)."""
    facts = warehouse(spec.gateway(env.gateway).type)
    total = len(steps)
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
        stage_result, failure = run_step(spec, root, env, step, name, at, list(stage.models), progress)
        outcomes.update(stage_result)
        if failure:
            outcomes.update({m: Outcome(NOT_RUN) for later in steps[position:] for m in later.stage.models})
            echo(failure.report(len(spec.analysis.stages)))
            if switch:
                roll_back(root, env, name, switch, at, facts, echo)
            return 1
        echo(f"      done in {time.monotonic() - stage_started:.1f}s")
    if switch:
        return _switch_over(root, env, name, switch, at, facts, echo)
    return 0


def _switch_over(root: Path, env: Environment, name: str, switch: Switch, at: datetime, facts: Warehouse, echo: Echo) -> int:
    echo(f"switching {name or env.name} over")
    for position, command in enumerate(switch.finish):
        problem = run_commands(root, (command,), at, facts)
        if problem and position == 0 and tool(command) == "sqlmesh":
            echo(f"meshgen failed promoting SQLMesh's staged versions:\n{problem}")
            roll_back(root, env, name, switch, at, facts, echo)
            return 1
        if problem:
            hint = f"run `meshgen deploy --env {env.name}` again to finish it"
            echo(f"meshgen switched {name or env.name} over, but a step after the promotion failed ({hint}):\n{problem}")
            return 1
    return 0
