"""A dbt-only spec built by real dbt on DuckDB, for dev and prod, checked against values computed here.

One project is built once per module; the fixture runs every dbt invocation in
order (dev build, prod build on changed data, dev incremental run, contract
violations, tests on bad data, schema isolation) and the tests read what it saw.
dbt is started from a folder outside the project with relative
`--project-dir`/`--profiles-dir`, as a CI job or an orchestrator would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

duckdb = pytest.importorskip("duckdb")

from conftest import on_one_worker, run_cli, write_spec

pytestmark = [pytest.mark.integration, on_one_worker("dbt-integration")]

DBT = str(Path(sys.executable).with_name("dbt"))
START = date(2024, 1, 2)
# Every build loads up to a pinned execution time: the first dev build to the end of 2024-01-04,
# the later ones to the end of 2024-01-05.
FIRST, LATER = datetime(2024, 1, 5), datetime(2024, 1, 6)
TOMORROW = LATER + timedelta(hours=9)  # after LATER: not in a complete interval yet

SPEC = {
    "meshgen": 1,
    "project": {"name": "shop", "dialect": "duckdb", "start": START.isoformat()},
    "gateways": {"local": {"type": "duckdb", "path": "data/shop.duckdb"}},
    "environments": {"dev": {"gateway": "local"}, "prod": {"gateway": "local", "dbt": {"threads": 2}}},
    "sources": [
        {"name": "raw.orders", "columns": {"order_id": "integer", "customer_id": "integer", "amount": "decimal(18,2)", "status": "varchar", "ordered_at": "timestamp"}},
        {"name": "raw.customers", "columns": {"customer_id": "integer", "name": "varchar", "segment": "varchar", "updated_at": "timestamp"}},
    ],
    "contracts": {
        "customer_orders": {
            "version": "1.0.0",
            "description": "Orders per customer {{ never rendered }}",
            "columns": {
                "customer_id": {"type": "integer", "constraints": ["not_null", "primary_key"]},
                "order_count": {"type": "integer", "constraints": ["not_null", {"range": [0, None]}]},
                "revenue": {"type": "decimal(18,2)", "constraints": ["not_null", {"check": "revenue >= 0"}]},
                "tier": {"type": "varchar", "constraints": [{"accepted_values": ["gold", "silver", "bronze"]}]},
            },
        }
    },
    "models": [
        {
            "name": "staging.stg_orders",
            "kind": "view",
            "description": "Orders, cleaned {{ 1 + 1 }}",
            "sql": "SELECT order_id, customer_id, amount, LOWER(status) AS status, ordered_at,\n"
            "       CAST(ordered_at AS DATE) AS order_date, '{{ not jinja }}' AS note\nFROM raw.orders",
        },
        {
            "name": "core.orders_by_customer",
            "domain": "sales",
            "owner": "sales@example.com",
            "contract": "customer_orders",
            "sql": "SELECT customer_id, CAST(COUNT(*) AS INTEGER) AS order_count,\n"
            "       CAST(SUM(amount) AS DECIMAL(18, 2)) AS revenue,\n"
            "       CASE WHEN SUM(amount) >= 1000 THEN 'gold' WHEN SUM(amount) >= 100 THEN 'silver' ELSE 'bronze' END AS tier\n"
            "FROM staging.stg_orders WHERE status <> 'cancelled' GROUP BY customer_id",
            "tests": [
                {
                    "name": "sums_per_customer",
                    "given": {
                        "staging.stg_orders": [
                            {"order_id": 1, "customer_id": 7, "amount": 600, "status": "placed"},
                            {"order_id": 2, "customer_id": 7, "amount": 500, "status": "placed"},
                            {"order_id": 3, "customer_id": 7, "amount": 900, "status": "cancelled"},
                        ]
                    },
                    "expect": [{"customer_id": 7, "order_count": 2, "revenue": 1100, "tier": "gold"}],
                }
            ],
        },
        {
            "name": "core.daily_revenue",
            "kind": "incremental_by_time_range",
            "time_column": "order_date",
            "lookback": 1,
            "contract": {"columns": {"order_date": {"type": "date", "constraints": ["not_null"]}, "revenue": "decimal(18,2)"}},
            "sql": "SELECT order_date, CAST(SUM(amount) AS DECIMAL(18, 2)) AS revenue FROM staging.stg_orders GROUP BY order_date",
        },
        {"name": "core.latest_orders", "kind": "incremental_by_unique_key", "unique_key": "order_id", "sql": "SELECT order_id, status, amount FROM staging.stg_orders"},
        {"name": "core.customer_history", "kind": "scd_type_2", "unique_key": "customer_id", "sql": "SELECT customer_id, segment, updated_at FROM raw.customers"},
        {"name": "reference.segments", "kind": "seed", "seed_file": "seeds/segments.csv", "contract": {"columns": {"segment": "varchar", "label": "varchar", "min_revenue": "integer"}}},
        {
            "name": "ml.scores",
            "python": {"entrypoint": "pipelines.scoring:score"},
            "depends_on": ["core.orders_by_customer"],
            "contract": {"columns": {"customer_id": "integer", "score": "double", "scored_at": "timestamp"}},
        },
        {
            "name": "ml.order_events",
            "kind": "incremental_by_time_range",
            "time_column": "ordered_at",
            "python": {"entrypoint": "pipelines.events:run"},
            "depends_on": ["staging.stg_orders"],
            "contract": {"columns": {"order_id": "integer", "customer_id": "integer", "ordered_at": "timestamp"}},
        },
        {
            "name": "core.order_checks",
            "kind": "view",
            "contract": {
                "columns": {
                    "order_id": {"type": "integer", "constraints": ["not_null", "unique"]},
                    "amount": {"type": "decimal(18,2)", "constraints": [{"range": [0, 1000]}, {"check": "amount <> 13"}]},
                    "status": {"type": "varchar", "constraints": [{"accepted_values": ["placed", "shipped", "cancelled"]}]},
                }
            },
            "sql": "SELECT order_id, amount, status FROM staging.stg_orders",
        },
        # Contracts that only the warehouse can see broken (the static check passes them).
        {
            "name": "core.bad_type",
            "tags": ["violations"],
            "contract": {"columns": {"customer_id": "integer", "revenue": "integer"}},
            "sql": "SELECT customer_id, SUM(amount) AS revenue FROM raw.orders GROUP BY customer_id",
        },
        {
            "name": "core.bad_null",
            "tags": ["violations"],
            "contract": {"columns": {"order_id": "integer", "customer_id": {"type": "integer", "constraints": ["not_null"]}}},
            "sql": "SELECT order_id, CASE WHEN order_id = 5 THEN NULL ELSE customer_id END AS customer_id FROM raw.orders",
        },
    ],
}

FILES = {
    "seeds/segments.csv": "segment,label,min_revenue\nvip,Very important,1000\nregular,Regular,0\n",
    "pipelines/scoring.py": (
        "import pandas as pd\n\n\n"
        "def score(inputs):\n"
        "    customers = inputs.table('core.orders_by_customer')\n"
        "    return pd.DataFrame({\n"
        "        'customer_id': customers['customer_id'],\n"
        "        'score': customers['revenue'].astype('float64') / 10.0,\n"
        "        'scored_at': pd.Timestamp(inputs.execution_time).tz_localize(None),\n"
        "    })\n"
    ),
    "pipelines/events.py": (
        "def run(inputs):\n"
        "    return inputs.table('staging.stg_orders')[['order_id', 'customer_id', 'ordered_at']]\n"
    ),
}

ORDERS_V1 = [
    (1, 1, Decimal("600.00"), "PLACED", datetime(2024, 1, 1, 10)),  # before the start date
    (2, 1, Decimal("500.00"), "placed", datetime(2024, 1, 2, 11)),
    (3, 2, Decimal("50.00"), "shipped", datetime(2024, 1, 2, 12)),
    (4, 2, Decimal("70.00"), "cancelled", datetime(2024, 1, 3, 9)),
    (5, 3, Decimal("5.00"), "placed", datetime(2024, 1, 4, 9)),
]
CUSTOMERS_V1 = [(1, "a", "regular", datetime(2024, 1, 1)), (2, "b", "regular", datetime(2024, 1, 1)), (3, "c", "vip", datetime(2024, 1, 1))]
NEW_ORDERS = [
    (6, 3, Decimal("20.00"), "placed", datetime(2024, 1, 4, 18)),  # late row for the latest loaded day
    (7, 1, Decimal("300.00"), "placed", datetime(2024, 1, 5, 8)),
    (8, 2, Decimal("999.00"), "placed", TOMORROW),  # not in a complete interval yet
]


def orders_v2() -> list[tuple]:
    changed = [(o[0], o[1], o[2], "shipped" if o[0] == 5 else o[3], o[4]) for o in ORDERS_V1]
    return changed + NEW_ORDERS


# -- what the models must hold, computed here ---------------------------------


def expected_by_customer(orders) -> list[tuple]:
    totals: dict[int, list] = defaultdict(lambda: [0, Decimal("0")])
    for _, customer, amount, status, _ in orders:
        if status.lower() != "cancelled":
            totals[customer][0] += 1
            totals[customer][1] += amount
    rows = []
    for customer, (count, revenue) in sorted(totals.items()):
        tier = "gold" if revenue >= 1000 else "silver" if revenue >= 100 else "bronze"
        rows.append((customer, count, revenue, tier))
    return rows


def in_interval(moment: datetime, until: datetime) -> bool:
    return START <= moment.date() < until.date()


def expected_daily_revenue(orders, until: datetime) -> list[tuple]:
    days: dict[date, Decimal] = defaultdict(Decimal)
    for _, _, amount, _, at in orders:
        if in_interval(at, until):
            days[at.date()] += amount
    return sorted(days.items())


def expected_latest(orders) -> list[tuple]:
    return sorted((o[0], o[3].lower(), o[2]) for o in orders)


def expected_events(orders, until: datetime) -> list[tuple]:
    return sorted((o[0], o[1], o[4]) for o in orders if in_interval(o[4], until))


# -- running dbt ---------------------------------------------------------------------


@dataclass
class Run:
    returncode: int
    output: str
    results: dict[str, dict] = field(default_factory=dict)  # node name -> run result


@dataclass
class Build:
    root: Path
    project: Path
    database: Path
    runs: dict[str, Run] = field(default_factory=dict)
    tables: dict[str, dict[str, list]] = field(default_factory=dict)  # moment -> table -> rows


def dbt(build: Build, *args: str, env: dict | None = None, at: datetime = LATER) -> Run:
    relative = os.path.relpath(build.project, build.root)
    variables = json.dumps({"meshgen_execution_time": at.strftime("%Y-%m-%d %H:%M:%S")})
    result = subprocess.run(
        [DBT, *args, "--project-dir", relative, "--profiles-dir", relative, "--vars", variables],
        cwd=build.root,
        capture_output=True,
        text=True,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})},
    )
    results = {}
    run_results = build.project / "target" / "run_results.json"
    if run_results.exists():
        for item in json.loads(run_results.read_text())["results"]:
            kind, _, name = item["unique_id"].split(".", 2)
            if kind == "operation":
                continue  # the project's hooks
            # test.<project>.<name>.<hash>, unit_test.<project>.<model>.<name>, model.<project>.<name>
            results[name.split(".")[0] if kind == "test" else name.split(".")[-1]] = item
        run_results.unlink()
    return Run(result.returncode, result.stdout + result.stderr, results)


def query(build: Build, sql: str) -> list[tuple]:
    with duckdb.connect(str(build.database)) as connection:
        return connection.execute(sql).fetchall()


def execute(build: Build, *statements: str, params: list | None = None) -> None:
    with duckdb.connect(str(build.database)) as connection:
        for statement in statements:
            connection.executemany(statement, params) if params else connection.execute(statement)


def snapshot(build: Build, suffix: str) -> dict[str, list]:
    return {
        "orders_by_customer": query(build, f"SELECT * FROM core{suffix}.orders_by_customer ORDER BY 1"),
        "daily_revenue": query(build, f"SELECT * FROM core{suffix}.daily_revenue ORDER BY 1"),
        "latest_orders": query(build, f"SELECT order_id, status, amount FROM core{suffix}.latest_orders ORDER BY 1"),
        "history": query(build, f"SELECT customer_id, segment, valid_from, valid_to FROM core{suffix}.customer_history ORDER BY 1, 3"),
        "scores": query(build, f"SELECT customer_id, score FROM ml{suffix}.scores ORDER BY 1"),
        "events": query(build, f"SELECT order_id, customer_id, ordered_at FROM ml{suffix}.order_events ORDER BY 1"),
        "notes": query(build, f"SELECT DISTINCT note FROM staging{suffix}.stg_orders"),
        "segments": query(build, f"SELECT * FROM reference{suffix}.segments ORDER BY 1"),
    }


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Build:
    root = tmp_path_factory.mktemp("dbt_only")
    spec_path = write_spec(root / "repo", SPEC, FILES)
    assert run_cli("validate", spec_path).exit_code == 0  # the violations pass the static check
    result = run_cli("build", spec_path)
    assert result.exit_code == 0, result.output
    build = Build(root=root, project=root / "repo" / "transforms" / "dbt", database=root / "repo" / "data" / "shop.duckdb")
    build.database.parent.mkdir()
    execute(
        build,
        "CREATE SCHEMA raw",
        "CREATE TABLE raw.orders (order_id INTEGER, customer_id INTEGER, amount DECIMAL(18,2), status VARCHAR, ordered_at TIMESTAMP)",
        "CREATE TABLE raw.customers (customer_id INTEGER, name VARCHAR, segment VARCHAR, updated_at TIMESTAMP)",
    )
    execute(build, "INSERT INTO raw.orders VALUES (?, ?, ?, ?, ?)", params=ORDERS_V1)
    execute(build, "INSERT INTO raw.customers VALUES (?, ?, ?, ?)", params=CUSTOMERS_V1)

    runs, tables = build.runs, build.tables
    runs["dev"] = dbt(build, "build", "--target", "dev", "--exclude", "tag:violations", at=FIRST)
    tables["dev"] = snapshot(build, "__dev")

    # New data: a late row for the last loaded day, a new day, a future row, a status change,
    # a customer moving segment.
    execute(build, "INSERT INTO raw.orders VALUES (?, ?, ?, ?, ?)", params=NEW_ORDERS)
    execute(build, "UPDATE raw.orders SET status = 'shipped' WHERE order_id = 5")
    execute(build, "UPDATE raw.customers SET segment = 'vip', updated_at = TIMESTAMP '2024-02-01' WHERE customer_id = 1")
    runs["prod"] = dbt(build, "build", "--target", "prod", "--exclude", "tag:violations")
    tables["prod"] = snapshot(build, "")
    tables["dev_after_prod"] = snapshot(build, "__dev")

    runs["incremental"] = dbt(
        build, "build", "--target", "dev", "--select", "daily_revenue", "latest_orders", "customer_history", "order_events"
    )
    tables["incremental"] = snapshot(build, "__dev")

    runs["violations"] = dbt(build, "build", "--target", "dev", "--select", "tag:violations")

    # A pull-request environment: MESHGEN_ENVIRONMENT renames dev for both engines.
    runs["renamed"] = dbt(
        build, "run", "--target", "dev", "--select", "stg_orders", "orders_by_customer", env={"MESHGEN_ENVIRONMENT": "dev_pr_7"}
    )
    tables["renamed"] = {"orders_by_customer": query(build, "SELECT * FROM core__dev_pr_7.orders_by_customer ORDER BY 1")}

    bad_rows = [
        (None, 9, Decimal("10.00"), "placed", datetime(2024, 1, 3)),  # not_null
        (2, 9, Decimal("10.00"), "placed", datetime(2024, 1, 3)),  # unique (2 exists)
        (50, 9, Decimal("5000.00"), "placed", datetime(2024, 1, 3)),  # range
        (51, 9, Decimal("13.00"), "placed", datetime(2024, 1, 3)),  # check
        (52, 9, Decimal("10.00"), "lost", datetime(2024, 1, 3)),  # accepted_values
    ]
    execute(build, "INSERT INTO raw.orders VALUES (?, ?, ?, ?, ?)", params=bad_rows)
    runs["bad_data"] = dbt(build, "test", "--target", "dev", "--select", "order_checks")
    execute(build, "DELETE FROM raw.orders WHERE customer_id = 9")

    # Each environment reads its own upstream: replace both staging views with different rows.
    stand_in = "CREATE OR REPLACE VIEW {schema}.stg_orders AS SELECT {id} AS order_id, {customer} AS customer_id, " \
        "CAST({amount} AS DECIMAL(18,2)) AS amount, 'placed' AS status, TIMESTAMP '2024-01-10' AS ordered_at, " \
        "DATE '2024-01-10' AS order_date, 'x' AS note"
    execute(
        build,
        stand_in.format(schema="staging__dev", id=901, customer=42, amount="7.00"),
        stand_in.format(schema="staging", id=902, customer=43, amount="8.00"),
    )
    runs["isolation_dev"] = dbt(build, "run", "--target", "dev", "--select", "orders_by_customer")
    runs["isolation_prod"] = dbt(build, "run", "--target", "prod", "--select", "orders_by_customer")
    tables["isolation_dev"] = {"orders_by_customer": query(build, "SELECT * FROM core__dev.orders_by_customer")}
    tables["isolation_prod"] = {"orders_by_customer": query(build, "SELECT * FROM core.orders_by_customer")}
    return build


# -- the tests -----------------------------------------------------------------------


def test_dev_and_prod_builds_succeed(build: Build):
    for name in ("dev", "prod", "incremental", "renamed", "isolation_dev", "isolation_prod"):
        run = build.runs[name]
        assert run.returncode == 0, f"{name}:\n{run.output}"
        assert "deprecat" not in run.output.lower(), run.output
    statuses = {r["status"] for r in build.runs["dev"].results.values()}
    assert statuses == {"success", "pass"}
    assert build.runs["dev"].results["sums_per_customer"]["status"] == "pass"  # the unit test ran


def test_each_environment_lands_in_its_schemas(build: Build):
    tables = set(query(build, "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema <> 'raw'"))
    for schema, table in [
        ("staging", "stg_orders"),
        ("core", "orders_by_customer"),
        ("core", "daily_revenue"),
        ("core", "customer_history"),
        ("reference", "segments"),
        ("ml", "scores"),
    ]:
        assert (schema, table) in tables
        assert (f"{schema}__dev", table) in tables
    assert not any(schema.startswith("main") for schema, _ in tables)
    assert not any(table in ("bad_type", "bad_null") and not schema.endswith("__dev") for schema, table in tables)


def test_dev_tables_hold_the_values_computed_here(build: Build):
    dev = build.tables["dev"]
    assert dev["orders_by_customer"] == expected_by_customer(ORDERS_V1)
    assert dev["daily_revenue"] == expected_daily_revenue(ORDERS_V1, FIRST)  # 2024-01-01 is before the start
    assert dev["latest_orders"] == expected_latest(ORDERS_V1)
    assert dev["scores"] == [(c, float(revenue) / 10) for c, _, revenue, _ in expected_by_customer(ORDERS_V1)]
    assert dev["events"] == expected_events(ORDERS_V1, FIRST)
    assert dev["history"] == [(c, s, at, None) for c, _, s, at in CUSTOMERS_V1]
    assert dev["notes"] == [("{{ not jinja }}",)]  # spec text reaches the warehouse as written
    assert dev["segments"] == [("regular", "Regular", 0), ("vip", "Very important", 1000)]


def test_column_types_follow_the_contracts(build: Build):
    def types(table: str) -> dict[str, str]:
        return {name: kind for name, kind, *_ in query(build, f"DESCRIBE {table}")}

    assert types("core__dev.orders_by_customer") == {"customer_id": "INTEGER", "order_count": "INTEGER", "revenue": "DECIMAL(18,2)", "tier": "VARCHAR"}
    assert types("ml__dev.scores") == {"customer_id": "INTEGER", "score": "DOUBLE", "scored_at": "TIMESTAMP"}
    assert types("reference__dev.segments")["min_revenue"] == "INTEGER"
    history = types("core__dev.customer_history")
    assert {"valid_from", "valid_to"} <= set(history) and "dbt_valid_from" not in history


def test_prod_built_from_the_new_data_and_left_dev_alone(build: Build):
    prod, orders = build.tables["prod"], orders_v2()
    assert prod["orders_by_customer"] == expected_by_customer(orders)
    assert prod["daily_revenue"] == expected_daily_revenue(orders, LATER)  # TOMORROW's order is not loaded
    assert prod["latest_orders"] == expected_latest(orders)
    assert prod["events"] == expected_events(orders, LATER)
    assert build.tables["dev_after_prod"] == build.tables["dev"]


def test_incremental_runs_load_what_a_full_build_loads(build: Build):
    incremental, prod = build.tables["incremental"], build.tables["prod"]
    # The late row of 2024-01-04 is within the one-day lookback: included, once.
    assert incremental["daily_revenue"] == prod["daily_revenue"]
    assert incremental["latest_orders"] == prod["latest_orders"]  # order 5 upserted to shipped
    assert incremental["events"] == prod["events"]
    history = [row for row in incremental["history"] if row[0] == 1]
    assert history == [
        (1, "regular", datetime(2024, 1, 1), datetime(2024, 2, 1)),
        (1, "vip", datetime(2024, 2, 1), None),
    ]


def test_enforced_contracts_fail_the_build_naming_the_column(build: Build):
    run = build.runs["violations"]
    assert run.returncode != 0
    bad_type, bad_null = run.results["bad_type"], run.results["bad_null"]
    assert bad_type["status"] == "error" and "revenue" in bad_type["message"]
    assert "contract" in bad_type["message"].lower()
    assert bad_null["status"] == "error" and "customer_id" in bad_null["message"]
    assert "NOT NULL" in bad_null["message"]


def test_every_generated_test_fails_on_bad_data(build: Build):
    passed_before = {
        name: r["status"] for name, r in build.runs["dev"].results.items() if r["unique_id"].startswith("test.") and "order_checks" in name
    }
    after = {name: r for name, r in build.runs["bad_data"].results.items()}
    assert set(after) == set(passed_before)
    kinds = {"not_null", "unique", "accepted_range", "expression_is_true", "accepted_values"}
    assert {next(k for k in kinds if name.startswith(k)) for name in after} == kinds
    for name, result in after.items():
        assert passed_before[name] == "pass", name
        assert result["status"] == "fail" and result["failures"] == 1, (name, result)


def test_meshgen_environment_renames_a_non_prod_environment(build: Build):
    assert build.tables["renamed"]["orders_by_customer"] == expected_by_customer(orders_v2())
    schemas = {row[0] for row in query(build, "SELECT DISTINCT table_schema FROM information_schema.tables")}
    assert {"staging__dev_pr_7", "core__dev_pr_7"} <= schemas


def test_each_environment_reads_its_own_upstream(build: Build):
    assert build.tables["isolation_dev"]["orders_by_customer"] == [(42, 1, Decimal("7.00"), "bronze")]
    assert build.tables["isolation_prod"]["orders_by_customer"] == [(43, 1, Decimal("8.00"), "bronze")]
