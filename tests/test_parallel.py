"""Helper processes make large builds faster, never different."""

from __future__ import annotations

import os
import signal
import time

import pytest

from synthetic import generate, write
from conftest import run_cli
from golden_tree import read_tree
from meshgen import analysis
from meshgen.build import parallel
from meshgen.build.pipeline import load

pytestmark = pytest.mark.skipif(not parallel._can_fork(), reason="helpers need fork (Linux)")


@pytest.fixture
def forks(monkeypatch):
    """A helper for small specs too, with every fork counted; a build that hangs fails after a minute."""
    monkeypatch.setenv("MESHGEN_JOBS", "2")
    previous = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(60)
    monkeypatch.setattr(analysis, "PARALLEL_MIN_MODELS", 2)
    started = []
    real_fork = os.fork

    def counted() -> int:
        pid = real_fork()
        if pid:
            started.append(pid)
        return pid

    monkeypatch.setattr(parallel.os, "fork", counted)
    yield started
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _hung(signum, frame):
    raise TimeoutError("the build and its helper are waiting for each other")


def build(spec, *extra) -> str:
    result = run_cli("build", spec, *extra)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("models, seed", [(120, 3), (90, 11), (160, 29)])
def test_a_build_with_a_helper_is_byte_identical_to_one_without(tmp_path, forks, monkeypatch, models, seed):
    spec = write(generate(models, seed=seed), tmp_path / "helped")
    build(spec)
    assert len(forks) == 1
    helped = read_tree(tmp_path / "helped")

    monkeypatch.setenv("MESHGEN_JOBS", "1")
    alone = write(generate(models, seed=seed), tmp_path / "alone")
    build(alone)
    assert len(forks) == 1
    assert read_tree(tmp_path / "alone") == helped


def test_what_the_helper_computed_is_remembered_for_the_next_build(tmp_path, forks, sql_parses):
    spec = write(generate(120, seed=3), tmp_path)
    before = len(sql_parses)
    build(spec)
    parsed_here = len(sql_parses) - before
    spec.write_text(spec.read_text() + "\n")  # new bytes, no model changed
    before = len(sql_parses)
    assert build(spec).startswith("wrote 0, deleted 0,")
    assert len(forks) == 1, "the rebuild has nothing to share"
    assert 0 < parsed_here < 100 and len(sql_parses) == before, "the helper parsed the dbt models; all is remembered"


def test_errors_found_by_the_helper_are_reported(tmp_path, forks, monkeypatch):
    generated = generate(120, seed=3)
    monkeypatch.setenv("MESHGEN_JOBS", "1")
    engines = load(write(generated, tmp_path / "good")).analysis
    monkeypatch.setenv("MESHGEN_JOBS", "2")
    broken = next(m for m in generated.spec["models"] if "sql" in m and engines.engine(m["name"]) == "dbt")
    broken["sql"] = "SELEC oops FROM\n" + broken["sql"]
    result = run_cli("build", write(generated, tmp_path / "bad"))
    assert result.exit_code == 1, result.output
    assert f"model '{broken['name']}': SQL syntax error" in result.output
    assert len(forks) == 1


def test_a_helper_that_dies_leaves_its_work_to_the_build(tmp_path, forks, monkeypatch):
    spec = write(generate(120, seed=3), tmp_path / "orphaned")

    def dying(partner):
        os._exit(1)

    monkeypatch.setattr(parallel, "_run_helper", lambda work, partner: dying(partner))
    build(spec)
    assert len(forks) == 1
    monkeypatch.setenv("MESHGEN_JOBS", "1")
    alone = write(generate(120, seed=3), tmp_path / "alone")
    build(alone)
    assert read_tree(tmp_path / "alone") == read_tree(tmp_path / "orphaned")


def test_exchanges_larger_than_a_pipe_do_not_block(monkeypatch):
    monkeypatch.setenv("MESHGEN_JOBS", "2")
    big = list(range(1_000_000))  # more than a pipe holds, both ways at once

    def helper(partner):
        assert partner.is_helper
        return partner.exchange("doubled", [x * 2 for x in big])

    partner = parallel.fork_helper(helper)
    assert partner is not None and not partner.is_helper
    assert partner.exchange("doubled", big) == [x * 2 for x in big]
    assert partner.result() == big
    partner.close()  # a second close is harmless


def test_messages_are_matched_by_name_whatever_their_order(monkeypatch):
    monkeypatch.setenv("MESHGEN_JOBS", "2")

    def helper(partner):
        for n in range(200):  # 200 messages before reading any
            partner.post(f"output {n}", [n] * 1000)
        return partner.wait_for("go")

    partner = parallel.fork_helper(helper)
    partner.post("go", "went")
    assert [partner.wait_for(f"output {n}")[0] for n in reversed(range(200))] == list(reversed(range(200)))
    assert partner.result() == "went"


def test_the_build_gives_up_on_a_silent_helper_and_never_waits_to_reap_it(monkeypatch):
    monkeypatch.setenv("MESHGEN_JOBS", "2")
    partner = parallel.fork_helper(lambda partner: time.sleep(3600))
    started = time.monotonic()
    assert partner.wait_for("anything", patience=0.5) is None and not partner.alive
    partner.close()
    assert time.monotonic() - started < 30


def test_jobs_setting_turns_the_helper_off(monkeypatch):
    monkeypatch.setenv("MESHGEN_JOBS", "1")
    assert not parallel.available()
    assert parallel.fork_helper(lambda partner: None) is None


def test_schema_errors_in_the_helpers_half_are_reported_as_without_it(tmp_path, forks, monkeypatch):
    from meshgen.frontend import schema

    monkeypatch.setattr(schema, "PARALLEL_MIN_ITEMS", 2)
    generated = generate(60, seed=3)
    generated.spec["models"][-1]["kind"] = "bogus"  # the last item: the helper's half
    generated.spec["models"][1]["cron"] = 5  # and one in the build's
    helped = run_cli("validate", write(generated, tmp_path / "helped"))
    assert len(forks) == 1, "the schema check took a helper"
    monkeypatch.setenv("MESHGEN_JOBS", "1")
    alone = run_cli("validate", write(generated, tmp_path / "alone"))
    assert helped.exit_code == alone.exit_code == 1
    assert "bogus" in helped.stderr and "cron" in helped.stderr
    assert helped.stderr.replace("helped", "alone") == alone.stderr


def test_a_schema_helper_that_dies_leaves_its_items_to_the_build(tmp_path, forks, monkeypatch):
    from meshgen.frontend import schema

    monkeypatch.setattr(schema, "PARALLEL_MIN_ITEMS", 2)
    monkeypatch.setattr(parallel, "_run_helper", lambda work, partner: os._exit(1))
    generated = generate(60, seed=3)
    generated.spec["models"][-1]["kind"] = "bogus"
    result = run_cli("validate", write(generated, tmp_path))
    assert len(forks) == 1
    assert result.exit_code == 1 and "bogus" in result.stderr
