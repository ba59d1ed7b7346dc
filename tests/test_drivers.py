"""Before `meshgen deploy` or `meshgen run` starts an engine, the environment's warehouse drivers are found.

A missing one is a single line naming what to install, as the generated requirements pin it.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from meshgen.commands import engines, runner
from meshgen.warehouses import WAREHOUSES


@pytest.fixture
def started(monkeypatch) -> list[str]:
    """The stages' engines as they would start; the engine CLIs are taken to sit beside this Python."""
    stages: list[str] = []
    monkeypatch.setattr(engines, "tool_path", lambda name, facts: str(Path(sys.executable).with_name(name)))
    monkeypatch.setattr(runner, "run_step", lambda spec, root, env, step, *rest: stages.append(step.stage.engine))
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
        "install its drivers with pip install 'sqlmesh[postgres]==0.236.4' dbt-postgres==1.11.0"
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
