"""`python specs/demo_data.py SPEC --env ENV` loads the same raw rows into any environment's warehouse.

The example's dev runs on DuckDB and its prod on PostgreSQL (here the throwaway
server of the `postgres` fixture): every raw table must hold the same rows in
both, and the rows `demo_data.generate()` makes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

duckdb = pytest.importorskip("duckdb")

import demo_data
from conftest import SPECS, copy_spec, on_one_worker, prod_on_cluster
from meshgen.build.pipeline import load
from meshgen.ir import Spec

# One worker builds the module's warehouses once (its own PostgreSQL server).
pytestmark = [pytest.mark.integration, on_one_worker("demo-data")]

SCRIPT = SPECS / "demo_data.py"


def demo_data_run(spec: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(spec), *args],
        env={**_without_example_credentials(os.environ), **(env or {})},
        capture_output=True,
        text=True,
    )


def _without_example_credentials(environ) -> dict[str, str]:
    return {k: v for k, v in environ.items() if not k.startswith("ACME_PG_")}


@dataclass(frozen=True)
class Loaded:
    spec_path: Path
    spec: Spec
    duckdb_file: Path
    database: str  # PostgreSQL's


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, postgres) -> Loaded:
    """The example's demo data loaded into dev (DuckDB) and prod (PostgreSQL)."""
    spec_path = copy_spec("example.yaml", tmp_path_factory.mktemp("demo-data") / "project")
    database = postgres.database("analytics")
    prod_on_cluster(spec_path, database)
    for env in ("dev", "prod"):
        load_demo_data(spec_path, env, postgres)
    return Loaded(spec_path, load(spec_path), spec_path.parent / "warehouse.duckdb", database)


def load_demo_data(spec_path: Path, env: str, postgres) -> None:
    result = demo_data_run(spec_path, "--env", env, env=postgres.env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("loaded raw.customers,"), result.stdout


def duckdb_rows(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def postgres_rows(postgres, database: str, sql: str) -> list[tuple]:
    connection = postgres.connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()
    finally:
        connection.close()


def checksum(rows: list[tuple]) -> str:
    """Of the rows in sorted order, each value spelled by its family: equal values, equal sums."""
    spelled = sorted(tuple(_spelled(value) for value in row) for row in rows)
    return hashlib.sha256(repr(spelled).encode()).hexdigest()


def _spelled(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before numbers: a bool is an int
        return f"bool:{value}"
    if isinstance(value, (int, float, Decimal)):
        return f"number:{Decimal(str(value)).normalize():f}"
    if isinstance(value, datetime):  # before dates: a datetime is a date
        return f"timestamp:{value.isoformat()}"
    if isinstance(value, date):
        return f"date:{value.isoformat()}"
    if isinstance(value, str):
        return f"text:{value}"
    raise TypeError(f"no spelling for {type(value).__name__} {value!r}")


def test_every_raw_table_holds_the_same_rows_in_duckdb_and_postgres(loaded, postgres):
    generated = demo_data.generate()
    for source in loaded.spec.sources:
        columns = [c.name for c in source.columns]
        select = f"SELECT {', '.join(columns)} FROM {source.name}"
        in_duckdb, in_postgres = duckdb_rows(loaded.duckdb_file, select), postgres_rows(postgres, loaded.database, select)
        want = [tuple(row.get(c) for c in columns) for row in generated[source.name]]
        assert len(in_duckdb) == len(in_postgres) == len(want), source.name
        assert checksum(in_postgres) == checksum(in_duckdb) == checksum(want), source.name


def test_postgres_columns_have_the_sources_types(loaded, postgres):
    rows = postgres_rows(
        postgres,
        loaded.database,
        "SELECT table_name || '.' || column_name, data_type, numeric_precision, numeric_scale"
        " FROM information_schema.columns WHERE table_schema = 'raw'",
    )
    types = {name: (data_type, precision, scale) for name, data_type, precision, scale in rows}
    assert len(types) == sum(len(s.columns) for s in loaded.spec.sources)
    assert types["transactions.amount"] == ("numeric", 18, 2)
    assert types["transactions.transaction_id"][0] == "bigint"
    assert types["transactions.account_id"][0] == "integer"
    assert types["transactions.transaction_time"][0] == "timestamp without time zone"
    assert types["customers.date_of_birth"][0] == "date"
    assert types["customers.is_active"][0] == "boolean"
    assert types["customers.email"][0] in ("text", "character varying")


def test_loading_again_refills_tables_that_views_read(loaded, postgres):
    connection = postgres.connect(loaded.database)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("CREATE SCHEMA staging")
            cursor.execute("CREATE VIEW staging.transactions AS SELECT * FROM raw.transactions")
        load_demo_data(loaded.spec_path, "prod", postgres)
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM staging.transactions")
            assert cursor.fetchone() == (len(demo_data.generate()["raw.transactions"]),)
            cursor.execute("DROP SCHEMA staging CASCADE")
    finally:
        connection.close()


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2 and one line naming what is wrong, no traceback."""
    assert result.returncode == 2, result
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("demo_data: "), result.stderr
    for word in words:
        assert word in result.stderr


def test_an_unknown_environment_is_refused(example_spec):
    assert_refused(demo_data_run(example_spec, "--env", "staging"), "'staging'", "dev, ci, prod")


def test_a_missing_environment_variable_is_refused(example_spec):
    env = {"ACME_PG_USER": "meshgen", "ACME_PG_PASSWORD": "secret"}
    assert_refused(demo_data_run(example_spec, "--env", "prod", env=env), "ACME_PG_HOST", "not set")


def test_a_warehouse_it_cannot_load_is_refused(example_spec):
    text = example_spec.read_text(encoding="utf-8")
    example_spec.write_text(text.replace("type: postgres", "type: trino").replace("database: analytics", "catalog: analytics"), encoding="utf-8")
    assert_refused(demo_data_run(example_spec, "--env", "prod"), "trino", "duckdb or postgres")
