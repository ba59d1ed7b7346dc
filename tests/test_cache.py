"""The build cache: a no-op rebuild parses nothing, and every input change is noticed."""

from __future__ import annotations

from pathlib import Path

from conftest import copy_spec, run_cli
from golden_tree import read_tree


def build(spec: Path, *extra) -> str:
    result = run_cli("build", spec, *extra)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_no_op_rebuild_parses_nothing(tmp_path, sql_parses):
    spec = copy_spec("example.yaml", tmp_path)
    build(spec)
    before = len(sql_parses)
    assert build(spec).startswith("wrote 0, deleted 0, unchanged ")
    assert len(sql_parses) == before
    assert run_cli("build", spec, "--check").exit_code == 0
    assert len(sql_parses) == before


def test_every_input_invalidates_the_cache(tmp_path, sql_parses):
    spec = copy_spec("example.yaml", tmp_path)
    build(spec)
    before = read_tree(tmp_path)
    seed = tmp_path / "seeds/product_pricing.csv"
    seed.write_text(seed.read_text() + "new_product,1.00,0.0100\n")
    build(spec)
    changed = {path for path, text in read_tree(tmp_path).items() if before.get(path) != text}
    # The dbt seed copy, and the SQLMesh models that read it (directly or not) get a new stamp.
    assert "transforms/dbt/seeds/finance/product_pricing.csv" in changed
    assert "transforms/sqlmesh/models/finance/customer_profitability.sql" in changed
    assert "transforms/sqlmesh/models/marts/executive_summary.sql" in changed
    module = tmp_path / "pipelines/churn.py"
    module.write_text(module.read_text() + "\n# a change to the code of a Python model\n")
    build(spec)
    assert read_tree(tmp_path)["transforms/sqlmesh/models/ml/churn_scores.py"] != before["transforms/sqlmesh/models/ml/churn_scores.py"]
    sql_file = tmp_path / "sql/customer_dashboard.sql"
    sql_file.write_text(sql_file.read_text().replace("recommended_action", "recommended_action", 1) + "\n")
    before = len(sql_parses)
    build(spec)
    assert len(sql_parses) > before, "a changed sql_file is parsed again"


def test_hand_edits_are_still_caught_with_a_warm_cache(tmp_path):
    spec = copy_spec("minimal.yaml", tmp_path)
    build(spec)
    build(spec)
    generated = tmp_path / "docs/lineage.md"
    generated.write_text(generated.read_text() + "edit\n")
    check = run_cli("build", spec, "--check")
    assert check.exit_code == 1 and "edited by hand: docs/lineage.md" in check.stdout


def test_cached_and_cold_builds_are_byte_identical(tmp_path):
    warm = copy_spec("example.yaml", tmp_path / "warm")
    build(warm)
    text = warm.read_text().replace("Churn probability per customer", "Churn likelihood per customer")
    warm.write_text(text)
    build(warm)
    build(warm)
    cold = copy_spec("example.yaml", tmp_path / "cold")
    cold.write_text(text)
    build(cold)
    assert read_tree(tmp_path / "warm") == read_tree(tmp_path / "cold")


def rebuild_after(tmp_path: Path, sql_parses, old: str, new: str) -> list[str]:
    """Build the example, edit one model's SQL, rebuild: the models parsed by the rebuild."""
    spec = copy_spec("example.yaml", tmp_path / "warm")
    build(spec)
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))
    first = len(sql_parses)
    build(spec)
    parsed = models_parsed(spec, sql_parses.texts[first:])
    cold = copy_spec("example.yaml", tmp_path / "cold")
    cold.write_text(spec.read_text())
    build(cold)
    assert read_tree(tmp_path / "warm") == read_tree(tmp_path / "cold"), "incremental and cold builds differ"
    return parsed


def models_parsed(spec: Path, texts: list[str]) -> list[str]:
    """The models whose SQL these are, in order; contract checks, also parsed, name no model."""
    from meshgen.build.pipeline import resolve_spec

    models = {model.sql.text: model.name for model in resolve_spec(spec).models if model.sql is not None}
    return [models[text] for text in texts if text in models]


def test_changing_one_model_reanalyses_only_that_model(tmp_path, sql_parses):
    parsed = rebuild_after(tmp_path, sql_parses, "LOWER(product_type) AS product_type", "LOWER(TRIM(product_type)) AS product_type")
    assert parsed == ["staging.stg_accounts"]


def test_a_changed_output_reanalyses_the_model_and_its_downstream(tmp_path, sql_parses):
    from meshgen.analysis.impact import downstream_closure
    from meshgen.build.pipeline import load

    spec = load(copy_spec("example.yaml", tmp_path / "probe"))
    downstream = set(downstream_closure(spec, ["staging.stg_accounts"]))
    parsed = rebuild_after(tmp_path, sql_parses, "LOWER(product_type) AS product_type", "UPPER(product_type) || '' AS product_type, 1 AS product_rank")
    # The edit path parses the model, finds its output changed and leaves it to the full build.
    assert parsed[:2] == ["staging.stg_accounts", "staging.stg_accounts"]
    assert set(parsed[2:]) <= downstream and parsed[2:], parsed
    assert len(parsed) == len(set(parsed)) + 1, "no other model is parsed twice"


def test_schema_errors_are_reported_with_a_warm_cache(tmp_path):
    """Only valid spec items are remembered: an item broken after a build is checked and reported."""
    spec = copy_spec("example.yaml", tmp_path)
    build(spec)
    text = spec.read_text()
    assert "    kind: incremental_by_time_range\n" in text
    spec.write_text(text.replace("    kind: incremental_by_time_range\n", "    kind: incremental_by_tim\n", 1))
    result = run_cli("build", spec)
    assert result.exit_code == 1, result.output
    assert "has unknown value 'incremental_by_tim'" in result.output and "did you mean 'incremental_by_time_range'" in result.output
    spec.write_text(text)
    assert build(spec).startswith("wrote 0, deleted 0,"), "the fixed spec builds to the same tree"
