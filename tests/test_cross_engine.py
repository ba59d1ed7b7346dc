"""Real SQLMesh and real dbt on one DuckDB file, handing tables to each other, in prod and in dev.

Prod runs on one data set, then the raw tables are replaced and dev runs on
another: every cross-engine read must come from its own environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

duckdb = pytest.importorskip("duckdb")

import demo_data
from conftest import copy_spec, local_prod, on_one_worker
from meshgen.build.pipeline import load

pytestmark = [pytest.mark.integration, on_one_worker("cross-engine")]

PROD_DATA = {"seed": 42, "label": "prod", "customers_count": 40}
DEV_DATA = {"seed": 7, "label": "dev", "customers_count": 25}


def meshgen_deploy(spec_path: Path, env: str) -> str:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = subprocess.run(
        [sys.executable, "-m", "meshgen", "deploy", str(spec_path), "--env", env],
        cwd=spec_path.parent.parent,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def both_environments(tmp_path_factory):
    root = tmp_path_factory.mktemp("cross-engine")
    spec_path = copy_spec("example.yaml", root / "platform")
    local_prod(spec_path)
    spec = load(spec_path)
    database = root / "platform/warehouse.duckdb"
    runs = {}
    for env, params in (("prod", PROD_DATA), ("dev", DEV_DATA)):
        data = demo_data.generate(**params)
        with duckdb.connect(str(database)) as connection:
            demo_data.seed(connection, spec, data)
        runs[env] = (meshgen_deploy(spec_path, env), data)
    return database, runs


def rows(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def schema(name: str, env: str) -> str:
    return name if env == "prod" else f"{name}__{env}"


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_stages_alternate_engines(both_environments, env):
    _, runs = both_environments
    output, _ = runs[env]
    assert "stage 1 · sqlmesh" in output and "stage 2 · dbt" in output
    assert "stage 3 · sqlmesh" in output and "stage 4 · dbt" in output


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_dbt_builds_on_sqlmesh_and_sqlmesh_on_dbt_within_the_environment(both_environments, env):
    database, runs = both_environments
    data = runs[env][1]
    customers = len(data["raw.customers"])
    label = data["raw.customers"][0]["first_name"].strip()
    core, ml, marts = schema("core", env), schema("ml", env), schema("marts", env)
    # dbt read SQLMesh's staging models of this environment ...
    names = rows(database, f"SELECT full_name FROM {core}.customer_360 WHERE customer_id = 1")
    assert names == [(f"{label} Doe",)]
    assert rows(database, f"SELECT COUNT(*) FROM {core}.customer_360") == [(customers,)]
    # ... SQLMesh's Python model read dbt's customer_360 of this environment ...
    assert rows(database, f"SELECT COUNT(*) FROM {ml}.churn_scores") == [(customers,)]
    # ... and dbt's dashboard read SQLMesh's churn scores of this environment.
    assert rows(database, f"SELECT COUNT(*) FROM {marts}.customer_dashboard") == [(customers,)]
    joined = rows(
        database,
        f"SELECT COUNT(*) FROM {marts}.customer_dashboard AS d JOIN {ml}.churn_scores AS s USING (customer_id) "
        "WHERE d.churn_probability = s.churn_probability",
    )
    assert joined == [(customers,)]


def test_sqlmesh_models_match_a_python_reimplementation(both_environments):
    database, runs = both_environments
    alerts = rows(database, "SELECT transaction_id, alert_reason, risk_score FROM risk.fraud_alerts")
    assert {r[0]: (r[1], r[2]) for r in alerts} == demo_data.expected_fraud_alerts(runs["prod"][1])


def test_unchanged_sqlmesh_models_share_prod_tables_in_dev(both_environments):
    """SQLMesh's virtual layer: a model unchanged since prod points dev at prod's physical table.

    Only models whose inputs differ per environment (the ones reading dbt tables) get
    tables of their own, which is what keeps every cross-engine read inside its environment.
    """
    database, _ = both_environments
    assert rows(database, "SELECT * FROM risk__dev.fraud_alerts EXCEPT SELECT * FROM risk.fraud_alerts") == []
    views = rows(database, "SELECT schema_name, sql FROM duckdb_views() WHERE view_name = 'churn_scores'")
    assert len({sql.split(" FROM ")[-1] for _, sql in views}) == 2, "dev and prod churn scores live in different tables"


def test_dev_did_not_touch_prod(both_environments):
    database, runs = both_environments
    assert rows(database, "SELECT COUNT(*) FROM core.customer_360") == [(PROD_DATA["customers_count"],)]
    assert rows(database, "SELECT MIN(full_name) FROM core.customer_360") == [("Prod1 Doe",)]
    assert rows(database, "SELECT COUNT(*) FROM ml.churn_scores") == [(PROD_DATA["customers_count"],)]
