"""Stages: the fewest single-engine stages (checked against brute force), and batches under limits."""

from __future__ import annotations

import itertools
import random

import pytest

from meshgen.analysis.stages import assign_stages, batches, plan_stages
from meshgen.errors import Location
from meshgen.ir import Limits, Model

ENGINES = ("sqlmesh", "dbt")


def random_dag(rng: random.Random, size: int):
    names = [f"m{i}" for i in range(size)]
    upstreams = {n: sorted(rng.sample(names[:i], k=rng.randint(0, min(i, 3)))) for i, n in enumerate(names)}
    engine_of = {n: rng.choice(ENGINES) for n in names}
    return names, upstreams, engine_of


def valid(assignment: dict[str, int], stage_engines: tuple[str, ...], upstreams, engine_of) -> bool:
    for name, stage in assignment.items():
        if stage_engines[stage] != engine_of[name]:
            return False
        if any(assignment[u] > stage for u in upstreams[name]):
            return False
    return True


def brute_force_minimum(names, upstreams, engine_of) -> int:
    """Try every number of stages, every engine sequence and every placement."""
    for count in range(1, len(names) + 1):
        for stage_engines in itertools.product(ENGINES, repeat=count):
            choices = [[s for s in range(count) if stage_engines[s] == engine_of[n]] for n in names]
            for placement in itertools.product(*choices):
                if valid(dict(zip(names, placement)), stage_engines, upstreams, engine_of):
                    return count
    raise AssertionError("no schedule found")


@pytest.mark.parametrize("seed", range(150))
def test_stage_count_equals_the_brute_force_optimum(seed):
    rng = random.Random(seed)
    names, upstreams, engine_of = random_dag(rng, rng.randint(1, 6))
    placed = assign_stages(names, engine_of, upstreams)
    count = max(placed.values()) + 1
    assert count == brute_force_minimum(names, upstreams, engine_of)
    stage_engines = tuple(engine_of[next(n for n in names if placed[n] == s)] for s in range(count))
    assert valid(placed, stage_engines, upstreams, engine_of), "the schedule itself must be valid"
    assert all(a != b for a, b in zip(stage_engines, stage_engines[1:])), "neighbouring stages alternate"


def model(name: str, memory: float = 0, cores: float = 0) -> Model:
    return Model(name=name, language="sql", kind="full", location=Location("x"), memory_gb=memory, cpu_cores=cores)


def test_batches_respect_dependencies_and_limits():
    models = [model("s.a", 8, 2), model("s.b", 8, 2), model("s.c", 4, 1), model("s.d", 1, 1), model("s.e", 32, 1)]
    upstreams = {"s.d": ["s.a"], "s.e": []}
    result = batches(models, upstreams, Limits(max_parallel=2, max_memory_gb=16, max_cpu_cores=8))
    assert result == [("s.a", "s.b"), ("s.c",), ("s.e",), ("s.d",)]
    position = {name: i for i, batch in enumerate(result) for name in batch}
    assert position["s.a"] < position["s.d"]


def test_no_limits_means_one_batch_per_dependency_level():
    models = [model("s.a"), model("s.b"), model("s.c")]
    assert batches(models, {"s.c": ["s.b"]}, Limits()) == [("s.a", "s.b"), ("s.c",)]


def test_example_needs_four_stages_starting_with_sqlmesh():
    from conftest import SPECS
    from meshgen.build.pipeline import load

    spec = load(SPECS / "example.yaml")
    stages = spec.analysis.stages
    assert [s.engine for s in stages] == ["sqlmesh", "dbt", "sqlmesh", "dbt"]
    assert "core.customer_360" in stages[1].models and "ml.churn_scores" in stages[2].models
    for stage in stages:
        for batch in stage.batches:
            assert len(batch) <= 4


def test_single_engine_is_one_stage():
    models = [model("s.a"), model("s.b")]
    stages = plan_stages(models, ["s.a", "s.b"], {"s.a": "dbt", "s.b": "dbt"}, {"s.b": ["s.a"]}, Limits())
    assert [(s.index, s.engine, s.models) for s in stages] == [(1, "dbt", ("s.a", "s.b"))]
