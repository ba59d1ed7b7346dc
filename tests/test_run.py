"""`meshgen deploy` and `meshgen run`: the stages in order with the real engines, on DuckDB."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

duckdb = pytest.importorskip("duckdb")

import demo_data
from conftest import REPO, copy_spec, run_cli
from meshgen.analysis.stages import Stage
from meshgen.build.pipeline import load
from meshgen.commands.runner import failing_model


def meshgen(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("MESHGEN_ENVIRONMENT", None)
    return subprocess.run([sys.executable, "-m", "meshgen", *args], cwd=cwd, capture_output=True, text=True, env=env)


def test_a_deploy_dry_run_prints_every_stage_with_one_execution_time(tmp_path):
    spec = copy_spec("example.yaml", tmp_path)
    result = run_cli("deploy", spec, "--env", "dev", "--dry-run", "--execution-time", "2024-04-01")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("acme_analytics: deploy of 4 stage(s) in environment dev, execution time 2024-04-01 00:00:00")
    stages, finish = out.split("when every stage succeeded (switch dev over):")
    finish, rollback = finish.split("when a stage failed (dev is left as it was):")
    # The stages build into the staging environment dev__next, dbt reading SQLMesh's tables from it.
    sqlmesh = [line for line in stages.splitlines() if "$ sqlmesh" in line]
    assert len(sqlmesh) == 2 and all("plan dev__next --start 2024-01-01 --execution-time '2024-04-01 00:00:00'" in l for l in sqlmesh)
    assert all("--select-model tag:meshgen_external" in line for line in sqlmesh)
    dbt = [line for line in stages.splitlines() if " dbt build " in line]
    staged = "$ MESHGEN_SQLMESH_ENVIRONMENT=dev__next dbt build "
    assert len(dbt) == 2 and all(staged in l for l in dbt)
    assert "check table_exists ml__dev__next.churn_scores" in stages
    assert stages.index("meshgen_deploy_begin") < stages.index("stage 1 (sqlmesh)")
    # Then the switch: promotion (every SQLMesh model), dbt's views repointed, the copies and the staging env dropped.
    commands = [line.strip() for line in finish.splitlines() if "$ " in line]
    assert "plan dev --start 2024-01-01 --execution-time '2024-04-01 00:00:00'" in commands[0]
    assert "--select-model marts.executive_summary" in commands[0] and "--select-model staging.stg_customers" in commands[0]
    assert commands[1].startswith("$ dbt run ") and commands[1].endswith("--select customer_dashboard")
    assert "meshgen_deploy_commit" in commands[2] and commands[3].endswith("invalidate dev__next --sync")
    undo = [line.strip() for line in rollback.splitlines() if "$ " in line]
    assert "meshgen_deploy_rollback" in undo[0] and undo[1].endswith("invalidate dev__next --sync")
    # The copies are taken and put back in the environment of the stages' dbt commands.
    begin = next(line.strip() for line in stages.splitlines() if "meshgen_deploy_begin" in line)
    assert begin.startswith("$ MESHGEN_SQLMESH_ENVIRONMENT=dev__next dbt run-operation ") and undo[0].startswith("$ MESHGEN_SQLMESH_ENVIRONMENT=dev__next dbt ")
    # dbt parses the whole project again when its vars change: no command passes any.
    assert "--vars" not in out and "MESHGEN_SQLMESH_ENVIRONMENT" not in "".join(commands)
    assert "--restate-model" not in out and "--auto-apply" in out
    assert not (tmp_path / "transforms").exists(), "a dry run writes nothing"


def test_prod_deploys_plan_from_each_models_start(tmp_path):
    spec = copy_spec("example.yaml", tmp_path)
    out = run_cli("deploy", spec, "--env", "prod", "--dry-run", "--execution-time", "2024-04-01").stdout
    # The staging plan names the project's start (a non-prod plan would load a preview only);
    # the promotion, a virtual update, does not.
    assert "plan prod__next --start 2024-01-01 --execution-time" in out
    assert "plan prod --execution-time" in out
    partial = run_cli("deploy", spec, "--env", "prod", "--dry-run", "--execution-time", "2024-04-01", "--select", "staging.stg_customers").stdout
    assert "plan prod --execution-time" in partial and "--start" not in partial and "__next" not in partial


def test_the_manifests_deploy_commands_are_the_unstaged_stages(tmp_path):
    """The manifest lists each stage's own deploy commands; `meshgen deploy` (which the orchestrators call) stages them."""
    from meshgen.build.pipeline import load
    from meshgen.execution import manifest

    spec = load(copy_spec("example.yaml", tmp_path))
    text = str(manifest(spec))
    assert "__next" not in text and "MESHGEN_SQLMESH_ENVIRONMENT" not in text


def test_a_run_builds_only_the_models_that_are_due(tmp_path):
    spec = copy_spec("example.yaml", tmp_path)
    midnight = run_cli("run", spec, "--env", "dev", "--dry-run", "--execution-time", "2024-04-02 00:00:00").stdout
    assert "sqlmesh -p transforms/sqlmesh --gateway dev run dev --end '2024-04-02 00:00:00'" in midnight
    assert "nothing due" not in midnight, "at midnight the daily models are due too"
    later = run_cli("run", spec, "--env", "dev", "--dry-run", "--execution-time", "2024-04-02 13:20:00").stdout
    stages = later.split("\nstage ")
    assert "--select-model staging.stg_transactions" in stages[1] and "--select-model core.dim_customer_history" not in stages[1]
    assert all("nothing due" in stage for stage in stages[2:]), "daily models do not run every hour"
    since = run_cli("run", spec, "--env", "dev", "--dry-run", "--execution-time", "2024-04-02 13:20:00", "--since", "2024-04-01 23:00")
    assert "nothing due" not in since.stdout, "a window over midnight makes the daily models due"


def test_bad_times_are_user_errors(tmp_path):
    spec = copy_spec("example.yaml", tmp_path)
    result = run_cli("run", spec, "--env", "dev", "--dry-run", "--execution-time", "yesterday")
    assert result.exit_code == 1 and "'yesterday' is not a time" in result.stderr
    empty = run_cli("run", spec, "--env", "dev", "--dry-run", "--execution-time", "2024-04-01", "--since", "2024-04-02")
    assert empty.exit_code == 1 and "is empty" in empty.stderr


def test_unknown_environment_is_a_user_error(tmp_path):
    spec = copy_spec("example.yaml", tmp_path)
    result = run_cli("run", spec, "--env", "staging", "--dry-run")
    assert result.exit_code == 1
    assert "unknown environment 'staging'" in result.stderr


def test_the_manifest_validates_against_its_schema(tmp_path):
    spec = copy_spec("example.yaml", tmp_path)
    assert run_cli("build", spec).exit_code == 0
    manifest = json.loads((tmp_path / "orchestration/manifest.json").read_text())
    schema = json.loads((REPO / "schemas/manifest.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(manifest)
    assert [s["engine"] for s in manifest["stages"]] == ["sqlmesh", "dbt", "sqlmesh", "dbt"]


def test_failing_model_is_read_from_either_tool():
    stage = Stage(1, "dbt", ("core.customer_360", "marts.kpis"), (("core.customer_360", "marts.kpis"),))
    assert failing_model(stage, "12:00  Failure in model kpis (models/marts/kpis.sql)") == "marts.kpis"
    assert failing_model(stage, 'Error: Execution failed for node "warehouse"."core"."customer_360"') == "core.customer_360"
    assert failing_model(stage, "Database Error in model customer_360") == "core.customer_360"
    assert failing_model(stage, "all good") == ""


def test_a_missing_raw_table_stops_the_first_stage(tmp_path):
    spec_path = copy_spec("example.yaml", tmp_path)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        demo_data.seed(connection, load(spec_path), demo_data.generate())
        connection.execute("DROP TABLE raw.merchants")
    result = meshgen("deploy", spec_path.name, "--env", "dev", cwd=tmp_path)
    assert result.returncode == 1
    assert "meshgen failed in stage 1/4 (sqlmesh)" in result.stdout
    assert "table raw.merchants does not exist (source)" in result.stdout


@pytest.mark.integration
def test_a_run_before_any_deploy_says_to_deploy_first(tmp_path):
    spec_path = copy_spec("example.yaml", tmp_path)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        demo_data.seed(connection, load(spec_path), demo_data.generate())
    result = meshgen("run", spec_path.name, "--env", "dev", "--execution-time", "2024-04-02", cwd=tmp_path)
    assert result.returncode == 1
    assert "environment dev has not been deployed yet: run `meshgen deploy --env dev` first" in result.stdout


@pytest.mark.integration
def test_deploy_twice_from_another_directory(tmp_path):
    """A second deploy with nothing changed rebuilds nothing that is already complete, and leaves the same tables."""
    spec_path = copy_spec("example.yaml", tmp_path)
    data = demo_data.generate()
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        demo_data.seed(connection, load(spec_path), data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    counts = []
    for attempt in (1, 2):
        result = meshgen("deploy", str(spec_path), "--env", "dev", "--execution-time", "2024-04-01", cwd=elsewhere)
        assert result.returncode == 0, f"deploy {attempt}:\n{result.stdout}\n{result.stderr}"
        assert "[4/4] stage 4" in result.stdout
        spec = load(spec_path)
        with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as connection:
            counts.append({m.name: connection.execute(f"SELECT COUNT(*) FROM {m.schema}__dev.{m.table}").fetchone()[0] for m in spec.models})
    assert counts[0] == counts[1]
    assert counts[0]["core.customer_360"] == counts[0]["ml.churn_scores"] == len(data["raw.customers"])
    # dbt parses the whole project once, at the first command: meshgen passes no vars (dbt parses
    # everything again when they change), and the staging environment, an environment variable,
    # re-parses only the source files of SQLMesh's tables where it changes.
    log = (tmp_path / "transforms" / "dbt" / "logs" / "dbt.log").read_text(encoding="utf-8")
    assert log.count("Unable to do partial parsing") == 1 and "saved manifest not found" in log
    updated = re.findall(r"Partial parsing: updated file: \S+?://(\S+)", log)
    assert updated and all(path.startswith("models/sources/_sqlmesh_") for path in updated), updated
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as connection:
        alerts = dict(connection.execute("SELECT transaction_id, alert_reason FROM risk__dev.fraud_alerts").fetchall())
    assert alerts == {k: v[0] for k, v in demo_data.expected_fraud_alerts(data).items()}
