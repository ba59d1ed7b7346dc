"""`meshgen import dbt` on a dbt project in the style of dbt's public examples (tests/fixtures/dbt_shop).

The oracle is the original project built by plain `dbt build`: the imported spec, deployed to dev
with every model on dbt and again with staging moved onto SQLMesh, must hold the same tables,
row for row in both directions and with the same column types. One module fixture builds,
imports and deploys once; the mapping tests read what the import wrote against dbt's own
artifacts of the original build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import on_one_worker, run_cli, run_process
from table_compare import differences as _differences

pytestmark = [pytest.mark.integration, on_one_worker("import-dbt")]

FIXTURE = Path(__file__).parent / "fixtures" / "dbt_shop"
BIN = Path(sys.executable).parent
SOURCE_TABLE = "web.events"
SOURCE_COLUMNS = {"event_id": "integer", "customer_id": "integer", "event_type": "varchar", "event_time": "timestamp"}


def _load_source(database: Path) -> None:
    """The table the project's source names, loaded by 'something else' into each warehouse alike."""
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS web")
        con.execute(
            f"CREATE TABLE {SOURCE_TABLE} AS SELECT * FROM read_csv(?, header = true, columns = {SOURCE_COLUMNS!r})",
            [str(FIXTURE / "data" / "web_events.csv")],
        )


def _check(process: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    assert process.returncode == 0, f"{what} failed:\n{process.stdout}\n{process.stderr}"
    return process


def _deploy(spec_dir: Path) -> None:
    _load_source(spec_dir / "warehouse.duckdb")
    _check(run_process("deploy", spec_dir / "meshgen.yaml", "--env", "dev"), f"deploy of {spec_dir.name}")


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("import_dbt")
    original = root / "original"
    shutil.copytree(FIXTURE, original)
    database = original / "shop.duckdb"
    env = {**os.environ, "JAFFLE_SHOP_DUCKDB": str(database)}
    _load_source(database)
    _check(subprocess.run([str(BIN / "dbt"), "build", "--profiles-dir", str(original)], cwd=original, env=env,
                          capture_output=True, text=True), "dbt build of the original project")

    imported = root / "imported"
    started = time.monotonic()
    result = _check(run_process("import", "dbt", original, "--out", imported, env={"JAFFLE_SHOP_DUCKDB": str(database)}), "import")
    import_seconds = time.monotonic() - started
    print(f"\nimport of the fixture: {import_seconds:.1f}s")
    _deploy(imported)

    split = root / "split"
    shutil.copytree(imported, split, ignore=shutil.ignore_patterns("*.duckdb*", "transforms", ".meshgen", "orchestration", ".github", "docs"))
    spec = yaml.safe_load((split / "meshgen.yaml").read_text())
    spec["engines"]["rules"] = [{"name": "staging-on-sqlmesh", "when": {"layer": "staging"}, "engine": "sqlmesh"}]
    (split / "meshgen.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    _deploy(split)
    return {
        "original": original,
        "database": database,
        "imported": imported,
        "split": split,
        "stdout": result.stdout,
        "spec": yaml.safe_load((imported / "meshgen.yaml").read_text()),
        "manifest": json.loads((original / "target" / "manifest.json").read_text()),
    }


# -- the tables ---------------------------------------------------------------------


# meshgen's scd_type_2 names dbt's validity columns without the prefix (the report says so).
SNAPSHOT_COLUMNS = {"valid_from": "dbt_valid_from", "valid_to": "dbt_valid_to"}


def _dbt_tables(manifest: dict) -> dict[str, tuple[str, dict]]:
    """Every relation the original build made -> the table meshgen's dev holds for it (`main_staging` -> `staging__dev`),
    with the columns meshgen names otherwise."""
    tables = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] in ("model", "seed", "snapshot") and node["config"]["materialized"] != "ephemeral":
            schema = node["schema"].removeprefix("main_")
            renamed = SNAPSHOT_COLUMNS if node["resource_type"] == "snapshot" else {}
            tables[f'{node["schema"]}.{node["alias"]}'] = (f"{schema}__dev.{node['alias']}", renamed)
    return tables


def test_the_imported_spec_builds_the_tables_dbt_builds(shop):
    tables = _dbt_tables(shop["manifest"])
    assert len(tables) == 11  # 3 seeds, 4 staging views, 3 marts (the ephemeral model is inlined), a snapshot
    assert _differences(shop["database"], shop["imported"] / "warehouse.duckdb", tables) == []


def test_moving_staging_onto_sqlmesh_keeps_every_table(shop):
    result = run_cli("explain", "staging.stg_payments", "--spec", shop["split"] / "meshgen.yaml")
    assert "engine: sqlmesh  (decided by rule staging-on-sqlmesh)" in result.stdout, result.output
    tables = _dbt_tables(shop["manifest"])
    assert _differences(shop["database"], shop["split"] / "warehouse.duckdb", tables) == []


def test_every_model_is_on_dbt_until_a_rule_moves_it(shop):
    assert shop["spec"]["engines"] == {"default": "dbt"}
    for model in shop["spec"]["models"]:
        result = run_cli("explain", model["name"], "--spec", shop["imported"] / "meshgen.yaml")
        assert result.exit_code == 0 and "engine: dbt  (decided by engines.default)" in result.stdout, result.output


# -- one test per mapping -----------------------------------------------------------


def _models(shop) -> dict[str, dict]:
    return {m["name"]: m for m in shop["spec"]["models"]}


def _columns(model: dict) -> dict[str, dict]:
    return {name: (c if isinstance(c, dict) else {"type": c}) for name, c in model["contract"]["columns"].items()}


def test_materializations_map_to_kinds(shop):
    models = _models(shop)
    expected = {"view": "view", "table": "full", "incremental": "incremental_by_unique_key", "seed": "seed", "snapshot": "scd_type_2"}
    for node in shop["manifest"]["nodes"].values():
        if node["resource_type"] not in ("model", "seed", "snapshot"):
            continue
        materialized = node["config"]["materialized"]
        name = f'{node["schema"].removeprefix("main_")}.{node["alias"]}'
        if materialized == "ephemeral":
            assert name not in models
            assert "__dbt__cte__customer_orders" in (shop["imported"] / "sql" / "marts" / "customers.sql").read_text()
            continue
        assert models[name]["kind"] == expected[materialized], name
    assert models["marts.customer_events"]["unique_key"] == "event_id"
    snapshot = models["snapshots.orders_snapshot"]
    assert (snapshot["unique_key"], snapshot["updated_at"]) == ("order_id", "updated_at")


def test_generic_tests_map_to_constraints(shop):
    models = _models(shop)
    mapped = 0
    for test in shop["manifest"]["nodes"].values():
        metadata = test.get("test_metadata")
        if test["resource_type"] != "test" or not metadata or test["config"]["severity"].lower() != "error":
            continue
        attached = shop["manifest"]["nodes"][test["attached_node"]]
        constraints = _columns(models[f'{attached["schema"].removeprefix("main_")}.{attached["alias"]}'])[test["column_name"]]["constraints"]
        kwargs = metadata["kwargs"]
        if metadata["name"] in ("not_null", "unique"):
            assert metadata["name"] in constraints
        elif metadata["name"] == "accepted_values":
            assert {"accepted_values": kwargs["values"]} in constraints
        elif metadata["name"] == "relationships":
            target = next(n for n in test["depends_on"]["nodes"] if n != test["attached_node"])
            to = shop["manifest"]["nodes"][target]
            assert {"references": f'{to["schema"].removeprefix("main_")}.{to["alias"]}.{kwargs["field"]}'} in constraints
        elif metadata["name"] == "expression_is_true":
            assert {"check": f'{test["column_name"]} {kwargs["expression"]}'} in constraints
        mapped += 1
    assert mapped == 19
    dbt_tests = (shop["imported"] / "transforms" / "dbt" / "models" / "marts" / "_marts__models.yml").read_text()
    assert "relationships" in dbt_tests and "ref('customers')" in dbt_tests
    audits = (shop["split"] / "transforms" / "sqlmesh" / "models" / "staging" / "stg_payments.sql").read_text()
    assert "meshgen_references(column := order_id, to_table := staging.stg_orders, to_column := order_id)" in audits


def test_descriptions_owners_tags_and_docs_blocks_carry_over(shop):
    models = _models(shop)
    nodes = {n["name"]: n for n in shop["manifest"]["nodes"].values() if n["resource_type"] == "model"}
    for name in ("customers", "orders", "stg_customers"):
        model = next(m for m in models.values() if m["name"].endswith("." + name))
        assert model["description"] == nodes[name]["description"]
    status = _columns(models["marts.orders"])["status"]["description"]
    docs = (FIXTURE / "models" / "marts" / "docs.md").read_text()
    assert "return_pending | The customer has asked for a return" in status and status in docs
    assert models["marts.customers"]["owner"] == "analytics@jaffle.example"
    assert models["marts.customers"]["tags"] == ["finance"]
    assert _columns(models["marts.customers"])["customer_lifetime_value"]["type"] == "decimal(38, 2)"


def test_seed_types_are_the_ones_dbt_loaded(shop):
    models = _models(shop)
    with duckdb.connect(str(shop["database"]), read_only=True) as con:
        for table in ("raw_customers", "raw_orders", "raw_payments"):
            loaded = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'main_raw' AND table_name = ? "
                "ORDER BY ordinal_position", [table]).fetchall()
            pinned = [(c, duckdb.sql(f"SELECT NULL::{t} AS x").types[0].id.upper()) for c, t in
                      ((c, v["type"]) for c, v in _columns(models[f"raw.{table}"]).items())]
            assert [(c, t.upper()) for c, t in loaded] == pinned
    # The leading zero: column_types in dbt_project.yml pins zip_code as text, so it stays "02134".
    assert _columns(models["raw.raw_customers"])["zip_code"]["type"] == "varchar"


def _line_of(path: Path, text: str, after: str = "") -> int:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and text in line) + 1


def test_the_report_names_what_was_not_carried_over_with_its_line(shop):
    report = (shop["imported"] / "meshgen-import-report.txt").read_text()
    assert report in shop["stdout"]
    staging = FIXTURE / "models" / "staging" / "_staging.yml"
    expected = [
        "tests/assert_order_amounts_are_positive.sql:1: singular test assert_order_amounts_are_positive",
        f"models/staging/_staging.yml:{_line_of(staging, '- accepted_values', after='payment_method')}: test accepted_values_stg_payments_payment_method",
        f"models/marts/customer_events.sql:{_line_of(FIXTURE / 'models' / 'marts' / 'customer_events.sql', 'is_incremental')}: "
        "the is_incremental() filter of customer_events",
        "models/marts/customer_orders.sql:1: ephemeral model customer_orders",
    ]
    for item in expected:
        assert item in report
    assert "inlined as the CTE __dbt__cte__customer_orders into marts.customers" in report
    assert "severity warn" in report
    assert "snapshots/orders_snapshot.sql:7: snapshot orders_snapshot" in report
    assert len([line for line in report.splitlines() if line.startswith("  instead: ")]) == 6


def test_a_second_import_into_the_same_folder_is_refused_and_writes_nothing(shop):
    before = sorted(p.relative_to(shop["imported"]) for p in shop["imported"].rglob("*"))
    result = run_process("import", "dbt", shop["original"], "--out", shop["imported"], env={"JAFFLE_SHOP_DUCKDB": str(shop["database"])})
    assert result.returncode == 1
    assert "meshgen.yaml" in result.stderr and "already exists" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.relative_to(shop["imported"]) for p in shop["imported"].rglob("*")) == before


def test_a_project_dbt_cannot_compile_is_an_error_without_output(shop, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(FIXTURE, broken)
    (broken / "models" / "marts" / "orders.sql").write_text("select * from {{ ref('no_such_model') }}\n")
    result = run_process("import", "dbt", broken, "--out", tmp_path / "out", env={"JAFFLE_SHOP_DUCKDB": str(tmp_path / "x.duckdb")})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dbt could not compile the project" in result.stderr and "no_such_model" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
