"""Contracts and sources: typed columns and their constraints."""

from __future__ import annotations

from typing import Any

from ...ir import Column, Constraint, Contract, Source
from ..loader import JsonPath
from .base import ResolverBase


class ContractSections(ResolverBase):
    def _columns(self, raw: dict, path: JsonPath) -> tuple[Column, ...]:
        columns = []
        for name, value in (raw or {}).items():
            where = self.spec.location(path + (name,), at_key=True)
            if isinstance(value, str):
                columns.append(Column(name=name, type=_normalise_type(value), location=where))
                continue
            constraints = tuple(
                self._constraint(c, path + (name, "constraints", i)) for i, c in enumerate(value.get("constraints", ()))
            )
            columns.append(
                Column(
                    name=name,
                    type=_normalise_type(value["type"]),
                    description=value.get("description", ""),
                    constraints=constraints,
                    location=where,
                )
            )
        return tuple(columns)

    def _constraint(self, raw: Any, path: JsonPath) -> Constraint:
        if isinstance(raw, str):
            return Constraint(kind=raw)
        kind, value = next(iter(raw.items()))
        if kind == "accepted_values":
            return Constraint(kind=kind, values=tuple(value))
        if kind == "range":
            low, high = value
            if low is None and high is None:
                self.error(path, "a range needs at least one bound", "write e.g. `{range: [0, 100]}` or `{range: [0, null]}`")
            elif low is not None and high is not None and low > high:
                self.error(path, f"range minimum {low} is greater than its maximum {high}", "write `[min, max]`")
            return Constraint(kind=kind, low=low, high=high)
        if kind == "references":
            return Constraint(kind=kind, references=value)
        return Constraint(kind=kind, expression=value.strip())

    def _contract(self, name: str, raw: dict, path: JsonPath, inline: bool) -> Contract:
        sla = raw.get("sla", {})
        return Contract(
            name=name,
            columns=self._columns(raw["columns"], path + ("columns",)),
            version=raw.get("version", ""),
            description=raw.get("description", ""),
            owner=raw.get("owner", ""),
            freshness=sla.get("freshness", ""),
            availability=sla.get("availability", ""),
            consumers=tuple(raw.get("consumers", ())),
            inline=inline,
            location=self.spec.location(path, at_key=True),
        )

    def _contracts(self) -> tuple[Contract, ...]:
        raw = self.data.get("contracts", {})
        return tuple(self._contract(name, body, ("contracts", name), False) for name, body in raw.items())

    def _sources(self) -> tuple[Source, ...]:
        sources = []
        first: dict[str, int] = {}
        for i, raw in enumerate(self.data.get("sources", ())):
            path = ("sources", i)
            self._unique(raw["name"], first, path, "source")
            sources.append(
                Source(
                    name=raw["name"],
                    columns=self._columns(raw.get("columns"), path + ("columns",)),
                    description=raw.get("description", ""),
                    owner=raw.get("owner", ""),
                    location=self.loc(path + ("name",)),
                )
            )
        return tuple(sources)


def _normalise_type(text: str) -> str:
    """Lower case, single spaces, no spaces inside parentheses: `DECIMAL( 18, 2 )` -> `decimal(18,2)`."""
    collapsed = " ".join(text.lower().split())
    if "(" in collapsed:
        head, _, rest = collapsed.partition("(")
        collapsed = head.strip() + "(" + rest.replace(" ", "")
    return collapsed
