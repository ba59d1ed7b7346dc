"""The analyze stage: everything the emitters need to know about the models, computed once.

SQL parsed once per model; dependencies resolved; cycles and layer violations
refused; engines assigned with their decision trail; output columns inferred
in topological order and checked against contracts.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import lru_cache
from typing import Mapping

from sqlglot import exp

from ..build import parallel
from .work import LocalWork
from .. import schedule
from ..frontend import seeds
from ..errors import Diagnostic, MeshgenError, did_you_mean
from ..semantics.types import type_class, valid_type
from ..warehouses import warehouse
from ..ir import Model, Spec
from . import engines as engine_rules
from . import sql as sqlmod
from .engines import Decision
from ..build.memo import Memo
from .graph import find_cycles, topological_order
from .sql import OutputColumn
from .stages import Stage, plan_stages

# A helper process is started only when each side has at least this many models to parse.
PARALLEL_MIN_MODELS = 48


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

    @property
    def query(self) -> exp.Query | None:
        """The parsed SQL (parsed on first use; copy before changing)."""
        return self.queries.get(self.name) if self.queries else None


@dataclass(frozen=True)
class Analysis:
    models: Mapping[str, ModelAnalysis]
    order: tuple[str, ...]  # topological, ties in spec order
    downstreams: Mapping[str, tuple[str, ...]]  # model or source -> models reading it, in order
    stages: tuple[Stage, ...] = ()
    memo: Memo = field(default_factory=Memo, compare=False, repr=False)
    # Contract `check` expressions, parsed once: expression text -> AST (copy before changing).
    checks: Mapping[str, exp.Expression] = field(default_factory=dict, compare=False, repr=False)

    def engine(self, name: str) -> str:
        return self.models[name].engine

    def stage_of(self, name: str) -> tuple[Stage, int]:
        """The model's stage and its 1-based batch number in it."""
        stage = next(s for s in self.stages if name in s.models)
        return stage, next(i for i, batch in enumerate(stage.batches, 1) if name in batch)

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


class _Analyzer:
    def __init__(self, spec: Spec, memo: Memo, work: LocalWork | None = None):
        self.spec = spec
        self.dialect = spec.project.dialect
        self.models = {m.name: m for m in spec.models}
        self.sources = {s.name: s for s in spec.sources}
        self.errors: list[Diagnostic] = []
        self.memo = memo
        self.queries = QueryStore(spec, self.errors)
        self.work = work or LocalWork()

    def check(self) -> None:
        if self.errors:
            raise MeshgenError(self.errors)

    def run(self) -> Analysis:
        self._check_types()
        checks = self._parse_checks()
        reads = self.work.each("reads", [m.name for m in self.spec.models], lambda name: self._reads(self.models[name]), self.errors)
        self.check()
        upstreams = {m.name: self._upstreams(m, reads[m.name]) for m in self.spec.models}
        self.check()
        names = [m.name for m in self.spec.models]
        self._refuse_cycles(names, upstreams)
        order = topological_order(names, upstreams)
        self._check_layers(upstreams)
        decisions = {m.name: engine_rules.decide(m, self.spec.engines) for m in self.spec.models}
        self._check_capabilities(decisions)
        outputs = self._infer_outputs(order, upstreams)
        self._check_contracts(outputs)
        self._check_tests(upstreams)
        self.check()
        downstreams: dict[str, list[str]] = {}
        for name in order:
            for upstream in upstreams[name]:
                downstreams.setdefault(upstream, []).append(name)
        lookbacks = self._lookbacks(order, upstreams)
        fingerprints, foreign = self._fingerprints(order, upstreams, {n: d.engine for n, d in decisions.items()}, lookbacks)
        return Analysis(
            models={
                name: ModelAnalysis(
                    name=name,
                    upstreams=tuple(sorted(upstreams[name])),
                    engine=decisions[name].engine,
                    decision=decisions[name],
                    output=outputs.get(name),
                    reads=tuple(sorted(reads[name][0])) if reads[name] else (),
                    queries=self.queries,
                    lookback=lookbacks[name],
                    fingerprint=fingerprints[name],
                    foreign_digest=foreign[name],
                )
                for name in order
            },
            order=tuple(order),
            downstreams={k: tuple(v) for k, v in downstreams.items()},
            stages=plan_stages(
                self.spec.models, order, {n: d.engine for n, d in decisions.items()}, upstreams, self.spec.limits
            ),
            checks=checks,
            memo=self.memo,
        )

    # -- what each model computes --------------------------------------------
    def _lookbacks(self, order: list[str], upstreams: Mapping[str, set[str]]) -> dict[str, int]:
        """Each model's effective lookback in its own intervals (0 for kinds without intervals).

        A late row an upstream loads again within its lookback changes that upstream's
        old intervals; a time-range model reading it must look back as far, or the row
        never reaches it. Models of other kinds pass the reach on to what reads them.
        """
        reach: dict[str, timedelta] = {}
        result: dict[str, int] = {}
        for name in order:
            model = self.models[name]
            inherited = max((reach[u] for u in upstreams[name] if u in reach), default=timedelta(0))
            if model.kind in ("incremental_by_time_range",):
                unit = model.interval_unit
                result[name] = max(model.lookback, schedule.intervals_in(inherited, unit))
                reach[name] = max(inherited, result[name] * schedule.UNITS[unit])
            else:
                result[name] = 0
                reach[name] = inherited
        return result

    def _fingerprints(
        self, order: list[str], upstreams: Mapping[str, set[str]], engine_of: Mapping[str, str], lookbacks: Mapping[str, int]
    ) -> tuple[dict[str, str], dict[str, str]]:
        fingerprints = {s.name: _digest(["source", [(c.name, c.type) for c in s.columns]]) for s in self.spec.sources}
        foreign: dict[str, str] = {}
        for name in order:
            model = self.models[name]
            definition = [
                model.language,
                model.kind,
                model.sql.text if model.sql else "",
                model.entrypoint,
                model.python_digest,
                [list(row) for row in model.seed.rows] if model.seed else [],
                model.time_column,
                list(model.unique_key),
                model.updated_at,
                model.start,
                lookbacks[name],
                [(c.name, c.type) for c in model.contract.columns] if model.contract else [],
            ]
            ups = sorted(upstreams[name])
            fingerprints[name] = _digest([definition, [fingerprints[u] for u in ups]])
            crossing = [
                fingerprints[u] if engine_of[u] != engine_of[name] else foreign[u]
                for u in ups
                if u in self.models and (engine_of[u] != engine_of[name] or foreign[u])
            ]
            foreign[name] = _digest(crossing) if crossing else ""
        return fingerprints, foreign

    # -- SQL and dependencies ------------------------------------------------
    def _reads(self, model: Model) -> tuple[dict[str, int], dict[str, int]] | None:
        """Tables the SQL names (qualified, unqualified; each with its offset), remembered by SQL text."""
        if model.sql is None:
            return None

        def compute():
            query = self.queries.get(model.name)
            return list(sqlmod.table_references(query)) if query is not None else None

        found = self.memo.get(_reads_key(self.dialect, model.sql.text), compute)
        return (found[0], found[1]) if found else None

    def _parse_checks(self) -> dict[str, exp.Expression]:
        checks: dict[str, exp.Expression] = {}
        for contract in self.spec.contracts:
            for column in contract.columns:
                for constraint in column.constraints:
                    if constraint.kind != "check" or constraint.expression in checks:
                        continue
                    parsed = sqlmod.parse_condition(constraint.expression, self.dialect)
                    if parsed is None:
                        self.errors.append(
                            Diagnostic(
                                contract.location,
                                f"contract '{contract.name}': check on '{column.name}' is not a SQL condition: {constraint.expression}",
                                "write a boolean expression over the row, e.g. `amount >= 0`",
                            )
                        )
                    else:
                        checks[constraint.expression] = parsed
        return checks

    def _upstreams(self, model: Model, reads: tuple[dict[str, int], dict[str, int]] | None) -> set[str]:
        known = list(self.models) + list(self.sources)
        found: set[str] = set()
        offsets: dict[str, int] = {}
        if reads is not None:
            qualified, unqualified = reads
            offsets = qualified
            for name, offset in unqualified.items():
                self.errors.append(
                    Diagnostic(
                        sqlmod.location_of(model, offset),
                        f"model '{model.name}' reads table '{name}' without its schema",
                        did_you_mean(name, [k for k in known if k.endswith("." + name)] or known, "tables")
                        + " (tables are written schema.table)",
                    )
                )
            found.update(qualified)
        found.update(model.depends_on)
        for name in sorted(found):
            if name not in self.models and name not in self.sources:
                where = sqlmod.location_of(model, offsets[name]) if name in offsets else model.location
                self.errors.append(
                    Diagnostic(
                        where,
                        f"model '{model.name}' reads unknown table '{name}'",
                        did_you_mean(name, known, "models and sources")
                        + " (declare tables that exist outside meshgen under `sources:`)",
                    )
                )
        return {n for n in found if n in self.models or n in self.sources}

    def _refuse_cycles(self, names: list[str], upstreams: Mapping[str, set[str]]) -> None:
        for cycle in find_cycles(names, upstreams):
            model = self.models[cycle[0]]
            what = "reads itself" if len(cycle) == 2 else "is part of a dependency cycle"
            self.errors.append(
                Diagnostic(
                    model.location,
                    f"model '{model.name}' {what}: {' -> '.join(cycle)}",
                    "each arrow points from a table to a model that reads it; break one of these reads",
                )
            )
        self.check()

    def _check_layers(self, upstreams: Mapping[str, set[str]]) -> None:
        layers = self.spec.project.layers
        for model in self.spec.models:
            if not model.layer:
                continue
            for name in sorted(upstreams[model.name]):
                upstream = self.models.get(name)
                if upstream and upstream.layer and layers.index(upstream.layer) > layers.index(model.layer):
                    self.errors.append(
                        Diagnostic(
                            model.location,
                            f"model '{model.name}' (layer {model.layer}) reads '{name}' from the higher layer {upstream.layer}",
                            f"layers go {' -> '.join(layers)}; a model may only read its own layer or lower ones",
                        )
                    )

    # -- engines ---------------------------------------------------------------
    def _check_capabilities(self, decisions: Mapping[str, Decision]) -> None:
        dbt_gateways = sorted(
            {(self.spec.gateway(env.gateway).type, env.gateway, env.name) for env in self.spec.environments}
        )
        for model in self.spec.models:
            decision = decisions[model.name]
            if model.language != "python" or decision.engine != "dbt":
                continue
            for gateway_type, gateway, environment in dbt_gateways:
                if not warehouse(gateway_type).dbt_python:
                    self.errors.append(
                        Diagnostic(
                            model.location,
                            f"Python model '{model.name}' is put on dbt by {decision.summary}, but dbt cannot run "
                            f"Python models on gateway '{gateway}' ({gateway_type}) of environment '{environment}'",
                            "pin it with `engine: sqlmesh`, or add a rule before that one sending Python models to sqlmesh",
                        )
                    )
                    break

    # -- columns and contracts -------------------------------------------------
    def _check_types(self) -> None:
        for contract in self.spec.contracts:
            for column in contract.columns:
                if not valid_type(column.type, self.dialect):
                    self.errors.append(
                        Diagnostic(
                            contract.location,
                            f"contract '{contract.name}': column '{column.name}' has unknown type '{column.type}'",
                            f"use a {self.dialect} type such as integer, bigint, double, decimal(18,2), varchar, date, timestamp",
                        )
                    )
        for model in self.spec.models:
            if model.language == "python" and model.contract is None:
                self.errors.append(
                    Diagnostic(
                        model.location,
                        f"Python model '{model.name}' needs a contract",
                        "its columns cannot be read from code: add `contract: {columns: {...}}` or a contract name",
                    )
                )

    def _schema_of(self, name: str, outputs: Mapping[str, tuple[OutputColumn, ...] | None]) -> dict[str, str] | None:
        if name in self.sources:
            columns = self.sources[name].columns
            return {c.name: c.type for c in columns} if columns else None
        model = self.models[name]
        if model.contract and model.seed is None:
            return {c.name: c.type for c in model.contract.columns}
        inferred = outputs.get(name)
        if inferred is None:
            return None
        return {c.name: c.type or "unknown" for c in inferred}

    def _infer_outputs(self, order: list[str], upstreams: Mapping[str, set[str]]) -> dict[str, tuple[OutputColumn, ...] | None]:
        """Output columns in topological order; with shared work, each side infers its own models.

        Each side sends every output it infers at once, and waits for one of the
        other side only when a model of its own reads it.
        """
        outputs: dict[str, tuple[OutputColumn, ...] | None] = {}
        for name in self.work.output_order(order, upstreams, self._has_sql):
            self._ensure_output(name, upstreams, outputs)
        for name in order:
            self._ensure_output(name, upstreams, outputs)
        return outputs

    def _has_sql(self, name: str) -> bool:
        return self.models[name].sql is not None

    def _ensure_output(self, name: str, upstreams: Mapping[str, set[str]], outputs: dict) -> None:
        if name in outputs or name not in self.models:
            return
        has_sql = self._has_sql(name)
        found = self.work.their_output(name, has_sql)
        if found is not None:
            outputs[name] = _columns(found)
            return
        self.work.stop_if_orphaned()
        for upstream in sorted(upstreams[name]):  # the other side's are waited for, or inferred here if it failed
            self._ensure_output(upstream, upstreams, outputs)
        model = self.models[name]
        if model.seed is not None:
            outputs[name] = _seed_columns(model)
            return
        if model.sql is None:
            contract = model.contract
            outputs[name] = tuple(OutputColumn(c.name, c.type) for c in contract.columns) if contract else None
            return
        schema = self._upstream_schema(name, upstreams, outputs)
        found = self.memo.get(Memo.key("output", self.dialect, model.sql.text, schema), lambda: self._infer_output(name, schema))
        outputs[name] = _columns(found)
        self.work.publish(name, has_sql, found)

    def _upstream_schema(self, name: str, upstreams: Mapping[str, set[str]], outputs: Mapping) -> dict[str, dict[str, dict[str, str]]]:
        schema: dict[str, dict[str, dict[str, str]]] = {}
        for table in sorted(upstreams[name]):
            columns = self._schema_of(table, outputs)
            if columns:
                db, _, table_name = table.partition(".")
                schema.setdefault(db, {})[table_name] = columns
        return schema

    def _infer_output(self, name: str, schema: dict) -> dict:
        """The model's inferred output, as the memo keeps it."""
        query = self.queries.get(name)
        columns = sqlmod.output_columns(query, schema, self.dialect) if query is not None else None
        return {"columns": None if columns is None else [[c.name, c.type] for c in columns]}

    def _check_contracts(self, outputs: Mapping[str, tuple[OutputColumn, ...] | None]) -> None:
        for model in self.spec.models:
            if model.contract is None or model.sql is None or outputs.get(model.name) is None:
                continue
            produced = {c.name: c.type for c in outputs[model.name]}
            promised = {c.name: c.type for c in model.contract.columns}
            missing = [c for c in promised if c not in produced]
            extra = [c for c in produced if c not in promised]
            label = f"model '{model.name}' does not match its contract '{model.contract.name}'"
            if missing or extra:
                parts = []
                if missing:
                    parts.append(f"missing column(s) {', '.join(missing)}")
                if extra:
                    parts.append(f"extra column(s) {', '.join(extra)}")
                self.errors.append(
                    Diagnostic(model.location, f"{label}: {'; '.join(parts)}", "make the SELECT output exactly the contract's columns")
                )
            for column, promised_type in promised.items():
                inferred = produced.get(column, "")
                want = type_class(promised_type, self.dialect)
                got = type_class(inferred, self.dialect)
                if want and got and want != got:
                    self.errors.append(
                        Diagnostic(
                            model.location,
                            f"{label}: column '{column}' is {inferred} ({got}) in the SQL but {promised_type} ({want}) in the contract",
                            f"CAST it in the SELECT, e.g. CAST(... AS {promised_type.upper()})",
                        )
                    )

    def _check_tests(self, upstreams: Mapping[str, set[str]]) -> None:
        for model in self.spec.models:
            for test in model.tests:
                for table, _ in test.given:
                    if table not in upstreams[model.name]:
                        self.errors.append(
                            Diagnostic(
                                test.location,
                                f"test '{test.name}' of model '{model.name}' gives rows for '{table}', which the model does not read",
                                did_you_mean(table, upstreams[model.name], "upstreams"),
                            )
                        )


@lru_cache(maxsize=1 << 16)
def _reads_key(dialect: str, sql: str) -> str:
    """The memo key of a model's reads: hashed once per build, though both the helper decision and the analysis need it."""
    return Memo.key("reads", dialect, sql)


def _digest(data) -> str:
    return hashlib.sha256(json.dumps(data, separators=(",", ":")).encode()).hexdigest()[:16]


def _seed_columns(model: Model) -> tuple[OutputColumn, ...]:
    """A seed's columns in the file's order, typed by its contract or, without one, from its values."""
    declared = {c.name: c.type for c in model.contract.columns} if model.contract else {}
    return tuple(OutputColumn(n, declared.get(n) or seeds.infer_type(model.seed.values(n))) for n in model.seed.header)


def _columns(found: dict) -> tuple[OutputColumn, ...] | None:
    return None if found["columns"] is None else tuple(OutputColumn(n, t) for n, t in found["columns"])


def analyze(spec: Spec, memo: Memo | None = None, work: LocalWork | None = None) -> Spec:
    """The spec with its analysis attached; raises MeshgenError on the first failing phase.

    With `SharedWork`, a helper process runs this too, on its share of the models (see `work.py`).
    """
    return replace(spec, analysis=_Analyzer(spec, memo or Memo(), work).run())


def helper_models(spec: Spec, memo: Memo, engine: str) -> frozenset[str] | None:
    """The models of `engine` for a helper to take, when both engines have enough SQL to parse."""
    engines = {m.name: engine_rules.decide(m, spec.engines).engine for m in spec.models}
    unparsed = Counter(
        engines[m.name]
        for m in spec.models
        if m.sql is not None and memo.get(_reads_key(spec.project.dialect, m.sql.text), lambda: None) is None
    )
    if min(unparsed["sqlmesh"], unparsed["dbt"]) < PARALLEL_MIN_MODELS or not parallel.available():
        return None
    return frozenset(name for name, chosen in engines.items() if chosen == engine)
