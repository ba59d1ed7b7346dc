"""Each target, fragment by fragment, in the style of sqlglot's `validate_all`.

One spec fragment (a model of a kind, a constraint), and what SQLMesh and dbt
must say about it side by side. Metadata must reach both engines alike.
"""

from __future__ import annotations

import pytest
import yaml

from conftest import error_text, load_dict, spec_with
from meshgen import targets
from meshgen.targets import dbt as dbt_target
from meshgen.targets import sqlmesh as sqlmesh_target


def both(tmp_path, model: dict, **top) -> tuple[str, dict, str]:
    """(SQLMesh model file, dbt properties of the model, dbt model file) for one model placed once on each engine."""
    name = model["name"]
    schema, table = name.split(".")
    on_sqlmesh = load_dict(tmp_path / "sqlmesh", spec_with({**model, "engine": "sqlmesh"}, **top))
    sqlmesh_files = {f.path: f.text for f in sqlmesh_target.emit(on_sqlmesh)}
    sqlmesh_text = next(t for p, t in sqlmesh_files.items() if p.startswith(f"transforms/sqlmesh/models/{schema}/{table}."))
    on_dbt = load_dict(tmp_path / "dbt", spec_with({**model, "engine": "dbt"}, **top))
    dbt_files = {f.path: f.text for f in dbt_target.emit(on_dbt)}
    resource = {"seed": "seeds", "scd_type_2": "snapshots"}.get(model.get("kind", "full"), "models")
    properties = yaml.safe_load(dbt_files[f"transforms/dbt/{resource}/{schema}/_{schema}__{resource}.yml"])[resource]
    node = next(n for n in properties if n["name"] == table)
    body = next((t for p, t in dbt_files.items() if p.startswith(f"transforms/dbt/{resource}/{schema}/{table}.")), "")
    return sqlmesh_text, node, body


SELECT = "SELECT order_id, customer_id, amount FROM raw.orders"


@pytest.mark.parametrize(
    "fragment, sqlmesh_says, dbt_config, dbt_body_says",
    [
        ({}, "kind FULL", {"materialized": "table"}, "config(materialized='table')"),
        ({"kind": "view"}, "kind VIEW", {"materialized": "view"}, "config(materialized='view')"),
        (
            {"kind": "incremental_by_unique_key", "unique_key": "order_id"},
            "kind INCREMENTAL_BY_UNIQUE_KEY (unique_key order_id)",
            {},
            "incremental_strategy='delete+insert',\n        unique_key='order_id'",
        ),
        (
            {"kind": "incremental_by_time_range", "time_column": "ordered_at", "start": "2024-01-01", "lookback": 2,
             "sql": "SELECT order_id, CAST(order_id AS TIMESTAMP) AS ordered_at FROM raw.orders"},
            "kind INCREMENTAL_BY_TIME_RANGE (time_column ordered_at, lookback 2)",
            {},
            "'column': 'ordered_at', 'type': 'timestamp', 'unit': 'day', 'lookback': 2, 'start': '2024-01-01'",
        ),
        (
            {"kind": "scd_type_2", "unique_key": "order_id", "sql": "SELECT order_id, CAST(order_id AS TIMESTAMP) AS updated_at FROM raw.orders"},
            "kind SCD_TYPE_2_BY_TIME (unique_key order_id, updated_at_name updated_at, updated_at_as_valid_from TRUE)",
            {},
            "strategy='timestamp',\n        unique_key='order_id',\n        updated_at='updated_at'",
        ),
    ],
    ids=["full", "view", "unique_key", "time_range", "scd_type_2"],
)
def test_every_kind(tmp_path, fragment, sqlmesh_says, dbt_config, dbt_body_says):
    sqlmesh_text, node, body = both(tmp_path, {"name": "shop.orders", "sql": SELECT, **fragment})
    assert sqlmesh_says in sqlmesh_text
    assert dbt_body_says in body
    for key, value in dbt_config.items():
        assert key in body and repr(value) in body


def test_a_seed(tmp_path):
    files = {"codes.csv": "code,label\n5411,grocery\n"}
    model = {"name": "shop.codes", "kind": "seed", "seed_file": "codes.csv"}
    spec = load_dict(tmp_path / "s", spec_with({**model, "engine": "sqlmesh"}), files)
    text = next(f.text for f in sqlmesh_target.emit(spec) if f.path.endswith("codes.sql"))
    assert "kind SEED (path '../../../../codes.csv'" in text and "code BIGINT" in text
    spec = load_dict(tmp_path / "d", spec_with({**model, "engine": "dbt"}), files)
    seeds = yaml.safe_load(next(f.text for f in dbt_target.emit(spec) if f.path.endswith("_shop__seeds.yml")))["seeds"]
    assert seeds[0]["config"]["column_types"] == {"code": "bigint", "label": "varchar"}


CONTRACT = {"columns": {"order_id": "integer", "customer_id": "integer", "amount": "double"}}


@pytest.mark.parametrize(
    "constraint, audit, data_test",
    [
        ("not_null", "not_null(columns := (amount))", "not_null"),
        ("unique", "unique_values(columns := (amount))", "unique"),
        ("primary_key", "not_null(columns := (amount)),\n    unique_values(columns := (amount))", "not_null"),
        ({"accepted_values": [1, 2]}, "accepted_values(column := amount, is_in := (1, 2))", {"accepted_values": {"arguments": {"values": ["1", "2"], "quote": False}}}),
        ({"range": [0, 100]}, "accepted_range(column := amount, min_v := 0, max_v := 100)", {"accepted_range": {"arguments": {"min_value": 0, "max_value": 100}}}),
        ({"range": [0, None]}, "accepted_range(column := amount, min_v := 0)", {"accepted_range": {"arguments": {"min_value": 0}}}),
        ({"check": "amount >= 0"}, "forall(criteria := (amount >= 0))", {"expression_is_true": {"arguments": {"expression": "amount >= 0"}}}),
    ],
    ids=["not_null", "unique", "primary_key", "accepted_values", "range", "open_range", "check"],
)
def test_every_constraint(tmp_path, constraint, audit, data_test):
    contract = {"columns": {**CONTRACT["columns"], "amount": {"type": "double", "constraints": [constraint]}}}
    sqlmesh_text, node, _ = both(tmp_path, {"name": "shop.orders", "sql": SELECT, "contract": contract})
    assert audit in sqlmesh_text
    amount = next(c for c in node["columns"] if c["name"] == "amount")
    assert data_test in amount["data_tests"]


def test_metadata_reaches_both_engines_alike(tmp_path):
    """Owner and description fall back to the contract's, then the project's (owner), on both engines."""
    contracts = {
        "orders": {
            "owner": "finance@example.com",
            "description": "Orders as finance reports them.",
            "columns": {"order_id": {"type": "integer", "description": "The order."}, "customer_id": "integer", "amount": "double"},
        }
    }
    model = {"name": "shop.orders", "sql": SELECT, "contract": "orders", "tags": ["finance", "daily"]}
    sqlmesh_text, node, _ = both(tmp_path, model, contracts=contracts)
    assert "owner 'finance@example.com'" in sqlmesh_text and node["config"]["meta"]["owner"] == "finance@example.com"
    assert "description 'Orders as finance reports them.'" in sqlmesh_text and node["description"] == "Orders as finance reports them."
    assert "tags ('finance', 'daily')" in sqlmesh_text and node["config"]["tags"] == ["finance", "daily"]
    assert "order_id = 'The order.'" in sqlmesh_text
    assert next(c for c in node["columns"] if c["name"] == "order_id")["description"] == "The order."
    # Without the contract's: the project's owner, on both.
    project = {"name": "shop", "owner": "platform@example.com"}
    sqlmesh_text, node, _ = both(tmp_path / "project", {"name": "shop.orders", "sql": SELECT}, project=project)
    assert "owner 'platform@example.com'" in sqlmesh_text and node["config"]["meta"]["owner"] == "platform@example.com"


def test_a_template_that_fails_is_named_with_its_line():
    from meshgen.targets.render import TemplateError, render

    with pytest.raises(TemplateError, match=r"template sqlmesh/model\.sql\.j2:2: .*name"):
        render("sqlmesh/model.sql.j2", model=None)
    with pytest.raises(TemplateError, match=r"template sqlmesh/config\.py\.j2:\d+: 'project' is undefined"):
        render("sqlmesh/config.py.j2")


def test_contract_quality_rules_run_on_the_warehouse_and_count_the_failing_rows(tmp_path):
    """The ODCS quality SQL, quoting a column named by a reserved word, run on DuckDB over known rows."""
    duckdb = pytest.importorskip("duckdb")
    from meshgen.targets import contracts as contracts_target

    columns = {"order": {"type": "integer", "constraints": [{"range": [0, 10]}, {"check": '"order" <> 5'}]}}
    spec = load_dict(tmp_path, spec_with({"name": "shop.lines", "sql": 'SELECT order_id AS "order" FROM raw.orders', "contract": {"columns": columns}}))
    document = yaml.safe_load(next(f.text for f in contracts_target.emit(spec) if f.path.endswith("lines.odcs.yaml")))
    rules = document["schema"][0]["properties"][0]["quality"]
    connection = duckdb.connect()
    connection.execute('CREATE SCHEMA shop; CREATE TABLE shop.lines ("order" INTEGER)')
    connection.execute('INSERT INTO shop.lines VALUES (-1), (5), (5), (7), (11), (NULL)')
    failing = [connection.execute(rule["query"]).fetchone()[0] for rule in rules]
    assert failing == [2, 2], [rule["query"] for rule in rules]  # -1 and 11 out of range; the two fives fail the check


@pytest.mark.parametrize("delay, airflow_says, dagster_says", [
    ("30s", "timedelta(seconds=30)", "delay=30)"),
    ("90s", "timedelta(seconds=90)", "delay=90)"),
    ("2m", "timedelta(minutes=2)", "delay=120)"),
    ("1h", "timedelta(minutes=60)", "delay=3600)"),
])
def test_a_retry_delay_reaches_both_orchestrators(tmp_path, delay, airflow_says, dagster_says):
    model = {"name": "marts.orders", "sql": SELECT}
    spec = load_dict(tmp_path, spec_with(model, orchestration={"retries": 1, "retry_delay": delay}))
    files = {f.path: f.text for f in targets.target("orchestration").emit(spec)}
    airflow = next(t for p, t in files.items() if p.endswith("_dag.py"))
    dagster = next(t for p, t in files.items() if p.endswith("definitions.py"))
    assert f'"retry_delay": {airflow_says},' in airflow
    assert f"RetryPolicy(max_retries=1, {dagster_says}" in dagster


def test_seconds_are_for_the_retry_delay_alone(tmp_path):
    model = {"name": "marts.orders", "sql": SELECT}
    text = error_text(tmp_path, spec_with(model, orchestration={"timeout": "30s"}))
    assert "meshgen.yaml:" in text and "must be a number followed by m, h or d" in text
