"""The spec under construction: its models, sources, contracts and files, and how a model joins it."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .vocabulary import TEAMS


@dataclass(eq=False)
class Model:
    name: str
    layer: str
    domain: str
    noun: str
    columns: list  # [(name, type)] the SQL outputs
    spec: dict


class Catalog:
    """Everything generated so far, and the one random stream every choice is drawn from, in order."""

    def __init__(self, models: int, seed: int):
        self.rng = random.Random(f"meshgen-bench:{models}:{seed}")
        self.models: list[Model] = []
        self.pools: dict[tuple[str, str | None], list[Model]] = {}  # (layer, domain or None) -> models
        self.sources: list[dict] = []
        self.contracts: dict[str, dict] = {}
        self.files: dict[str, str] = {}
        self.counter = 0

    def next_number(self) -> int:
        self.counter += 1
        return self.counter

    def owner(self) -> str:
        return f"{self.rng.choice(TEAMS)}@example.com"

    def pick(self, layer: str, domain: str | None = None, exclude=()) -> Model | None:
        pool = self.pools.get((layer, domain), [])
        for _ in range(5):  # prefer recent models a little: real DAGs are local
            model = pool[min(len(pool) - 1, int(len(pool) * (1 - self.rng.random() ** 2)))] if pool else None
            if model is None or model not in exclude:
                return model
        return None

    def register(self, model: Model) -> None:
        self.models.append(model)
        for key in ((model.layer, None), (model.layer, model.domain)):
            self.pools.setdefault(key, []).append(model)

    def wants_contract(self) -> bool:
        return self.rng.random() < 0.32

    def add(self, model: Model, sql: str, has_contract: bool) -> None:
        """A SQL model, with its contract if it has one, its SQL inline or (now and then) in a file."""
        lines = sql.count("\n") + 1
        assert 15 <= lines <= 60, (model.name, lines)
        if has_contract:
            self._contract_of(model)
        if self.rng.random() < 0.15:
            schema, table = model.name.split(".")
            path = f"sql/{schema}/{table}.sql"
            self.files[path] = sql + "\n"
            model.spec["sql_file"] = path
        else:
            model.spec["sql"] = sql + "\n"
        self.register(model)

    def _contract_of(self, model: Model) -> None:
        """Marts publish a named contract with an SLA and consumers; other models carry theirs inline."""
        columns = {name: type_ for name, type_ in model.columns}
        if model.layer != "marts":
            columns["record_id"] = {"type": "bigint", "constraints": ["not_null"]}
            model.spec["contract"] = {"columns": columns}
            return
        self.contracts[model.name.split(".")[1]] = {
            "version": f"1.{self.rng.randrange(5)}.0",
            "description": f"Published metrics of {model.name}.",
            "owner": model.spec["owner"],
            "columns": {
                name: {"type": t, "constraints": ["not_null"]} if i < 2 else t
                for i, (name, t) in enumerate(columns.items())
            },
            "sla": {"freshness": self.rng.choice(["1h", "6h", "24h"])},
            "consumers": sorted(self.rng.sample(["bi_dashboards", "finance_reporting", "exec_pack", "crm"], 2)),
        }
        model.spec["contract"] = model.name.split(".")[1]
