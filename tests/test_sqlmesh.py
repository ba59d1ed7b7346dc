"""The generated SQLMesh project, run by real SQLMesh on DuckDB."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

duckdb = pytest.importorskip("duckdb")

import demo_data
from conftest import copy_spec, load_dict, local_prod, on_one_worker, spec_with, write_spec
from meshgen.build.pipeline import build, emit_all

SQLMESH = str(Path(sys.executable).with_name("sqlmesh"))


def sqlmesh(project: Path, *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([SQLMESH, "-p", str(project), *args], cwd=cwd, capture_output=True, text=True, env=env)


def create_dbt_stand_ins(connection, spec) -> None:
    """Empty tables where dbt would have built the models SQLMesh reads (every environment)."""
    analysis = spec.analysis
    for name in analysis.order:
        if analysis.engine(name) != "dbt" or not any(
            analysis.engine(d) == "sqlmesh" for d in analysis.downstreams.get(name, ())
        ):
            continue
        model = spec.model(name)
        columns = ", ".join(f"{c.name} {c.type}" for c in model.contract.columns)
        for env in spec.environments:
            schema = env.schema_for(model.schema)
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            connection.execute(f"CREATE OR REPLACE TABLE {schema}.{model.table} ({columns})")


@pytest.fixture(scope="module")
def planned_example(tmp_path_factory):
    root = tmp_path_factory.mktemp("sqlmesh-example")
    spec_path = copy_spec("example.yaml", root)
    local_prod(spec_path)
    result = build(spec_path)
    data = demo_data.generate()
    with duckdb.connect(str(root / "warehouse.duckdb")) as connection:
        demo_data.seed(connection, result.spec, data)
        create_dbt_stand_ins(connection, result.spec)
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # the DuckDB path must not depend on the cwd
    project = root / "transforms/sqlmesh"
    plan = sqlmesh(project, "--gateway", "prod", "plan", "prod", "--auto-apply", "--no-prompts", cwd=elsewhere)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert not list(elsewhere.rglob("*.duckdb")), "the DuckDB file followed the working directory"
    return root, project, data


def query(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as connection:
        return connection.execute(sql).fetchall()


pytestmark = [pytest.mark.integration, on_one_worker("sqlmesh-example")]


def test_plan_prod_builds_staging_from_the_raw_tables(planned_example):
    root, _, data = planned_example
    customers = query(root, "SELECT customer_id, full_name, segment FROM staging.stg_customers ORDER BY 1")
    assert len(customers) == len(data["raw.customers"])
    first = data["raw.customers"][0]
    assert customers[0] == (1, f"{first['first_name'].strip()} Doe", (first["segment"] or "retail").lower())
    settled = demo_data.settled_transactions(data)
    count, total = query(root, "SELECT COUNT(*), SUM(amount) FROM staging.stg_transactions")[0]
    assert count == len(settled)
    assert total == sum(t["amount"] for t in settled)


def test_fraud_alerts_match_a_python_reimplementation(planned_example):
    root, _, data = planned_example
    rows = query(root, "SELECT transaction_id, alert_reason, risk_score FROM risk.fraud_alerts")
    assert {r[0]: (r[1], r[2]) for r in rows} == demo_data.expected_fraud_alerts(data)


def test_large_cash_movements(planned_example):
    root, _, data = planned_example
    rows = query(root, "SELECT customer_id, activity_date, cash_total FROM compliance.large_cash_movements")
    assert {(r[0], r[1]): r[2] for r in rows} == demo_data.expected_large_cash(data)


def test_python_model_runs_the_user_entrypoint(planned_example):
    root, _, _ = planned_example
    flagged = [r[0] for r in query(root, "SELECT transaction_id FROM ml.spend_anomalies")]
    assert demo_data.OUTLIER_TRANSACTION_ID in flagged


def test_scd_type_2_and_seed(planned_example):
    root, _, data = planned_example
    columns = [r[0] for r in query(root, "DESCRIBE core.dim_customer_history")]
    assert columns[-2:] == ["valid_from", "valid_to"]
    assert query(root, "SELECT COUNT(*) FROM core.dim_customer_history")[0][0] == len(data["raw.customers"])
    assert query(root, "SELECT category FROM reference.merchant_categories WHERE mcc_code = '5411'") == [("groceries",)]


def test_sqlmesh_test_runs_the_spec_unit_tests_in_any_environment(planned_example, tmp_path):
    """A pull request's MESHGEN_ENVIRONMENT renames dbt's schemas; the fixtures name none."""
    _, project, _ = planned_example
    result = sqlmesh(project, "--gateway", "unit_test", "test", cwd=tmp_path, env={**os.environ, "MESHGEN_ENVIRONMENT": "ci_pr_7"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ran `3` Tests" in result.stdout + result.stderr


GATEWAYS = {
    "pg": {"type": "postgres", "host": {"env": "PGHOST"}, "port": {"env": "PGPORT"}, "user": "u", "password": {"env": "PGPASSWORD"}, "database": "d"},
    "sf": {"type": "snowflake", "account": "a", "user": "u", "password": {"env": "SF_PASSWORD"}, "warehouse": "w", "database": "d", "role": "r"},
    "bq": {"type": "bigquery", "project": "p", "location": "EU", "method": "oauth"},
    "db": {"type": "databricks", "host": "h", "http_path": "/sql", "token": {"env": "DATABRICKS_TOKEN"}, "catalog": "main"},
    "tr": {"type": "trino", "host": "h", "port": 443, "user": "u", "password": {"env": "TRINO_PASSWORD"}, "catalog": "hive"},
    "local": {"type": "duckdb", "path": "data/w.duckdb"},
}


def config_for(folder: Path, gateways: dict) -> Path:
    model = {"name": "s.a", "sql": "SELECT order_id FROM raw.orders", "engine": "sqlmesh"}
    environments = {name: {"gateway": name} for name in gateways}
    build(write_spec(folder, spec_with(model, gateways=gateways, environments=environments)))
    return folder / "transforms/sqlmesh/config.py"


# Stand-ins for the warehouse drivers this venv may lack (SQLMesh only imports them to validate a gateway).
DRIVER_STAND_INS = {
    "psycopg2": {"psycopg2/__init__.py": ""},
    "google.cloud.bigquery": {"google/cloud/bigquery/__init__.py": ""},  # google/ stays a namespace package
    "databricks.sql": {"databricks/__init__.py": "", "databricks/sql/__init__.py": ""},
    "trino": {"trino/__init__.py": ""},
}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


@pytest.fixture
def every_driver(tmp_path, monkeypatch):
    """Every warehouse driver importable: stand-ins for the missing ones, gone from sys.modules afterwards."""
    folder = tmp_path / "drivers"
    for module, files in DRIVER_STAND_INS.items():
        if _importable(module):
            continue
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
    monkeypatch.syspath_prepend(str(folder))
    yield
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(folder)):
            del sys.modules[name]


def load_config(path: Path):
    from sqlmesh.core.config import Config
    from sqlmesh.core.config.loader import load_config_from_paths

    return load_config_from_paths(Config, [path])


def test_config_maps_every_gateway_type(tmp_path, every_driver):
    pytest.importorskip("sqlmesh")
    text = config_for(tmp_path / "all", GATEWAYS).read_text()
    assert "env('PGPASSWORD')" in text and "env_int('PGPORT')" in text
    # SQLMesh's Snowflake config uses the Snowflake connector and its key libraries even to validate: check its text.
    assert "'sf': ('snowflake.connector', {'type': 'snowflake', 'account': 'a', 'user': 'u', 'password': env('SF_PASSWORD'), 'warehouse': 'w'" in text
    loadable = {name: gateway for name, gateway in GATEWAYS.items() if name != "sf"}
    config = load_config(config_for(tmp_path / "loadable", loadable))
    types = {name: gateway.connection.type_ for name, gateway in config.gateways.items()}
    assert types == {"pg": "postgres", "bq": "bigquery", "db": "databricks", "tr": "trino", "local": "duckdb", "unit_test": "duckdb"}
    assert config.gateways["unit_test"].variables == {"meshgen_env": "unit_test", "meshgen_dbt_suffix": ""}, "tests read dbt tables by prod's names"
    assert config.gateways["local"].connection.database == str((tmp_path / "loadable/data/w.duckdb").resolve())
    assert config.gateways["pg"].variables == {"meshgen_env": "pg", "meshgen_dbt_suffix": "__pg"}
    assert config.default_gateway == "pg", "without a dev environment, the first environment is the default"


def test_a_gateway_whose_driver_is_missing_is_left_out(tmp_path, monkeypatch):
    """SQLMesh builds an engine adapter, importing the driver, for every gateway: dev must not need prod's."""
    pytest.importorskip("sqlmesh")
    path = config_for(tmp_path, {"dev": GATEWAYS["local"], "prod": GATEWAYS["pg"]})
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # what an import of a module not installed finds
    assert set(load_config(path).gateways) == {"dev", "unit_test"}


# -- audits fail on bad data --------------------------------------------------

AUDITED_COLUMNS = {
    "id": {"type": "integer", "constraints": ["not_null", "unique"]},
    "tier": {"type": "varchar", "constraints": [{"accepted_values": ["gold", "silver"]}]},
    "score": {"type": "integer", "constraints": [{"range": [0, 100]}]},
    "amount": {"type": "double", "constraints": [{"check": "amount >= 0"}]},
}
GOOD_ROW = (1, "gold", 50, 10.0)
BAD_ROWS = {
    "not_null": [(None, "gold", 50, 1.0)],
    "unique_values": [(1, "gold", 50, 1.0), (1, "silver", 60, 2.0)],
    "accepted_values": [(1, "bronze", 50, 1.0)],
    "accepted_range": [(1, "gold", 101, 1.0)],
    "forall": [(1, "gold", 50, -5.0)],
}


@pytest.fixture(scope="module", params=["sql", "python"])
def audited_project(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"audits-{request.param}")
    if request.param == "sql":
        model = {"name": "s.items", "sql": "SELECT id, tier, score, amount FROM raw.items"}
        files = {}
    else:
        model = {"name": "s.items", "python": {"entrypoint": "passthrough:run"}, "depends_on": ["raw.items"]}
        files = {"passthrough.py": "def run(inputs):\n    return inputs.table('raw.items')\n"}
    model["contract"] = {"columns": AUDITED_COLUMNS}
    data = {
        "meshgen": 1,
        "project": {"name": "audits"},
        "engines": {"default": "sqlmesh"},
        "sources": [{"name": "raw.items", "columns": {k: v["type"] for k, v in AUDITED_COLUMNS.items()}}],
        "models": [model],
    }
    spec_path = write_spec(root, data, files)
    build(spec_path)
    return root


def plan_with_rows(root: Path, rows: list[tuple], cwd: Path) -> subprocess.CompletedProcess:
    database = root / "warehouse.duckdb"
    database.unlink(missing_ok=True)
    with duckdb.connect(str(database)) as connection:
        connection.execute("CREATE SCHEMA raw")
        connection.execute("CREATE TABLE raw.items (id INTEGER, tier VARCHAR, score INTEGER, amount DOUBLE)")
        connection.executemany("INSERT INTO raw.items VALUES (?, ?, ?, ?)", rows)
    return sqlmesh(root / "transforms/sqlmesh", "--gateway", "prod", "plan", "prod", "--auto-apply", "--no-prompts", cwd=cwd)


def test_audits_pass_on_good_data(audited_project, tmp_path):
    result = plan_with_rows(audited_project, [GOOD_ROW, (2, "silver", 0, 0.0)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("audit", sorted(BAD_ROWS))
def test_each_audit_fails_on_bad_data(audited_project, audit, tmp_path):
    result = plan_with_rows(audited_project, [GOOD_ROW[:0] + (7, "silver", 1, 1.0)] + BAD_ROWS[audit], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"'{audit}'" in output or f"{audit}" in output.lower()
    assert "audit" in output.lower()


# -- hostile text -----------------------------------------------------------

HOSTILE_PIECES = list("aZ 09'\"\\\n\t*/{}%#@$;:,.()[]-é漢🙂") + ["'''", '"""', "*/", "{{", "}}", "@{x}", "--", "\u2028"]
HOSTILE = st.lists(st.sampled_from(HOSTILE_PIECES), min_size=1, max_size=30).map("".join).filter(lambda s: s.strip())


def _model_files(tmp_path: Path, description: str, owner: str, column_description: str) -> dict[str, str]:
    sql_model = {
        "name": "s.hostile",
        "sql": "SELECT order_id FROM raw.orders",
        "engine": "sqlmesh",
        "description": description,
        "owner": owner,
        "contract": {"columns": {"order_id": {"type": "integer", "description": column_description}}},
    }
    python_model = dict(sql_model, name="s.hostile_py", python={"entrypoint": "pipe:run"}, depends_on=["raw.orders"])
    del python_model["sql"]
    spec = load_dict(tmp_path, spec_with(sql_model, python_model), files={"pipe.py": "def run(inputs):\n    return None\n"})
    return {f.path: f.text for f in emit_all(spec)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=HOSTILE, owner=HOSTILE, column_description=HOSTILE)
def test_hostile_text_round_trips_through_sqlmesh(tmp_path_factory, description, owner, column_description):
    pytest.importorskip("sqlmesh")
    from sqlmesh.core.dialect import parse
    from sqlmesh.core.model import load_sql_based_model

    files = _model_files(tmp_path_factory.mktemp("hostile"), description, owner, column_description)
    sql_text = files["transforms/sqlmesh/models/s/hostile.sql"]
    model = load_sql_based_model(parse(sql_text, default_dialect="duckdb"), path=Path("hostile.sql"), dialect="duckdb")
    assert model.description == description
    assert model.owner == owner
    assert model.column_descriptions == {"order_id": column_description}

    python_text = files["transforms/sqlmesh/models/s/hostile_py.py"]
    decorator = next(
        node for node in ast.walk(ast.parse(python_text)) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "model"
    )
    keywords = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords if k.arg in ("description", "owner", "column_descriptions")}
    assert keywords == {"description": description, "owner": owner, "column_descriptions": {"order_id": column_description}}
