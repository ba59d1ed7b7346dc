"""`meshgen import sqlmesh` on a small SQLMesh project (tests/fixtures/sqlmesh_shop).

The oracle is the project planned into dev by SQLMesh itself: the imported spec, deployed to dev,
must hold the same tables, row for row in both directions and with the same column types.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import run_process
from table_compare import differences

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parent / "fixtures" / "sqlmesh_shop"
TABLES = ("raw.raw_orders", "staging.stg_orders", "marts.daily_orders", "marts.order_status")


def _check(process: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    assert process.returncode == 0, f"{what} failed:\n{process.stdout}\n{process.stderr}"
    return process


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("import_sqlmesh")
    original = root / "original"
    shutil.copytree(FIXTURE, original)
    env = {"SQLMESH_SHOP_DUCKDB": str(original / "shop.duckdb")}
    sqlmesh = Path(sys.executable).parent / "sqlmesh"
    _check(subprocess.run([str(sqlmesh), "plan", "dev", "--auto-apply", "--no-prompts"], cwd=original,
                          env={**os.environ, **env}, capture_output=True, text=True), "sqlmesh plan of the original project")
    imported = root / "imported"
    result = _check(run_process("import", "sqlmesh", original, "--out", imported, env=env), "import")
    _check(run_process("deploy", imported / "meshgen.yaml", "--env", "dev"), "deploy of the import")
    return {"original": original, "imported": imported, "stdout": result.stdout,
            "spec": yaml.safe_load((imported / "meshgen.yaml").read_text())}


def test_the_imported_spec_builds_the_tables_sqlmesh_builds(shop):
    tables = {f"{t.replace('.', '__dev.', 1)}": (t.replace(".", "__dev.", 1), {}) for t in TABLES}
    assert differences(shop["original"] / "shop.duckdb", shop["imported"] / "warehouse.duckdb", tables) == []


def test_kinds_audits_and_metadata_map_onto_the_spec(shop):
    models = {m["name"]: m for m in shop["spec"]["models"]}
    assert {n: m["kind"] for n, m in models.items()} == {
        "raw.raw_orders": "seed", "staging.stg_orders": "view",
        "marts.daily_orders": "incremental_by_time_range", "marts.order_status": "incremental_by_unique_key",
    }
    assert (models["marts.daily_orders"]["time_column"], models["marts.daily_orders"]["start"]) == ("order_date", "2018-01-01")
    staging = models["staging.stg_orders"]
    assert (staging["owner"], staging["tags"]) == ("analytics@shop.example", ["orders"])
    columns = staging["contract"]["columns"]
    assert columns["order_id"] == {"type": "int", "description": "The order's id.", "constraints": ["not_null", "unique"]}
    assert columns["customer_id"]["constraints"] == ["not_null"]
    assert models["marts.daily_orders"]["contract"]["columns"]["orders"]["constraints"] == [{"range": [1, None]}]
    # @EACH was expanded by SQLMesh; the @start_ds/@end_ds filter is meshgen's own now.
    daily = (shop["imported"] / "sql" / "marts" / "daily_orders.sql").read_text()
    assert "returned_orders" in daily and "@" not in daily and "WHERE" not in daily


def test_the_report_names_what_was_not_carried_over(shop):
    report = (shop["imported"] / "meshgen-import-report.txt").read_text()
    assert report in shop["stdout"]
    assert "models/marts/order_status.sql:1: audit number_of_rows of marts.order_status" in report
    assert "models/marts/daily_orders.sql:1: the time-range filter of marts.daily_orders" in report
