"""Model SQL on every environment's warehouse: the calls a warehouse has no overload for, and their rewrite.

Model SQL is written once, in the project's dialect; each engine runs it on
each environment's warehouse (dbt from SQL meshgen generates per warehouse,
SQLMesh from its own transpilation at run time). sqlglot translates functions
between dialects but not argument types: DuckDB's `ROUND(double, 1)` becomes
the same call on PostgreSQL, which rounds only NUMERIC. The analysis types
every such call (`TypedCall`); here they meet the warehouse table's
`missing_overloads`. A call with a cast rewrite is rewritten for that
warehouse only (`explain` lists it); one without is refused by validate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlglot import exp

from ..analysis.sql import TypedCall, typed_call_nodes
from ..ir import Spec
from ..warehouses import MissingOverload, warehouse


@dataclass(frozen=True)
class Finding:
    warehouse: str  # the gateway type
    environments: tuple[str, ...]  # the environments on it
    call: TypedCall
    missing: MissingOverload

    @property
    def rewritten(self) -> bool:
        return bool(self.missing.cast)

    def describe(self) -> str:
        arguments = ", ".join(family or "…" for _, family in self.call.arguments)
        return f"{_sql_name(self.call.function)}({arguments}) has no {self.warehouse} function"


def warehouses_of(spec: Spec) -> dict[str, tuple[str, ...]]:
    """Gateway type -> the environments on it, in spec order."""
    found: dict[str, list[str]] = {}
    for environment in spec.environments:
        found.setdefault(spec.gateway(environment.gateway).type, []).append(environment.name)
    return {kind: tuple(names) for kind, names in found.items()}


def overloads_matter(spec: Spec) -> bool:
    """Whether some environment's warehouse lacks an overload of a function (so calls need their argument types)."""
    return any(warehouse(kind).missing_overloads for kind in warehouses_of(spec))


def findings(spec: Spec, calls: tuple[TypedCall, ...]) -> list[Finding]:
    """A model's calls that some environment's warehouse has no overload for."""
    found = []
    for kind, environments in warehouses_of(spec).items():
        for call in calls:
            missing = next((m for m in warehouse(kind).missing_overloads if _matches(m, call)), None)
            if missing is not None:
                found.append(Finding(kind, environments, call, missing))
    return found


def rewrites(spec: Spec, calls: tuple[TypedCall, ...]) -> list[Finding]:
    """The findings meshgen rewrites (a cast keeps the value), for every warehouse."""
    return [f for f in findings(spec, calls) if f.rewritten]


# A rewrite as the targets remember it: the call, and what its float arguments are cast to.
Rewrite = tuple[TypedCall, str]


def rewritten_calls(spec: Spec, calls: tuple[TypedCall, ...], warehouse_type: str) -> tuple[Rewrite, ...]:
    """The calls meshgen rewrites in a model's SQL for one warehouse."""
    return tuple((f.call, f.missing.cast) for f in rewrites(spec, calls) if f.warehouse == warehouse_type)


def rewrite(query: exp.Query, chosen: tuple[Rewrite, ...]) -> exp.Query:
    """The query with each call rewritten (a copy; the query itself when there is none)."""
    casts = dict(chosen)
    return rewrite_each(query, tuple(casts), lambda call, node: rewritten_call(call, node, casts[call]))


def rewrite_each(query: exp.Query, calls: tuple[TypedCall, ...], replace: Callable[[TypedCall, exp.Expression], exp.Expression]) -> exp.Query:
    """A copy of the query with each call's node swapped for `replace(call, node)` (the query itself when there is none)."""
    if not calls:
        return query
    query = query.copy()
    nodes = typed_call_nodes(query)
    for call in sorted(calls, key=lambda c: -c.index):  # inner calls first: an outer one's rewrite then holds them
        node = nodes[call.index]
        node.replace(replace(call, node.copy()))
    return query


def rewritten_call(call: TypedCall, node: exp.Expression, cast_to: str) -> exp.Expression:
    """The call with its float arguments cast to `cast_to`, and its result cast back to its own type."""
    families = dict(call.arguments)
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression) and families.get(key) == "float":
            node.set(key, exp.cast(value, exp.DataType.build(cast_to)))
    return exp.cast(node, exp.DataType.build(call.type)) if call.type else node


def rewrite_notes(spec: Spec) -> list[str]:
    """One line per model with calls rewritten for a warehouse, for `meshgen validate`."""
    notes = []
    for name, info in spec.analysis.models.items():
        found = rewrites(spec, info.calls)
        if found:
            calls = f" ({len(found)} calls)" if len(found) > 1 else ""
            notes.append(f"  note: model '{name}': {found[0].describe()}{calls}; meshgen casts it there (`meshgen explain {name}`)")
    return notes


def rewritten_by_environment(spec: Spec, calls: tuple[TypedCall, ...]) -> tuple[tuple[Rewrite, tuple[str, ...]], ...]:
    """Each rewrite some warehouses make, with the environments on them (SQLMesh's gateways)."""
    environments: dict[Rewrite, list[str]] = {}
    for finding in rewrites(spec, calls):
        environments.setdefault((finding.call, finding.missing.cast), []).extend(finding.environments)
    return tuple((chosen, tuple(names)) for chosen, names in environments.items())


def _matches(missing: MissingOverload, call: TypedCall) -> bool:
    if missing.function != call.function:
        return False
    families = dict(call.arguments)
    return all(key in families and (wanted == "*" or families[key] == wanted) for key, wanted in missing.arguments.items())


def _sql_name(function: str) -> str:
    return {"Mod": "%", "ArgMax": "ARG_MAX", "ArgMin": "ARG_MIN"}.get(function, function.upper())
