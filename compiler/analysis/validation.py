"""The analysis' refusals: each a function of the spec (and what the analysis found) to diagnostics."""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Mapping

from sqlglot import exp

from ..errors import Diagnostic, did_you_mean, shown
from ..ir import Model, Spec
from ..semantics import portability
from ..semantics.types import type_class, valid_type
from ..warehouses import warehouse
from . import sql as sqlmod
from .engines import Decision
from .graph import find_cycles
from .sql import OutputColumn


def type_errors(spec: Spec) -> list[Diagnostic]:
    """Contract types the dialect does not know, and Python models without the contract their columns need."""
    dialect = spec.project.dialect
    declaring = [("contract", c) for c in spec.contracts] + [("source", s) for s in spec.sources]
    errors = [
        Diagnostic(
            column.location if column.location.line else owner.location,
            f"{kind} '{owner.name}': column '{column.name}' has unknown type '{column.type}'",
            f"use a {dialect} type such as integer, bigint, double, decimal(18,2), varchar, date, timestamp",
        )
        for kind, owner in declaring
        for column in owner.columns
        if not valid_type(column.type, dialect)
    ]
    errors.extend(
        Diagnostic(
            model.location,
            f"Python model '{model.name}' needs a contract",
            "its columns cannot be read from code: add `contract: {columns: {...}}` or a contract name",
        )
        for model in spec.models
        if model.language == "python" and model.contract is None
    )
    return errors


def column_errors(spec: Spec, problems: Mapping[str, dict]) -> list[Diagnostic]:
    """Columns no table read has (or several have), and output columns without a name or with the name of another."""
    errors = []
    for name, found in problems.items():
        model = spec.model(name)
        for column, offset, having, nearest in found.get("unresolved", ()):
            if len(having) > 1:
                message = f"model '{name}': column '{column}' is ambiguous: {', '.join(having)} all have it"
                hint = f"qualify it with the table or its alias, e.g. {having[0].split('.')[1]}.{column}"
            else:
                message = f"model '{name}': no table it reads has a column '{column}'"
                hint = f"did you mean '{nearest}'?" if nearest else "declare the column on the source, or check the table it comes from"
            errors.append(Diagnostic(sqlmod.location_of(model, offset), message, hint))
        for offset in found.get("unnamed", ()):
            errors.append(
                Diagnostic(
                    sqlmod.location_of(model, offset),
                    f"model '{name}': an output column has no name",
                    "name it with AS (`SELECT amount * 2 AS doubled`): each engine would invent a different name",
                )
            )
        names = [c for c, _ in found.get("columns") or ()]
        for duplicate in sorted({c for c in names if names.count(c) > 1}):
            errors.append(
                Diagnostic(
                    model.sql.location,
                    f"model '{name}': output column '{duplicate}' appears {names.count(duplicate)} times",
                    "give each output column its own name with AS: a table cannot hold two columns of one name",
                )
            )
    return errors


def parsed_checks(spec: Spec, errors: list[Diagnostic]) -> dict[str, exp.Expression]:
    """Contract `check` expressions parsed: expression text -> AST; those that are no condition are refused."""
    checks: dict[str, exp.Expression] = {}
    for contract in spec.contracts:
        for column in contract.columns:
            for constraint in column.constraints:
                if constraint.kind != "check" or constraint.expression in checks:
                    continue
                parsed, why_not = sqlmod.parse_condition(constraint.expression, spec.project.dialect)
                if parsed is not None:
                    checks[constraint.expression] = parsed
                    continue
                errors.append(
                    Diagnostic(
                        column.location if column.location.line else contract.location,
                        f"contract '{contract.name}': check on '{column.name}' is refused ({why_not}): {shown(constraint.expression)}",
                        "write a boolean expression over the row's columns, e.g. `amount >= 0`",
                    )
                )
    return checks


def cycle_errors(spec: Spec, names: list[str], upstreams: Mapping[str, set[str]]) -> list[Diagnostic]:
    errors = []
    for cycle in find_cycles(names, upstreams):
        model = spec.model(cycle[0])
        what = "reads itself" if len(cycle) == 2 else "is part of a dependency cycle"
        errors.append(
            Diagnostic(
                model.location,
                f"model '{model.name}' {what}: {' -> '.join(cycle)}",
                "each arrow points from a table to a model that reads it; break one of these reads",
            )
        )
    return errors


def layer_errors(spec: Spec, upstreams: Mapping[str, set[str]]) -> list[Diagnostic]:
    layers = spec.project.layers
    errors = []
    for model in spec.models:
        for name in sorted(upstreams[model.name]) if model.layer else ():
            upstream = spec.model(name)
            if upstream and upstream.layer and layers.index(upstream.layer) > layers.index(model.layer):
                errors.append(
                    Diagnostic(
                        model.location,
                        f"model '{model.name}' (layer {model.layer}) reads '{name}' from the higher layer {upstream.layer}",
                        f"layers go {' -> '.join(layers)}; a model may only read its own layer or lower ones",
                    )
                )
    return errors


def capability_errors(spec: Spec, decisions: Mapping[str, Decision]) -> list[Diagnostic]:
    """Python models put on dbt where an environment's warehouse cannot run dbt Python models."""
    gateways = sorted({(spec.gateway(env.gateway).type, env.gateway, env.name) for env in spec.environments})
    errors = []
    for model in spec.models:
        decision = decisions[model.name]
        if model.language != "python" or decision.engine != "dbt":
            continue
        unable = [g for g in gateways if not warehouse(g[0]).dbt_python]
        if unable:
            gateway_type, gateway, environment = unable[0]
            pinned = decision.decided_by.kind == "pin"
            placed = "is pinned to dbt by its `engine`" if pinned else f"is put on dbt by {decision.summary}"
            errors.append(
                Diagnostic(
                    model.location,
                    f"Python model '{model.name}' {placed}, but dbt cannot run "
                    f"Python models on gateway '{gateway}' ({gateway_type}) of environment '{environment}'",
                    "set `engine: sqlmesh` on the model"
                    if pinned
                    else "pin it with `engine: sqlmesh`, or add a rule before that one sending Python models to sqlmesh",
                )
            )
    return errors


def contract_errors(spec: Spec, outputs: Mapping[str, tuple[OutputColumn, ...] | None]) -> list[Diagnostic]:
    """SQL models whose inferred output does not match their contract's columns and type families."""
    errors = []
    for model in spec.models:
        if model.contract is None or model.sql is None or outputs.get(model.name) is None:
            continue
        produced = {c.name: c.type for c in outputs[model.name]}
        promised = {c.name: c.type for c in model.contract.columns}
        label = f"model '{model.name}' does not match its contract '{model.contract.name}'"
        parts = []
        missing = [c for c in promised if c not in produced]
        extra = [c for c in produced if c not in promised]
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"extra column(s) {', '.join(extra)}")
        if parts:
            errors.append(Diagnostic(model.location, f"{label}: {'; '.join(parts)}", "make the SELECT output exactly the contract's columns"))
        for column, promised_type in promised.items():
            inferred = produced.get(column, "")
            want, got = type_class(promised_type, spec.project.dialect), type_class(inferred, spec.project.dialect)
            if want and got and want != got:
                errors.append(
                    Diagnostic(
                        model.location,
                        f"{label}: column '{column}' is {inferred} ({got}) in the SQL but {promised_type} ({want}) in the contract",
                        f"CAST it in the SELECT, e.g. CAST(... AS {promised_type.upper()})",
                    )
                )
    return errors


def exact_type_errors(spec: Spec, outputs: Mapping, problems: Mapping[str, dict], decisions: Mapping[str, Decision]) -> list[Diagnostic]:
    """dbt enforces a contract's types exactly (integer is not bigint): refused where the SQL's type is certain.

    Certain means a CAST or a COUNT; other inferred types are left to the family check,
    as sqlglot's inference of widths is not every warehouse's.
    """
    errors = []
    kinds = sorted({spec.gateway(env.gateway).type for env in spec.environments})
    for model in spec.models:
        if model.contract is None or model.sql is None or decisions[model.name].engine != "dbt" or not outputs.get(model.name):
            continue
        produced = {c.name: c.type for c in outputs[model.name]}
        exact = set(problems.get(model.name, {}).get("exact", ()))
        for column in model.contract.columns:
            inferred = produced.get(column.name, "")
            if column.name not in exact or not inferred or type_class(inferred, spec.project.dialect) != type_class(column.type, spec.project.dialect):
                continue
            differing = [k for k in kinds if _base_type(inferred, spec.project.dialect, k) != _base_type(column.type, spec.project.dialect, k)]
            if differing:
                errors.append(
                    Diagnostic(
                        column.location if column.location.line else model.location,
                        f"model '{model.name}': column '{column.name}' is {inferred} in the SQL but {column.type} in the contract, "
                        f"and dbt's enforced contract refuses the difference on {differing[0]}",
                        f"CAST it in the SELECT (CAST(... AS {column.type.upper()})), or declare `{inferred}` in the contract",
                    )
                )
    return errors


@lru_cache(maxsize=None)
def _base_type(type_text: str, dialect: str, kind: str) -> str:
    """The type as the warehouse knows it, without its width (INT, BIGINT, DECIMAL)."""
    from ..semantics.types import warehouse_type

    try:
        return exp.DataType.build(warehouse_type(type_text, dialect, kind), dialect=kind).this.name
    except Exception:  # noqa: BLE001 - a type the warehouse cannot spell is reported elsewhere
        return ""


def unit_test_errors(spec: Spec, upstreams: Mapping[str, set[str]]) -> list[Diagnostic]:
    """Unit tests giving rows for tables their model does not read."""
    return [
        Diagnostic(
            test.location,
            f"test '{test.name}' of model '{model.name}' gives rows for '{table}', which the model does not read",
            did_you_mean(table, upstreams[model.name], "upstreams"),
        )
        for model in spec.models
        for test in model.tests
        for table, _ in test.given
        if table not in upstreams[model.name]
    ]


def portability_errors(
    spec: Spec, calls: Mapping[str, tuple[sqlmod.TypedCall, ...]], unsupported: Callable[[Model, str], list[str]]
) -> list[Diagnostic]:
    """What some environment's warehouse cannot run: calls without an overload there, functions sqlglot cannot translate."""
    errors = []
    for model in spec.models:
        for finding in portability.findings(spec, calls.get(model.name, ())):
            if finding.rewritten:
                continue
            errors.append(
                Diagnostic(
                    sqlmod.location_of(model, finding.call.offset),
                    f"model '{model.name}': {finding.describe()} (environment {', '.join(finding.environments)})",
                    finding.missing.hint,
                )
            )
    errors.extend(_untranslatable(spec, unsupported))
    return errors


def _untranslatable(spec: Spec, unsupported: Callable[[Model, str], list[str]]) -> list[Diagnostic]:
    """What sqlglot says it cannot write in another environment's dialect (`unsupported(model, dialect)`), per model."""
    foreign = {kind: ", ".join(names) for kind, names in portability.warehouses_of(spec).items() if kind != spec.project.dialect}
    errors = []
    for model in spec.models:
        for kind, environments in foreign.items() if model.sql is not None else ():
            for message in unsupported(model, kind):
                errors.append(
                    Diagnostic(model.location, f"model '{model.name}' cannot run on {kind} (environment {environments}): {message}",
                               f"write it with functions {kind} has, or keep the model's environments on {spec.project.dialect}")
                )
    return errors


def reference_errors(spec: Spec, columns_of: Callable[[str], dict[str, str] | None]) -> list[Diagnostic]:
    """`references` constraints naming a table that is no model or source, or a column that table does not have."""
    known = [m.name for m in spec.models] + [s.name for s in spec.sources]
    errors = []
    for model in spec.models:
        for column in model.contract.columns if model.contract else ():
            for constraint in column.constraints:
                if constraint.kind != "references":
                    continue
                table, to_column = constraint.referenced_table, constraint.referenced_column
                label = f"model '{model.name}': column '{column.name}' references"
                if table not in known:
                    errors.append(Diagnostic(column.location, f"{label} unknown table '{table}'", did_you_mean(table, known, "models and sources")))
                    continue
                columns = columns_of(table)
                if columns is not None and to_column not in columns:
                    errors.append(Diagnostic(column.location, f"{label} '{table}.{to_column}', which has no column '{to_column}'",
                                             did_you_mean(to_column, list(columns), "columns")))
    return errors
