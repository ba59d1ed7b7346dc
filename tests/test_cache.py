"""The build cache: a no-op rebuild parses nothing, and every input change is noticed."""

from __future__ import annotations

from pathlib import Path

from conftest import copy_spec, run_cli
from golden_tree import read_tree
from meshgen.analysis import sql as sqlmod


def build(spec: Path, *extra) -> str:
    result = run_cli("build", spec, *extra)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_no_op_rebuild_parses_nothing(tmp_path):
    spec = copy_spec("example.yaml", tmp_path)
    build(spec)
    before = sqlmod.parse_count
    assert build(spec).startswith("wrote 0, deleted 0, unchanged ")
    assert sqlmod.parse_count == before
    assert run_cli("build", spec, "--check").exit_code == 0
    assert sqlmod.parse_count == before


def test_every_input_invalidates_the_cache(tmp_path):
    spec = copy_spec("example.yaml", tmp_path)
    build(spec)
    seed = tmp_path / "seeds/product_pricing.csv"
    seed.write_text(seed.read_text() + "new_product,1.00,0.0100\n")
    assert "wrote 1," in build(spec), "the dbt seed copy changes"
    sql_file = tmp_path / "sql/customer_dashboard.sql"
    sql_file.write_text(sql_file.read_text().replace("recommended_action", "recommended_action", 1) + "\n")
    before = sqlmod.parse_count
    build(spec)
    assert sqlmod.parse_count > before, "a changed sql_file is parsed again"


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
