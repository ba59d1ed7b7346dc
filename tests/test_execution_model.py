"""The pieces of the execution model that need no warehouse: schedules, windows, lookbacks, stamps, filters."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlglot
from sqlglot import exp

from conftest import error_text, load_dict, spec_with
from meshgen import cron, schedule
from meshgen.targets import sqlmesh as sqlmesh_emitter
from meshgen.execution import run_invocation
from meshgen.sqltext import with_time_range


# -- cron and windows ------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression, until, expected",
    [
        ("@daily", datetime(2024, 4, 2, 0, 0), True),
        ("@daily", datetime(2024, 4, 2, 1, 0), False),
        ("30 6 * * *", datetime(2024, 4, 2, 7, 0), True),  # ticked at 06:30, inside (06:00, 07:00]
        ("0 6 * * 1-5", datetime(2024, 4, 6, 6, 0), False),  # a Saturday
        ("0 0 1 * *", datetime(2024, 4, 1, 0, 0), True),
        ("*/15 * * * *", datetime(2024, 4, 2, 0, 50), True),
        ("0 0 13 * 5", datetime(2024, 4, 5, 0, 0), True),  # Friday the 5th: either day field may match
    ],
)
def test_a_cron_is_due_when_it_ticks_in_the_hour_before(expression, until, expected):
    assert cron.is_due(expression, until - timedelta(hours=1), until) is expected


def test_the_window_ends_at_the_schedules_last_tick():
    assert schedule.run_window("@hourly", datetime(2024, 4, 2, 13, 20)) == (datetime(2024, 4, 2, 12), datetime(2024, 4, 2, 13))
    assert schedule.run_window("@daily", datetime(2024, 4, 2, 13, 20)) == (datetime(2024, 4, 1), datetime(2024, 4, 2))


@pytest.mark.parametrize("text", ["every tuesday", "61 * * * *", "* * * *", "0 0 32 * *", "*/0 * * * *"])
def test_a_cron_that_is_no_cron_is_refused_at_validate(tmp_path, text):
    message = error_text(tmp_path, spec_with({"name": "s.a", "cron": text, "sql": "SELECT order_id FROM raw.orders"}))
    assert "models[0].cron" in message and "hint: e.g. `@hourly`" in message


def test_a_run_selects_only_the_due_models_in_dependency_order(tmp_path):
    spec = load_dict(
        tmp_path,
        spec_with(
            {"name": "s.hourly", "cron": "@hourly", "sql": "SELECT order_id FROM raw.orders"},
            {"name": "s.daily", "cron": "@daily", "sql": "SELECT order_id FROM s.hourly"},
            {"name": "s.later", "cron": "@hourly", "sql": "SELECT order_id FROM s.daily"},
            engines={"default": "dbt"},
        ),
    )
    (stage,) = spec.analysis.stages
    invocation = run_invocation(spec, stage, spec.environments[0])
    at_one = invocation.due(datetime(2024, 4, 2, 0), datetime(2024, 4, 2, 1))
    assert at_one[at_one.index("--select") + 1 :] == ["hourly", "later"]
    at_midnight = invocation.due(datetime(2024, 4, 1, 23), datetime(2024, 4, 2, 0))
    assert at_midnight[at_midnight.index("--select") + 1 :] == ["hourly", "daily", "later"], "one dbt build, in the DAG's order"


# -- lookback and start ----------------------------------------------------------------


def _timed(name: str, source: str, **extra) -> dict:
    return {
        "name": name,
        "kind": "incremental_by_time_range",
        "time_column": "ordered_at",
        "start": "2024-01-01",
        "sql": f"SELECT order_id, CAST(order_id AS TIMESTAMP) AS ordered_at FROM {source}",
        **extra,
    }


def test_lookback_is_counted_in_the_models_intervals_and_widened_downstream(tmp_path):
    spec = load_dict(
        tmp_path,
        spec_with(
            _timed("s.hourly", "raw.orders", cron="@hourly", lookback="2d"),
            {"name": "s.passthrough", "sql": "SELECT order_id, ordered_at FROM s.hourly"},
            _timed("s.daily", "s.passthrough", lookback=1),
            _timed("s.own", "raw.orders", lookback=3),
        ),
    )
    lookback = {name: info.lookback for name, info in spec.analysis.models.items()}
    assert lookback == {"s.hourly": 48, "s.passthrough": 0, "s.daily": 2, "s.own": 3}


@pytest.mark.parametrize(
    "model, expected",
    [
        (_timed("s.a", "raw.orders") | {"start": None}, "has no start date"),
        (_timed("s.a", "raw.orders", start="2024-13-45"), "'2024-13-45' is not a calendar date"),
        ({"name": "s.a", "lookback": 2, "sql": "SELECT order_id FROM raw.orders"}, "`lookback` only applies to kind incremental_by_time_range"),
        (_timed("s.a", "raw.orders", lookback="two days"), "must be a number of intervals, or a duration"),
    ],
)
def test_time_range_settings_are_checked(tmp_path, model, expected):
    model = {k: v for k, v in model.items() if v is not None}
    assert expected in error_text(tmp_path, spec_with(model))


def test_prod_cannot_have_a_shorter_backfill(tmp_path):
    environments = {"dev": {"gateway": "local", "backfill": {"start": "2024-03-01"}}, "prod": {"gateway": "local", "backfill": {"start": "2024-03-01"}}}
    message = error_text(tmp_path, spec_with(_timed("s.a", "raw.orders"), gateways={"local": {"type": "duckdb"}}, environments=environments))
    assert "prod always backfills every model from its own start" in message
    assert "environments.dev" not in message


# -- what SQLMesh cannot see changing -----------------------------------------------------


def _stamps(folder, sql_b: str) -> dict[str, str]:
    spec = load_dict(
        folder,
        spec_with(
            {"name": "s.from_dbt", "sql": sql_b, "engine": "dbt"},
            {"name": "t.reads_dbt", "sql": "SELECT order_id FROM s.from_dbt", "engine": "sqlmesh"},
            {"name": "t.downstream", "sql": "SELECT order_id FROM t.reads_dbt", "engine": "sqlmesh"},
            {"name": "t.alone", "sql": "SELECT order_id FROM raw.orders", "engine": "sqlmesh"},
        ),
    )
    return {m.name: sqlmesh_emitter.stamp(m, spec.analysis) for m in spec.models}


def test_a_dbt_change_restamps_every_sqlmesh_model_that_depends_on_it(tmp_path):
    before = _stamps(tmp_path / "a", "SELECT order_id FROM raw.orders")
    after = _stamps(tmp_path / "b", "SELECT order_id FROM raw.orders WHERE amount > 0")
    assert before["t.alone"] == after["t.alone"] == "", "a model with no dbt upstream carries no stamp"
    assert before["t.reads_dbt"] and before["t.reads_dbt"] != after["t.reads_dbt"]
    assert before["t.downstream"] and before["t.downstream"] != after["t.downstream"]


# -- the time range on the SQL ------------------------------------------------------------


def _filtered(sql: str, column: str = "d") -> str:
    query = sqlglot.parse_one(sql, dialect="duckdb")
    low, high = exp.var("LOW"), exp.var("HIGH")

    def in_range(expression):
        return exp.and_(exp.GTE(this=expression, expression=low), exp.LT(this=expression.copy(), expression=high.copy()))

    return with_time_range(query, column, in_range, "model_rows").sql("duckdb")


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("SELECT CAST(t AS DATE) AS d, x FROM a", "WHERE CAST(t AS DATE) >= LOW AND CAST(t AS DATE) < HIGH"),
        ("SELECT day AS d, SUM(x) AS s FROM a GROUP BY day", "WHERE day >= LOW AND day < HIGH GROUP BY day"),
        ("SELECT d, x FROM a WHERE x > 0", "WHERE x > 0 AND (d >= LOW AND d < HIGH)"),
    ],
)
def test_the_range_filters_the_input_where_that_is_the_same(sql, expected):
    assert expected in _filtered(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT d, SUM(x) OVER (ORDER BY d) AS running FROM a",  # a window sees the rows the filter would remove
        "SELECT MAX(d) AS d FROM a",  # an aggregate of the time column
        "SELECT day AS d, COUNT(*) AS n FROM a GROUP BY day, x HAVING COUNT(*) > 1 LIMIT 5",
        "SELECT DISTINCT d FROM a",
        "SELECT d FROM a UNION ALL SELECT d FROM b",
        "SELECT x + 1 AS y, y AS d FROM a",  # reads another output by its alias
    ],
)
def test_otherwise_the_output_is_filtered(sql):
    assert "FROM (" in _filtered(sql) and "model_rows.d >= LOW" in _filtered(sql)
