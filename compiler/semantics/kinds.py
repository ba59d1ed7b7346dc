"""The model kinds: what each one means to the spec, to SQLMesh and to dbt, in one table.

As sqlglot keeps a table of types per dialect, every part of meshgen that
depends on a model's kind reads this table instead of naming kinds itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindFacts:
    name: str  # the spec's `kind`
    sqlmesh: str  # SQLMesh's kind
    dbt_resource: str  # the dbt node: model, seed or snapshot
    dbt_materialized: str = ""  # a dbt model's materialization ("" for seeds and snapshots)
    keys: tuple[str, ...] = ()  # spec keys only this kind takes, the first of them required
    optional_keys: tuple[str, ...] = ()  # keys it takes that have a default
    starts: bool = False  # loads history from a start date (`start`, else `project.start`)
    needs_start: bool = False  # and cannot do without one
    python: bool = False  # a Python model may have this kind


KINDS: dict[str, KindFacts] = {
    k.name: k
    for k in (
        KindFacts("full", "FULL", "model", "table", python=True),
        KindFacts("view", "VIEW", "model", "view"),
        KindFacts(
            "incremental_by_time_range",
            "INCREMENTAL_BY_TIME_RANGE",
            "model",
            "incremental",
            keys=("time_column",),
            optional_keys=("lookback",),
            starts=True,
            needs_start=True,
            python=True,
        ),
        KindFacts("incremental_by_unique_key", "INCREMENTAL_BY_UNIQUE_KEY", "model", "incremental", keys=("unique_key",), starts=True),
        KindFacts("scd_type_2", "SCD_TYPE_2_BY_TIME", "snapshot", keys=("unique_key",), optional_keys=("updated_at",), starts=True),
        KindFacts("seed", "SEED", "seed"),
    )
}


def kind_facts(name: str) -> KindFacts:
    return KINDS[name]


def kinds_taking(key: str) -> tuple[str, ...]:
    """The kinds a kind-specific spec key applies to, in the table's order."""
    return tuple(k.name for k in KINDS.values() if key in k.keys + k.optional_keys)


KIND_KEYS = tuple(dict.fromkeys(key for k in KINDS.values() for key in k.keys + k.optional_keys))
