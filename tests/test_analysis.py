"""The analyze stage: dependencies, cycles, layers, output columns and contract checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import error_text, load_dict, spec_with


def sql_model(name: str, sql: str, **extra) -> dict:
    return {"name": name, "sql": sql, **extra}


def test_dependencies_are_table_references_minus_ctes_plus_depends_on(tmp_path: Path):
    spec = load_dict(
        tmp_path,
        spec_with(
            sql_model("staging.a", "SELECT order_id FROM raw.orders"),
            sql_model("staging.b", "SELECT 1 AS x"),
            sql_model(
                "marts.c",
                "WITH recent AS (SELECT * FROM staging.a) SELECT r.order_id FROM recent AS r",
                depends_on=["staging.b"],
            ),
        ),
    )
    assert spec.analysis.models["marts.c"].upstreams == ("staging.a", "staging.b")
    assert spec.analysis.downstreams["raw.orders"] == ("staging.a",)
    assert spec.analysis.order.index("staging.a") < spec.analysis.order.index("marts.c")


def test_a_cycle_of_three_is_reported_as_a_path(tmp_path: Path):
    text = error_text(
        tmp_path,
        spec_with(
            sql_model("s.a", "SELECT id FROM s.c"),
            sql_model("s.b", "SELECT id FROM s.a"),
            sql_model("s.c", "SELECT id FROM s.b"),
        ),
    )
    assert "model 's.a' is part of a dependency cycle: s.a -> s.b -> s.c -> s.a" in text


def test_a_model_reading_itself_is_a_cycle(tmp_path: Path):
    text = error_text(tmp_path, spec_with(sql_model("s.a", "SELECT id FROM s.a")))
    assert "model 's.a' reads itself: s.a -> s.a" in text


def load_text(folder: Path, text: str) -> str:
    from meshgen.errors import MeshgenError
    from meshgen.build.pipeline import load

    path = folder / "meshgen.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MeshgenError) as error:
        load(path, "meshgen.yaml")
    return error.value.render()


HEADER = "meshgen: 1\nproject: {name: shop}\nsources: [{name: raw.orders}]\nmodels:\n"


def test_a_typo_in_a_table_name_is_named_with_a_suggestion(tmp_path: Path):
    text = load_text(tmp_path, HEADER + "  - name: s.a\n    sql: |\n      SELECT order_id\n      FROM raw.ordrs\n")
    assert text.startswith("meshgen.yaml:8:12: error: model 's.a' reads unknown table 'raw.ordrs'")
    assert "did you mean 'raw.orders'?" in text


def test_unknown_depends_on_is_reported(tmp_path: Path):
    text = error_text(tmp_path, spec_with(sql_model("s.a", "SELECT 1 AS x", depends_on=["raw.nope"])))
    assert "model 's.a' reads unknown table 'raw.nope'" in text


def test_tables_without_schema_are_refused(tmp_path: Path):
    text = error_text(tmp_path, spec_with(sql_model("s.a", "SELECT order_id FROM orders")))
    assert "reads table 'orders' without its schema" in text and "raw.orders" in text


def test_sql_syntax_errors_point_into_the_block_scalar(tmp_path: Path):
    text = load_text(tmp_path, HEADER + "  - name: s.a\n    sql: |\n      SELECT a,\n        FROM x WHERE (\n")
    assert text.startswith("meshgen.yaml:8:22: error: model 's.a': SQL syntax error")


def test_sql_syntax_errors_in_sql_files_point_into_the_file(tmp_path: Path):
    data = spec_with({"name": "s.a", "sql_file": "sql/a.sql"})
    text = error_text(tmp_path, data, files={"sql/a.sql": "SELECT\n  CASE WHEN x THEN 1\nFROM raw.orders\n"})
    assert text.startswith("sql/a.sql:2:20: error: model 's.a': SQL syntax error near '1': Expected END after CASE")


def test_more_than_one_statement_is_refused(tmp_path: Path):
    text = error_text(tmp_path, spec_with(sql_model("s.a", "SELECT 1 AS x; DROP TABLE raw.orders")))
    assert "must be a single SELECT query, found several statements" in text


def test_a_model_may_not_read_a_higher_layer(tmp_path: Path):
    data = spec_with(
        sql_model("marts.m", "SELECT order_id FROM raw.orders", layer="marts"),
        sql_model("staging.s", "SELECT order_id FROM marts.m", layer="staging"),
        project={"name": "shop", "layers": ["staging", "marts"]},
    )
    text = error_text(tmp_path, data)
    assert "model 'staging.s' (layer staging) reads 'marts.m' from the higher layer marts" in text


def test_select_star_expands_from_upstream_schemas(tmp_path: Path):
    spec = load_dict(
        tmp_path,
        spec_with(
            sql_model("s.a", "SELECT * FROM raw.orders"),
            sql_model("s.b", "SELECT a.*, amount * 2 AS doubled FROM s.a AS a"),
        ),
    )
    columns = [(c.name, c.type) for c in spec.analysis.models["s.b"].output]
    assert [name for name, _ in columns] == ["order_id", "customer_id", "amount", "doubled"]
    assert dict(columns)["order_id"] == "int" and dict(columns)["doubled"] == "double"


def test_select_star_over_undeclared_columns_is_unknown_not_an_error(tmp_path: Path):
    data = spec_with(sql_model("s.a", "SELECT * FROM raw.events"))
    data["sources"].append({"name": "raw.events"})
    spec = load_dict(tmp_path, data)
    assert spec.analysis.models["s.a"].output is None


def test_contract_columns_missing_from_the_sql_are_listed(tmp_path: Path):
    data = spec_with(
        sql_model(
            "s.a",
            "SELECT order_id, amount AS total FROM raw.orders",
            contract={"columns": {"order_id": "integer", "amount": "double", "customer_id": "integer"}},
        )
    )
    text = error_text(tmp_path, data)
    assert "model 's.a' does not match its contract 's.a': missing column(s) amount, customer_id; extra column(s) total" in text


def test_contract_type_mismatch_is_an_error(tmp_path: Path):
    data = spec_with(
        sql_model(
            "s.a",
            "SELECT order_id, CAST(amount AS VARCHAR) AS amount FROM raw.orders",
            contract={"columns": {"order_id": "integer", "amount": "integer"}},
        )
    )
    text = error_text(tmp_path, data)
    assert "column 'amount' is text (text) in the SQL but integer (number) in the contract" in text


# Neither has a type any sqlglot can know: the source declares no columns, the function is the user's.
UNTYPED = {
    "a column of a source without columns": "SELECT o.order_id, e.payload FROM raw.orders AS o JOIN raw.events AS e ON e.order_id = o.order_id",
    "a user-defined function": "SELECT order_id, shop_score(amount, customer_id) AS payload FROM raw.orders",
}


@pytest.mark.parametrize("sql", UNTYPED.values(), ids=UNTYPED.keys())
def test_a_contract_column_whose_type_cannot_be_inferred_is_accepted(tmp_path: Path, sql: str):
    """meshgen refuses only a mismatch it can see; what it cannot infer, the contract's type stands for."""
    data = spec_with(sql_model("s.a", sql, contract={"columns": {"order_id": "integer", "payload": "bigint"}}))
    data["sources"].append({"name": "raw.events"})
    payload = load_dict(tmp_path, data).analysis.models["s.a"].output[1]
    assert (payload.name, payload.type) == ("payload", ""), "the case is about a type that cannot be inferred"


def test_a_contract_column_of_the_inferred_type_is_accepted(tmp_path: Path):
    contract = {"columns": {"order_id": "integer", "doubled": "double"}}
    data = spec_with(sql_model("s.a", "SELECT order_id, amount * 2 AS doubled FROM raw.orders", contract=contract))
    output = load_dict(tmp_path, data).analysis.models["s.a"].output
    assert [(c.name, c.type) for c in output] == [("order_id", "int"), ("doubled", "double")]


def test_unknown_contract_types_are_refused(tmp_path: Path):
    data = spec_with(sql_model("s.a", "SELECT order_id FROM raw.orders", contract={"columns": {"order_id": "integr"}}))
    assert "column 'order_id' has unknown type 'integr'" in error_text(tmp_path, data)


def test_python_models_need_a_contract(tmp_path: Path):
    data = spec_with({"name": "ml.p", "python": {"entrypoint": "pipe:run"}, "depends_on": ["raw.orders"]})
    text = error_text(tmp_path, data, files={"pipe.py": "def run(inputs):\n    return None\n"})
    assert "Python model 'ml.p' needs a contract" in text


def test_unit_test_inputs_must_be_upstreams(tmp_path: Path):
    model = sql_model(
        "s.a",
        "SELECT order_id FROM raw.orders",
        tests=[{"name": "t", "given": {"raw.order": [{"order_id": 1}]}, "expect": [{"order_id": 1}]}],
    )
    text = error_text(tmp_path, spec_with(model))
    assert "test 't' of model 's.a' gives rows for 'raw.order', which the model does not read" in text
    assert "did you mean 'raw.orders'?" in text
