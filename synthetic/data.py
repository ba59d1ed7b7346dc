"""Raw rows for the sources of a generated spec, and the same sources a day later, so it can run for real."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from .vocabulary import DEFAULT_SEED

_STATUSES = ["complete", "complete", "pending", "cancelled", "COMPLETE"]
_CATEGORIES = ["alpha", "beta", "gamma", None]
_CHANNELS = ["web", "store", "app"]
_TEXT_EXTRAS = {"currency": [" eur", "usd ", "GBP"], "country_code": ["de", "fr", None], "priority": ["HIGH", None, "low"], "region": [" North", "south "]}


def raw_data(spec: dict, seed: int = DEFAULT_SEED, rows: int = 60, until: str = "2024-04-01") -> dict[str, list[dict]]:
    """Deterministic rows for every source of a generated spec, created in the 30 days before `until`."""
    rng = random.Random(f"meshgen-bench-data:{seed}")
    end = datetime.fromisoformat(until)
    data = {}
    for source in spec["sources"]:
        table = []
        for i in range(1, rows + 1):
            created = end - timedelta(minutes=rng.randint(1, 30 * 24 * 60))
            table.append({column: _value(rng, column, type_, i, created) for column, type_ in source["columns"].items()})
        data[source["name"]] = table
    return data


def next_day(spec: dict, data: dict[str, list[dict]], day: str = "2024-04-01", seed: int = DEFAULT_SEED) -> dict[str, list[dict]]:
    """The sources one day later: new rows on `day`, and one late row of the day before in each source."""
    rng = random.Random(f"meshgen-bench-next:{seed}")
    start = datetime.fromisoformat(day)
    columns = {s["name"]: s["columns"] for s in spec["sources"]}
    result = {}
    for name, rows in data.items():
        last = max(r["id"] for r in rows)
        new = []
        for i in range(1, 6):
            created = start + timedelta(minutes=rng.randint(0, 24 * 60 - 1)) if i > 1 else start - timedelta(hours=10)
            new.append({c: _value(rng, c, t, last + i, created) for c, t in columns[name].items()})
        result[name] = rows + new
    return result


def _value(rng: random.Random, column: str, type_: str, i: int, created: datetime):
    if column == "id":
        return i
    if column == "customer_id":
        return rng.randint(1, 25)
    if column == "created_at":
        return created
    if column == "updated_at":
        return created + timedelta(hours=rng.randint(0, 5))
    if column == "status":
        return rng.choice(_STATUSES)
    if column == "category":
        return rng.choice(_CATEGORIES)
    if column == "channel":
        return rng.choice(_CHANNELS)
    if column in _TEXT_EXTRAS:
        return rng.choice(_TEXT_EXTRAS[column])
    if type_ == "boolean":
        return rng.random() < 0.1
    if type_.startswith("decimal"):
        return Decimal(rng.randint(-500, 500000)) / 100 if rng.random() > 0.05 else None
    if type_ == "double":
        return round(rng.random() * 100, 3)
    return rng.randint(1, 40)  # integers: quantities, foreign keys
