"""What the analysis finds: one record per model, and the graph around them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

from sqlglot import exp

from ..errors import Diagnostic
from ..ir import Spec
from . import sql as sqlmod
from .engines import Decision
from .sql import OutputColumn
from .stages import Stage


@dataclass(frozen=True)
class ModelAnalysis:
    name: str
    upstreams: tuple[str, ...]  # models and sources it reads, sorted
    engine: str
    decision: Decision
    output: tuple[OutputColumn, ...] | None  # None: not inferable (e.g. SELECT * over unknown columns)
    reads: tuple[str, ...] = ()  # tables the SQL itself names (depends_on excluded)
    queries: "QueryStore | None" = field(default=None, compare=False, repr=False)
    # Intervals every run loads again: the model's own lookback, widened so that late rows an
    # upstream picks up within its lookback reach this model too (time-range models only).
    lookback: int = 0
    # What the model computes, and everything upstream of it, as a hash (kind, SQL, code, seed, types).
    fingerprint: str = ""
    # The fingerprints of the other engine's models this one depends on, directly or through models
    # of its own engine: a change there changes this model's data, though its own engine cannot see it.
    foreign_digest: str = ""
    # Calls some warehouse has no overload for with other argument types, typed (see warehouses.MissingOverload).
    calls: tuple["sqlmod.TypedCall", ...] = ()

    @property
    def query(self) -> exp.Query | None:
        """The parsed SQL (parsed on first use; copy before changing)."""
        return self.queries.get(self.name) if self.queries else None


@dataclass(frozen=True)
class SqlFacts:
    """What the analysis found in a SQL model's text: its shape (`table_reads`) and its inferred output, as remembered."""

    shape: Mapping
    inferred: Mapping


@dataclass(frozen=True)
class Analysis:
    models: Mapping[str, ModelAnalysis]
    order: tuple[str, ...]  # topological, ties in spec order
    downstreams: Mapping[str, tuple[str, ...]]  # model or source -> models reading it, in order
    stages: tuple[Stage, ...] = ()
    # Contract `check` expressions, parsed once: expression text -> AST (copy before changing).
    checks: Mapping[str, exp.Expression] = field(default_factory=dict, compare=False, repr=False)
    # What an edit of some models' SQL is compared with (`analysis.reanalyze`): each SQL model's facts,
    # and the models whose column types something reads.
    sql_facts: Mapping[str, SqlFacts] = field(default_factory=dict, compare=False, repr=False)
    typed: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def engine(self, name: str) -> str:
        return self.models[name].engine

    def stage_of(self, name: str) -> tuple[Stage, int]:
        """The model's stage and its 1-based batch number in it."""
        return self._stage_index[name]

    @cached_property
    def _stage_index(self) -> dict[str, tuple[Stage, int]]:
        return {m: (stage, i) for stage in self.stages for i, batch in enumerate(stage.batches, 1) for m in batch}

    def cross_engine_edges(self) -> list[tuple[str, str]]:
        return [
            (upstream, name)
            for name in self.order
            for upstream in self.models[name].upstreams
            if upstream in self.models and self.engine(upstream) != self.engine(name)
        ]


class QueryStore:
    """Each model's SQL parsed at most once per build, and only when something needs the AST."""

    def __init__(self, spec: Spec, errors: list[Diagnostic]):
        self._models = {m.name: m for m in spec.models}
        self._dialect = spec.project.dialect
        self._errors = errors
        self._parsed: dict[str, exp.Query | None] = {}

    def get(self, name: str) -> exp.Query | None:
        if name not in self._parsed:
            model = self._models[name]
            query, diagnostics = sqlmod.parse(model, self._dialect) if model.sql is not None else (None, [])
            self._errors.extend(diagnostics)
            self._parsed[name] = query
        return self._parsed[name]
