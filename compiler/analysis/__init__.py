"""The analyze stage: everything the targets need to know about the models, computed once.

SQL parsed once per model; dependencies resolved; cycles and layer violations
refused; engines assigned with their decision trail; output columns inferred
in topological order and checked against contracts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from sqlglot import exp

from ..build import parallel
from ..build.memo import Memo
from ..errors import Diagnostic, MeshgenError, did_you_mean
from ..frontend import seeds
from ..ir import Model, Spec
from ..semantics import portability
from ..semantics.checks import referenced_tables
from . import engines as engine_rules
from . import fingerprints, validation
from . import sql as sqlmod
from .graph import topological_order
from .names import output_names
from .result import Analysis, ModelAnalysis, QueryStore, SqlFacts
from .sql import OutputColumn, Schema
from .stages import plan_stages
from .work import LocalWork

__all__ = ["Analysis", "ModelAnalysis", "analyze", "helper_models", "reanalyze"]

# A helper process is started only when each side has at least this many models to parse.
PARALLEL_MIN_MODELS = 48


@dataclass(frozen=True)
class SqlText:
    """A model's SQL as the remembered steps read it."""

    dialect: str
    sql: str
    parsed: Callable[[], exp.Query | None] | None = field(default=None, compare=False)  # the parse of `sql`


@dataclass(frozen=True)
class SqlOverSchema(SqlText):
    """A model's SQL and the columns of the tables it reads."""

    schema: Schema = field(default_factory=dict)


def table_reads(given: SqlText) -> list | None:
    """Tables the SQL names: (qualified, unqualified), each name with its offset in the text; and its shape.

    The shape tells which models need their column types inferred (`_typed_models`):
    whether every output column is a CAST, and whether it calls a function some
    warehouse may have no overload of.
    """
    query = given.parsed()
    if query is None:
        return None
    shape = {"casts": all(isinstance(s.unalias(), exp.Cast) for s in query.selects), "calls": bool(sqlmod.typed_call_nodes(query))}
    return [*sqlmod.table_references(query), shape]


def inferred_output(given: SqlOverSchema) -> dict:
    """The SQL's output columns over the schema, as the memo keeps them."""
    query = given.parsed()
    typed = sqlmod.typed_output(query, given.schema, given.dialect, given.sql) if query is not None else None
    columns, calls, unresolved = typed if typed else (None, (), [])
    return {
        "columns": None if columns is None else [[c.name, c.type] for c in columns],
        "calls": [[c.function, c.index, [list(a) for a in c.arguments], c.type, c.offset] for c in calls],
        "unresolved": unresolved,
        "unnamed": sqlmod.unnamed_outputs(query) if query is not None else [],
        "exact": sqlmod.exactly_typed_outputs(query) if query is not None else [],
    }


@dataclass(frozen=True)
class SqlOverNames(SqlText):
    """A model's SQL, the column names of the tables it reads, and whether its CASTs give its column types."""

    tables: tuple[tuple[str, tuple[str, ...]], ...] = ()
    cast_types: bool = False


def named_output(given: SqlOverNames) -> dict | None:
    """The SQL's output columns as the memo keeps them, by name only (or typed by their CASTs); None when not certain."""
    query = given.parsed()
    names = output_names(query, dict(given.tables), given.dialect) if query is not None else None
    if names is None:
        return None
    types = [sqlmod.type_text(s.unalias().to, given.dialect) for s in query.selects] if given.cast_types else [""] * len(names)
    return {"columns": [[n, t] for n, t in zip(names, types)], "calls": [], "unresolved": [], "unnamed": [], "exact": sqlmod.exactly_typed_outputs(query)}


@dataclass(frozen=True)
class SqlForDialect(SqlText):
    """A model's SQL and a dialect to write it in."""

    target: str = ""


def unsupported_messages(given: SqlForDialect) -> list:
    """What sqlglot cannot express of the SQL in the target dialect."""
    query = given.parsed()
    return sqlmod.unsupported_in(query, given.target) if query is not None else []


class _Analyzer:
    def __init__(self, spec: Spec, memo: Memo, work: LocalWork | None = None, all_types: bool = False):
        self.spec = spec
        self.dialect = spec.project.dialect
        self.models = {m.name: m for m in spec.models}
        self.sources = {s.name: s for s in spec.sources}
        self.errors: list[Diagnostic] = []
        self.memo = memo
        self.queries = QueryStore(spec, self.errors)
        self.work = work or LocalWork()
        self.calls: dict[str, tuple[sqlmod.TypedCall, ...]] = {}  # model -> its typed calls
        self.column_problems: dict[str, dict] = {}  # model -> what inferring its output found
        self.all_types = all_types
        self.typed: set[str] = set()  # the SQL models whose column types something reads (`_typed_models`)

    def refuse(self, found: list[Diagnostic] = ()) -> None:
        """Stop with every diagnostic found so far."""
        self.errors.extend(found)
        if self.errors:
            raise MeshgenError(self.errors)

    def run(self) -> Analysis:
        spec, names = self.spec, [m.name for m in self.spec.models]
        self.errors.extend(validation.type_errors(spec))
        checks = validation.parsed_checks(spec, self.errors)
        reads = self.work.each("reads", names, self._reads, self.errors)
        self.refuse()
        upstreams = {m.name: self._upstreams(m, reads[m.name]) for m in spec.models}
        self.refuse()
        self.refuse(validation.cycle_errors(spec, names, upstreams))
        order = topological_order(names, upstreams)
        self.errors.extend(validation.layer_errors(spec, upstreams))
        decisions = {m.name: engine_rules.decide(m, spec.engines) for m in spec.models}
        self.errors.extend(validation.capability_errors(spec, decisions))
        self.typed = self._typed_models(upstreams, {n: d.engine for n, d in decisions.items()}, reads)
        outputs = self._infer_outputs(order, upstreams)
        self.errors.extend(validation.column_errors(spec, self.column_problems))
        self.errors.extend(validation.portability_errors(spec, self.calls, self._unsupported))
        self.errors.extend(validation.contract_errors(spec, outputs))
        self.errors.extend(validation.exact_type_errors(spec, outputs, self.column_problems, decisions))
        self.errors.extend(validation.reference_errors(spec, lambda table: self._schema_of(table, outputs)))
        self.refuse(validation.unit_test_errors(spec, upstreams))
        engine_of = {n: d.engine for n, d in decisions.items()}
        lookbacks = fingerprints.lookbacks(spec, order, upstreams)
        prints, foreign = fingerprints.fingerprints(spec, order, upstreams, engine_of, lookbacks)
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
                    fingerprint=prints[name],
                    foreign_digest=foreign[name],
                    calls=self.calls.get(name, ()),
                )
                for name in order
            },
            order=tuple(order),
            downstreams=_downstreams(order, upstreams),
            stages=plan_stages(spec.models, order, engine_of, upstreams, spec.limits),
            checks=checks,
            sql_facts={n: SqlFacts(reads[n][2], found) for n, found in self.column_problems.items() if reads.get(n)},
            typed=frozenset(self.typed),
        )

    def reanalyzed(self, previous: Analysis, edited: list[str]) -> Analysis | None:
        """The analysis of this spec, which differs from the one `previous` analysed only in the SQL of `edited`.

        It holds when each edited model still parses, names the same tables, has the
        same shape and infers the same output and calls (offsets aside) without a
        problem, and no warehouse lacks what it calls: then nothing any other model
        or check reads has changed. Fingerprints and lookbacks are computed again for
        all. None otherwise, for a full analysis to decide.
        """
        self.typed = set(previous.typed)
        outputs = {n: m.output for n, m in previous.models.items()}
        upstreams = {n: set(m.upstreams) for n, m in previous.models.items()}
        facts = dict(previous.sql_facts)
        for name in edited:
            found = self._same_interface(name, previous, upstreams, outputs)
            if found is None:
                return None
            facts[name] = found
        order = list(previous.order)
        engine_of = {n: m.engine for n, m in previous.models.items()}
        lookbacks = fingerprints.lookbacks(self.spec, order, upstreams)
        prints, foreign = fingerprints.fingerprints(self.spec, order, upstreams, engine_of, lookbacks)
        models = {
            name: replace(
                info,
                queries=self.queries,
                lookback=lookbacks[name],
                fingerprint=prints[name],
                foreign_digest=foreign[name],
                calls=self.calls.get(name, info.calls),
            )
            for name, info in previous.models.items()
        }
        return replace(previous, models=models, sql_facts=facts)

    def _same_interface(self, name: str, previous: Analysis, upstreams: Mapping[str, set[str]], outputs: Mapping) -> SqlFacts | None:
        """An edited model's new SQL facts, when all it offers other models and checks is as before; else None."""
        before = previous.sql_facts.get(name)
        reads = self._reads(name)
        if before is None or reads is None or self.errors:
            return None
        qualified, unqualified, shape = reads
        if unqualified or sorted(qualified) != list(previous.models[name].reads) or shape != before.shape:
            return None
        found = self._inferred(name, upstreams, outputs)
        if found.get("unresolved") or found.get("unnamed") or _offered(found) != _offered(before.inferred) or self.errors:
            return None
        outputs_here: dict = {}
        self._take(name, found, outputs_here)
        view = replace(self.spec, models=(self.models[name],))
        if validation.portability_errors(view, {name: self.calls[name]}, self._unsupported) or self.errors:
            return None
        return SqlFacts(shape, found)

    # -- SQL and dependencies ------------------------------------------------
    def _reads(self, name: str) -> tuple[dict[str, int], dict[str, int], dict] | None:
        """Tables the SQL names (qualified, unqualified; each with its offset) and its shape, remembered by SQL text."""
        model = self.models[name]
        if model.sql is None:
            return None
        found = self.memo.cached(table_reads, SqlText(self.dialect, model.sql.text, lambda: self.queries.get(name)))
        return tuple(found) if found else None

    def _unsupported(self, model: Model, dialect: str) -> list[str]:
        given = SqlForDialect(self.dialect, model.sql.text, lambda: self.queries.get(model.name), dialect)
        return self.memo.cached(unsupported_messages, given)

    def _known_tables(self) -> list[str]:
        # Listed only when a message needs them: listing them for every model is quadratic.
        return list(self.models) + list(self.sources)

    def _upstreams(self, model: Model, reads: tuple[dict[str, int], dict[str, int], dict] | None) -> set[str]:
        found: set[str] = set()
        offsets: dict[str, int] = {}
        if reads is not None:
            qualified, unqualified = reads[0], reads[1]
            offsets = qualified
            for name, offset in unqualified.items():
                known = self._known_tables()
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
        # A foreign key's check reads the referenced table, so that table is built first.
        # (an unknown one is reference_errors' to report, at the column)
        found.update(t for t in referenced_tables(model.contract) - {model.name} if t in self.models or t in self.sources)
        for name in sorted(found):
            if name not in self.models and name not in self.sources:
                where = sqlmod.location_of(model, offsets[name]) if name in offsets else model.location
                self.errors.append(
                    Diagnostic(
                        where,
                        f"model '{model.name}' reads unknown table '{name}'",
                        did_you_mean(name, self._known_tables(), "models and sources")
                        + " (declare tables that exist outside meshgen under `sources:`)",
                    )
                )
        return {n for n in found if n in self.models or n in self.sources}

    # -- output columns ----------------------------------------------------------
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
            self._take(name, found, outputs)
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
        found = self._inferred(name, upstreams, outputs)
        self._take(name, found, outputs)
        self.work.publish(name, has_sql, found)

    def _inferred(self, name: str, upstreams: Mapping[str, set[str]], outputs: Mapping) -> dict:
        """What inferring a SQL model's output columns finds, over the columns its upstreams have in `outputs`."""
        model = self.models[name]
        found = None
        read = self._upstream_columns(name, upstreams, outputs)
        if name not in self.typed:
            names = tuple((table, tuple(columns)) for table, columns in read.items())
            given_names = SqlOverNames(self.dialect, model.sql.text, lambda: self.queries.get(name), names, model.contract is not None)
            found = self.memo.cached(named_output, given_names)
        if found is None:
            given = SqlOverSchema(self.dialect, model.sql.text, lambda: self.queries.get(name), _nested(read))
            found = self.memo.cached(inferred_output, given)
        return found

    def _take(self, name: str, found: dict, outputs: dict) -> None:
        outputs[name] = _columns(found)
        self.column_problems[name] = found
        self.calls[name] = tuple(
            sqlmod.TypedCall(function, index, tuple(tuple(a) for a in arguments), type_, offset)
            for function, index, arguments, type_, offset in found.get("calls", ())
        )

    def _upstream_columns(self, name: str, upstreams: Mapping[str, set[str]], outputs: Mapping) -> dict[str, dict[str, str]]:
        """schema.table -> its columns (name -> type), for each table the model reads whose columns are known."""
        return {table: columns for table in sorted(upstreams[name]) if (columns := self._schema_of(table, outputs))}

    def _typed_models(self, upstreams: Mapping[str, set[str]], engine_of: Mapping[str, str], reads: Mapping) -> set[str]:
        """The SQL models whose inferred column types something reads; the others need their column names only.

        Types are read for: the time column of a time range; the columns of a model
        without a contract that dbt declares (its own, or those of a SQLMesh model it
        reads as a source) or SQLMesh declares (a dbt model it reads); a contract's
        check where some output is not a CAST; calls some warehouse may lack an
        overload of. Each such model's upstreams without a contract need theirs, as
        typing a query needs the types of what it reads.
        """
        sql_models = [m for m in self.spec.models if m.sql is not None and m.seed is None]
        if self.all_types:
            return {m.name for m in sql_models}
        overloads = portability.overloads_matter(self.spec)
        read_by: dict[str, set[str]] = {}
        for name, ups in upstreams.items():
            for upstream in ups:
                read_by.setdefault(upstream, set()).add(engine_of[name])
        wanted = set()
        for model in sql_models:
            shape = reads[model.name][2] if reads.get(model.name) else {"casts": False, "calls": True}
            crosses = bool(read_by.get(model.name, set()) - {engine_of[model.name]})
            if (
                model.kind == "incremental_by_time_range"
                or (model.contract is None and (engine_of[model.name] == "dbt" or crosses))
                or (model.contract is not None and not shape["casts"])
                or (overloads and shape["calls"])
            ):
                wanted.add(model.name)
        typed, pending = set(), sorted(wanted)
        while pending:
            name = pending.pop()
            if name in typed:
                continue
            typed.add(name)
            pending += [u for u in upstreams[name] if u in self.models and self.models[u].contract is None and self.models[u].sql is not None]
        return typed


def _offered(found: dict) -> tuple:
    """What an inferred output offers the rest of the analysis: its columns, exact types and calls, offsets aside."""
    return found["columns"], found.get("exact", []), [call[:4] for call in found.get("calls", ())]


def _nested(columns: Mapping[str, dict[str, str]]) -> Schema:
    """schema.table -> columns as sqlglot's schema takes them: schema -> table -> columns."""
    schema: Schema = {}
    for table, found in columns.items():
        db, _, table_name = table.partition(".")
        schema.setdefault(db, {})[table_name] = found
    return schema


def _downstreams(order: list[str], upstreams: Mapping[str, set[str]]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for name in order:
        for upstream in upstreams[name]:
            found.setdefault(upstream, []).append(name)
    return {k: tuple(v) for k, v in found.items()}


def _seed_columns(model: Model) -> tuple[OutputColumn, ...]:
    """A seed's columns in the file's order, typed by its contract or, without one, from its values."""
    declared = {c.name: c.type for c in model.contract.columns} if model.contract else {}
    return tuple(OutputColumn(n, declared.get(n) or seeds.infer_type(model.seed.values(n))) for n in model.seed.header)


def _columns(found: dict) -> tuple[OutputColumn, ...] | None:
    return None if found["columns"] is None else tuple(OutputColumn(n, t) for n, t in found["columns"])


def analyze(spec: Spec, memo: Memo | None = None, work: LocalWork | None = None, all_types: bool = False) -> Spec:
    """The spec with its analysis attached; raises MeshgenError on the first failing phase.

    Only the models whose column types something generated reads are typed; the
    others' columns carry names only, unless `all_types` (for `meshgen explain`).
    With `SharedWork`, a helper process runs this too, on its share of the models (see `work.py`).
    """
    return replace(spec, analysis=_Analyzer(spec, memo or Memo(), work, all_types).run())


def reanalyze(spec: Spec, previous: Analysis, edited: list[str]) -> Spec | None:
    """The spec analysed from `previous` when only the SQL of `edited` models changed and all they offer stays; else None."""
    analysis = _Analyzer(spec, Memo()).reanalyzed(previous, edited)
    return None if analysis is None else replace(spec, analysis=analysis)


def helper_models(spec: Spec, memo: Memo, engine: str) -> frozenset[str] | None:
    """The models of `engine` for a helper to take, when both engines have enough SQL to parse."""
    engines = {m.name: engine_rules.decide(m, spec.engines).engine for m in spec.models}
    dialect = spec.project.dialect
    unparsed = Counter(engines[m.name] for m in spec.models if m.sql is not None and not memo.knows(table_reads, SqlText(dialect, m.sql.text)))
    if min(unparsed["sqlmesh"], unparsed["dbt"]) < PARALLEL_MIN_MODELS or not parallel.available():
        return None
    return frozenset(name for name, chosen in engines.items() if chosen == engine)
