"""Standalone contract documents, in the Open Data Contract Standard (ODCS v3.1) format.

Other tools (catalogues, datacontract-cli, consumers on other platforms) read
these without knowing meshgen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from posixpath import join

from sqlglot import exp

from ..build.memo import Memo
from ..ir import Column, Contract, Spec
from ..semantics.checks import AcceptedValues, Expression, Range, References, column_checks
from ..semantics.types import logical_type
from ..sqltext import generate, identifier_node
from .files import GeneratedFile
from .render import render


def quality_rules(column: Column, table: str, spec: Spec, memo: Memo) -> list[dict]:
    """A column's checks beyond required/unique/primaryKey, as ODCS quality rules (SQL in the project's dialect)."""
    rules = []
    for check in column_checks(column):
        if isinstance(check, AcceptedValues):
            rules.append({"type": "library", "metric": "invalidValues", "arguments": {"validValues": list(check.values)}, "mustBe": 0})
        elif isinstance(check, (Range, Expression)):
            parsed = spec.analysis.checks[check.text] if isinstance(check, Expression) else None
            query = memo.cached(_failing_rows_query, _RuleInput(spec.project.dialect, table, check, parsed))
            described = {"description": f"check: {check.text}"} if isinstance(check, Expression) else {}
            rules.append({"type": "sql", **described, "query": query, "mustBe": 0})
        elif isinstance(check, References):
            query = memo.cached(_orphans_query, _RuleInput(spec.project.dialect, table, check, None))
            rules.append({"type": "sql", "description": f"references: {check.table}.{check.to_column}", "query": query, "mustBe": 0})
    return rules


@dataclass(frozen=True)
class _RuleInput:
    dialect: str
    table: str
    check: Range | Expression | References
    condition: exp.Expression | None = field(compare=False)  # an Expression's text, parsed


def _failing_rows_query(given: _RuleInput) -> str:
    """`SELECT COUNT(*)` of the table's rows that fail the check."""
    if isinstance(given.check, Range):
        failing = _outside(given.check, given.dialect)
    else:
        failing = exp.Not(this=exp.Paren(this=given.condition.copy()))
    parts = [identifier_node(part, given.dialect) for part in given.table.split(".", 1)]
    name = exp.Table(this=parts[-1], db=parts[0] if len(parts) == 2 else None)
    return generate(exp.select(exp.Count(this=exp.Star())).from_(name).where(failing), given.dialect, pretty=False)


def _table_node(name: str, dialect: str) -> exp.Table:
    parts = [identifier_node(part, dialect) for part in name.split(".", 1)]
    return exp.Table(this=parts[-1], db=parts[0] if len(parts) == 2 else None)


def _orphans_query(given: _RuleInput) -> str:
    """`SELECT COUNT(*)` of the rows whose value is not null and not found in the referenced column."""
    check = given.check
    column = exp.column(identifier_node(check.column, given.dialect))
    referenced = exp.select(exp.column(identifier_node(check.to_column, given.dialect))).from_(_table_node(check.table, given.dialect))
    orphan = exp.and_(exp.Not(this=exp.Is(this=column.copy(), expression=exp.null())), exp.Not(this=exp.In(this=column.copy(), query=exp.Subquery(this=referenced))))
    return generate(exp.select(exp.Count(this=exp.Star())).from_(_table_node(given.table, given.dialect)).where(orphan), given.dialect, pretty=False)


def _outside(check: Range, dialect: str) -> exp.Expression:
    column = exp.column(identifier_node(check.column, dialect))
    bounds = []
    if check.low is not None:
        bounds.append(exp.LT(this=column.copy(), expression=exp.Literal.number(check.low)))
    if check.high is not None:
        bounds.append(exp.GT(this=column.copy(), expression=exp.Literal.number(check.high)))
    return exp.or_(*bounds)


def _objects(contract: Contract, spec: Spec, producers: tuple[str, ...], memo: Memo) -> list[dict]:
    """The tables the contract describes (its producers' or, without any, the contract itself), with each column's rules."""
    tables = [(spec.model(n).table, n, spec.model(n).description) for n in producers] or [(contract.name, "", contract.description)]
    return [
        {
            "name": name,
            "physical_name": physical_name,
            "description": description,
            "quality": {c.name: quality_rules(c, physical_name or contract.name, spec, memo) for c in contract.columns},
        }
        for name, physical_name, description in tables
    ]


def emit(spec: Spec, memo: Memo | None = None) -> list[GeneratedFile]:
    memo = memo or Memo()
    producers = spec.contract_producers()
    files = []
    for contract in spec.contracts:
        made_by = producers.get(contract.name, ())
        domains = sorted({spec.model(m).domain for m in made_by if spec.model(m).domain})
        text = render(
            "contracts/contract.odcs.yaml.j2",
            contract=contract,
            objects=_objects(contract, spec, made_by, memo),
            producers=list(made_by),
            domain=domains[0] if len(domains) == 1 else "",
            logical_types={c.name: logical_type(c.type) for c in contract.columns},
        )
        files.append(GeneratedFile(join(spec.output.contracts, f"{contract.name}.odcs.yaml"), text))
    return files
