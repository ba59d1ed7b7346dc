"""Before `meshgen deploy` or `meshgen run` starts an engine, the environment's warehouse drivers are found.

A missing one is a single line naming what to install, as the generated requirements pin it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import demo_data
import example_expected as expected
from conftest import REPO, copy_spec, repo_venv, run_cli
from meshgen.commands import engines, runner
from meshgen.warehouses import WAREHOUSES


@pytest.fixture
def started(monkeypatch) -> list[str]:
    """The stages' engines as they would start; the engine CLIs are taken to sit beside this Python."""
    stages: list[str] = []

    def run_step(spec, root, env, step, *rest):
        stages.append(step.stage.engine)
        return {}, None  # no outcomes, no failure

    monkeypatch.setattr(engines, "tool_path", lambda name, facts: str(Path(sys.executable).with_name(name)))
    monkeypatch.setattr(runner, "run_step", run_step)
    monkeypatch.setattr(runner, "run_commands", lambda *args, **kwargs: "")  # a staged deploy's switch
    return stages


def missing(monkeypatch, *modules: str) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # what an import of a module not installed finds


def test_a_missing_driver_is_one_line_naming_the_packages(example_spec, started, monkeypatch):
    missing(monkeypatch, "psycopg2", "dbt.adapters.postgres")
    result = run_cli("deploy", example_spec, "--env", "prod", "--execution-time", "2024-04-01")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "example.yaml: error: environment 'prod' runs on postgres: "
        "install its drivers with pip install psycopg2-binary==2.9.13 dbt-postgres==1.11.0"
    )
    assert started == [], "no engine started"


def test_only_the_missing_driver_is_named(example_spec, started, monkeypatch):
    postgres = WAREHOUSES["postgres"]
    monkeypatch.setitem(WAREHOUSES, "postgres", dataclasses.replace(postgres, sqlmesh_driver="json"))
    missing(monkeypatch, "dbt.adapters.postgres")
    result = run_cli("run", example_spec, "--env", "prod", "--execution-time", "2024-04-02")
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("install its driver with pip install dbt-postgres==1.11.0")


def test_an_environment_whose_drivers_are_found_starts_its_stages(example_spec, started):
    pytest.importorskip("duckdb")
    pytest.importorskip("dbt.adapters.duckdb")
    result = run_cli("deploy", example_spec, "--env", "dev", "--execution-time", "2024-04-01")
    assert result.exit_code == 0, result.output
    assert started == ["sqlmesh", "dbt", "sqlmesh", "dbt"]


def test_sqlmesh_beside_the_compiled_sqlglot_is_refused_before_any_stage(example_spec, started, monkeypatch):
    monkeypatch.setattr(engines, "compiled_sqlglot", lambda: True)  # as in a venv with meshgen's `fast` extra
    result = run_cli("deploy", example_spec, "--env", "dev", "--execution-time", "2024-04-01")
    assert result.exit_code == 1
    assert "SQLMesh cannot run beside the compiled sqlglot (sqlglotc)" in result.stderr
    assert "pip uninstall sqlglotc" in result.stderr
    assert started == [], "no engine started"


def test_a_dry_run_needs_no_driver(example_spec, started, monkeypatch):
    missing(monkeypatch, "psycopg2", "dbt.adapters.postgres")
    assert run_cli("deploy", example_spec, "--env", "prod", "--dry-run").exit_code == 0


def test_the_python_an_engine_runs_on(tmp_path):
    assert engines.engine_python(str(Path(sys.executable).with_name("sqlmesh"))) == sys.executable
    script = tmp_path / "dbt"
    script.write_text("#!/opt/tools/bin/python3.11\nimport dbt\n")
    assert engines.engine_python(str(script)) == "/opt/tools/bin/python3.11"
    script.write_text("#!/bin/sh\nexec dbt-real \"$@\"\n")
    assert engines.engine_python(str(script)) is None, "not a Python script: the engine reports what it lacks"


def test_a_driver_is_looked_for_in_the_engines_own_python(tmp_path):
    other = tmp_path / "bin" / "python"  # not this process's sys.executable: asked in a child process
    other.parent.mkdir()
    other.symlink_to(sys.executable)
    assert engines.importable(str(other), "json")
    assert not engines.importable(str(other), "no_such_driver")
    assert not engines.importable(str(other), "no_such_package.driver")
    assert engines.importable(str(tmp_path / "missing-python"), "no_such_driver"), "cannot tell: the engine reports it"


# -- integration: a venv with DuckDB's drivers only -----------------------------------------

RUN_BEFORE = "2024-04-01 00:00:00"


def duckdb_only_venv() -> Path:
    """meshgen[duckdb] (sqlmesh[duckdb], dbt-core, dbt-duckdb) in `.venv-nodriver`, with this checkout's meshgen."""
    key = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    python = repo_venv("nodriver", f"{REPO}[duckdb]", key=key)
    reinstall = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--force-reinstall", str(REPO)]
    subprocess.run(reinstall, check=True, capture_output=True)
    return python.parent


def in_venv(bin_dir: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MESHGEN_ENVIRONMENT", None)
    return subprocess.run([str(bin_dir / argv[0]), *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


def count_rows(bin_dir: Path, database: Path, table: str) -> int:
    """Read with the venv's own DuckDB, which wrote the file."""
    query = "import duckdb, sys; print(duckdb.connect(sys.argv[1], read_only=True).execute(sys.argv[2]).fetchone()[0])"
    result = in_venv(bin_dir, "python", "-c", query, str(database), f"SELECT COUNT(*) FROM {table}", cwd=database.parent)
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


@pytest.mark.integration
def test_dev_runs_without_prods_drivers_and_prod_names_them(tmp_path):
    bin_dir = duckdb_only_venv()
    for module in ("psycopg2", "dbt.adapters.postgres"):
        found = in_venv(bin_dir, "python", "-c", f"import {module}", cwd=tmp_path)
        assert found.returncode != 0, f"{module} is installed: the venv does not test what it should"
    spec_path = copy_spec("example.yaml", tmp_path / "project")
    project = spec_path.parent
    loaded = in_venv(bin_dir, "python", str(REPO / "specs/demo_data.py"), str(spec_path), cwd=project)
    assert loaded.returncode == 0, loaded.stderr

    dev = in_venv(bin_dir, "meshgen", "deploy", spec_path.name, "--env", "dev", "--execution-time", RUN_BEFORE, cwd=project)
    assert dev.returncode == 0, dev.stdout[-4000:] + dev.stderr[-4000:]
    data, until = demo_data.generate(), expected.as_datetime(RUN_BEFORE)
    database = project / "warehouse.duckdb"
    assert count_rows(bin_dir, database, "staging__dev.stg_transactions") == len(expected.stg_transactions(data, until))
    assert count_rows(bin_dir, database, "marts__dev.customer_dashboard") == len(expected.customer_dashboard(data, until))

    prod = in_venv(bin_dir, "meshgen", "deploy", spec_path.name, "--env", "prod", "--execution-time", RUN_BEFORE, cwd=project)
    assert prod.returncode == 1
    assert prod.stderr.splitlines() == [
        "example.yaml: error: environment 'prod' runs on postgres: "
        "install its drivers with pip install psycopg2-binary==2.9.13 dbt-postgres==1.11.0"
    ]
    assert "stage" not in prod.stdout, "no engine started"
