"""Change safety: classify every change between two versions of a spec, and what it affects.

A change is breaking when a consumer on either engine can stop working: a
contract column dropped or renamed, a type narrowed or changed to another
family, a constraint added or tightened, a read model removed, renamed or
moved to the other engine, a grain changed, an environment or gateway
removed. Everything else is safe. A breaking change to a contract whose
major version did not go up fails the diff.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Location
from ..ir import Column, Constraint, Contract, Spec
from ..semantics.types import type_change
from .impact import downstream_closure

BREAKING, SAFE = "breaking", "safe"


@dataclass
class SpecChange:
    kind: str  # breaking | safe
    subject: str  # what changed: a contract, column, model, environment...
    message: str
    location: Location
    contract: str = ""  # the contract the change belongs to, if any
    acknowledged: bool = True  # False: breaking change without a major version bump
    affected_models: list[str] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)
    stages: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = dict(self.__dict__)
        data["location"] = str(self.location)
        return data


def _constraint_changes(old: Column, new: Column) -> list[tuple[str, str]]:
    """(kind, message) for each constraint added, removed, tightened or loosened."""
    changes = []
    for flag in ("not_null", "unique"):
        before, after = getattr(old, flag), getattr(new, flag)
        if after and not before:
            changes.append((BREAKING, f"constraint {flag} added"))
        elif before and not after:
            changes.append((SAFE, f"constraint {flag} removed"))
    changes += _values_change(_find(old, "accepted_values"), _find(new, "accepted_values"))
    changes += _range_change(_find(old, "range"), _find(new, "range"))
    old_checks = {c.expression for c in old.constraints if c.kind == "check"}
    new_checks = {c.expression for c in new.constraints if c.kind == "check"}
    changes += [(BREAKING, f"check added: {e}") for e in sorted(new_checks - old_checks)]
    changes += [(SAFE, f"check removed: {e}") for e in sorted(old_checks - new_checks)]
    old_refs = {c.references for c in old.constraints if c.kind == "references"}
    new_refs = {c.references for c in new.constraints if c.kind == "references"}
    changes += [(BREAKING, f"references added: {r}") for r in sorted(new_refs - old_refs)]
    changes += [(SAFE, f"references removed: {r}") for r in sorted(old_refs - new_refs)]
    return changes


def _find(column: Column, kind: str) -> Constraint | None:
    return next((c for c in column.constraints if c.kind == kind), None)


def _values_change(old: Constraint | None, new: Constraint | None) -> list[tuple[str, str]]:
    if old == new:
        return []
    if new is None:
        return [(SAFE, "accepted values removed")]
    if old is None:
        return [(BREAKING, f"accepted values added: {', '.join(map(str, new.values))}")]
    dropped = [v for v in old.values if v not in new.values]
    added = [v for v in new.values if v not in old.values]
    if dropped:
        return [(BREAKING, f"accepted values narrowed: {', '.join(map(str, dropped))} no longer accepted")]
    return [(SAFE, f"accepted values widened: {', '.join(map(str, added))} now accepted")]


def _range_change(old: Constraint | None, new: Constraint | None) -> list[tuple[str, str]]:
    if old == new:
        return []
    if new is None:
        return [(SAFE, "range removed")]
    shown = f"[{new.low}, {new.high}]"
    if old is None:
        return [(BREAKING, f"range {shown} added")]
    tighter_low = new.low is not None and (old.low is None or new.low > old.low)
    tighter_high = new.high is not None and (old.high is None or new.high < old.high)
    if tighter_low or tighter_high:
        return [(BREAKING, f"range narrowed from [{old.low}, {old.high}] to {shown}")]
    return [(SAFE, f"range widened from [{old.low}, {old.high}] to {shown}")]


class _Differ:
    def __init__(self, old: Spec, new: Spec):
        self.old, self.new = old, new
        self.changes: list[SpecChange] = []
        self.new_file = new.project.spec_file

    def add(self, kind: str, subject: str, message: str, location: Location, contract: str = "", model: str = "") -> None:
        change = SpecChange(kind, subject, message, location, contract=contract)
        self._affect(change, model)
        self.changes.append(change)

    def _affect(self, change: SpecChange, model: str) -> None:
        """Downstream models (both engines), contract consumers and stages that re-run."""
        if model:
            spec = self.new if model in self.new.analysis.models else self.old
            roots = [model]
        else:
            spec, roots = self.new, list(self.new.contract_producers().get(change.contract, ()))
            if not roots:
                spec, roots = self.old, list(self.old.contract_producers().get(change.contract, ()))
        analysis = spec.analysis
        affected = downstream_closure(spec, roots)
        change.affected_models = affected
        contract = next((c for c in spec.contracts if c.name == change.contract), None)
        consumers = set(contract.consumers) if contract else set()
        for name in roots:
            owned = spec.model(name)
            if owned and owned.contract:
                consumers.update(owned.contract.consumers)
        change.consumers = sorted(consumers)
        change.stages = sorted({analysis.stage_of(m)[0].index for m in list(roots) + affected if m in analysis.models})

    def run(self) -> list[SpecChange]:
        self._contracts()
        self._models()
        self._environments()
        self._versions()
        return sorted(self.changes, key=lambda c: (c.location.line, c.location.col, c.subject, c.message))

    # contracts ------------------------------------------------------------
    def _contracts(self) -> None:
        old = {c.name: c for c in self.old.contracts}
        new = {c.name: c for c in self.new.contracts}
        for name, contract in new.items():
            if name not in old:
                self.add(SAFE, f"contract {name}", "contract added", contract.location, contract=name)
                continue
            self._contract(old[name], contract)
        for name, contract in old.items():
            if name not in new and not contract.inline:
                self.add(BREAKING, f"contract {name}", "contract removed", self._anchor(("contracts",)), contract=name)

    def _contract(self, old: Contract, new: Contract) -> None:
        subject = f"contract {new.name}"
        old_columns = {c.name: c for c in old.columns}
        new_columns = {c.name: c for c in new.columns}
        dropped = [c for c in old_columns if c not in new_columns]
        added = [c for c in new_columns if c not in old_columns]
        renamed = {}
        if len(dropped) == 1 and len(added) == 1 and old_columns[dropped[0]].type == new_columns[added[0]].type:
            renamed = {dropped[0]: added[0]}
        for name in dropped:
            if name in renamed:
                target = new_columns[renamed[name]]
                self.add(BREAKING, f"{subject}.{name}", f"column {name} renamed to {target.name}", target.location, contract=new.name)
            else:
                self.add(BREAKING, f"{subject}.{name}", f"column {name} dropped", new.location, contract=new.name)
        for name in added:
            if name not in renamed.values():
                self.add(SAFE, f"{subject}.{name}", f"column {name} added", new_columns[name].location, contract=new.name)
        for name in (n for n in new_columns if n in old_columns):
            self._column(new.name, old_columns[name], new_columns[name])
        for field_name in ("description", "owner"):
            if getattr(old, field_name) != getattr(new, field_name):
                self.add(SAFE, subject, f"{field_name} changed", new.location, contract=new.name)
        if old.freshness != new.freshness or old.availability != new.availability:
            tighter = _duration_minutes(new.freshness) < _duration_minutes(old.freshness)
            self.add(BREAKING if tighter else SAFE, subject, f"SLA changed to freshness {new.freshness or '-'}, availability {new.availability or '-'}", new.location, contract=new.name)
        if set(old.consumers) != set(new.consumers):
            self.add(SAFE, subject, "consumers changed", new.location, contract=new.name)

    def _column(self, contract: str, old: Column, new: Column) -> None:
        subject = f"contract {contract}.{new.name}"
        change = type_change(old.type, new.type)
        if change == "widened":
            self.add(SAFE, subject, f"type widened from {old.type} to {new.type}", new.location, contract=contract)
        elif change:
            self.add(BREAKING, subject, f"type {change} from {old.type} to {new.type}", new.location, contract=contract)
        for kind, message in _constraint_changes(old, new):
            self.add(kind, subject, message, new.location, contract=contract)
        if old.description != new.description:
            self.add(SAFE, subject, "description changed", new.location, contract=contract)

    # models ---------------------------------------------------------------
    def _models(self) -> None:
        old = {m.name: m for m in self.old.models}
        new = {m.name: m for m in self.new.models}
        renamed = self._renames(old, new)
        for name, model in old.items():
            if name in new:
                continue
            readers = self._readers(name)
            kind = BREAKING if readers else SAFE
            contract = model.contract.name if model.contract else ""
            if name in renamed:
                message = f"model {name} renamed to {renamed[name]}"
                location = new[renamed[name]].location
            else:
                message = f"model {name} removed"
                location = self._anchor(("models",))
            if readers:
                message += f" while {', '.join(readers)} read(s) it"
            self.add(kind, f"model {name}", message, location, contract=contract, model=name)
        for name, model in new.items():
            if name not in old:
                if name not in renamed.values():
                    self.add(SAFE, f"model {name}", "model added", model.location, model=name)
                continue
            self._model(old[name], model)

    def _renames(self, old: dict, new: dict) -> dict[str, str]:
        """Old name -> new name for a removed model whose SQL or Python reappears under a new name."""
        gone = [n for n in old if n not in new]
        fresh = [n for n in new if n not in old]
        renames = {}
        for name in gone:
            body = _body(old[name])
            match = next((f for f in fresh if _body(new[f]) == body and f not in renames.values()), None)
            if match:
                renames[name] = match
        return renames

    def _readers(self, name: str) -> list[str]:
        readers = [m for m in self.old.analysis.downstreams.get(name, ())]
        model = self.old.model(name)
        if model and model.contract:
            readers += [f"consumer {c}" for c in model.contract.consumers]
        return readers

    def _model(self, old, new) -> None:
        subject = f"model {new.name}"
        contract = new.contract.name if new.contract else ""
        old_engine, new_engine = self.old.analysis.engine(old.name), self.new.analysis.engine(new.name)
        if old_engine != new_engine:
            readers = self._readers(old.name)
            kind = BREAKING if readers else SAFE
            message = f"moved from {old_engine} to {new_engine}" + (f" while {', '.join(readers)} read(s) it" if readers else "")
            self.add(kind, subject, message, new.location, contract=contract, model=new.name)
        if old.grain != new.grain:
            self.add(BREAKING, subject, f"grain changed from ({', '.join(old.grain)}) to ({', '.join(new.grain)})", new.location, contract=contract, model=new.name)
        if old.kind != new.kind:
            self.add(SAFE, subject, f"kind changed from {old.kind} to {new.kind}", new.location, model=new.name)
        if _body(old) != _body(new):
            self.add(SAFE, subject, "logic changed", new.location, model=new.name)
        for field_name in ("description", "owner", "tags"):
            if getattr(old, field_name) != getattr(new, field_name):
                self.add(SAFE, subject, f"{field_name} changed", new.location, model=new.name)
        old_contract = old.contract.name if old.contract else ""
        if old_contract != contract:
            kind = BREAKING if old_contract else SAFE
            self.add(kind, subject, f"contract changed from {old_contract or 'none'} to {contract or 'none'}", new.location, contract=old_contract or contract, model=new.name)

    # environments and gateways -------------------------------------------------
    def _environments(self) -> None:
        for what, old_items, new_items, path in (
            ("environment", self.old.environments, self.new.environments, ("environments",)),
            ("gateway", self.old.gateways, self.new.gateways, ("gateways",)),
        ):
            new_names = {i.name for i in new_items}
            for item in old_items:
                if item.name not in new_names:
                    self.add(BREAKING, f"{what} {item.name}", f"{what} {item.name} removed", self._anchor(path))
            old_names = {i.name for i in old_items}
            for item in new_items:
                if item.name not in old_names:
                    self.add(SAFE, f"{what} {item.name}", f"{what} {item.name} added", self._anchor(path))

    # versions -----------------------------------------------------------------
    def _versions(self) -> None:
        old = {c.name: c.version for c in self.old.contracts}
        new = {c.name: c for c in self.new.contracts}
        for change in self.changes:
            if change.kind != BREAKING or not change.contract:
                continue
            contract = new.get(change.contract)
            before = old.get(change.contract, "")
            if contract is None or _major(contract.version) <= _major(before):
                change.acknowledged = False

    def _anchor(self, path: tuple) -> Location:
        """Where something that no longer exists was: its section in the new spec."""
        return self.new.section_locations.get(path[0], Location(self.new_file, 1, 1))


def _body(model) -> str:
    if model.sql is not None:
        return " ".join(model.sql.text.split())
    return model.entrypoint or model.seed_file


def _major(version: str) -> int:
    return int(version.split(".")[0]) if version else 0


def _duration_minutes(text: str) -> float:
    if not text:
        return float("inf")
    return int(text[:-1]) * {"m": 1, "h": 60, "d": 1440}[text[-1]]


def diff(old: Spec, new: Spec) -> list[SpecChange]:
    return _Differ(old, new).run()


def failed(changes: list[SpecChange]) -> bool:
    return any(c.kind == BREAKING and not c.acknowledged for c in changes)


