"""Helper processes make large builds faster, never different."""

from __future__ import annotations

import os

import pytest

from benchmarks.generate import generate, write
from conftest import run_cli
from golden_tree import read_tree
from meshgen import analysis, parallel, pipeline
from meshgen.analysis import sql as sqlmod

pytestmark = pytest.mark.skipif(not parallel._can_fork(), reason="helpers need fork (Linux)")


@pytest.fixture
def forks(monkeypatch):
    """Helpers on for small specs too, with every fork counted."""
    monkeypatch.setenv("MESHGEN_JOBS", "2")
    monkeypatch.setattr(analysis, "PARALLEL_MIN_MODELS", 2)
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_MODELS", 2)
    parent, started = os.getpid(), []
    real_fork = parallel._fork

    def counted() -> int:
        pid = real_fork()
        if os.getpid() == parent:
            started.append(pid)
        return pid

    monkeypatch.setattr(parallel, "_fork", counted)
    return started


def build(spec, *extra) -> str:
    result = run_cli("build", spec, *extra)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_build_with_helpers_is_byte_identical_to_one_without(tmp_path, forks, monkeypatch):
    spec = write(generate(120, seed=3), tmp_path / "helpers")
    build(spec)
    assert len(forks) >= 2, "output inference and the dbt emitter both ran in helpers"
    with_helpers = read_tree(tmp_path / "helpers")

    monkeypatch.setenv("MESHGEN_JOBS", "1")
    alone = write(generate(120, seed=3), tmp_path / "alone")
    build(alone)
    assert read_tree(tmp_path / "alone") == with_helpers


def test_what_helpers_computed_is_remembered_for_the_next_build(tmp_path, forks):
    spec = write(generate(120, seed=3), tmp_path)
    before = sqlmod.parse_count
    build(spec)
    parsed_cold = sqlmod.parse_count - before
    spec.write_text(spec.read_text() + "\n")  # a change to the spec's bytes, none to any model
    before = sqlmod.parse_count
    assert build(spec).startswith("wrote 0, deleted 0,")
    assert parsed_cold > 100 and sqlmod.parse_count == before, "every result came from the memo"


def test_a_failing_helper_leaves_the_work_to_the_build():
    helper = parallel.Helper(lambda request: 1 / request)
    assert helper.submit(0)
    assert helper.collect() is None
    assert not helper.submit(1)
    helper.close()
    assert parallel.call_forked(lambda: {}["missing"])() is None


def test_a_helper_answers_requests_in_turn(monkeypatch):
    monkeypatch.setenv("MESHGEN_JOBS", "2")
    helper = parallel.Helper(lambda request: [x * 2 for x in request])
    answers = []
    for request in ([1, 2], list(range(100_000))):  # the second answer is larger than a pipe's buffer
        assert helper.submit(request)
        answers.append(helper.collect())
    helper.close()
    assert answers == [[2, 4], [x * 2 for x in range(100_000)]]
    assert parallel.call_forked(lambda: "done")() == "done"


def test_jobs_setting_turns_helpers_off(monkeypatch):
    monkeypatch.setenv("MESHGEN_JOBS", "1")
    assert not parallel.available()
    assert parallel.call_forked(lambda: "done")() is None
