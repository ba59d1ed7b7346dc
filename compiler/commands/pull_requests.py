"""A pull request's environment: built from what it changed (`meshgen deploy --changed-since REF`),
and dropped when the pull request is closed (`meshgen drop-environment`).

A model is rebuilt when its fingerprint differs from the base spec's (or it is new);
a fingerprint covers the model's upstreams', so that is every changed model and
everything downstream of it, across both engines. The rest comes from the base
environment, where the target branch is deployed:

- SQLMesh needs no help: its plan of the pull request's environment finds the
  versions the base already built (same fingerprints, same state) and only points
  views at them; it builds only the new versions. A SQLMesh model reading dbt
  tables names the environment's dbt schemas, so in a renamed environment it is a
  new version too (`environment_bound`), and it is built again.
- dbt builds only the rebuilt models, and `dbt clone` makes every other dbt model a
  view of the base environment's table (from a manifest parsed for the base), so the
  models that are rebuilt, and the SQLMesh models reading dbt, find every input in the
  pull request's own environment.

The deploy is not staged: a pull request's environment is new, nothing reads it yet.
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from datetime import datetime

from ..errors import Location, fail
from ..execution import (
    ENVIRONMENT_OVERRIDE,
    dbt_base_state,
    dbt_clone,
    deploy_commands,
    drop_commands,
    environment,
    environment_name,
    format_time,
    renamed_as,
)
from ..ir import Environment, Spec
from ..warehouses import warehouse
from .engines import check_engines
from .progress import Progress
from .runner import _NOT_DEPLOYED, Echo, Step, _timed, now, run_command, run_step

# Where the base environment's dbt manifest is parsed to (under the output root, git-ignored).
STATE_DIR = ".meshgen/cache/dbt-base-state"


def changed_models(spec: Spec, base: Spec | None) -> list[str]:
    """The models to rebuild, in build order: each one whose fingerprint the base gives it no longer (or is new)."""
    before = {} if base is None else {name: m.fingerprint for name, m in base.analysis.models.items()}
    return [n for n in spec.analysis.order if before.get(n) != spec.analysis.models[n].fingerprint]


def environment_bound(spec: Spec) -> list[str]:
    """SQLMesh models whose version names the environment: they read dbt tables by the environment's
    schema (or read such a model), so SQLMesh builds them again in a renamed environment."""
    analysis = spec.analysis
    bound: set[str] = set()
    for name in analysis.order:
        if analysis.engine(name) != "sqlmesh":
            continue
        upstreams = [u for u in analysis.models[name].upstreams if u in analysis.models]
        if any(analysis.engine(u) == "dbt" or u in bound for u in upstreams):
            bound.add(name)
    return [n for n in analysis.order if n in bound]


def slim_steps(spec: Spec, env: Environment, name: str, rebuild: set[str], at: datetime) -> list[Step]:
    """Every SQLMesh stage (its plan reuses what the base built); the dbt stages' rebuilt models only."""
    steps = []
    for stage in spec.analysis.stages:
        if stage.engine == "dbt":
            models = tuple(m for m in stage.models if m in rebuild)
            if not models:
                continue
            kept = tuple(tuple(m for m in b if m in rebuild) for b in stage.batches)
            stage = replace(stage, models=models, batches=tuple(b for b in kept if b))
        steps.append(Step(stage, _timed(deploy_commands(spec, stage, env, name), at)))
    return steps


def _base_environment(spec: Spec, env: Environment, name: str, defer_to: str) -> Environment:
    if env.is_prod:
        raise fail(Location("--changed-since"), f"a slim deploy is for pull requests' environments, not {env.name}", f"deploy {env.name} without --changed-since")
    base = environment(spec, defer_to) if defer_to else env
    if base.name == env.name and not name:
        raise fail(
            Location("--changed-since"),
            f"the base of a slim deploy of {env.name} is {env.name} itself",
            f"set {ENVIRONMENT_OVERRIDE} (the pull request's name for {env.name}), or --defer-to the environment holding the base",
        )
    return base


def execute_slim(
    spec: Spec, root, env_name: str, base: Spec | None, base_ref: str, defer_to: str, dry_run: bool, echo: Echo, at: datetime | None = None
) -> int:
    env = environment(spec, env_name)
    name = renamed_as(env)
    base_env = _base_environment(spec, env, name, defer_to)
    at = at or now()
    rebuild = changed_models(spec, base)
    dbt_models = [m for s in spec.analysis.stages if s.engine == "dbt" for m in s.models]
    cloned = [m for m in dbt_models if m not in rebuild]
    state = str((root / STATE_DIR).resolve())
    # The base's manifest names its own schemas: parsed without the pull request's name.
    state_unset = (ENVIRONMENT_OVERRIDE,) if base_env.name == env.name else ()
    before = [(dbt_base_state(spec, base_env, state), state_unset), (dbt_clone(spec, env, cloned, state), ())] if cloned else []
    steps = slim_steps(spec, env, name, set(rebuild), at)
    shown = environment_name(env, name)
    echo(
        f"{spec.project.name}: slim deploy of {shown}, execution time {format_time(at)}: {len(rebuild)} model(s) "
        f"changed since {base_ref} or downstream of a change, {len(cloned)} dbt model(s) cloned from {base_env.name}"
    )
    echo("rebuilt: " + (", ".join(rebuild) or "none"))
    again = [m for m in environment_bound(spec) if m not in rebuild]
    if again:
        echo(f"SQLMesh also builds {len(again)} unchanged model(s) reading dbt tables (their queries name {shown}'s schemas): {', '.join(again)}")
    if dry_run:
        for command, _ in before:
            echo(f"  $ {shlex.join(command)}")
        for step in steps:
            echo(f"stage {step.stage.index} ({step.stage.engine}): {', '.join(step.stage.models)}")
            echo("\n".join(f"  $ {shlex.join(c)}" for c in step.commands))
        return 0
    check_engines(spec, env, [s.stage.engine for s in steps] + (["dbt"] if before else []))
    facts = warehouse(spec.gateway(env.gateway).type)
    for command, unset in before:
        code, output = run_command(root, tuple(command), at, facts, unset=unset)
        if code != 0:
            echo(f"meshgen failed cloning the unchanged dbt models from {base_env.name}:\n$ {shlex.join(command)}\n{output[-3000:]}")
            return 1
    progress = Progress(echo)
    for step in steps:
        echo(f"stage {step.stage.index} · {step.stage.engine} · {', '.join(step.stage.models)}")
        _, failure = run_step(spec, root, env, step, name, at, list(step.stage.models), progress)
        if failure:
            echo(failure.report(len(spec.analysis.stages)))
            return 1
    echo(f"{len(steps)} stage(s) done ({shown})")
    return 0


def execute_drop(spec: Spec, root, env_name: str, dry_run: bool, echo: Echo) -> int:
    """Drop a renamed (pull request's) environment in both engines; an environment never deployed is no failure."""
    env = environment(spec, env_name)
    name = renamed_as(env)
    if not name:
        raise fail(
            Location("--env"),
            f"drop-environment drops a renamed environment only, and {ENVIRONMENT_OVERRIDE} is not set",
            f"set {ENVIRONMENT_OVERRIDE} to the pull request's environment (e.g. {env.name}_pr_7)",
        )
    commands = drop_commands(spec, env, name)
    if dry_run:
        echo("\n".join(f"$ {shlex.join(c)}" for c in commands))
        return 0
    check_engines(spec, env, ["sqlmesh" if c[0] == "sqlmesh" else "dbt" for c in commands])
    facts = warehouse(spec.gateway(env.gateway).type)
    for command in commands:
        code, output = run_command(root, tuple(command), now(), facts)
        if code != 0 and not (command[0] == "sqlmesh" and _NOT_DEPLOYED.search(output)):
            echo(f"meshgen failed dropping {name}:\n$ {shlex.join(command)}\n{output[-3000:]}")
            return 1
    echo(f"{spec.project.name}: environment {name} dropped in both engines")
    return 0
