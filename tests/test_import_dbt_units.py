"""The parts of `meshgen import dbt` that need no dbt run: relation names, the report, bad input."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli
from meshgen.importers.dbt_names import Relations, node_name
from meshgen.importers.report import Report

RELATIONS = Relations.of(
    "duckdb",
    {'"shop"."main_staging"."stg_orders"': "staging.stg_orders", '"shop"."web"."events"': "web.events"},
)


def test_relations_become_plain_names_on_the_syntax_tree():
    compiled = (
        'with __dbt__cte__x as (select * from "shop"."main_staging"."stg_orders") '
        'select o.order_id, e.event_type from __dbt__cte__x as o join "shop"."web"."events" e on e.id = o.order_id '
        "where o.note = '\"shop\".\"main_staging\".\"stg_orders\"'"
    )
    sql = RELATIONS.plain_sql(compiled, "models/x.sql")
    assert "FROM staging.stg_orders" in sql
    assert "JOIN web.events AS e" in sql
    assert "FROM __dbt__cte__x AS o" in sql  # a CTE is not a relation
    assert "'\"shop\".\"main_staging\".\"stg_orders\"'" in sql  # nor is a string that spells one


def test_a_relation_without_its_database_is_renamed_too():
    assert "FROM staging.stg_orders" in RELATIONS.plain_sql('select 1 from "main_staging"."stg_orders"', "m.sql")


def test_unparsable_compiled_sql_is_an_error_naming_the_model_file():
    try:
        RELATIONS.plain_sql("select from from (", "models/broken.sql")
    except Exception as error:  # noqa: BLE001 - the error's type and text are what is tested
        assert type(error).__name__ == "MeshgenError"
        assert "models/broken.sql" in str(error) and "sqlglot cannot parse" in str(error)
    else:
        raise AssertionError("no error")


def test_a_model_is_named_by_its_custom_schema_else_its_folder_else_the_target_schema():
    base = {"resource_type": "model", "name": "Orders", "alias": "Orders", "schema": "main_x"}
    assert node_name({**base, "config": {"schema": "marts"}, "path": "a/orders.sql"}) == "marts.orders"
    assert node_name({**base, "config": {}, "path": "finance/orders.sql"}) == "finance.orders"
    assert node_name({**base, "config": {}, "path": "orders.sql"}) == "main_x.orders"


def test_the_report_sorts_by_file_and_line_number():
    report = Report()
    report.add("models/a.yml:10", "second", "x")
    report.add("models/a.yml:9", "first", "y")
    lines = report.render("import").splitlines()
    assert lines[0] == "import: 2 item(s) not carried over as they were"
    assert lines[1] == "models/a.yml:9: first" and lines[2] == "  instead: y" and lines[3] == "models/a.yml:10: second"


def test_a_folder_that_is_no_dbt_project_is_refused_without_output(tmp_path: Path):
    result = run_cli("import", "dbt", tmp_path / "nowhere", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "is not a dbt project (no dbt_project.yml)" in result.stderr and "hint: pass the folder" in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_output_folder_with_a_spec_is_refused_before_dbt_runs(tmp_path: Path):
    (tmp_path / "meshgen.yaml").write_text("meshgen: 1\n")
    (tmp_path / "dbt_project.yml").write_text("name: x\n")
    result = run_cli("import", "dbt", tmp_path, "--out", tmp_path)
    assert result.exit_code == 1
    assert "meshgen.yaml: error: already exists" in result.stderr


def test_a_folder_that_is_no_sqlmesh_project_is_refused_without_output(tmp_path: Path):
    result = run_cli("import", "sqlmesh", tmp_path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "is not a SQLMesh project (no config.yaml or config.py)" in result.stderr
    assert not (tmp_path / "out").exists()
