"""Cut the cross-engine DAG into the fewest single-engine stages, then into parallel batches.

Stages alternate engines (two neighbouring stages of one engine could be
merged). For a given first engine, placing every model in the earliest stage
of its engine after all its upstreams' stages (as soon as possible) gives the
fewest stages: by induction no valid schedule can place a model earlier.
Trying both first engines gives the optimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from ..ir import ENGINES, Limits, Model


@dataclass(frozen=True)
class Stage:
    index: int  # 1-based
    engine: str
    models: tuple[str, ...]  # in topological order
    batches: tuple[tuple[str, ...], ...]  # run one after the other; models of a batch run in parallel


def assign_stages(
    order: Sequence[str], engine_of: Mapping[str, str], upstreams: Mapping[str, Sequence[str]]
) -> dict[str, int]:
    """Model -> 0-based stage number, the fewest stages possible (ties: SQLMesh first)."""
    candidates = [_as_soon_as_possible(order, engine_of, upstreams, first) for first in ENGINES]
    return min(candidates, key=lambda placed: max(placed.values(), default=-1))


def _as_soon_as_possible(
    order: Sequence[str], engine_of: Mapping[str, str], upstreams: Mapping[str, Sequence[str]], first: str
) -> dict[str, int]:
    placed: dict[str, int] = {}
    for name in order:
        earliest = max((placed[u] for u in upstreams.get(name, ()) if u in placed), default=0)
        engine_at = first if earliest % 2 == 0 else _other(first)
        placed[name] = earliest if engine_at == engine_of[name] else earliest + 1
    shift = min(placed.values(), default=0)  # no model on the first engine: drop the empty stage
    return {name: stage - shift for name, stage in placed.items()}


def _other(engine: str) -> str:
    return ENGINES[1] if engine == ENGINES[0] else ENGINES[0]


def batches(models: Sequence[Model], upstreams: Mapping[str, Sequence[str]], limits: Limits) -> list[tuple[str, ...]]:
    """Parallel batches inside one stage: dependencies first, then first-fit under the limits.

    A model whose own needs exceed a limit runs alone in its batch.
    """
    in_stage = {m.name for m in models}
    level: dict[str, int] = {}
    for model in models:  # topological order
        level[model.name] = max((level[u] + 1 for u in upstreams.get(model.name, ()) if u in in_stage), default=0)
    result: list[tuple[str, ...]] = []
    for depth in range(max(level.values(), default=-1) + 1):
        open_batches: list[list[Model]] = []
        for model in (m for m in models if level[m.name] == depth):
            target = next((b for b in open_batches if _fits(b + [model], limits)), None)
            if target is None:
                open_batches.append([model])
            else:
                target.append(model)
        result.extend(tuple(m.name for m in b) for b in open_batches)
    return result


def _fits(batch: list[Model], limits: Limits) -> bool:
    if limits.max_parallel and len(batch) > limits.max_parallel:
        return False
    if limits.max_memory_gb and sum(m.memory_gb for m in batch) > limits.max_memory_gb:
        return False
    return not (limits.max_cpu_cores and sum(m.cpu_cores for m in batch) > limits.max_cpu_cores)


def plan_stages(
    models: Sequence[Model], order: Sequence[str], engine_of: Mapping[str, str], upstreams: Mapping[str, Sequence[str]], limits: Limits
) -> tuple[Stage, ...]:
    by_name = {m.name: m for m in models}
    placed = assign_stages(order, engine_of, upstreams)
    stages = []
    for number in range(max(placed.values(), default=-1) + 1):
        members = [by_name[n] for n in order if placed[n] == number]
        stages.append(
            Stage(
                index=number + 1,
                engine=engine_of[members[0].name],
                models=tuple(m.name for m in members),
                batches=tuple(batches(members, upstreams, limits)),
            )
        )
    return tuple(stages)
