"""`meshgen run`: the stages in order with the real engines, on DuckDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import jsonschema
import pytest

import demo_data
from conftest import REPO, copy_spec, run_cli
from meshgen.analysis.stages import Stage
from meshgen.pipeline import load
from meshgen.runner import failing_model


def meshgen(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([sys.executable, "-m", "meshgen", *args], cwd=cwd, capture_output=True, text=True, env=env)


def test_dry_run_prints_every_stage_and_command(tmp_path):
    spec = copy_spec("example.yaml", tmp_path)
    result = run_cli("run", spec, "--env", "dev", "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("acme_analytics: 4 stage(s) in environment dev")
    assert "$ dbt build --project-dir transforms/dbt --profiles-dir transforms/dbt --target dev --select" in out
    assert "--restate-model ml.churn_scores" in out
    assert not (tmp_path / "transforms").exists(), "a dry run writes nothing"


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
        data = demo_data.generate()
        demo_data.seed(connection, load(spec_path), data)
        connection.execute("DROP TABLE raw.merchants")
    result = meshgen("run", spec_path.name, "--env", "dev", cwd=tmp_path)
    assert result.returncode == 1
    assert "meshgen run failed in stage 1/4 (sqlmesh)" in result.stdout
    assert "table raw.merchants does not exist (source)" in result.stdout


@pytest.mark.integration
def test_run_dev_builds_every_model_across_engines_twice(tmp_path):
    spec_path = copy_spec("example.yaml", tmp_path)
    data = demo_data.generate()
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        demo_data.seed(connection, load(spec_path), data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for attempt in (1, 2):
        result = meshgen("run", str(spec_path), "--env", "dev", cwd=elsewhere)
        assert result.returncode == 0, f"run {attempt}:\n{result.stdout}\n{result.stderr}"
        assert "[4/4] stage 4" in result.stdout
    spec = load(spec_path)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as connection:
        for model in spec.models:
            table = f"{model.schema}__dev.{model.table}"
            assert connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone() is not None, table
        customers = len(data["raw.customers"])
        assert connection.execute("SELECT COUNT(*) FROM core__dev.customer_360").fetchone()[0] == customers
        assert connection.execute("SELECT COUNT(*) FROM ml__dev.churn_scores").fetchone()[0] == customers
        assert connection.execute("SELECT COUNT(*) FROM marts__dev.customer_dashboard").fetchone()[0] == customers
        alerts = dict(connection.execute("SELECT transaction_id, alert_reason FROM risk__dev.fraud_alerts").fetchall())
    assert alerts == {k: v[0] for k, v in demo_data.expected_fraud_alerts(data).items()}
