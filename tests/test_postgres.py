"""The showcase on a real PostgreSQL server: dev on DuckDB, prod on PostgreSQL, and prod's tables
equal to those of the same spec's prod run on DuckDB.

The server is the test's own throwaway cluster (the `postgres` fixture); the spec reaches it
through its `{env:}` references. Both warehouses get the same raw rows, are deployed at the
same execution time and run a day later; after each step every model table is compared as
(row count, checksum over its sorted rows), values made comparable across warehouses
(`canonical`).
"""

from __future__ import annotations

import hashlib
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

duckdb = pytest.importorskip("duckdb")
pytest.importorskip("psycopg2")

import demo_data
import oracle
from conftest import copy_spec, prod_on_cluster
from meshgen.build.pipeline import load

pytestmark = pytest.mark.integration


def canonical(value) -> str:
    """A value as text both warehouses agree on: numbers by value (PostgreSQL's NUMERIC and
    DuckDB's DOUBLE or HUGEINT for the same column of an uncontracted model), to 12 significant
    digits for fractions; a midnight timestamp as its date (DATE_TRUNC gives a date in DuckDB)."""
    if value is None:
        return "<null>"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, Decimal)):
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        return str(int(number)) if number == number.to_integral_value() else f"{float(number):.12g}"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def summary(rows: list[tuple]) -> tuple[int, str]:
    lines = sorted("\x1f".join(canonical(v) for v in row) for row in rows)
    return len(lines), hashlib.md5("\n".join(lines).encode()).hexdigest()


def tables(spec, env: str, fetch) -> dict[str, tuple[int, str]]:
    """Every model table of an environment, read with `fetch(sql)` -> rows."""
    found = {}
    for model in spec.models:
        schema = model.schema if env == "prod" else f"{model.schema}__{env}"
        columns = ", ".join(f'"{c}"' for c in oracle.model_columns(spec, model.name))
        found[model.name] = summary(fetch(f'SELECT {columns} FROM "{schema}"."{model.table}"'))
    return found


def duckdb_fetch(database: Path):
    def fetch(sql: str) -> list[tuple]:
        with duckdb.connect(str(database), read_only=True) as connection:
            return connection.execute(sql).fetchall()

    return fetch


def postgres_fetch(cluster, database: str):
    def fetch(sql: str) -> list[tuple]:
        connection = cluster.connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            connection.close()

    return fetch


def load_postgres(cluster, database: str, spec, data: dict) -> None:
    connection = cluster.connect(database)
    try:
        demo_data.seed_postgres(connection, spec, data)
        connection.commit()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def played(postgres, tmp_path_factory, monkeypatch_module, example_played):
    """The showcase played with prod on PostgreSQL ("mixed") and, as the reference, with prod on
    DuckDB (`example_played`): step -> tables for each, and the times."""
    for key, value in postgres.env().items():
        monkeypatch_module.setenv(key, value)
    database = postgres.database("analytics")
    mixed = copy_spec("example.yaml", tmp_path_factory.mktemp("postgres_prod"))
    prod_on_cluster(mixed, database)
    mixed_spec = load(mixed)
    reference_spec = load(example_played.project / "example.yaml")
    first, later = demo_data.generate(), demo_data.next_day(demo_data.generate())
    oracle.load_rows(mixed.parent / "warehouse.duckdb", mixed_spec, first)
    load_postgres(postgres, database, mixed_spec, first)
    result = {"mixed": {}, "reference": {}, "seconds": {}}
    for verb, env, at in oracle.STEPS:
        if verb == "run" and env == "dev":
            oracle.load_rows(mixed.parent / "warehouse.duckdb", mixed_spec, later)
            load_postgres(postgres, database, mixed_spec, later)
        label, step = f"{verb} {env}", oracle.step_label(verb, env, at)
        started = time.monotonic()
        oracle.meshgen(verb, mixed.name, "--env", env, "--execution-time", at, cwd=mixed.parent)
        result["seconds"][f"mixed: {label}"] = round(time.monotonic() - started, 1)
        result["seconds"][f"reference: {label}"] = round(example_played.seconds[step], 1)
        fetch = postgres_fetch(postgres, database) if env == "prod" else duckdb_fetch(mixed.parent / "warehouse.duckdb")
        result["mixed"][label] = tables(mixed_spec, env, fetch)
        result["reference"][label] = tables(reference_spec, env, duckdb_fetch(example_played.warehouses[step]))
    print("seconds per step:", result["seconds"])
    return result


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.parametrize("step", ["deploy prod", "run prod"])
def test_prod_on_postgres_equals_prod_on_duckdb(played, step):
    postgres, duckdb_prod = played["mixed"][step], played["reference"][step]
    assert {m: t for m, t in postgres.items() if t != duckdb_prod[m]} == {}
    assert all(rows for rows, _ in postgres.values()), postgres


@pytest.mark.parametrize("step", ["deploy", "run"])
def test_dev_on_duckdb_and_prod_on_postgres_hold_the_same_data(played, step):
    """The same raw rows in both environments: dev on DuckDB and prod on PostgreSQL must agree."""
    assert played["mixed"][f"{step} dev"] == played["mixed"][f"{step} prod"]


def test_the_run_changed_the_tables(played):
    """The day of new rows reached prod (else the equality above would prove little for the run)."""
    before, after = played["mixed"]["deploy prod"], played["mixed"]["run prod"]
    assert before["staging.stg_transactions"][0] < after["staging.stg_transactions"][0]


def test_a_deploy_failing_on_postgres_leaves_prod_as_it_was(postgres, tmp_path, monkeypatch):
    """The staged deploy on PostgreSQL: stage 4 fails, prod's tables and SQLMesh's state are as before."""
    from test_atomic_deploy import failed_deploy_keeps_environment

    for key, value in postgres.env().items():
        monkeypatch.setenv(key, value)
    database = postgres.database("failing")
    spec_path = copy_spec("example.yaml", tmp_path / "project")
    prod_on_cluster(spec_path, database)
    load_postgres(postgres, database, load(spec_path), demo_data.generate())
    fetch = postgres_fetch(postgres, database)
    failed_deploy_keeps_environment(spec_path, lambda spec: tables(spec, "prod", fetch))
    leftovers = [s for (s,) in fetch("SELECT schema_name FROM information_schema.schemata") if s.endswith("__prod__next") or s.startswith("meshgen_backup")]
    assert leftovers == []
