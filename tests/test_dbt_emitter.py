"""The dbt target on small specs: wiring, schema YAML, profiles, kinds, escaping, and real `dbt parse`."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import jinja2
import pytest
import sqlglot
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from conftest import copy_spec, load_dict, run_cli, spec_with
from meshgen.targets import dbt as dbt_emitter
from meshgen.errors import MeshgenError
from meshgen.build.pipeline import load

DBT = str(Path(sys.executable).with_name("dbt"))
ROOT = "transforms/dbt"


def emit(spec) -> dict[str, str]:
    return {f.path.removeprefix(ROOT + "/"): f.text for f in dbt_emitter.emit(spec)}


def dbt_render(text: str, **context) -> str:
    """Render like dbt does (its own Jinja environment), with stand-ins for what the file calls."""
    pytest.importorskip("dbt")
    from dbt.clients.jinja import get_rendered

    return get_rendered(text, context)


def sql_context(**extra) -> dict:
    return {
        "ref": lambda table: f"dev.{table}",
        "source": lambda source, table: f"{source}.{table}",
        "config": lambda **kwargs: "",
        "is_incremental": lambda: False,
        "run_started_at": datetime(2024, 6, 1, 12, 30),
        "this": "dev.this_model",
        **extra,
    }


def yaml_entry(text: str, section: str, name: str) -> dict:
    return next(e for e in yaml.safe_load(text)[section] if e["name"] == name)


# A source, a SQLMesh model (pinned) and dbt models reading both.
def wiring_spec(**top):
    return spec_with(
        {"name": "staging.stg_orders", "engine": "sqlmesh", "sql": "SELECT order_id, customer_id, amount FROM raw.orders"},
        {
            "name": "core.orders",
            "sql": "SELECT o.order_id, o.amount FROM raw.orders AS o",
        },
        {
            "name": "marts.summary",
            "kind": "view",
            "sql": (
                "WITH orders AS (SELECT * FROM core.orders) "
                "SELECT s.customer_id, 'raw.orders' AS label, COUNT(*) AS n "
                "FROM orders JOIN staging.stg_orders AS s ON s.order_id = orders.order_id "
                "JOIN raw.orders ON raw.orders.order_id = s.order_id "
                "GROUP BY s.customer_id"
            ),
        },
        {"name": "finance.reader", "engine": "sqlmesh", "sql": "SELECT order_id FROM core.orders"},
        **top,
    )


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    folder = tmp_path_factory.mktemp("example")
    spec_path = copy_spec("example.yaml", folder)
    spec = load(spec_path, "example.yaml")
    return spec, emit(spec)


# -- wiring ----------------------------------------------------------------------


def test_only_dbt_models_become_nodes(example):
    spec, files = example
    dbt_models = {n for n in spec.analysis.order if spec.analysis.engine(n) == "dbt"}
    node_files = {p for p in files if p.startswith(("models/", "seeds/", "snapshots/")) and not p.rsplit("/", 1)[1].startswith("_")}
    expected = set()
    for name in dbt_models:
        model = spec.model(name)
        folder = {"seed": "seeds", "scd_type_2": "snapshots"}.get(model.kind, "models")
        suffix = ".csv" if model.kind == "seed" else ".py" if model.language == "python" else ".sql"
        expected.add(f"{folder}/{model.schema}/{model.table}{suffix}")
    assert node_files == expected
    assert "models/core/customer_360.sql" in node_files  # a dbt model
    assert not any("stg_customers" in p for p in node_files)  # a SQLMesh model


def test_refs_and_sources_are_rewritten_in_the_ast(tmp_path: Path):
    spec = load_dict(tmp_path, wiring_spec())
    files = emit(spec)
    summary = files["models/marts/summary.sql"]
    assert "WITH orders AS (" in summary  # a CTE named like a table is left alone
    assert "FROM {{ ref('orders') }}" in summary
    assert "JOIN {{ source('sqlmesh_staging', 'stg_orders') }} AS s" in summary
    assert "JOIN {{ source('raw', 'orders') }}" in summary
    assert "'raw.orders' AS label" in summary  # a string literal is not a table reference
    assert "{{ source('raw', 'orders') }} AS o" in files["models/core/orders.sql"]
    # The rendered SQL is valid and reads what dbt resolves.
    rendered = dbt_render(summary, **sql_context())
    tables = {t.sql() for t in sqlglot.parse_one(rendered, dialect="duckdb").find_all(exp.Table)}
    assert tables >= {"dev.orders", "sqlmesh_staging.stg_orders AS s", "raw.orders"}


def test_emitting_never_parses_sql_again(tmp_path: Path, sql_parses):
    spec = load_dict(tmp_path, wiring_spec())
    before = len(sql_parses)
    emit(spec)
    emit(spec)
    assert len(sql_parses) == before


def test_each_warehouse_gets_sql_in_its_own_dialect(tmp_path: Path):
    data = spec_with(
        {"name": "core.years", "sql": "SELECT STRFTIME(CAST(order_id AS TIMESTAMP), '%Y') AS y, amount FROM raw.orders"},
        gateways={"pg": {"type": "postgres", "host": "db", "user": "u", "database": "d"}, "local": {"type": "duckdb"}},
        environments={"dev": {"gateway": "pg"}, "prod": {"gateway": "local"}},
    )
    text = emit(load_dict(tmp_path, data))["models/core/years.sql"]
    duckdb, postgres = _target_branches(text, "duckdb")
    assert "STRFTIME(" in duckdb and "TO_CHAR(" not in duckdb
    assert "TO_CHAR(" in postgres and "STRFTIME" not in postgres  # dev's dialect is the default branch


def _target_branches(text: str, kind: str) -> tuple[str, str]:
    """The SQL of a model file's `target.type == kind` branch, and of its default branch."""
    head, _, rest = text.partition("{% if target.type == '" + kind + "' %}")
    assert rest, text
    branch, _, rest = rest.partition("{% else %}")
    default, _, tail = rest.partition("{% endif %}")
    assert tail.strip() == "", tail
    return branch, default


def test_one_sql_text_where_the_warehouses_agree(tmp_path: Path):
    data = spec_with(
        {"name": "core.totals", "sql": "SELECT order_id, amount * 2 AS doubled FROM raw.orders"},
        gateways={"pg": {"type": "postgres", "host": "db", "user": "u", "database": "d"}, "local": {"type": "duckdb"}},
        environments={"dev": {"gateway": "local"}, "prod": {"gateway": "pg"}},
    )
    assert "target.type" not in emit(load_dict(tmp_path, data))["models/core/totals.sql"]


def test_duplicate_table_names_are_refused(tmp_path: Path):
    data = spec_with(
        {"name": "core.orders", "sql": "SELECT order_id FROM raw.orders"},
        {"name": "marts.orders", "sql": "SELECT order_id FROM core.orders"},
    )
    with pytest.raises(MeshgenError) as error:
        emit(load_dict(tmp_path, data))
    assert "'core.orders' and 'marts.orders'" in error.value.render()


def test_one_schema_rule_for_models_and_sqlmesh_sources(tmp_path: Path):
    files = emit(load_dict(tmp_path, wiring_spec()))
    project = yaml.safe_load(files["dbt_project.yml"])
    assert project["models"]["shop"] == {"core": {"+schema": "core"}, "marts": {"+schema": "marts"}}
    macro = files["macros/generate_schema_name.sql"]
    source = yaml_entry(files["models/sources/_sqlmesh_staging__sources.yml"], "sources", "sqlmesh_staging")
    cases = [("prod", "", "core"), ("dev", "", "core__dev"), ("ci", "", "core__ci"), ("ci", "ci_pr_7", "core__ci_pr_7"), ("prod", "x", "core")]
    for target, renamed, expected in cases:
        context = {
            "target": {"name": target, "schema": "main"},
            "env_var": lambda name, default=None: {"MESHGEN_ENVIRONMENT": renamed}.get(name, default),
            "var": lambda name, default=None: default,
        }
        macro_module = jinja2.Environment().from_string(macro + "{{ generate_schema_name('core', none) }}")
        assert macro_module.render(**context).strip() == expected
        assert dbt_render(source["schema"], **context) == expected.replace("core", "staging")
        # During a deploy dbt reads SQLMesh's staging environment, which the deploy names.
        staging = {"MESHGEN_ENVIRONMENT": renamed, "MESHGEN_SQLMESH_ENVIRONMENT": expected.replace("core", "x") + "__next"}
        staged = {**context, "env_var": lambda name, default=None, values=staging: values.get(name, default)}
        assert dbt_render(source["schema"], **staged) == "staging__" + expected.replace("core", "x") + "__next"
    assert source["config"]["meta"] == {"produced_by": "sqlmesh"}
    assert [c["name"] for c in source["tables"][0]["columns"]] == ["order_id", "customer_id", "amount"]


def test_models_read_by_sqlmesh_are_public(tmp_path: Path):
    files = emit(load_dict(tmp_path, wiring_spec()))
    orders = yaml_entry(files["models/core/_core__models.yml"], "models", "orders")
    summary = yaml_entry(files["models/marts/_marts__models.yml"], "models", "summary")
    assert orders["config"]["access"] == "public"
    assert "access" not in summary.get("config", {})


# -- schema YAML -----------------------------------------------------------------


def test_contract_columns_constraints_and_new_test_syntax(example):
    _, files = example
    model = yaml_entry(files["models/core/_core__models.yml"], "models", "customer_360")
    config = model["config"]
    assert config["contract"] == {"enforced": True}
    assert config["access"] == "public"  # read by SQLMesh's churn scores and profitability
    assert config["group"] == "customer"
    assert config["meta"]["owner"] == "customer-analytics@acme.example"
    assert config["tags"] == ["core"]
    columns = {c["name"]: c for c in model["columns"]}
    assert columns["customer_id"]["data_type"] == "int"  # a spelling DuckDB (dev) and PostgreSQL (prod) both read
    assert columns["customer_id"]["constraints"] == [{"type": "primary_key"}]
    assert columns["customer_id"]["data_tests"] == ["not_null", "unique"]
    assert columns["total_balance"]["data_type"] == "decimal(18,2)"
    assert {"accepted_values": {"arguments": {"values": ["retail", "premier", "private"]}}} in columns["segment"]["data_tests"]
    assert {"accepted_range": {"arguments": {"min_value": 1, "max_value": 5}}} in columns["avg_satisfaction"]["data_tests"]
    spend = yaml_entry(files["models/core/_core__models.yml"], "models", "daily_customer_spend")
    assert spend["constraints"] == [{"type": "check", "expression": "transaction_count > 0"}]
    count = next(c for c in spend["columns"] if c["name"] == "transaction_count")
    assert {"expression_is_true": {"arguments": {"expression": "transaction_count > 0"}}} in count["data_tests"]
    groups = {g["name"]: g["owner"] for g in yaml.safe_load(files["models/_groups.yml"])["groups"]}
    assert groups["customer"] == {"email": "customer-analytics@acme.example"}
    assert "tests/generic/accepted_range.sql" in files and "tests/generic/expression_is_true.sql" in files


def test_bare_decimal_gets_precision_and_views_get_no_constraints(tmp_path: Path):
    data = spec_with(
        {
            "name": "core.amounts",
            "kind": "view",
            "contract": {"columns": {"amount": {"type": "decimal", "constraints": ["not_null"]}}},
            "sql": "SELECT CAST(amount AS DECIMAL) AS amount FROM raw.orders",
        }
    )
    model = yaml_entry(emit(load_dict(tmp_path, data))["models/core/_core__models.yml"], "models", "amounts")
    column = model["columns"][0]
    assert column["data_type"] == "decimal(18,3)"  # what DuckDB makes of a bare DECIMAL
    assert "constraints" not in column and column["data_tests"] == ["not_null"]


def test_accepted_values_that_need_sql_quoting(tmp_path: Path):
    data = spec_with(
        {
            "name": "core.flags",
            "contract": {"columns": {"label": {"type": "varchar", "constraints": [{"accepted_values": ["it's", "plain"]}]}, "n": {"type": "integer", "constraints": [{"accepted_values": [1, 2]}]}}},
            "sql": "SELECT 'plain' AS label, CAST(order_id AS INTEGER) AS n FROM raw.orders",
        }
    )
    model = yaml_entry(emit(load_dict(tmp_path, data))["models/core/_core__models.yml"], "models", "flags")
    tests = {c["name"]: c["data_tests"][0]["accepted_values"]["arguments"] for c in model["columns"]}
    assert tests["label"] == {"values": ["'it''s'", "'plain'"], "quote": False}
    assert tests["n"] == {"values": ["1", "2"], "quote": False}


def test_unit_tests_mock_every_parent(example):
    _, files = example
    test = yaml_entry(files["models/core/_core__models.yml"], "unit_tests", "aggregates_products_spend_and_tickets")
    assert test["model"] == "customer_360"
    inputs = [g["input"] for g in test["given"]]
    assert inputs == [
        "source('sqlmesh_staging', 'stg_customers')",
        "source('sqlmesh_staging', 'stg_accounts')",
        "source('sqlmesh_staging', 'stg_transactions')",
        "source('sqlmesh_staging', 'stg_support_tickets')",
    ]
    assert test["expect"]["rows"][0]["tenure_days"] == 90


def test_a_parent_without_rows_is_mocked_empty(tmp_path: Path):
    data = spec_with(
        {"name": "core.a", "sql": "SELECT order_id FROM raw.orders"},
        {
            "name": "core.b",
            "sql": "SELECT a.order_id FROM core.a AS a JOIN raw.orders AS o ON o.order_id = a.order_id",
            "tests": [{"name": "joins", "given": {"core.a": [{"order_id": 1}]}, "expect": []}],
        },
    )
    test = yaml.safe_load(emit(load_dict(tmp_path, data))["models/core/_core__models.yml"])["unit_tests"][0]
    assert test["given"] == [{"input": "ref('a')", "rows": [{"order_id": 1}]}, {"input": "source('raw', 'orders')", "rows": []}]


# -- profiles --------------------------------------------------------------------


def test_profiles_have_a_target_per_environment(example):
    spec, files = example
    profile = yaml.safe_load(files["profiles.yml"])["acme_analytics"]
    assert profile["target"] == "dev"
    outputs = profile["outputs"]
    assert list(outputs) == ["dev", "ci", "prod"]
    relative = spec.path_from(ROOT, "warehouse.duckdb")
    assert outputs["dev"] == {"type": "duckdb", "path": "{{ flags.PROFILES_DIR }}/" + relative, "schema": "main", "threads": 4}
    assert outputs["prod"] == {
        "type": "postgres",
        "host": "{{ env_var('ACME_PG_HOST') }}",
        "port": "{{ env_var('ACME_PG_PORT') | as_number }}",
        "user": "{{ env_var('ACME_PG_USER') }}",
        "password": "{{ env_var('ACME_PG_PASSWORD') }}",
        "dbname": "analytics",
        "schema": "public",
        "threads": 8,
    }
    project = yaml.safe_load(files["dbt_project.yml"])
    assert project["name"] == project["profile"] == "acme_analytics"


@pytest.mark.parametrize(
    "gateway, expected",
    [
        ({"type": "snowflake", "account": "acme", "user": {"env": "SF_USER"}, "password": {"env": "SF_PW"}, "database": "db", "warehouse": "wh"},
         {"type": "snowflake", "account": "acme", "user": "{{ env_var('SF_USER') }}", "password": "{{ env_var('SF_PW') }}", "warehouse": "wh", "database": "db", "schema": "public"}),
        ({"type": "bigquery", "project": "p", "location": "EU"},
         {"type": "bigquery", "method": "oauth", "project": "p", "location": "EU", "dataset": "shop"}),
        ({"type": "databricks", "host": "h", "http_path": "/sql", "token": {"env": "DBX"}},
         {"type": "databricks", "host": "h", "http_path": "/sql", "token": "{{ env_var('DBX') }}", "schema": "default"}),
        ({"type": "trino", "host": "h", "user": "u", "catalog": "c", "port": {"env": "TRINO_PORT"}},
         {"type": "trino", "host": "h", "port": "{{ env_var('TRINO_PORT') | as_number }}", "user": "u", "database": "c", "http_scheme": "https", "method": "none", "schema": "default"}),
    ],
)
def test_profile_keys_per_adapter(tmp_path: Path, gateway: dict, expected: dict):
    data = spec_with(
        {"name": "core.a", "sql": "SELECT order_id FROM raw.orders"},
        gateways={"wh": gateway},
        environments={"prod": {"gateway": "wh", "dbt": {"threads": 3}}},
    )
    profile = yaml.safe_load(emit(load_dict(tmp_path, data))["profiles.yml"])["shop"]
    assert profile["target"] == "prod"
    assert profile["outputs"]["prod"] == {**expected, "threads": 3}


# -- kinds ---------------------------------------------------------------------------


def test_materializations_by_kind(tmp_path: Path):
    data = spec_with(
        {"name": "core.full", "sql": "SELECT order_id FROM raw.orders"},
        {"name": "core.viewed", "kind": "view", "sql": "SELECT order_id FROM raw.orders"},
        {"name": "core.upserted", "kind": "incremental_by_unique_key", "unique_key": ["order_id", "customer_id"], "sql": "SELECT order_id, customer_id FROM raw.orders"},
        {
            "name": "core.timed",
            "kind": "incremental_by_time_range",
            "time_column": "ordered_at",
            "start": "2024-02-01",
            "cron": "@hourly",
            "sql": "SELECT order_id, CAST(order_id AS TIMESTAMP) AS ordered_at FROM raw.orders",
        },
        {"name": "core.history", "kind": "scd_type_2", "unique_key": "order_id", "sql": "SELECT order_id, CAST(order_id AS TIMESTAMP) AS updated_at FROM raw.orders"},
    )
    files = emit(load_dict(tmp_path, data))
    assert "{{ config(materialized='table') }}" in files["models/core/full.sql"]
    assert "{{ config(materialized='view') }}" in files["models/core/viewed.sql"]
    upserted = files["models/core/upserted.sql"]
    assert "incremental_strategy='delete+insert'" in upserted and "unique_key=['order_id', 'customer_id']" in upserted
    timed = files["models/core/timed.sql"]
    assert "incremental_strategy='meshgen_time_range'" in timed and "post_hook='{{ meshgen_record_time_range() }}'" in timed
    window = re.search(r"meshgen_time_range=(\{.*\}),", timed).group(1)
    assert ast.literal_eval(window) | {"fingerprint": ""} == {
        "column": "ordered_at", "type": "timestamp", "unit": "hour", "lookback": 0, "start": "2024-02-01", "fingerprint": ""
    }
    # The range goes on the expression the time column is made of, before anything else happens to the rows.
    assert "CAST(order_id AS TIMESTAMP) >= {{ meshgen_time_range_low() }}" in timed
    assert "CAST(order_id AS TIMESTAMP) < {{ meshgen_time_range_high() }}" in timed
    assert "macros/meshgen_time_range.sql" in files
    snapshot = files["snapshots/core/history.sql"]
    assert snapshot.splitlines()[0] == "{% snapshot history %}"
    assert "snapshot_meta_column_names={'dbt_valid_from': 'valid_from', 'dbt_valid_to': 'valid_to'}" in snapshot
    assert "strategy='timestamp'" in snapshot and "updated_at='updated_at'" in snapshot
    assert yaml.safe_load(files["dbt_project.yml"])["snapshots"]["shop"] == {"core": {"+schema": "core"}}


def test_interval_unit_follows_the_cron():
    from meshgen.schedule import interval_unit as unit

    assert [unit(c) for c in ("@hourly", "@daily", "@weekly", "@monthly", "@yearly")] == ["hour", "day", "day", "month", "year"]
    assert [unit(c) for c in ("*/5 * * * *", "*/15 * * * *", "15 * * * *", "0 3 * * *", "0 3 1 * *", "0 0 1 1 *")] == [
        "five_minute", "quarter_hour", "hour", "day", "month", "year"
    ]


def test_seed_copies_the_file_and_types_its_columns(example):
    spec, files = example
    assert files["seeds/finance/product_pricing.csv"] == (spec.project.spec_dir / "seeds/product_pricing.csv").read_text()
    seed = yaml_entry(files["seeds/finance/_finance__seeds.yml"], "seeds", "product_pricing")
    assert seed["config"]["column_types"] == {"product_type": "text", "monthly_fee": "double precision", "net_interest_margin": "double precision"}
    assert yaml.safe_load(files["dbt_project.yml"])["seeds"]["acme_analytics"] == {"finance": {"+schema": "finance"}}


def test_depends_on_outside_the_sql_becomes_a_dbt_dependency(tmp_path: Path):
    data = spec_with(
        {"name": "core.a", "sql": "SELECT order_id FROM raw.orders"},
        {"name": "core.b", "depends_on": ["core.a"], "sql": "SELECT order_id FROM raw.orders"},
    )
    assert "-- depends_on: {{ ref('a') }}" in emit(load_dict(tmp_path, data))["models/core/b.sql"]


def test_python_model_on_duckdb(tmp_path: Path):
    data = spec_with(
        {"name": "core.a", "sql": "SELECT order_id FROM raw.orders"},
        {
            "name": "ml.scores",
            "python": {"entrypoint": "pipelines.score:run"},
            "depends_on": ["core.a", "raw.orders"],
            "contract": {"columns": {"order_id": "integer", "score": "double"}},
        },
    )
    files = emit(load_dict(tmp_path, data, {"pipelines/__init__.py": "", "pipelines/score.py": "def run(inputs):\n    pass\n"}))
    code = files["models/ml/scores.py"]
    tree = ast.parse(code)
    assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "model"] == ["model"]
    assert "'core.a': lambda: dbt.ref('a')" in code
    assert "'raw.orders': lambda: dbt.source('raw', 'orders')" in code
    assert "ENTRYPOINT = ('pipelines.score', 'run')" in code
    assert "SPEC_FOLDER = '../..'" in code
    assert dbt_render(code) == code  # dbt refuses a Python model Jinja would change
    model = yaml_entry(files["models/ml/_ml__models.yml"], "models", "scores")
    assert "contract" not in model.get("config", {})  # dbt enforces contracts on SQL models only
    assert [c["data_type"] for c in model["columns"]] == ["integer", "double"]


def test_no_dbt_project_without_dbt_models(tmp_path: Path):
    spec = load_dict(tmp_path, spec_with({"name": "core.a", "engine": "sqlmesh", "sql": "SELECT order_id FROM raw.orders"}))
    assert dbt_emitter.emit(spec) == []


def test_every_generated_yaml_loads_and_gitignore(example):
    _, files = example
    for path, text in files.items():
        if path.endswith(".yml"):
            assert isinstance(yaml.safe_load(text), dict), path
    assert files[".gitignore"].split() == ["target/", "logs/", "dbt_packages/", ".user.yml"]


# -- escaping --------------------------------------------------------------------------

HOSTILE_TEXT = st.lists(
    st.one_of(
        st.sampled_from(list("{}%#'\"\\:-|>&*!?@`,[]\n\t ") + ["{{", "{%", "{#", "}}", "%}", "#}", "{%- raw %}", "{% endraw %}", "é", "∑", "🙂", "\u2028"]),
        st.characters(blacklist_categories=("Cs", "Cc")),
    ),
    max_size=12,
).map("".join)
TAGS = st.lists(st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True), max_size=3, unique=True)


def hostile_spec(description: str, owner: str, column_text: str, value: str, literal: str, tags: list[str]) -> dict:
    sql_literal = "'" + literal.replace("'", "''") + "'"
    return spec_with(
        {
            "name": "core.hostile",
            "description": description,
            "owner": owner,
            "domain": "sales",
            "tags": tags,
            "contract": {
                "description": column_text,
                "columns": {
                    "order_id": {"type": "integer", "description": column_text, "constraints": ["not_null"]},
                    "note": {"type": "varchar", "constraints": [{"accepted_values": [value, "plain"]}]},
                },
            },
            "sql": f"SELECT CAST(order_id AS INTEGER) AS order_id, {sql_literal} AS note FROM raw.orders",
            "tests": [{"name": "t", "description": description, "given": {"raw.orders": [{"order_id": 1}]}, "expect": [{"order_id": 1, "note": literal}]}],
        },
        sources=[{"name": "raw.orders", "description": description, "owner": owner, "columns": {"order_id": "integer"}}],
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=HOSTILE_TEXT, owner=HOSTILE_TEXT, column_text=HOSTILE_TEXT, value=HOSTILE_TEXT, literal=HOSTILE_TEXT, tags=TAGS)
def test_hostile_text_reaches_dbt_as_written(tmp_path_factory, description, owner, column_text, value, literal, tags):
    spec = load_dict(tmp_path_factory.mktemp("hostile"), hostile_spec(description, owner, column_text, value, literal, tags))
    files = emit(spec)

    # Every YAML file loads, and every string in it renders (with dbt's Jinja) back to the spec's text.
    model = yaml_entry(files["models/core/_core__models.yml"], "models", "hostile")
    render = lambda text: dbt_render(text)  # noqa: E731
    assert render(model.get("description", "")) == (description or column_text)  # else the contract's
    assert render(model["config"].get("meta", {}).get("owner", "")) == owner
    assert model["config"].get("tags", []) == tags
    assert render(model["columns"][0].get("description", "")) == column_text
    values = model["columns"][1]["data_tests"][0]["accepted_values"]["arguments"]
    rendered_values = [render(v) for v in values["values"]]
    if values.get("quote") is False:  # SQL literals: read them back with sqlglot
        rendered_values = [sqlglot.parse_one(v, dialect="duckdb").this for v in rendered_values]
    assert rendered_values == [value, "plain"]
    unit = yaml.safe_load(files["models/core/_core__models.yml"])["unit_tests"][0]
    assert unit.get("description", "") == description  # dbt does not render unit test descriptions
    assert render(unit["expect"]["rows"][0]["note"]) == literal
    source = yaml.safe_load(files["models/sources/_raw__sources.yml"])["sources"][0]["tables"][0]
    assert render(source.get("description", "")) == description
    assert render(source.get("config", {}).get("meta", {}).get("owner", "")) == owner
    group = yaml.safe_load(files["models/_groups.yml"])["groups"][0]
    assert render(next(iter(group["owner"].values()))) == (owner or "sales")

    # The SQL file renders, and the string literal in it is the one the spec wrote.
    rendered = dbt_render(files["models/core/hostile.sql"], **sql_context())
    select = sqlglot.parse_one(rendered, dialect="duckdb")
    assert select.selects[1].this.this == literal


def test_hostile_path_in_profile(tmp_path: Path):
    data = spec_with({"name": "core.a", "sql": "SELECT order_id FROM raw.orders"}, gateways={"local": {"type": "duckdb", "path": "{{ data }}/{%x.duckdb"}})
    profile = yaml.safe_load(emit(load_dict(tmp_path, data))["profiles.yml"])["shop"]
    path = profile["outputs"]["dev"]["path"]
    assert dbt_render(path, flags=type("Flags", (), {"PROFILES_DIR": "/p"})) == "/p/../../{{ data }}/{%x.duckdb"


# -- real dbt --------------------------------------------------------------------------


def dbt_parse(project: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DBT, "parse", "--no-partial-parse", "--project-dir", str(project), "--profiles-dir", str(project), "--target", "dev"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )


def assert_parses_cleanly(result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "deprecat" not in output.lower(), output
    assert "[WARNING]" not in output and "warning" not in output.lower(), output


@pytest.mark.integration
@pytest.mark.parametrize("name", ["example", "minimal"])
def test_dbt_parses_the_specs_without_deprecations(tmp_path: Path, name: str):
    spec = copy_spec(f"{name}.yaml", tmp_path / "src")
    result = run_cli("build", spec, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    project = tmp_path / "out" / ROOT
    assert_parses_cleanly(dbt_parse(project, cwd=tmp_path))
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    spec_ir = load(spec, f"{name}.yaml")
    dbt_models = {n for n in spec_ir.analysis.order if spec_ir.analysis.engine(n) == "dbt"}
    parsed = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed", "snapshot")}
    assert parsed == {n.split(".", 1)[1] for n in dbt_models}


@pytest.mark.integration
def test_dbt_reads_hostile_text_as_written(tmp_path: Path):
    description = "It's {{ boom }} {% if %} {# c #} \"q\" # not a comment\nline: two é🙂"
    owner = "Ops {{team}} <ops@example.com> {%"
    literal = "{{ x }} it's {%"
    data = hostile_spec(description, owner, "col {# x", "v{{ }}'", literal, ["a.b", "c-d"])
    from conftest import write_spec

    spec_path = write_spec(tmp_path / "src", data)
    result = run_cli("build", spec_path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    project = tmp_path / "out" / ROOT
    assert_parses_cleanly(dbt_parse(project, cwd=tmp_path))
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    model = manifest["nodes"]["model.shop.hostile"]
    assert model["description"] == description
    assert model["config"]["meta"]["owner"] == owner
    assert model["columns"]["order_id"]["description"] == "col {# x"
    assert manifest["sources"]["source.shop.raw.orders"]["description"] == description
    assert manifest["groups"]["group.shop.sales"]["owner"]["name"] == owner
    unit = next(n for n in manifest["unit_tests"].values())
    assert unit["description"] == description
    assert unit["expect"]["rows"][0]["note"] == literal


def test_a_double_is_spelled_as_postgres_knows_it(tmp_path: Path):
    data = spec_with(
        {"name": "core.amounts", "contract": {"columns": {"order_id": "integer", "amount": "double"}},
         "sql": "SELECT order_id, amount FROM raw.orders"},
        project={"name": "shop", "dialect": "postgres"},
        gateways={"pg": {"type": "postgres", "host": "db", "user": "u", "database": "d"}},
    )
    files = emit(load_dict(tmp_path, data))
    columns = yaml.safe_load(files["models/core/_core__models.yml"])["models"][0]["columns"]
    assert {c["name"]: c["data_type"] for c in columns}["amount"] == "double precision"
