"""`meshgen check`: every model planned against an environment's warehouse by its own engine, nothing written.

One DuckDB warehouse with the example's raw data is deployed to dev once; the
checks read it, and a test that breaks something breaks a copy.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

duckdb = pytest.importorskip("duckdb")

import oracle
from conftest import copy_spec, on_one_worker, run_cli
from meshgen.build.pipeline import load

SUMMARY_DEV = "acme_analytics: 14 model(s) checked against dev (duckdb), none failed; not probed: 3 Python models, 2 seeds"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> Path:
    """The example's spec, its warehouse deployed to dev (ci and prod never deployed)."""
    folder = tmp_path_factory.mktemp("live-check") / "project"
    spec_path = oracle.EXAMPLE.make_project(folder)
    oracle.EXAMPLE.load_raw(folder / "warehouse.duckdb", load(spec_path))
    oracle.meshgen("deploy", spec_path.name, "--env", "dev", "--execution-time", oracle.T1, cwd=folder)
    return spec_path


def check(spec_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`meshgen check` in a child process, as CI runs it."""
    return subprocess.run(check_command(spec_path, *args), capture_output=True, **check_options(spec_path))


def check_command(spec_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "meshgen", "check", spec_path.name, *args]


def check_options(spec_path: Path) -> dict:
    """Where and with which environment variables the child runs: the venv's tools first, no environment preset."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("MESHGEN_ENVIRONMENT", None)
    return {"cwd": spec_path.parent, "text": True, "env": env}


def warehouse_contents(database: Path) -> dict:
    """Every schema, and every table and view with its type and row count."""
    with duckdb.connect(str(database), read_only=True) as connection:
        contents = {"schemas": sorted(r[0] for r in connection.execute("SELECT schema_name FROM information_schema.schemata").fetchall())}
        for schema, table, kind in connection.execute("SELECT table_schema, table_name, table_type FROM information_schema.tables").fetchall():
            count = connection.execute(f'SELECT COUNT(*) FROM "{schema}"."{table}"').fetchone()[0]
            contents[f"{schema}.{table}"] = (kind, count)
    return contents


def model_line(spec_path: Path, model: str) -> str:
    """`file:line:col` of the model's name in the spec, as the diagnostics cite it."""
    lines = spec_path.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.strip() == f"- name: {model}")
    return f"{spec_path.name}:{number}:{lines[number - 1].index(model) + 1}"


@pytest.mark.integration
@on_one_worker("live-check")
def test_a_deployed_environment_checks_clean_and_nothing_changes(deployed):
    database = deployed.parent / "warehouse.duckdb"
    artifacts = deployed.parent / "transforms/dbt/target"
    before, deploy_results = warehouse_contents(database), (artifacts / "run_results.json").read_bytes()
    result = check(deployed, "--env", "dev")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == SUMMARY_DEV and not result.stderr
    assert warehouse_contents(database) == before
    assert (artifacts / "run_results.json").read_bytes() == deploy_results, "dbt's artifacts of the check stay out of the project"


@pytest.mark.integration
@on_one_worker("live-check")
def test_what_only_the_warehouse_sees_fails_at_the_models_spec_line(deployed, tmp_path):
    folder = tmp_path / "project"
    shutil.copytree(deployed.parent, folder)
    spec_path = folder / deployed.name
    database = folder / "warehouse.duckdb"
    # The spec declares raw.support_tickets.priority; the real table no longer has it (SQLMesh's staging model reads it).
    with duckdb.connect(str(database)) as connection:
        connection.execute("ALTER TABLE raw.support_tickets DROP COLUMN priority")
    # A dbt mart reads a column its SQLMesh upstream does not have: sqlglot cannot tell.
    text = spec_path.read_text(encoding="utf-8")
    spec_path.write_text(text.replace("t.category AS category,", "t.ticket_category AS category,", 1), encoding="utf-8")
    assert run_cli("validate", spec_path).exit_code == 0, "only the warehouse can see these"
    before = warehouse_contents(database)

    result = check(spec_path, "--env", "dev")

    assert result.returncode == 1, result.stdout + result.stderr
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"{model_line(spec_path, 'staging.stg_support_tickets')}: error: model 'staging.stg_support_tickets' does not compile against dev (sqlmesh): ")
    assert '"priority"' in errors[0]
    support = next(line for line in errors if "marts.support_kpis" in line)
    assert support.startswith(f"{model_line(spec_path, 'marts.support_kpis')}: error: model 'marts.support_kpis' does not compile against dev (dbt): ")
    assert '"ticket_category"' in support
    assert errors[-1] == "2 errors"
    assert result.stdout.strip() == SUMMARY_DEV.replace("none failed", "2 failed")
    assert warehouse_contents(database) == before


@pytest.mark.integration
@on_one_worker("live-check")
def test_a_model_whose_upstream_was_never_built_is_skipped_not_failed(deployed):
    """ci shares the warehouse but was never deployed: only the staging models that read the sources can be planned."""
    database = deployed.parent / "warehouse.duckdb"
    before = warehouse_contents(database)
    result = check(deployed, "--env", "ci", "--select", "staging.stg_customers", "--select", "core.customer_360")
    assert result.returncode == 0, result.stdout + result.stderr
    upstreams = "staging.stg_accounts, staging.stg_customers, staging.stg_support_tickets, staging.stg_transactions"
    assert result.stdout.splitlines() == [
        f"{model_line(deployed, 'core.customer_360')}: note: model 'core.customer_360' skipped: upstream {upstreams} do not exist yet in ci",
        "acme_analytics: 1 model(s) checked against ci (duckdb), none failed; 1 skipped (an upstream table does not exist yet)",
    ]
    after = warehouse_contents(database)
    assert after == before, "no schema, table or SQLMesh state for ci"
    assert not [schema for schema in after["schemas"] if schema.endswith("__ci")]



@pytest.mark.integration
@on_one_worker("live-check")
def test_ctrl_c_at_any_point_of_a_check_interrupts_it(deployed):
    """The engines' APIs, run in-process, lost a Ctrl-C or reported it as an unreachable warehouse."""
    database = deployed.parent / "warehouse.duckdb"
    before = warehouse_contents(database)
    started = time.monotonic()
    assert check(deployed, "--env", "dev").returncode == 0
    whole = time.monotonic() - started
    for share in (0.2, 0.4, 0.6):  # in SQLMesh's load, among its probes, in dbt's
        child = subprocess.Popen(check_command(deployed, "--env", "dev"), **check_options(deployed), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(whole * share)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
        assert (child.returncode, out) == (130, ""), f"SIGINT at {whole * share:.1f} s of {whole:.1f} s: {out}{err}"
        assert err.splitlines() == ["meshgen: interrupted (an interrupted build is finished or undone by the next one)"]
    assert warehouse_contents(database) == before

def test_a_database_that_does_not_exist_is_not_created(tmp_path):
    spec_path = copy_spec("example.yaml", tmp_path / "project")
    result = run_cli("check", spec_path, "--env", "dev")
    assert result.exit_code == 1
    assert result.stderr.startswith("example.yaml: error: the database warehouse.duckdb of environment dev does not exist yet")
    assert "run `meshgen deploy --env dev` first" in result.stderr
    assert not (spec_path.parent / "warehouse.duckdb").exists()


def test_a_missing_engine_is_one_clear_error(tmp_path, monkeypatch):
    spec_path = copy_spec("example.yaml", tmp_path / "project")
    (spec_path.parent / "warehouse.duckdb").touch()
    monkeypatch.setitem(sys.modules, "sqlmesh", None)  # as if it were not installed
    result = run_cli("check", spec_path, "--env", "dev")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "sqlmesh: error: the sqlmesh package is not installed (meshgen check uses its Python API)",
        "  hint: pip install 'sqlmesh[duckdb]==0.236.4'",
    ]
