"""Each model's outcome from the engines' own reports, and the per-model progress lines."""

from __future__ import annotations

import json

from meshgen.commands.progress import Progress, model_line
from meshgen.model_results import FAILED, SKIPPED, SUCCESS, Outcome, dbt_outcomes, sqlmesh_outcomes
from meshgen.semantics.checks import NotNull, Unique

MODELS = ["staging.stg_tickets", "staging.stg_orders", "marts.kpis"]

# What `sqlmesh run` prints when stdout is not a terminal (its Markdown console).
MARKDOWN = """[1/1] staging__dev.stg_orders          [insert 2024-03-30 00:00:00 - 2024-04-01 23:59:59]   0.04s
Executing model batches ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 100.0% • 2/2 • 0:00:00

**Skipped models**
* `"warehouse"."marts"."kpis"`

**Failed models**
* `"warehouse"."staging"."stg_tickets"`

  ```
    BinderException:
      Binder Error: Table "tickets" does not have a column named "opened_at"
  ```

Error: Run failed.
"""

# The same from its terminal console.
TERMINAL = """Failed models

  "warehouse"."staging"."stg_tickets"

    'not_null' audit error: 2 rows failed

Skipped models

  "warehouse"."marts"."kpis"
Error: Run failed.
"""


def test_sqlmesh_names_the_failed_and_the_skipped_models_in_either_console():
    checks = {"staging.stg_tickets": [("not_null_id", NotNull("id")), ("unique_id", Unique("id"))]}
    for output in (MARKDOWN, TERMINAL):
        outcomes = sqlmesh_outcomes(output, 1, MODELS, checks)
        assert {m: o.status for m, o in outcomes.items()} == {
            "staging.stg_tickets": FAILED, "staging.stg_orders": SUCCESS, "marts.kpis": SKIPPED,
        }
    assert "does not have a column named" in sqlmesh_outcomes(MARKDOWN, 1, MODELS, {})["staging.stg_tickets"].message
    # A failed audit fails the checks it stands for; the others are not reported.
    assert sqlmesh_outcomes(TERMINAL, 1, MODELS, checks)["staging.stg_tickets"].checks == {"not_null_id": False}


def test_a_sqlmesh_failure_naming_no_model_fails_them_all():
    outcomes = sqlmesh_outcomes("Error: could not connect to the state database", 1, MODELS, {})
    assert {o.status for o in outcomes.values()} == {FAILED}
    assert "could not connect" in outcomes["marts.kpis"].message
    assert {o.status for o in sqlmesh_outcomes("all fine", 0, MODELS, {}).values()} == {SUCCESS}


def _dbt_target(tmp_path, results: list[dict], nodes: dict):
    (tmp_path / "run_results.json").write_text(json.dumps({"results": results}))
    (tmp_path / "manifest.json").write_text(json.dumps({"nodes": nodes}))
    return tmp_path


def test_dbt_reads_each_node_and_the_tests_attached_to_it(tmp_path):
    test_id = "test.shop.unique_kpis_id.abc"
    target = _dbt_target(
        tmp_path,
        [
            {"unique_id": "model.shop.stg_orders", "status": "success", "execution_time": 0.5, "adapter_response": {"rows_affected": 7}},
            {"unique_id": "model.shop.kpis", "status": "success", "execution_time": 0.2, "adapter_response": {}},
            {"unique_id": test_id, "status": "fail", "message": "Got 2 results", "execution_time": 0.1},
            {"unique_id": "model.shop.later", "status": "skipped", "execution_time": 0},
        ],
        {test_id: {"name": "unique_kpis_id", "attached_node": "model.shop.kpis", "test_metadata": {"name": "unique", "kwargs": {"column_name": "id"}}}},
    )
    models = {"staging.stg_orders": "stg_orders", "marts.kpis": "kpis", "marts.later": "later"}
    checks = {"marts.kpis": [("unique_id", Unique("id")), ("not_null_id", NotNull("id"))], "staging.stg_orders": [("not_null_id", NotNull("id"))]}
    outcomes = dbt_outcomes(target, models, checks, "")
    assert outcomes["staging.stg_orders"] == Outcome(SUCCESS, seconds=0.5, rows=7, checks={"not_null_id": True})
    assert outcomes["marts.kpis"].status == FAILED and outcomes["marts.kpis"].checks == {"unique_id": False}
    assert "Got 2 results" in outcomes["marts.kpis"].message
    assert outcomes["marts.later"].status == SKIPPED


def test_progress_prints_a_plain_line_per_model_off_a_terminal():
    lines: list[str] = []
    progress = Progress(lines.append, live=False)
    progress.start("dbt", ["staging.stg_orders", "marts.kpis"])
    progress.output_line("12:00:01  1 of 2 OK created sql table model staging__dev.stg_orders ... [OK in 0.50s]")
    progress.finish({"staging.stg_orders": Outcome(SUCCESS, seconds=0.5, rows=7), "marts.kpis": Outcome(FAILED, message="Database Error:\nno such column")})
    assert lines == [
        "      ok       staging.stg_orders (dbt, 0.50s, 7 rows)",
        "      FAILED   marts.kpis (dbt): no such column",
    ]
    assert model_line("a.b", "sqlmesh", Outcome("not_due")).strip() == "not due  a.b (sqlmesh)"


def test_on_a_terminal_the_models_are_a_live_table_redrawn_in_place(capsys):
    import time

    lines: list[str] = []
    progress = Progress(lines.append, live=True)
    progress.start("sqlmesh", ["staging.stg_orders", "marts.kpis"])
    time.sleep(0.6)
    progress.output_line("[1/1] staging__dev.stg_orders   [full refresh]   0.04s")
    time.sleep(0.6)
    progress.finish({"staging.stg_orders": Outcome(SUCCESS), "marts.kpis": Outcome(SUCCESS)})
    drawn = capsys.readouterr().out
    assert "running  marts.kpis (sqlmesh, " in drawn and "finished staging.stg_orders (sqlmesh, " in drawn
    assert drawn.endswith("\x1b[2F\x1b[J"), "the table is erased before the final lines"
    assert lines == ["      ok       staging.stg_orders (sqlmesh)", "      ok       marts.kpis (sqlmesh)"]
