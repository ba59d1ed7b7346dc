"""Target-neutral facts about the IR, computed one way for every target.

What a table's columns are, who owns a model and what describes it, and (in
`checks`) what a contract requires of the rows: each target spells these in
its own syntax, but never decides them differently.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Model, Spec


@dataclass(frozen=True)
class TableColumn:
    name: str
    type: str  # in the project's dialect; "" when it cannot be inferred
    description: str = ""


def owner(spec: Spec, model: Model) -> str:
    """The model's owner, else its contract's, else the project's."""
    return model.owner or (model.contract.owner if model.contract else "") or spec.project.owner


def description(model: Model) -> str:
    """The model's description, else its contract's."""
    return model.description or (model.contract.description if model.contract else "")


def table_columns(spec: Spec, name: str) -> tuple[TableColumn, ...]:
    """A source's or model's columns: as declared, else its contract's, else what analysis inferred.

    A seed's come in the file's order, typed by its contract or its values.
    """
    source = spec.source(name)
    if source is not None:
        return tuple(TableColumn(c.name, c.type, c.description) for c in source.columns)
    model = spec.model(name)
    if model.contract is not None and model.seed is None:
        return tuple(TableColumn(c.name, c.type, c.description) for c in model.contract.columns)
    descriptions = {c.name: c.description for c in model.contract.columns} if model.contract else {}
    output = spec.analysis.models[name].output or ()
    return tuple(TableColumn(c.name, c.type, descriptions.get(c.name, "")) for c in output)
