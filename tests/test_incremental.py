"""Edits of model SQL rebuilt from the kept IR: the same tree as a cold build, or the full build decides.

Each test edits a copy of a spec after a build with the cache, builds again, and
compares the whole tree with a cold build of the edited spec in a new folder.
Whether the edit path ran shows in the overlay it keeps (a full build removes it).
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from conftest import copy_spec, run_cli
from golden_tree import read_tree
from synthetic import generate, write

from meshgen.build.incremental import BASE_FILE, OVERLAY_FILE
from meshgen.build.pipeline import resolve_spec

COMMENT = "-- reviewed: the totals agree with finance\n"


def build(spec: Path) -> str:
    result = run_cli("build", spec)
    assert result.exit_code == 0, result.output
    return result.stdout


def same_as_cold(spec: Path, tmp_path: Path) -> None:
    """The tree next to `spec` equals a cold build of the spec's current text in a new folder."""
    cold = tmp_path / "cold"
    shutil.rmtree(cold, ignore_errors=True)
    shutil.copytree(spec.parent, cold, ignore=shutil.ignore_patterns(".meshgen", "transforms", "contracts", "orchestration", "docs", ".github", ".gitlab-ci.yml", ".gitattributes"))
    build(cold / spec.name)
    assert read_tree(spec.parent) == read_tree(cold), "the edit's build differs from a cold build"


def edited_inline(spec: Path, name: str, edit) -> None:
    """Apply `edit(lines, first, indent)` to the spec's lines, at the first line of a model's inline block SQL."""
    model = next(m for m in resolve_spec(spec).models if m.name == name)
    lines = spec.read_text().splitlines(keepends=True)
    first = model.sql.location.line - 1
    assert lines[first - 1].rstrip().endswith(("|", "|-", "|+")), "the model's SQL is a block scalar"
    edit(lines, first, model.sql.location.col - 1)
    spec.write_text("".join(lines))


def add_comment(lines: list[str], first: int, indent: int) -> None:
    lines.insert(first, " " * indent + COMMENT)


def add_unused_cte(lines: list[str], first: int, indent: int) -> None:
    """A CTE nothing reads, on a line of its own: the model reads, outputs and calls what it did, in other SQL."""
    cte = "reviewed AS (SELECT 1 AS one)"
    if lines[first][indent:].upper().startswith("WITH"):
        lines[first] = lines[first][:indent] + f"WITH {cte},\n" + " " * indent + lines[first][indent + 4:].lstrip()
    else:
        lines.insert(first, " " * indent + f"WITH {cte}\n")


def took_edit_path(spec: Path) -> bool:
    return (spec.parent / OVERLAY_FILE).exists()


def inline_models(spec: Path) -> list:
    text = spec.read_text().splitlines()
    return [m for m in resolve_spec(spec).models if m.sql is not None and not m.sql.file and text[m.sql.location.line - 2].rstrip().endswith("|")]


@pytest.mark.parametrize("name", ["example.yaml", "postgres_dev.yaml", "minimal.yaml"])
def test_an_edit_of_each_model_s_sql_gives_the_cold_build_s_tree(tmp_path, name):
    """Every inline SQL model of the spec edited in turn (lines added each time): each build equals a cold one.

    The edit path changes model files only. Where the new CTE makes the inferred
    output differ (names alone no longer certain, so types are inferred), the full
    build runs instead.
    """
    spec = copy_spec(name, tmp_path / "warm")
    build(spec)
    models = inline_models(spec)
    took = 0
    for model in models:
        before = read_tree(spec.parent)
        edited_inline(spec, model.name, add_unused_cte)
        build(spec)
        if took_edit_path(spec):
            took += 1
            changed = {p for p, text in read_tree(spec.parent).items() if before.get(p) != text} - {spec.name}
            assert changed and all(p.endswith((".sql", ".py")) or p == ".meshgen/manifest.json" for p in changed), changed
        same_as_cold(spec, tmp_path)
    assert took >= len(models) / 2, f"{took} of {len(models)} edits took the edit path"


def test_an_upstream_edit_re_renders_what_its_fingerprint_reaches(tmp_path):
    """A SQLMesh staging model read across engines: its file, and the stamps downstream of it, change."""
    spec = copy_spec("example.yaml", tmp_path / "warm")
    build(spec)
    before = read_tree(spec.parent)
    spec.write_text(spec.read_text().replace("LOWER(product_type) AS product_type", "LOWER(TRIM(product_type)) AS product_type", 1))
    assert build(spec).startswith("wrote ")
    assert took_edit_path(spec)
    changed = {p for p, text in read_tree(spec.parent).items() if before.get(p) != text}
    assert "transforms/sqlmesh/models/staging/stg_accounts.sql" in changed and len(changed) > 3, changed
    same_as_cold(spec, tmp_path)


def test_a_sql_file_edit_takes_the_edit_path(tmp_path):
    spec = copy_spec("example.yaml", tmp_path / "warm")
    build(spec)
    sql_file = spec.parent / "sql/stg_transactions.sql"
    sql_file.write_text(COMMENT + sql_file.read_text())
    build(spec)
    assert took_edit_path(spec)
    same_as_cold(spec, tmp_path)


def test_edits_in_a_row_keep_the_kept_ir_right(tmp_path):
    """Edits above and below earlier ones (positions move), then an undo: each build equals a cold one."""
    spec = write(generate(40, seed=5), tmp_path / "warm")
    original = spec.read_text()
    build(spec)
    models = inline_models(spec)
    for model in (models[-1], models[0], models[len(models) // 2]):
        edited_inline(spec, model.name, add_comment)
        build(spec)
        assert took_edit_path(spec)
        same_as_cold(spec, tmp_path)
    spec.write_text(original)  # three entries changed at once: the full build
    build(spec)
    same_as_cold(spec, tmp_path)


@pytest.mark.parametrize(
    "old, new",
    [
        ("LOWER(product_type) AS product_type", "LOWER(product_type) AS product_type, 1 AS product_rank"),  # a new column
        ("LOWER(product_type) AS product_type", "CAST(LENGTH(product_type) AS INTEGER) AS product_type"),  # a new type
        ("FROM raw.accounts", "FROM raw.accounts JOIN raw.customers USING (customer_id)"),  # a new read
        ("normalised product and status, and an is_open flag", "an is_open flag"),  # not the SQL
        ("resources: {memory_gb: 4, cpu_cores: 2}", "resources: {memory_gb: 4.0, cpu_cores: 2}"),  # equal in Python, not in the IR
        ("resources: {memory_gb: 4, cpu_cores: 2}", "resources: {cpu_cores: 2, memory_gb: 4}"),  # the same keys in another order
    ],
)
def test_an_edit_that_changes_more_than_the_sql_s_text_takes_the_full_build(tmp_path, old, new):
    spec = copy_spec("example.yaml", tmp_path / "warm")
    build(spec)
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))
    result = run_cli("build", spec)
    if result.exit_code == 0:
        assert not took_edit_path(spec)
        same_as_cold(spec, tmp_path)
    else:  # the full build's own diagnostic, with its position
        assert "example.yaml:" in result.output and not took_edit_path(spec)


def test_a_broken_edit_is_reported_by_the_full_build_and_nothing_is_written(tmp_path):
    spec = copy_spec("example.yaml", tmp_path / "warm")
    build(spec)
    before = read_tree(spec.parent)
    edited_inline(spec, "staging.stg_accounts", lambda lines, first, indent: lines.insert(first, " " * indent + "SELEC (\n"))
    result = run_cli("build", spec)
    assert result.exit_code == 1 and "example.yaml:" in result.output, result.output
    after = read_tree(spec.parent)
    assert after.pop(spec.name) != before.pop(spec.name) and after == before


def test_a_damaged_kept_ir_takes_the_full_build(tmp_path):
    spec = copy_spec("example.yaml", tmp_path / "warm")
    build(spec)
    (spec.parent / BASE_FILE).write_bytes(pickle.dumps("not the kept IR"))
    edited_inline(spec, "staging.stg_accounts", add_comment)
    build(spec)
    assert not took_edit_path(spec) and (spec.parent / BASE_FILE).exists()
    same_as_cold(spec, tmp_path)


def test_a_hand_edit_still_stops_the_build(tmp_path):
    spec = copy_spec("example.yaml", tmp_path / "warm")
    build(spec)
    generated = spec.parent / "docs/lineage.md"
    generated.write_text(generated.read_text() + "edit\n")
    edited_inline(spec, "staging.stg_accounts", add_comment)
    result = run_cli("build", spec)
    assert result.exit_code == 1 and "docs/lineage.md" in result.output and "generated file was edited by hand" in result.output


def test_a_seed_changed_beside_the_sql_takes_the_full_build(tmp_path):
    spec = copy_spec("example.yaml", tmp_path / "warm")
    build(spec)
    seed = spec.parent / "seeds/product_pricing.csv"
    seed.write_text(seed.read_text() + "new_product,1.00,0.0100\n")
    edited_inline(spec, "staging.stg_accounts", add_unused_cte)
    build(spec)
    assert not took_edit_path(spec)
    same_as_cold(spec, tmp_path)


def test_a_comment_between_keys_of_a_model_rewrites_nothing(tmp_path, sql_parses):
    spec = copy_spec("example.yaml", tmp_path / "warm")
    build(spec)
    spec.write_text(spec.read_text().replace("    tags: [staging]\n    sql: |", "    tags: [staging]\n    # cleaned by the platform team\n    sql: |", 1))
    before = len(sql_parses)
    assert build(spec).startswith("wrote 0, deleted 0,")
    assert took_edit_path(spec) and len(sql_parses) == before
    same_as_cold(spec, tmp_path)
