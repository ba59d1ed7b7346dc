"""The quick reading of output column names agrees with qualify wherever it answers, and answers the common shapes."""

from __future__ import annotations

import pytest
import sqlglot

from meshgen.analysis.names import output_names
from meshgen.analysis.sql import typed_output
from synthetic import generate_spec

TABLES = {
    "raw.orders": ["id", "customer_id", "amount", "status", "created_at"],
    "raw.customers": ["id", "name", "region"],
    "staging.events": ["id", "customer_id", "kind"],
}


def schema_of(tables: dict) -> dict:
    found: dict = {}
    for name, columns in tables.items():
        db, table = name.split(".")
        found.setdefault(db, {})[table] = {c: "int" for c in columns}
    return found


def qualify_says(sql: str, tables: dict) -> tuple[list[str] | None, list]:
    query = sqlglot.parse_one(sql, dialect="duckdb")
    columns, _, unresolved = typed_output(query, schema_of(tables), "duckdb", sql)
    return (None if columns is None else [c.name for c in columns]), unresolved


ANSWERED = [
    "SELECT id, amount AS total FROM raw.orders",
    "SELECT * FROM raw.orders",
    "SELECT o.id, c.name FROM raw.orders AS o JOIN raw.customers AS c ON c.id = o.customer_id",
    "SELECT status, COUNT(*) AS n, SUM(amount) AS s FROM raw.orders GROUP BY status ORDER BY n DESC",
    "WITH o AS (SELECT * FROM raw.orders), g AS (SELECT customer_id, COUNT(*) AS n FROM o GROUP BY customer_id) "
    "SELECT g.customer_id, g.n, RANK() OVER (ORDER BY g.n) AS r FROM g WHERE g.n > 1",
    "SELECT CAST(id AS BIGINT) AS id, CASE WHEN amount > 10 THEN 'big' ELSE 'small' END AS size FROM raw.orders",
    "SELECT DISTINCT status FROM raw.orders LIMIT 5",
]
LEFT_TO_QUALIFY = [
    "SELECT id FROM raw.orders JOIN raw.customers ON customers.id = orders.customer_id",  # id is ambiguous
    "SELECT nope FROM raw.orders",  # no table has it
    "SELECT * FROM raw.orders JOIN raw.customers ON customers.id = orders.customer_id",  # a star over a join
    "SELECT id FROM raw.orders WHERE customer_id IN (SELECT id FROM raw.customers)",  # a subquery
    "SELECT Id FROM raw.orders",  # a name qualify normalises
    'SELECT "id" FROM raw.orders',
    "SELECT amount + 1 FROM raw.orders",  # unnamed
    "SELECT id, id FROM raw.orders",  # twice
    "SELECT id FROM raw.unknown_table",
    "SELECT o.id FROM raw.orders AS o JOIN raw.customers AS c USING (id)",
    "SELECT id AS x FROM raw.orders WHERE x > 1",  # an alias outside ORDER BY: qualify decides
    "SELECT * EXCLUDE (id) FROM raw.orders",
    "SELECT LIST_TRANSFORM([1], v -> v + 1) AS l FROM raw.orders",
    "SELECT id FROM raw.orders UNION ALL SELECT id FROM raw.customers",
]


@pytest.mark.parametrize("sql", ANSWERED)
def test_it_answers_the_common_shapes_as_qualify_does(sql):
    names = output_names(sqlglot.parse_one(sql, dialect="duckdb"), TABLES, "duckdb")
    assert names is not None
    assert (names, []) == qualify_says(sql, TABLES)


@pytest.mark.parametrize("sql", LEFT_TO_QUALIFY)
def test_what_it_is_not_sure_of_it_leaves_to_qualify(sql):
    assert output_names(sqlglot.parse_one(sql, dialect="duckdb"), TABLES, "duckdb") is None


def test_snowflake_names_are_left_to_qualify():
    assert output_names(sqlglot.parse_one("SELECT id FROM raw.orders", dialect="snowflake"), TABLES, "snowflake") is None


def test_it_agrees_with_qualify_on_every_generated_model():
    spec = generate_spec(300, seed=5)
    tables = {s["name"]: list(s["columns"]) for s in spec["sources"] if s.get("columns")}
    answered = 0
    for model in spec["models"]:  # in dependency order: each model's columns join the tables the next read
        sql = model.get("sql")
        if sql is None:
            continue
        expected, unresolved = qualify_says(sql, tables)
        names = output_names(sqlglot.parse_one(sql, dialect="duckdb"), tables, "duckdb")
        if names is not None:
            answered += 1
            assert (names, []) == (expected, unresolved), model["name"]
        if expected is not None:
            tables[model["name"]] = expected
    assert answered > 200
