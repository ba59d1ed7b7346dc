"""Model SQL on each environment's warehouse: calls a warehouse has no overload for are rewritten or refused."""

from __future__ import annotations

from pathlib import Path

from conftest import load_dict, run_cli, spec_with
from meshgen.commands.explain import explain
from meshgen.targets import dbt, sqlmesh

GATEWAYS = {"local": {"type": "duckdb"}, "pg": {"type": "postgres", "host": "db", "user": "u", "database": "d"}}
ENVIRONMENTS = {"dev": {"gateway": "local"}, "prod": {"gateway": "pg"}}
SHARE = "SELECT order_id, ROUND(100.0 * amount / NULLIF(customer_id, 0), 1) AS share FROM raw.orders"


def _flat(text: str) -> str:
    return " ".join(text.split()).replace("( ", "(").replace(" )", ")")


def _files(spec, target) -> dict[str, str]:
    return {f.path.rsplit("/", 1)[-1]: f.text for f in target.emit(spec)}


def test_round_of_a_double_is_cast_for_postgres_only(tmp_path: Path):
    models = [{"name": "core.shares", "engine": "dbt", "sql": SHARE}, {"name": "core.shares_too", "engine": "sqlmesh", "sql": SHARE}]
    spec = load_dict(tmp_path, spec_with(*models, gateways=GATEWAYS, environments=ENVIRONMENTS))
    model = _files(spec, dbt)["shares.sql"]
    postgres, _, duckdb = model.partition("{% else %}")
    assert "target.type == 'postgres'" in postgres
    assert "CAST(ROUND(CAST(" in _flat(postgres) and "AS DECIMAL), 1) AS DOUBLE PRECISION)" in _flat(postgres)
    assert "ROUND(100.0 * amount" in duckdb and "DECIMAL" not in duckdb
    query = _flat(_files(spec, sqlmesh)["shares_too.sql"])
    assert "@IF(@gateway IN ('prod'), CAST(ROUND(CAST(100.0 * amount" in query  # SQLMesh picks it per gateway
    assert "AS DECIMAL), 1) AS DOUBLE), ROUND(100.0 * amount" in query
    assert "rewritten for a warehouse:" in explain(spec, "core.shares")
    validated = run_cli("validate", "meshgen.yaml", cwd=tmp_path)
    assert validated.exit_code == 0
    assert "note: model 'core.shares': ROUND(float, …) has no postgres function; meshgen casts it there" in validated.stdout


def test_one_warehouse_dialect_needs_no_rewrite(tmp_path: Path):
    spec = load_dict(tmp_path, spec_with({"name": "core.shares", "engine": "sqlmesh", "sql": SHARE}))
    assert "@IF" not in _files(spec, sqlmesh)["shares.sql"]
    assert "rewritten" not in explain(spec, "core.shares")


def test_a_call_postgres_cannot_run_is_refused_at_its_position(tmp_path: Path):
    spec = tmp_path / "meshgen.yaml"
    spec.write_text(
        "meshgen: 1\nproject: {name: shop}\n"
        "gateways: {local: {type: duckdb}, pg: {type: postgres, host: db, user: u, database: d}}\n"
        "environments: {dev: {gateway: local}, prod: {gateway: pg}}\n"
        "sources: [{name: raw.orders, columns: {order_id: integer, customer_id: integer}}]\n"
        "models:\n  - name: core.flags\n    sql: |\n      SELECT customer_id,\n"
        "        MAX(order_id > 3) AS any_big\n      FROM raw.orders GROUP BY customer_id\n"
    )
    result = run_cli("validate", spec.name, cwd=tmp_path)
    assert result.exit_code == 1
    assert "meshgen.yaml:10:9: error: model 'core.flags': MAX(boolean) has no postgres function (environment prod)" in result.stderr
    assert "BOOL_OR" in result.stderr
