"""The `meshgen` command line: parse options, call the compiler, print.

Heavy modules (sqlglot, jinja2, jsonschema) are imported inside the commands
that need them, so `meshgen --help` stays fast.
"""

from __future__ import annotations

import functools
import sys
import traceback
from enum import Enum
from pathlib import Path
from typing import Callable, Optional

import typer

from .. import __version__

app = typer.Typer(
    name="meshgen",
    help="Compile one YAML spec into SQLMesh and dbt projects, CI workflows and orchestration files.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 3
_state = {"debug": False}

class GraphFormat(str, Enum):
    mermaid = "mermaid"
    dot = "dot"


SpecArgument = typer.Argument(Path("meshgen.yaml"), help="The spec file.", show_default=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"meshgen {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of internal errors."),
) -> None:
    _state["debug"] = debug


def _is_cli_signal(error: Exception) -> bool:
    """Exit codes and usage errors belong to the CLI framework (click, vendored or not)."""
    return type(error).__module__.split(".")[0] in ("typer", "click")


def _handles_errors(command: Callable) -> Callable:
    """User errors print their diagnostics; bugs print one line (a traceback with --debug)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from ..errors import MeshgenError

        try:
            return command(*args, **kwargs)
        except MeshgenError as error:
            typer.echo(error.render(), err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            from ..errors import EXIT_INTERRUPTED

            typer.echo("meshgen: interrupted (an interrupted build is finished or undone by the next one)", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as error:  # noqa: BLE001 - the last line of defence
            if _is_cli_signal(error):
                raise
            if _state["debug"]:
                traceback.print_exc()
            typer.echo(
                f"meshgen: internal error: {type(error).__name__}: {error} "
                "(this is a bug in meshgen; rerun with --debug for the traceback)",
                err=True,
            )
            raise typer.Exit(EXIT_INTERNAL_ERROR) from None

    return wrapper



@app.command()
@_handles_errors
def validate(spec: Path = SpecArgument) -> None:
    """Check a spec: schema, names, references, SQL and contracts. Writes nothing."""
    from ..build.pipeline import load

    from ..semantics import portability

    result = load(spec, str(spec))
    typer.echo(
        f"{str(spec)}: ok ({len(result.models)} models, {len(result.sources)} sources, "
        f"{len(result.contracts)} contracts, {len(result.environments)} environments)"
    )
    for line in portability.rewrite_notes(result):
        typer.echo(line)


@app.command()
@_handles_errors
def build(
    spec: Path = SpecArgument,
    out: Optional[Path] = typer.Option(None, "--out", help="Output root (default: the spec's folder)."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 with a diff if the generated tree is stale."),
    force: bool = typer.Option(False, "--force", help="Overwrite hand edits and files meshgen did not write."),
    fail_on_change: bool = typer.Option(
        False, "--fail-on-change", help="Exit 1 when files were written or deleted (for pre-commit hooks)."
    ),
) -> None:
    """Generate the SQLMesh and dbt projects, contracts, CI and orchestration files."""
    from ..build.pipeline import build as run_build
    from ..build.writer import describe_stale

    result = run_build(spec, str(spec), out=out, check=check, force=force, use_cache=True)
    plan = result.plan
    if check:
        if plan.stale:
            typer.echo(describe_stale(plan))
            typer.echo("meshgen: the generated files are stale; run `meshgen build`", err=True)
            raise typer.Exit(EXIT_USER_ERROR)
        typer.echo(f"up to date ({plan.unchanged} files)")
        return
    for path in plan.hand_edited:
        typer.echo(f"warning: discarded a hand edit of {path}", err=True)
    typer.echo(f"wrote {len(plan.written)}, deleted {len(plan.deleted)}, unchanged {plan.unchanged}")
    if fail_on_change and (plan.written or plan.deleted):
        typer.echo("meshgen: generated files changed; review them and stage them again", err=True)
        raise typer.Exit(EXIT_USER_ERROR)


@app.command()
@_handles_errors
def explain(
    model: str = typer.Argument(..., help="The model, schema.table."),
    spec: Path = typer.Option(Path("meshgen.yaml"), "--spec", "-s", help="The spec file."),
) -> None:
    """Why a model runs on its engine: the rules tried, its neighbours, contract and columns."""
    from .explain import explain as explain_model
    from ..build.pipeline import load

    typer.echo(explain_model(load(spec, str(spec), all_types=True), model), nl=False)


@app.command()
@_handles_errors
def graph(
    spec: Path = SpecArgument,
    format: GraphFormat = typer.Option(GraphFormat.mermaid, "--format", "-f", help="Output format."),
) -> None:
    """Print the cross-engine lineage graph (Mermaid or Graphviz DOT)."""
    from ..targets.lineage import render_graph
    from ..build.pipeline import load

    typer.echo(render_graph(load(spec, str(spec)), format.value), nl=False)


_EXECUTION_TIME_HELP = "The time the stages load up to, UTC (YYYY-MM-DD[ HH:MM:SS]; default: now), the same for every stage."


def _execute(verb: str, spec: Path, env: str, select, dry_run: bool, out, execution_time, since=None, report=None) -> None:
    from ..build.pipeline import build as run_build
    from .runner import execute, parse_time

    at = parse_time(execution_time, "--execution-time") if execution_time else None
    after = parse_time(since, "--since") if since else None
    result = run_build(spec, str(spec), out=out, check=dry_run)
    if dry_run and result.plan.stale:
        typer.echo(f"note: the generated files are stale; `meshgen {verb}` rebuilds them first", err=True)
    code = execute(result.spec, result.root, verb, env, list(select or ()), dry_run, typer.echo, at=at, since=after, report=report)
    raise typer.Exit(code)


_ENV_OPTION = typer.Option(..., "--env", "-e", help="The environment.")
_SELECT_OPTION = typer.Option(None, "--select", help="Only these models (repeatable).")
_DRY_RUN_OPTION = typer.Option(False, "--dry-run", help="Print the stages, checks and exact commands; run nothing.")
_OUT_OPTION = typer.Option(None, "--out", help="Output root (default: the spec's folder).")
_TIME_OPTION = typer.Option(None, "--execution-time", help=_EXECUTION_TIME_HELP)
_REPORT_OPTION = typer.Option(None, "--report", help="Write every model's outcome to this JSON file (for orchestrators and CI).")


@app.command()
@_handles_errors
def deploy(
    spec: Path = SpecArgument,
    env: str = _ENV_OPTION,
    select: Optional[list[str]] = _SELECT_OPTION,
    dry_run: bool = _DRY_RUN_OPTION,
    out: Optional[Path] = _OUT_OPTION,
    execution_time: Optional[str] = _TIME_OPTION,
    changed_since: Optional[str] = typer.Option(
        None, "--changed-since", help="Build only the models changed since this git ref (or spec file) and their downstream; the rest comes from the base environment."
    ),
    defer_to: Optional[str] = typer.Option(
        None, "--defer-to", help="With --changed-since: the environment holding the base (default: ENV under its own name, when MESHGEN_ENVIRONMENT renames it)."
    ),
    report: Optional[Path] = _REPORT_OPTION,
) -> None:
    """Bring an environment to what the spec says: build, then every stage over its whole backfill range."""
    if changed_since is None:
        _execute("deploy", spec, env, select, dry_run, out, execution_time, report=report)
    elif select:
        raise typer.BadParameter("a slim deploy chooses its own models; leave out --select", param_hint="--select")
    else:
        _deploy_changed(spec, env, changed_since, defer_to or "", dry_run, out, execution_time)


def _deploy_changed(spec: Path, env: str, base_ref: str, defer_to: str, dry_run: bool, out, execution_time) -> None:
    from ..build.pipeline import build as run_build
    from .diff import load_base
    from .pull_requests import execute_slim
    from .runner import parse_time

    at = parse_time(execution_time, "--execution-time") if execution_time else None
    result = run_build(spec, str(spec), out=out, check=dry_run)
    base = load_base(spec, base_ref, missing_ok=True)  # no spec there yet: everything is new
    raise typer.Exit(execute_slim(result.spec, result.root, env, base, base_ref, defer_to, dry_run, typer.echo, at=at))


@app.command()
@_handles_errors
def run(
    spec: Path = SpecArgument,
    env: str = _ENV_OPTION,
    select: Optional[list[str]] = _SELECT_OPTION,
    dry_run: bool = _DRY_RUN_OPTION,
    out: Optional[Path] = _OUT_OPTION,
    execution_time: Optional[str] = _TIME_OPTION,
    since: Optional[str] = typer.Option(
        None, "--since", help="Run what is due after this time (default: the platform's last schedule period)."
    ),
    report: Optional[Path] = _REPORT_OPTION,
) -> None:
    """What the schedule does: new intervals of the models that are due, in a deployed environment."""
    _execute("run", spec, env, select, dry_run, out, execution_time, since, report)


@app.command()
@_handles_errors
def check(
    spec: Path = SpecArgument,
    env: str = _ENV_OPTION,
    select: Optional[list[str]] = _SELECT_OPTION,
    out: Optional[Path] = _OUT_OPTION,
) -> None:
    """Plan every model against the environment's warehouse (LIMIT 0 through each engine); writes no data; exit 1 on a failure."""
    from ..build.pipeline import build as run_build
    from ..errors import MeshgenError
    from ..live_check import check as live_check

    result = run_build(spec, str(spec), out=out)
    report = live_check(result.spec, result.root, env, list(select or ()))
    for line in report.notes():
        typer.echo(line)
    if report.failed:
        typer.echo(MeshgenError(report.diagnostics()).render(), err=True)
    typer.echo(report.summary())
    raise typer.Exit(EXIT_USER_ERROR if report.failed else 0)


@app.command("drop-environment")
@_handles_errors
def drop_environment(
    spec: Path = SpecArgument, env: str = _ENV_OPTION, dry_run: bool = _DRY_RUN_OPTION, out: Optional[Path] = _OUT_OPTION
) -> None:
    """Drop the environment MESHGEN_ENVIRONMENT names (a closed pull request's) in both engines."""
    from ..build.pipeline import build as run_build
    from .pull_requests import execute_drop

    result = run_build(spec, str(spec), out=out, check=dry_run)
    raise typer.Exit(execute_drop(result.spec, result.root, env, dry_run, typer.echo))


@app.command("load-sample-data")
@_handles_errors
def load_sample_data(spec: Path = SpecArgument, env: str = _ENV_OPTION) -> None:
    """Load the spec's sample data (`output.ci.sample_data`) into an environment's local DuckDB file."""
    from ..build.pipeline import load
    from ..sample_data import load_sample_data as load_into

    typer.echo(load_into(load(spec, str(spec)), env))


class DiffFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


@app.command()
@_handles_errors
def diff(
    spec: Path = SpecArgument,
    base: str = typer.Option(..., "--base", help="A git ref (main, HEAD~1, origin/main) or a spec file to compare with."),
    format: DiffFormat = typer.Option(DiffFormat.text, "--format", "-f", help="text, json or github (annotations)."),
) -> None:
    """Classify every change since --base as breaking or safe; exit 1 on a breaking contract change without a major bump."""
    import json

    from . import diff as change_safety
    from ..build.pipeline import load

    changes = change_safety.diff(change_safety.load_base(spec, base), load(spec, str(spec)))
    if format == DiffFormat.json:
        typer.echo(json.dumps({"base": base, "changes": [c.as_dict() for c in changes]}, indent=2))
    elif format == DiffFormat.github:
        typer.echo(change_safety.render_github(changes, change_safety.repository_path(spec)), nl=False)
    else:
        typer.echo(change_safety.render_text(changes, base), nl=False)
    raise typer.Exit(EXIT_USER_ERROR if change_safety.failed(changes) else 0)


@app.command()
@_handles_errors
def impact(
    model: str = typer.Argument(..., help="The model, schema.table."),
    spec: Path = typer.Option(Path("meshgen.yaml"), "--spec", "-s", help="The spec file."),
    format: DiffFormat = typer.Option(DiffFormat.text, "--format", "-f", help="text or json."),
) -> None:
    """Everything downstream of a model, across both engines, with stages and contract consumers."""
    import json

    from . import diff as change_safety
    from ..build.pipeline import load

    report = change_safety.impact(load(spec, str(spec)), model)
    if format == DiffFormat.json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(change_safety.render_impact(report), nl=False)


import_app = typer.Typer(help="Turn an existing project of another tool into a meshgen spec.", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("dbt")
@_handles_errors
def import_dbt(
    project_dir: Path = typer.Argument(..., help="The dbt project (the folder with dbt_project.yml)."),
    out: Path = typer.Option(Path("."), "--out", help="Folder to write meshgen.yaml, sql/, seeds/ and the report to."),
    profiles_dir: Optional[Path] = typer.Option(None, "--profiles-dir", help="dbt's profiles folder (default: the project's, else dbt's own rule)."),
    target: Optional[str] = typer.Option(None, "--target", help="The dbt target to compile against (default: the profile's)."),
) -> None:
    """Compile a dbt project with dbt and write a meshgen spec that builds the same tables."""
    from ..importers import dbt as dbt_import
    from ..importers.dbt_run import load_project
    from ..importers.output import refuse_taken

    refuse_taken(out)
    imported = dbt_import.import_project(load_project(project_dir, profiles_dir, target))
    _write_import(imported, project_dir, out, "dbt")


@import_app.command("sqlmesh")
@_handles_errors
def import_sqlmesh(
    project_dir: Path = typer.Argument(..., help="The SQLMesh project (the folder with its config)."),
    out: Path = typer.Option(Path("."), "--out", help="Folder to write meshgen.yaml, sql/, seeds/ and the report to."),
    gateway: Optional[str] = typer.Option(None, "--gateway", help="The SQLMesh gateway to load (default: the config's)."),
) -> None:
    """Render a SQLMesh project with SQLMesh and write a meshgen spec that builds the same tables."""
    from ..importers import sqlmesh as sqlmesh_import
    from ..importers.output import refuse_taken

    refuse_taken(out)
    imported = sqlmesh_import.import_project(sqlmesh_import.load_context(project_dir, gateway), project_dir)
    _write_import(imported, project_dir, out, "sqlmesh")


def _write_import(imported, project_dir: Path, out: Path, tool: str) -> None:
    from ..importers.output import REPORT_FILE, SPEC_FILE, write_import

    report = imported.report.render(f"meshgen import {tool} {project_dir}")
    written = write_import(imported, out, project_dir.resolve().name, tool, report)
    typer.echo(report, nl=False)
    typer.echo(f"wrote {out / SPEC_FILE}, {out / REPORT_FILE} and {len(written) - 2} SQL and seed file(s)")


@app.command()
def schema() -> None:
    """Print the spec's JSON Schema (for editors and other tools)."""
    from ..build.resources import schema_path

    sys.stdout.write(schema_path().read_text(encoding="utf-8"))


@app.command()
@_handles_errors
def init(directory: Path = typer.Argument(Path("."), help="Folder to create the spec in.")) -> None:
    """Write a commented starter spec (meshgen.yaml) that validates and builds."""
    from .starter import write_starter

    for path in write_starter(directory):
        typer.echo(f"created {path}")
    typer.echo(f"next: meshgen build {directory / 'meshgen.yaml'}")


def main() -> None:
    app()
