"""What each model of one engine invocation came to, from the engines' own reports.

One `sqlmesh` or `dbt` process builds many models; meshgen reports each of them
(`meshgen run`, and through its report the Airflow tasks and Dagster assets):

* dbt writes `target/run_results.json`: a status per node, tests included (each test
  names the model it is attached to in `target/manifest.json`), with timings and,
  where the adapter gives it, the rows affected.
* SQLMesh ends a run that had failures with a "Failed models" section (each model
  with its error) and a "Skipped models" section (those it did not start because
  an upstream failed). Every other model it was asked for succeeded. A model's
  blocking audits are its contract checks: a model that succeeded passed them all.

A process that failed without naming any model fails all of them, with its output.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from .semantics.checks import Check, check_kind

SUCCESS = "success"
FAILED = "failed"
SKIPPED = "skipped"  # the engine did not start it: an upstream in the same process failed
BLOCKED = "blocked"  # not started: an upstream in an earlier process failed
NOT_DUE = "not_due"  # its schedule did not tick in the run's window
NOT_RUN = "not_run"  # an earlier failure stopped the deploy before its stage
ENDED_BADLY = (FAILED, SKIPPED, BLOCKED, NOT_RUN)

# The checks each engine's test or audit stands for (semantics.checks kinds).
_DBT_TESTS = {"not_null": "not_null", "unique": "unique", "accepted_values": "accepted_values", "accepted_range": "range", "expression_is_true": "check", "relationships": "references"}
_SQLMESH_AUDITS = {"not_null": "not_null", "unique_values": "unique", "accepted_values": "accepted_values", "accepted_range": "range", "forall": "check", "meshgen_references": "references"}
_MESSAGE_LINES = 30


@dataclass
class Outcome:
    status: str
    seconds: float | None = None
    rows: int | None = None
    message: str = ""
    checks: dict[str, bool] = field(default_factory=dict)  # check name -> passed, where the engine tells

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value not in (None, "", {})}


def _short(text: str) -> str:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    return "\n".join(lines[:_MESSAGE_LINES] + (["..."] if len(lines) > _MESSAGE_LINES else []))


# -- dbt ----------------------------------------------------------------------------


def dbt_outcomes(
    target: Path, models: Mapping[str, str], checks: Mapping[str, list[tuple[str, Check]]], output: str
) -> dict[str, Outcome]:
    """Outcomes of `dbt build` of `models` ({model: dbt node name}) from dbt's target folder."""
    try:
        results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
        nodes = json.loads((target / "manifest.json").read_text(encoding="utf-8"))["nodes"]
    except (OSError, ValueError, KeyError):
        return {}
    by_node = {node: model for model, node in models.items()}
    outcomes: dict[str, Outcome] = {}
    tests: list[tuple[str, dict]] = []
    for result in results:
        kind = result["unique_id"].split(".", 1)[0]
        node = result["unique_id"].rsplit(".", 1)[-1]
        if kind == "test":
            tests.append((result["unique_id"], result))
        elif node in by_node:
            outcomes[by_node[node]] = _dbt_outcome(result)
    for unique_id, result in tests:
        _attach_test(outcomes, nodes.get(unique_id, {}), result, by_node, checks)
    for model, outcome in outcomes.items():
        if outcome.status == SUCCESS:
            # `dbt build` fails a model when one of its tests fails: every check of a built model passed.
            outcome.checks = {name: True for name, _ in checks.get(model, ())}
    return outcomes


def _dbt_outcome(result: dict) -> Outcome:
    status = {"success": SUCCESS, "error": FAILED, "skipped": SKIPPED}.get(result["status"], FAILED)
    rows = (result.get("adapter_response") or {}).get("rows_affected")
    return Outcome(
        status,
        seconds=round(result.get("execution_time") or 0.0, 3),
        rows=rows if isinstance(rows, int) and rows >= 0 else None,
        message=_short(result.get("message") or "") if status != SUCCESS else "",
    )


def _attach_test(outcomes: dict[str, Outcome], node: dict, result: dict, by_node: Mapping[str, str], checks) -> None:
    """A data test's result on its model's outcome: its check, and a failure fails the model."""
    attached = (node.get("attached_node") or "").rsplit(".", 1)[-1]
    model = by_node.get(attached)
    if model is None or model not in outcomes:
        return
    metadata = node.get("test_metadata") or {}
    kind = _DBT_TESTS.get(metadata.get("name", ""))
    column = (metadata.get("kwargs") or {}).get("column_name") or node.get("column_name")
    passed = result["status"] in ("pass", "warn")
    if result["status"] == "skipped":
        return
    for name, check in checks.get(model, ()):
        if check_kind(check) == kind and check.column == column:
            outcomes[model].checks[name] = outcomes[model].checks.get(name, True) and passed
    if not passed:
        outcome = outcomes[model]
        outcome.status = FAILED
        outcome.message = _short(f"{outcome.message}\ntest {node.get('name', attached)}: {result.get('message') or result['status']}")


# -- SQLMesh ------------------------------------------------------------------------


def _section(output: str, title: str) -> list[str]:
    """The lines of a section SQLMesh prints at the end of a run ("Failed models", "Skipped models")."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().strip("*").strip() == title), None)
    if start is None:
        return []
    section = []
    for line in lines[start + 1 :]:
        stripped = line.strip().strip("*").strip()
        if stripped in ("Failed models", "Skipped models") or line.startswith("Error:"):
            break
        section.append(line)
    return section


def _name_pattern(schema: str, table: str) -> re.Pattern:
    return re.compile(rf'(^|[\s`."]){re.escape(schema)}(__\w+)?"?\."?{re.escape(table)}("|`|\s|$)')


def sqlmesh_outcomes(
    output: str, code: int, models: Iterable[str], checks: Mapping[str, list[tuple[str, Check]]]
) -> dict[str, Outcome]:
    """Outcomes of a `sqlmesh run` or `plan` of `models` from what it printed."""
    models = list(models)
    patterns = {m: _name_pattern(*m.split(".", 1)) for m in models}
    failed = _failure_messages(_section(output, "Failed models"), patterns)
    skipped = {m for line in _section(output, "Skipped models") for m, p in patterns.items() if p.search(line)}
    if code != 0 and not failed and not skipped:
        return {m: Outcome(FAILED, message=_short(_tail(output))) for m in models}
    outcomes = {}
    for model in models:
        if model in failed:
            outcomes[model] = Outcome(FAILED, message=_short(failed[model]), checks=_failed_audits(failed[model], checks.get(model, ())))
        elif model in skipped:
            outcomes[model] = Outcome(SKIPPED, message="an upstream model failed in this run")
        else:
            outcomes[model] = Outcome(SUCCESS, checks={name: True for name, _ in checks.get(model, ())})
    return outcomes


def _failure_messages(section: list[str], patterns: Mapping[str, re.Pattern]) -> dict[str, str]:
    """Model -> the error SQLMesh printed under its name."""
    messages: dict[str, list[str]] = {}
    current = None
    for line in section:
        named = next((m for m, p in patterns.items() if p.search(line) and line.lstrip().startswith(("*", '"', "`"))), None)
        if named:
            current = named
            messages[current] = []
        elif current and line.strip() and line.strip() != "```":
            messages[current].append(line.strip())
    return {m: "\n".join(lines) for m, lines in messages.items()}


def _failed_audits(message: str, checks: Iterable[tuple[str, Check]]) -> dict[str, bool]:
    """The checks a failed audit stands for (SQLMesh groups not_null and unique over columns)."""
    failed_kinds = {kind for audit, kind in _SQLMESH_AUDITS.items() if f"'{audit}' audit error" in message}
    return {name: False for name, check in checks if check_kind(check) in failed_kinds}


def _tail(output: str, lines: int = 15) -> str:
    kept = [line for line in output.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def failed_wholesale(models: Iterable[str], message: str) -> dict[str, Outcome]:
    return {m: Outcome(FAILED, message=_short(message)) for m in models}
