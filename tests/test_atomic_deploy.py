"""A failed deploy leaves the environment as it was, with the real engines.

`failed_deploy_keeps_environment` is the scenario, given the project folder and a
way to summarise an environment's tables, so it runs against any warehouse the
example's prod can be pointed at; here it runs on the local DuckDB file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from oracle import EXAMPLE, T1, Table, load_rows, meshgen, step_label, summarise  # noqa: F401  (load_rows: for other warehouses)
from meshgen.build.pipeline import load

pytestmark = pytest.mark.integration

Summarise = Callable[[object], dict[str, Table]]  # spec -> model -> table of prod


def _meshgen_failing(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("MESHGEN_ENVIRONMENT", None)
    return subprocess.run([sys.executable, "-m", "meshgen", *args], cwd=cwd, capture_output=True, text=True, env=env)


def _sqlmesh_plan_output(spec_path: Path) -> str:
    """What a plain `sqlmesh --gateway prod plan prod` says of the built project (applies nothing)."""
    spec = load(spec_path)
    sqlmesh = Path(sys.executable).with_name("sqlmesh")
    result = subprocess.run(
        [str(sqlmesh), "--gateway", "prod", "plan", "prod", "--no-prompts"],
        cwd=spec_path.parent / spec.output.sqlmesh,
        capture_output=True,
        text=True,
    )
    return result.stdout + result.stderr


def _break_stage_4(spec_path: Path) -> None:
    """Stage 1 changes a SQLMesh model's rows; stage 4's marts.customer_dashboard fails when it runs."""
    folder = spec_path.parent
    staging = folder / "sql" / "stg_transactions.sql"
    text = staging.read_text(encoding="utf-8")
    staging.write_text(text.replace("WHERE LOWER(t.status) = 'settled'", "WHERE LOWER(t.status) = 'settled' AND t.amount > 50"), encoding="utf-8")
    dashboard = folder / "sql" / "customer_dashboard.sql"
    dashboard.write_text(dashboard.read_text(encoding="utf-8") + "WHERE CAST(c.segment AS INTEGER) IS NOT NULL\n", encoding="utf-8")
    spec_text = spec_path.read_text(encoding="utf-8")
    marker = "  - name: marts.customer_dashboard\n    description: One row per customer for the BI dashboards, with a next-best action.\n    kind: view\n"
    assert marker in spec_text
    # A table, so the warehouse evaluates the query while dbt builds it (a view would be created fine).
    spec_path.write_text(spec_text.replace(marker, marker.replace("kind: view", "kind: full")), encoding="utf-8")


def failed_deploy_keeps_environment(spec_path: Path, prod_tables: Summarise, deployed: bool = False) -> dict[str, str]:
    """Deploy prod (unless `deployed`), then a spec whose stage 4 fails: prod's tables and SQLMesh's
    state stay as they were.

    `spec_path` is a built-ready copy of the example with its raw data loaded and prod on the
    warehouse under test. Returns what the failed deploy printed (for the caller's own checks).
    """
    folder = spec_path.parent
    if not deployed:
        meshgen("deploy", spec_path.name, "--env", "prod", "--execution-time", T1, cwd=folder)
    old = load(spec_path)
    before = prod_tables(old)
    originals = {p: p.read_text(encoding="utf-8") for p in (spec_path, folder / "sql" / "stg_transactions.sql", folder / "sql" / "customer_dashboard.sql")}

    _break_stage_4(spec_path)
    meshgen("validate", spec_path.name, cwd=folder)  # the failure is one only running it finds
    failed = _meshgen_failing("deploy", spec_path.name, "--env", "prod", "--execution-time", T1, cwd=folder)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output
    assert "meshgen failed in stage 4/4 (dbt)" in output, output
    assert "model: marts.customer_dashboard" in output, output
    assert "environment prod was left as it was" in output, output

    assert prod_tables(old) == before
    for path, text in originals.items():
        path.write_text(text, encoding="utf-8")
    meshgen("build", spec_path.name, cwd=folder)
    plan = _sqlmesh_plan_output(spec_path)
    assert "No changes to plan" in plan, plan
    return {"failed deploy": output}


def test_a_failed_deploy_leaves_prod_as_it_was(tmp_path, example_played):
    """From prod as `meshgen deploy --env prod` left it in the example's play, in another folder (SQLMesh's
    state is in the file): the closing plan finding no change also shows no model holds the checkout's path."""
    spec_path = EXAMPLE.make_project(tmp_path / "project")
    database = spec_path.parent / EXAMPLE.database
    shutil.copyfile(example_played.warehouses[step_label("deploy", "prod", T1)], database)
    failed_deploy_keeps_environment(spec_path, lambda spec: summarise(database, spec, "prod"), deployed=True)
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        schemas = {row[0] for row in connection.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()}
    assert not {s for s in schemas if s.endswith("__prod__next") or s.startswith("meshgen_backup")}, schemas
