"""The differential oracle on the real engines: moving models between engines never changes the data.

Each scenario runs three times from a fresh warehouse (every movable model on
dbt, every one on SQLMesh, and the spec's own rules): deploy dev (no prod ever
run), deploy prod, one more day of raw data with a late row, then a scheduled
run of dev and of prod. Every model table must be the same after every step,
in rows (a checksum over the sorted rows) and in column types.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import oracle
from conftest import on_one_worker
from synthetic import generate, next_day, raw_data, write

pytestmark = pytest.mark.integration
# The example's runs share a worker with the other tests that read `example_played` (conftest
# groups them); the generated spec's, independent of them, have one of their own.
ON_THE_GENERATED_SPEC = on_one_worker("oracle-generated")

ASSIGNMENTS = {
    "all on dbt": lambda data: oracle.assign_all(data, "dbt"),
    "all on sqlmesh": lambda data: oracle.assign_all(data, "sqlmesh"),
    "the spec's rules": None,
}


EXAMPLE = oracle.EXAMPLE

GENERATED_MODELS, GENERATED_SEED = 36, 11
_generated = generate(GENERATED_MODELS, seed=GENERATED_SEED)
GENERATED = oracle.Scenario(
    make_project=lambda folder: write(_generated, folder),
    load_raw=lambda database, spec: oracle.load_rows(database, spec, raw_data(_generated.spec, GENERATED_SEED)),
    load_next_day=lambda database, spec: oracle.load_rows(
        database, spec, next_day(_generated.spec, raw_data(_generated.spec, GENERATED_SEED), seed=GENERATED_SEED)
    ),
)


def _play_all(scenario: oracle.Scenario, root: Path, played: dict[str, oracle.Played] | None = None) -> dict:
    """Each assignment's run: those in `played` as given, the others played here."""
    played = played or {}
    return {
        name: played[name] if name in played else oracle.play(scenario, root / name.replace(" ", "_").replace("'", ""), change)
        for name, change in ASSIGNMENTS.items()
    }


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory, example_played):
    return _play_all(EXAMPLE, tmp_path_factory.mktemp("oracle-example"), {"the spec's rules": example_played})


@pytest.fixture(scope="module")
def generated_runs(tmp_path_factory):
    return _play_all(GENERATED, tmp_path_factory.mktemp("oracle-generated"))


def _assert_same_everywhere(runs: dict) -> None:
    (first_name, first), *others = runs.items()
    for name, played in others:
        found = oracle.differences(first.steps, played.steps)
        assert not found, f"{first_name} vs {name}:\n" + "\n".join(found)


def test_the_example_holds_the_same_data_whichever_engine_builds_each_model(example_runs):
    _assert_same_everywhere(example_runs)


@ON_THE_GENERATED_SPEC
def test_a_generated_spec_holds_the_same_data_whichever_engine_builds_each_model(generated_runs):
    _assert_same_everywhere(generated_runs)


def _assert_assignments_differ(runs: dict) -> None:
    """The comparison means something only if each run split the work differently."""
    deploys = {name: played.outputs[oracle.step_label("deploy", "dev", oracle.T1)] for name, played in runs.items()}
    stage_lines = {name: [line for line in text.splitlines() if " stage " in line] for name, text in deploys.items()}
    assert all(" · dbt · " in l for l in stage_lines["all on dbt"]) and len(stage_lines["all on dbt"]) == 1
    assert all(" · sqlmesh · " in l for l in stage_lines["all on sqlmesh"]) and len(stage_lines["all on sqlmesh"]) == 1
    assert len(stage_lines["the spec's rules"]) > 1


def test_the_examples_assignments_really_differ(example_runs):
    _assert_assignments_differ(example_runs)


@ON_THE_GENERATED_SPEC
def test_the_generated_specs_assignments_really_differ(generated_runs):
    _assert_assignments_differ(generated_runs)


def test_every_table_has_rows(example_runs):
    """A checksum of empty tables would agree trivially: the example fills every table."""
    for step, tables in example_runs["the spec's rules"].steps.items():
        empty = [model for model, table in tables.items() if table.rows == 0]
        assert not empty, f"{step}: empty {empty}"
