"""Seeds load the same table on both engines: one type per column, text kept as written."""

from __future__ import annotations

import pytest
import yaml

duckdb = pytest.importorskip("duckdb")

import oracle
from conftest import error_text, load_dict, spec_with, write_spec
from meshgen.frontend import seeds
from meshgen.targets import dbt as dbt_emitter
from meshgen.targets import sqlmesh as sqlmesh_emitter

CODES = "code,label,amount,opened,flag,zip\n0742,vet,1.50,2024-01-02,true,\n5411,grocery,2,2024-01-03,false,10115\n"


def seed_spec(contract: bool = False, engine: str = "dbt") -> dict:
    model = {"name": "ref.codes", "kind": "seed", "seed_file": "codes.csv", "engine": engine}
    if contract:
        model["contract"] = {"columns": {"code": "varchar", "label": "varchar", "amount": "decimal(18,2)", "opened": "date", "flag": "boolean", "zip": "varchar"}}
    reader = {"name": "ref.code_list", "sql": "SELECT code, label, amount, opened, flag, zip FROM ref.codes", "engine": "dbt"}
    return spec_with(model, reader)


@pytest.mark.parametrize(
    "values, expected",
    [
        (["1", "-20", ""], "bigint"),
        (["1.5", "2", "1e3"], "double"),
        (["true", "False"], "boolean"),
        (["2024-01-02", ""], "date"),
        (["2024-01-02 10:00:00", "2024-01-02T11:30"], "timestamp"),
        (["0742", "5411"], "varchar"),  # a leading zero is text
        (["", ""], "varchar"),
    ],
)
def test_one_type_per_column(values, expected):
    assert seeds.infer_type(values) == expected


@pytest.mark.parametrize(
    "values, changed",
    [
        (["0742", "5411"], True),  # pandas: 742
        (["5411", ""], True),  # pandas: 5411.0
        (["5411", "4900"], False),
        (["5411", "n/a"], False),  # not all numbers: read as text
        (["true", "false"], True),  # pandas: True / False
    ],
)
def test_what_sqlmeshs_csv_reader_would_change(values, changed):
    assert seeds.pandas_changes_text(values) is changed


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b\n1,null\n", "'null' reads as NULL in dbt but as text in SQLMesh"),
        ("a,b\n1\n", "line 2 has 1 fields; the header has 2"),
        ("a,a\n1,2\n", "empty or repeated column names"),
        ("", "the file is empty"),
    ],
)
def test_a_seed_both_engines_would_read_differently_is_refused(tmp_path, text, message):
    data = spec_with({"name": "ref.codes", "kind": "seed", "seed_file": "codes.csv"})
    assert message in error_text(tmp_path, data, {"codes.csv": text})


def test_a_contract_must_match_the_seed_header(tmp_path):
    data = spec_with({"name": "ref.codes", "kind": "seed", "seed_file": "codes.csv", "contract": {"columns": {"code": "varchar"}}})
    assert "has the columns code, label but the contract declares code" in error_text(tmp_path, data, {"codes.csv": "code,label\n1,a\n"})


def test_both_engines_are_told_the_same_types(tmp_path):
    spec = load_dict(tmp_path / "dbt", seed_spec(engine="dbt"), {"codes.csv": CODES})
    files = {f.path: f.text for f in dbt_emitter.emit(spec)}
    seed = yaml.safe_load(files["transforms/dbt/seeds/ref/_ref__seeds.yml"])["seeds"][0]
    inferred = {"code": "varchar", "label": "varchar", "amount": "double", "opened": "date", "flag": "boolean", "zip": "bigint"}
    assert seed["config"]["column_types"] == inferred
    assert files["transforms/dbt/seeds/ref/codes.csv"] == CODES
    spec = load_dict(tmp_path / "sqlmesh", seed_spec(engine="sqlmesh"), {"codes.csv": CODES})
    model = {f.path: f.text for f in sqlmesh_emitter.emit(spec)}["transforms/sqlmesh/models/ref/codes.sql"]
    assert "code TEXT," in model and "amount DOUBLE," in model and "zip BIGINT" in model
    # `code` is text that looks like numbers: SQLMesh gets the rows as SQL, each value as written.
    assert "kind FULL" in model and "CAST(seed_rows.code AS TEXT) AS code" in model and "'0742'" in model


def test_a_seed_pandas_reads_as_written_stays_a_seed(tmp_path):
    data = seed_spec(engine="sqlmesh")
    data["models"][1]["sql"] = "SELECT code, label FROM ref.codes"  # the columns this file has
    spec = load_dict(tmp_path, data, {"codes.csv": "code,label\n5411,grocery\n4900,utilities\n"})
    model = {f.path: f.text for f in sqlmesh_emitter.emit(spec)}["transforms/sqlmesh/models/ref/codes.sql"]
    assert "kind SEED (path '../../../../codes.csv', csv_settings (keep_default_na = FALSE, na_values = ['']))" in model


@pytest.mark.integration
@pytest.mark.parametrize("contract", [False, True], ids=["inferred", "contract"])
def test_the_same_seed_table_on_either_engine(tmp_path, contract):
    tables = {}
    for engine in ("dbt", "sqlmesh"):
        folder = tmp_path / engine
        spec_path = write_spec(folder, seed_spec(contract, engine), {"codes.csv": CODES})
        oracle.meshgen("deploy", spec_path.name, "--env", "dev", "--execution-time", oracle.T1, cwd=folder)
        with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as connection:
            rows = connection.execute("SELECT code, label, amount, opened, flag, zip FROM ref__dev.codes ORDER BY code").fetchall()
            types = connection.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'ref__dev' AND table_name = 'codes'").fetchall()
        tables[engine] = (rows, sorted(types))
    assert tables["dbt"] == tables["sqlmesh"]
    rows, _ = tables["dbt"]
    assert [r[0] for r in rows] == ["0742", "5411"], "text stays text, leading zero and all"
    assert rows[0][5] is None, "an empty field is NULL"
