"""Standalone contract documents, in the Open Data Contract Standard (ODCS v3.1) format.

Other tools (catalogues, datacontract-cli, consumers on other platforms) read
these without knowing meshgen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from posixpath import join

from .files import GeneratedFile
from ..semantics.types import logical_type
from ..ir import Column, Contract, Spec
from .render import render

if TYPE_CHECKING:
    from ..build.memo import Memo

def quality_rules(column: Column, table: str) -> list[dict]:
    """Constraints beyond required/unique/primaryKey, as ODCS quality rules."""
    rules = []
    for constraint in column.constraints:
        if constraint.kind == "accepted_values":
            rules.append(
                {
                    "type": "library",
                    "metric": "invalidValues",
                    "arguments": {"validValues": list(constraint.values)},
                    "mustBe": 0,
                }
            )
        elif constraint.kind == "range":
            bounds = []
            if constraint.low is not None:
                bounds.append(f"{column.name} < {constraint.low}")
            if constraint.high is not None:
                bounds.append(f"{column.name} > {constraint.high}")
            rules.append({"type": "sql", "query": f"SELECT COUNT(*) FROM {table} WHERE {' OR '.join(bounds)}", "mustBe": 0})
        elif constraint.kind == "check":
            rules.append(
                {
                    "type": "sql",
                    "description": f"check: {constraint.expression}",
                    "query": f"SELECT COUNT(*) FROM {table} WHERE NOT ({constraint.expression})",
                    "mustBe": 0,
                }
            )
    return rules


def _objects(contract: Contract, spec: Spec, producers: tuple[str, ...]) -> list[dict]:
    if not producers:
        return [{"name": contract.name, "physical_name": "", "description": contract.description}]
    objects = []
    for name in producers:
        model = spec.model(name)
        objects.append({"name": model.table, "physical_name": model.name, "description": model.description})
    return objects


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
            quality=quality_rules,
            logical_type=logical_type,
        )
        files.append(GeneratedFile(join(spec.output.contracts, f"{contract.name}.odcs.yaml"), text))
    return files
