"""Standalone contract documents, in the Open Data Contract Standard (ODCS v3.1) format.

Other tools (catalogues, datacontract-cli, consumers on other platforms) read
these without knowing meshgen.
"""

from __future__ import annotations

from posixpath import join
from typing import TYPE_CHECKING

from sqlglot import exp

from ..ir import Column, Contract, Spec
from ..semantics.checks import AcceptedValues, Expression, Range, column_checks
from ..semantics.types import logical_type
from ..sqltext import generate, identifier_node
from .files import GeneratedFile
from .render import render

if TYPE_CHECKING:
    from ..build.memo import Memo


def quality_rules(column: Column, table: str, spec: Spec) -> list[dict]:
    """A column's checks beyond required/unique/primaryKey, as ODCS quality rules (SQL in the project's dialect)."""
    rules = []
    for check in column_checks(column):
        if isinstance(check, AcceptedValues):
            rules.append({"type": "library", "metric": "invalidValues", "arguments": {"validValues": list(check.values)}, "mustBe": 0})
        elif isinstance(check, Range):
            rules.append({"type": "sql", "query": _rows_where(_outside(check, spec), table, spec), "mustBe": 0})
        elif isinstance(check, Expression):
            failing = exp.Not(this=exp.Paren(this=spec.analysis.checks[check.text].copy()))
            rules.append(
                {"type": "sql", "description": f"check: {check.text}", "query": _rows_where(failing, table, spec), "mustBe": 0}
            )
    return rules


def _outside(check: Range, spec: Spec) -> exp.Expression:
    column = exp.column(identifier_node(check.column, spec.project.dialect))
    bounds = []
    if check.low is not None:
        bounds.append(exp.LT(this=column.copy(), expression=exp.Literal.number(check.low)))
    if check.high is not None:
        bounds.append(exp.GT(this=column.copy(), expression=exp.Literal.number(check.high)))
    return exp.or_(*bounds)


def _rows_where(condition: exp.Expression, table: str, spec: Spec) -> str:
    """`SELECT COUNT(*)` of the table's rows meeting the condition: the rule's failing rows."""
    dialect = spec.project.dialect
    parts = [identifier_node(part, dialect) for part in table.split(".", 1)]
    name = exp.Table(this=parts[-1], db=parts[0] if len(parts) == 2 else None)
    return generate(exp.select(exp.Count(this=exp.Star())).from_(name).where(condition), dialect, pretty=False)


def _objects(contract: Contract, spec: Spec, producers: tuple[str, ...]) -> list[dict]:
    """The tables the contract describes (its producers' or, without any, the contract itself), with each column's rules."""
    tables = [(spec.model(n).table, n, spec.model(n).description) for n in producers] or [(contract.name, "", contract.description)]
    return [
        {
            "name": name,
            "physical_name": physical_name,
            "description": description,
            "quality": {c.name: quality_rules(c, physical_name or contract.name, spec) for c in contract.columns},
        }
        for name, physical_name, description in tables
    ]


def emit(spec: Spec, memo: "Memo | None" = None) -> list[GeneratedFile]:
    """The files; nothing here costs enough to remember (`memo` is unused)."""
    producers = spec.contract_producers()
    files = []
    for contract in spec.contracts:
        made_by = producers.get(contract.name, ())
        domains = sorted({spec.model(m).domain for m in made_by if spec.model(m).domain})
        text = render(
            "contracts/contract.odcs.yaml.j2",
            contract=contract,
            objects=_objects(contract, spec, made_by),
            producers=list(made_by),
            domain=domains[0] if len(domains) == 1 else "",
            logical_types={c.name: logical_type(c.type) for c in contract.columns},
        )
        files.append(GeneratedFile(join(spec.output.contracts, f"{contract.name}.odcs.yaml"), text))
    return files
