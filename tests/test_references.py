"""The `references` constraint (a foreign key) in every target: a dbt relationships test, a SQLMesh
audit reading the referenced table from the same environment, an ODCS rule; the referenced table
is built first."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import run_cli

SPEC = """\
meshgen: 1
project: {name: refs, dialect: duckdb}
models:
  - name: staging.parents
    engine: sqlmesh
    kind: view
    sql: SELECT 1 AS id UNION ALL SELECT 2 AS id
  - name: staging.dbt_parents
    kind: view
    sql: SELECT 1 AS id
  - name: staging.children
    engine: sqlmesh
    contract:
      columns:
        parent_id: {type: integer, constraints: [{references: staging.parents.id}]}
        other_id: {type: integer, constraints: [{references: staging.dbt_parents.id}]}
    sql: SELECT %(orphan)s AS parent_id, 1 AS other_id
  - name: marts.kids
    contract:
      columns:
        parent_id: {type: integer, constraints: [{references: staging.parents.id}]}
    sql: SELECT 2 AS parent_id
"""


def _build(folder: Path, orphan: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meshgen.yaml").write_text(SPEC % {"orphan": orphan})
    result = run_cli("build", folder / "meshgen.yaml")
    assert result.exit_code == 0, result.output
    return folder


def test_dbt_gets_a_relationships_test_reading_the_other_engine_through_its_source(tmp_path):
    folder = _build(tmp_path)
    properties = yaml.safe_load((folder / "transforms/dbt/models/marts/_marts__models.yml").read_text())
    column = properties["models"][0]["columns"][0]
    assert column["data_tests"] == [{"relationships": {"arguments": {"to": "source('sqlmesh_staging', 'parents')", "field": "id"}}}]


def test_sqlmesh_gets_an_audit_and_depends_on_the_referenced_tables(tmp_path):
    folder = _build(tmp_path)
    model = (folder / "transforms/sqlmesh/models/staging/children.sql").read_text()
    assert "depends_on (staging.parents, staging@{meshgen_dbt_suffix}.dbt_parents)" in model
    assert "meshgen_references(column := parent_id, to_table := staging.parents, to_column := id)" in model
    assert "meshgen_references(column := other_id, to_table := staging@{meshgen_dbt_suffix}.dbt_parents, to_column := id)" in model
    audit = (folder / "transforms/sqlmesh/audits/meshgen_references.sql").read_text()
    assert "AUDIT (name meshgen_references)" in audit and "NOT EXISTS" in audit


def test_the_referenced_table_is_built_first(tmp_path):
    folder = _build(tmp_path)
    result = run_cli("explain", "staging.children", "--spec", folder / "meshgen.yaml")
    upstream = result.stdout.split("upstream:")[1].split("\n\n")[0]
    assert "staging.parents" in upstream and "staging.dbt_parents" in upstream
    assert "stage: 3 of 3" in result.stdout  # after dbt's stage that builds staging.dbt_parents


def test_the_contract_document_has_an_orphan_rows_rule(tmp_path):
    folder = _build(tmp_path)
    document = yaml.safe_load((folder / "transforms/shared/contracts/marts.kids.odcs.yaml").read_text())
    rules = document["schema"][0]["properties"][0]["quality"]
    assert rules == [{
        "type": "sql",
        "description": "references: staging.parents.id",
        "query": "SELECT COUNT(*) FROM marts.kids WHERE NOT parent_id IS NULL AND NOT parent_id IN (SELECT id FROM staging.parents)",
        "mustBe": 0,
    }]


def test_an_added_reference_is_a_breaking_change(tmp_path):
    before = tmp_path / "before.yaml"
    before.write_text(SPEC.replace(", constraints: [{references: staging.parents.id}]}\n    sql: SELECT 2", "}\n    sql: SELECT 2") % {"orphan": 1})
    after = _build(tmp_path / "after") / "meshgen.yaml"
    result = run_cli("diff", after, "--base", before)
    assert "BREAKING" in result.stdout and "references added: staging.parents.id" in result.stdout


ORPHAN_SPEC = """\
meshgen: 1
project: {name: refs, dialect: duckdb}
engines: {default: sqlmesh}
models:
  - name: staging.parents
    sql: SELECT 1 AS id UNION ALL SELECT 2 AS id
  - name: staging.children
    contract:
      columns:
        parent_id: {type: integer, constraints: [{references: staging.parents.id}]}
    sql: SELECT 7 AS parent_id
"""


@pytest.mark.integration
def test_an_orphan_fails_the_deploy_naming_the_model_and_the_column(tmp_path):
    (tmp_path / "meshgen.yaml").write_text(ORPHAN_SPEC)
    result = run_cli("deploy", tmp_path / "meshgen.yaml", "--env", "dev")
    assert result.exit_code == 1, result.output
    assert "staging.children" in result.output and "meshgen_references" in result.output and "parent_id" in result.output
    assert "audit error" in result.output  # the audit failed it, not the build (the dbt fixture's import passes the same audit)
