"""Property tests on random DAG-shaped specs, and the parse-once guarantee at scale."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import load_dict, spec_with
from meshgen.analysis.graph import find_cycles, topological_order


def select_from(tables: list[str], use_cte: bool, value: int = 1) -> str:
    if not tables:
        return f"SELECT {value} AS id"
    joins = " CROSS JOIN ".join(f"{t} AS t{i}" for i, t in enumerate(tables))
    if use_cte:
        return f"WITH base AS (SELECT t0.* FROM {joins}) SELECT {value} AS id FROM base"
    return f"SELECT {value} AS id FROM {joins}"


@st.composite
def dag_specs(draw):
    size = draw(st.integers(min_value=1, max_value=12))
    names = [f"s.m{i}" for i in range(size)]
    deps = {}
    for i, name in enumerate(names):
        earlier = names[:i] + ["raw.orders"]
        deps[name] = sorted(draw(st.sets(st.sampled_from(earlier), max_size=3)))
    spec_order = draw(st.permutations(names))
    models = [{"name": n, "sql": select_from(deps[n], draw(st.booleans()))} for n in spec_order]
    return spec_with(*models), deps


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=dag_specs())
def test_random_dags_have_no_false_cycles_and_a_consistent_order(tmp_path_factory, case):
    data, deps = case
    spec = load_dict(tmp_path_factory.mktemp("dag"), data)
    analysis = spec.analysis
    assert sorted(analysis.order) == sorted(deps)
    position = {name: i for i, name in enumerate(analysis.order)}
    for name, upstreams in deps.items():
        assert analysis.models[name].upstreams == tuple(upstreams)
        for upstream in upstreams:
            if upstream in position:
                assert position[upstream] < position[name]


@given(
    st.integers(min_value=2, max_value=9).flatmap(
        lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=20))
    )
)
def test_cycles_are_found_exactly_when_the_order_is_incomplete(case):
    size, edges = case
    nodes = [f"n{i}" for i in range(size)]
    upstreams = {n: [] for n in nodes}
    for a, b in edges:
        upstreams[nodes[b]].append(nodes[a])
    order = topological_order(nodes, upstreams)
    cycles = find_cycles(nodes, upstreams)
    assert (len(order) == size) == (not cycles)
    for cycle in cycles:
        assert cycle[0] == cycle[-1]
        for upstream, downstream in zip(cycle, cycle[1:]):
            assert upstream in upstreams[downstream]


def test_a_thousand_model_spec_parses_each_sql_exactly_once(tmp_path: Path, sql_parses):
    rng = random.Random(7)
    models = []
    for i in range(1000):
        reads = rng.sample([m["name"] for m in models[-50:]], k=min(len(models), rng.randint(0, 3))) or ["raw.orders"]
        models.append({"name": f"s.m{i:04d}", "sql": select_from(reads, use_cte=i % 3 == 0, value=i)})
    from meshgen.build.pipeline import emit_all

    before = len(sql_parses)
    spec = load_dict(tmp_path, spec_with(*models))
    emit_all(spec)
    assert len(sql_parses) - before == 1000
