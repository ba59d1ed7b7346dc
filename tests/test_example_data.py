"""The example on a fresh warehouse, dev before prod, against values computed from the raw rows.

Dev is deployed first (no prod has ever run), then prod. A day of new raw data
(with one late payment of the day before) then goes through a scheduled run in
each: the incremental models load exactly the new rows, without duplicates,
on both engines. After the run SQLMesh agrees with its own state.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

duckdb = pytest.importorskip("duckdb")

import demo_data
import example_expected as expected
import oracle
from meshgen.build.pipeline import load

pytestmark = pytest.mark.integration

T1, T2 = expected.as_datetime(oracle.T1), expected.as_datetime(oracle.T2)
# This module's name for each step of `oracle.play`, in its order.
STEPS = dict(zip(("dev", "prod", "dev later", "prod later"), oracle.STEPS))


@pytest.fixture(scope="module")
def warehouse(example_played):
    """The example deployed to dev, then prod; then a day later run in dev, then prod: a copy of the file after each."""
    return example_played.project, {label: example_played.warehouses[oracle.step_label(*step)] for label, step in STEPS.items()}


def rows(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def schema(name: str, label: str) -> str:
    return name if label.startswith("prod") else f"{name}__dev"


def data_at(label: str) -> tuple[dict, object]:
    data = demo_data.generate()
    return (demo_data.next_day(data), T2) if label.endswith("later") else (data, T1)


@pytest.mark.parametrize("label", list(STEPS))
def test_customer_360_and_daily_spend_come_from_complete_inputs(warehouse, label):
    _, copies = warehouse
    data, until = data_at(label)
    want = expected.customer_360(data, until)
    columns = list(next(iter(want.values())))
    found = rows(copies[label], f"SELECT {', '.join(columns)} FROM {schema('core', label)}.customer_360")
    assert {r[0]: dict(zip(columns, r)) for r in found} == want
    spend = rows(copies[label], f"SELECT spend_date, customer_id, merchant_category, transaction_count, total_amount FROM {schema('core', label)}.daily_customer_spend")
    assert {r[:3]: r[3:] for r in spend} == expected.daily_customer_spend(data, until)
    assert len(spend) == len({r[:3] for r in spend}), "no duplicates"


@pytest.mark.parametrize("label", list(STEPS))
def test_sqlmesh_models_that_read_dbt_tables_are_right(warehouse, label):
    _, copies = warehouse
    data, until = data_at(label)
    churn = rows(copies[label], f"SELECT customer_id, churn_probability, churn_risk, scored_at FROM {schema('ml', label)}.churn_scores")
    assert {r[0]: (r[1], r[2]) for r in churn} == expected.churn_scores(data, until)
    assert {r[3] for r in churn} == {until}, "scored at the execution time of the run"
    money = ("monthly_fee_revenue", "net_interest_revenue", "servicing_cost", "monthly_profit")
    found = rows(copies[label], f"SELECT customer_id, {', '.join(money)}, profitability_band FROM {schema('finance', label)}.customer_profitability")
    want = expected.customer_profitability(data, until)
    assert {r[0] for r in found} == set(want)
    for r in found:
        row = want[r[0]]
        # Interest is a double summed then cast: allow a cent of rounding, nothing more.
        assert all(abs(value - row[name]) <= Decimal("0.01") for name, value in zip(money, r[1:5])), (r, row)
        assert r[5] == row["profitability_band"]
    summary = rows(copies[label], f"SELECT segment, customers, total_balance, spend_30d, profit_share_pct FROM {schema('marts', label)}.executive_summary")
    segments = expected.executive_summary(data, until)
    assert {r[0]: r[1:4] for r in summary} == {s: (v["customers"], v["total_balance"], v["spend_30d"]) for s, v in segments.items()}
    assert all(abs(r[4] - segments[r[0]]["profit_share_pct"]) <= 0.1 for r in summary)


@pytest.mark.parametrize("label", list(STEPS))
def test_the_dbt_dashboard_reads_the_sqlmesh_scores_of_its_environment(warehouse, label):
    _, copies = warehouse
    data, until = data_at(label)
    found = rows(copies[label], f"SELECT customer_id, recommended_action FROM {schema('marts', label)}.customer_dashboard")
    assert dict(found) == expected.customer_dashboard(data, until)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_run_loads_exactly_the_new_rows_and_the_late_one(warehouse, env):
    _, copies = warehouse
    before, after = copies[env], copies[f"{env} later"]
    table = f"{schema('staging', env)}.stg_transactions"
    ids = lambda database: [r[0] for r in rows(database, f"SELECT transaction_id FROM {table}")]  # noqa: E731
    assert len(ids(after)) == len(set(ids(after))), "no duplicates"
    new = set(ids(after)) - set(ids(before))
    want = {t["transaction_id"] for t in expected.stg_transactions(demo_data.next_day(demo_data.generate()), T2)}
    want -= {t["transaction_id"] for t in expected.stg_transactions(demo_data.generate(), T1)}
    assert new == want and demo_data.LATE_TRANSACTION_ID in new
    # The late payment reached the dbt model downstream (its day is within the lookback).
    late_day = next(t for t in demo_data.next_day(demo_data.generate())["raw.transactions"] if t["transaction_id"] == demo_data.LATE_TRANSACTION_ID)
    spend = rows(after, f"SELECT SUM(transaction_count) FROM {schema('core', env)}.daily_customer_spend WHERE spend_date = DATE '{late_day['transaction_time'].date()}'")
    settled = [t for t in expected.stg_transactions(demo_data.next_day(demo_data.generate()), T2) if t["transaction_date"] == late_day["transaction_time"].date()]
    assert spend == [(len(settled),)]


def sqlmesh(folder: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MESHGEN_ENVIRONMENT", None)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("sqlmesh")), "-p", "transforms/sqlmesh", *args],
        cwd=folder, capture_output=True, text=True, env=env,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_sqlmesh_agrees_with_its_own_state_after_the_run(warehouse, env):
    folder, _ = warehouse
    at = T2.strftime("%Y-%m-%d %H:%M:%S")
    plan = sqlmesh(folder, "--gateway", env, "plan", env, "--no-prompts", "--skip-tests", "--execution-time", at)
    assert "No changes to plan" in plan, plan
    audit = sqlmesh(folder, "--gateway", env, "audit", "--execution-time", at)
    assert "Finished with 0 audit errors" in audit, audit


def test_a_plain_sqlmesh_plan_stays_in_dev(warehouse):
    """Without --gateway and environment, SQLMesh plans dev on the dev warehouse, never prod."""
    folder, _ = warehouse
    plan = sqlmesh(folder, "plan", "--no-prompts", "--skip-tests", "--execution-time", T2.strftime("%Y-%m-%d %H:%M:%S"))
    assert "match the `dev` environment" in plan, plan


def test_an_environment_cannot_plan_on_another_ones_gateway(warehouse):
    folder, _ = warehouse
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("sqlmesh")), "-p", "transforms/sqlmesh", "--gateway", "ci", "plan", "prod", "--auto-apply", "--no-prompts", "--skip-tests"],
        cwd=folder, capture_output=True, text=True, env=env,
    )
    assert result.returncode != 0
    assert "environment 'prod' cannot run on gateway 'ci'" in result.stdout + result.stderr


def test_a_development_backfill_window_holds_on_both_engines(tmp_path):
    """`environments.dev.backfill.start`: every time-range model of dev, SQLMesh's and dbt's alike, starts there."""
    spec_path = oracle.EXAMPLE.make_project(tmp_path / "project")
    oracle.rewrite_spec(spec_path, lambda data: {**data, "environments": {**data["environments"], "dev": {"gateway": "local", "backfill": {"start": "2024-03-15"}}}})
    spec = load(spec_path)
    database = spec_path.parent / "warehouse.duckdb"
    oracle.EXAMPLE.load_raw(database, spec)
    oracle.meshgen("deploy", spec_path.name, "--env", "dev", "--execution-time", oracle.T1, cwd=spec_path.parent)
    data = demo_data.generate()
    settled = [t for t in expected.stg_transactions(data, T1) if t["transaction_date"] >= expected.as_datetime("2024-03-15 00:00:00").date()]
    assert rows(database, "SELECT COUNT(*), MIN(transaction_date) FROM staging__dev.stg_transactions") == [
        (len(settled), min(t["transaction_date"] for t in settled))
    ]
    first_days = rows(
        database,
        "SELECT (SELECT MIN(spend_date) FROM core__dev.daily_customer_spend), (SELECT MIN(activity_date) FROM ml__dev.daily_channel_mix)",
    )
    assert first_days == [(min(t["transaction_date"] for t in settled),) * 2]
