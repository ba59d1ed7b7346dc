"""The sources and the models of each layer, as SQL an analytics team would write, added to a catalog."""

from __future__ import annotations

from .catalog import Catalog, Model
from .vocabulary import DOMAINS, EDIT_FROM, EXTRAS, FOREIGN_KEYS, INTERFACE


def _sql_type(type_: str) -> str:
    return type_.upper().replace(",", ", ")


def _cast(expression: str, type_: str) -> str:
    return f"CAST({expression} AS {_sql_type(type_)})"


def _block(lines: list[str], indent: int = 4) -> str:
    """Comma-separated projection lines."""
    pad = " " * indent
    return ",\n".join(pad + line for line in lines)


def _projection(columns: list, expressions: dict, cast_all: bool) -> list[str]:
    """The final SELECT list; a contracted model CASTs every column, so its types are unambiguous."""
    out = []
    for name, type_ in columns:
        expression = expressions.get(name, name)
        if cast_all:
            out.append(f"{_cast(expression, type_)} AS {name}")
        elif expression.rpartition(".")[2] == name:
            out.append(expression)
        else:
            out.append(f"{expression} AS {name}")
    return out


def add_source(catalog: Catalog, domain: str) -> None:
    rng = catalog.rng
    k = catalog.next_number()
    noun = rng.choice(DOMAINS[domain])
    fk = rng.choice(FOREIGN_KEYS)
    extras = sorted(rng.sample(sorted(EXTRAS), rng.randrange(4)))
    columns = {
        "id": "bigint",
        "customer_id": "integer",
        fk: "integer",
        "amount": "decimal(18,2)",
        "quantity": "integer",
        "status": "varchar",
        "category": "varchar",
        "channel": "varchar",
        "created_at": "timestamp",
        "updated_at": "timestamp",
        "is_deleted": "boolean",
    }
    columns.update({e: EXTRAS[e][0] for e in extras})
    catalog.sources.append(
        {
            "name": f"raw_{domain}.{noun}_{k:04d}",
            "description": f"{noun.replace('_', ' ').capitalize()} loaded from the {domain} system.",
            "owner": "ingestion@example.com",
            "columns": columns,
        }
    )


def _staging_columns(fk: str, extras: list[str]) -> tuple[dict, dict]:
    """What each staging column is computed from, and its type."""
    expressions = {
        "record_id": "id",
        "customer_id": "customer_id",
        fk: fk,
        "event_time": "created_at",
        "event_date": "CAST(created_at AS DATE)",
        "category": "LOWER(TRIM(COALESCE(category, 'unknown')))",
        "status": "LOWER(TRIM(status))",
        "channel": "LOWER(channel)",
        "amount": "COALESCE(amount, 0)",
        "quantity": "COALESCE(quantity, 0)",
        "updated_at": "updated_at",
    }
    expressions.update({e: EXTRAS[e][1] for e in extras})
    types = dict(INTERFACE) | {fk: "integer", "channel": "varchar", "updated_at": "timestamp"}
    types.update({e: EXTRAS[e][2] for e in extras})
    if "discount" in extras:
        expressions["net_amount"] = "amount - discount"
        types["net_amount"] = "decimal(18,2)"
    return expressions, types


def add_staging(catalog: Catalog, source: dict) -> None:
    rng = catalog.rng
    k = catalog.next_number()
    schema, table = source["name"].split(".")
    domain, noun = schema.removeprefix("raw_"), table.rsplit("_", 1)[0]
    src = source["columns"]
    fk = next(c for c in FOREIGN_KEYS if c in src)
    expressions, types = _staging_columns(fk, [e for e in EXTRAS if e in src])
    columns = [(c, t) for c, t in types.items()]
    cleaned = [
        _cast(expressions[c], t) + f" AS {c}" if c in ("record_id", "amount", "quantity")
        else c if expressions[c] == c else f"{expressions[c]} AS {c}"
        for c, t in types.items()
        if c != "net_amount"
    ]
    cleaned.append("COALESCE(is_deleted, FALSE) AS is_deleted")
    has_contract = catalog.wants_contract()
    final = _projection(columns, {"net_amount": "amount - discount"}, cast_all=has_contract)
    sql = (
        f"WITH source AS (\n  SELECT *\n  FROM {source['name']}\n),\n"
        f"cleaned AS (\n  SELECT\n{_block(cleaned)}\n  FROM source\n  WHERE id IS NOT NULL\n)\n"
        f"SELECT\n{_block(final, 2)}\nFROM cleaned\nWHERE NOT is_deleted"
    )
    kind = rng.choices(["view", "incremental_by_time_range", "full"], [6, 2, 2])[0]
    spec = {
        "name": f"staging.stg_{noun}_{k:04d}",
        "description": f"Cleaned {noun.replace('_', ' ')} from {source['name']}.",
        "kind": kind,
        "layer": "staging",
        "domain": domain,
        "owner": "data-platform@example.com",
        "tags": ["staging"],
        "grain": ["record_id"],
    }
    if kind == "incremental_by_time_range":
        spec |= {"time_column": "event_date", "cron": "@hourly"}
    catalog.add(Model(spec["name"], "staging", domain, noun, columns, spec), sql, has_contract)


def _upstreams(catalog: Catalog, domain: str, count: int) -> list[Model]:
    """Staging models, or earlier intermediate models of the same domain (SQL or Python)."""
    chosen: list[Model] = []
    while len(chosen) < count:
        same_domain = catalog.rng.random() < 0.35
        candidate = catalog.pick("intermediate", domain, chosen) if same_domain else None
        candidate = candidate or catalog.pick("staging", None, chosen)
        if candidate:
            chosen.append(candidate)
    return chosen


def add_intermediate(catalog: Catalog, domain: str) -> None:
    rng = catalog.rng
    k = catalog.next_number()
    base, *others = _upstreams(catalog, domain, rng.choice([2, 2, 3]))
    noun = base.noun
    ctes = [
        f"base AS (\n  SELECT\n{_block([c for c, _ in INTERFACE])}\n  FROM {base.name}\n"
        f"  WHERE status <> 'cancelled'\n)"
    ]
    columns = list(INTERFACE)
    expressions = {c: f"b.{c}" for c, _ in INTERFACE}
    joins = []
    for i, other in enumerate(others, 1):
        alias = f"{other.noun}_{i}"
        ctes.append(
            f"{alias} AS (\n  SELECT\n    customer_id,\n    COUNT(*) AS record_count,\n"
            f"    SUM(amount) AS total_amount,\n    MAX(event_date) AS last_event_date\n"
            f"  FROM {other.name}\n  GROUP BY customer_id\n)"
        )
        joins.append(f"LEFT JOIN {alias} AS u{i}\n  ON u{i}.customer_id = b.customer_id")
        columns += [(f"{alias}_count", "integer"), (f"{alias}_amount", "decimal(18,2)"), (f"{alias}_last_date", "date")]
        expressions |= {
            f"{alias}_count": f"COALESCE(u{i}.record_count, 0)",
            f"{alias}_amount": f"COALESCE(u{i}.total_amount, 0)",
            f"{alias}_last_date": f"u{i}.last_event_date",
        }
    columns.append(("value_band", "varchar"))
    band = "CASE\n    WHEN b.amount >= 1000 THEN 'high'\n    WHEN b.amount >= 100 THEN 'medium'\n    ELSE 'low'\n  END"
    expressions["value_band"] = band
    has_contract = catalog.wants_contract()
    projection = _projection(columns, expressions, cast_all=has_contract)
    sql = "WITH " + ",\n".join(ctes) + f"\nSELECT\n{_block(projection, 2)}\nFROM base AS b\n" + "\n".join(joins)
    kind = rng.choices(["full", "incremental_by_unique_key", "view"], [6, 3, 1])[0]
    spec = {
        "name": f"int_{domain}.{noun}_enriched_{k:04d}",
        "description": f"{noun.replace('_', ' ').capitalize()} of {base.name} enriched with customer roll-ups.",
        "kind": kind,
        "layer": "intermediate",
        "domain": domain,
        "owner": catalog.owner(),
        "tags": [domain],
        "grain": ["record_id"],
        "attributes": {"monthly_cost_usd": rng.randrange(10, 2000)},
    }
    if kind == "incremental_by_unique_key":
        spec["unique_key"] = "record_id"
    catalog.add(Model(spec["name"], "intermediate", domain, noun, columns, spec), sql, has_contract)


def add_python(catalog: Catalog, domain: str) -> None:
    rng = catalog.rng
    k = catalog.next_number()
    upstreams = _upstreams(catalog, domain, rng.choice([1, 2]))
    noun = rng.choice(DOMAINS[domain])
    name = f"int_{domain}.{noun}_scores_{k:04d}"
    module = f"{noun}_scores_{k:04d}"
    columns = INTERFACE + [("score", "double")]
    spec = {
        "name": name,
        "description": f"Anomaly score of each {noun.replace('_', ' ')} record against its customer's mean amount.",
        "python": {"entrypoint": f"pipelines.{module}:predict"},
        "depends_on": [m.name for m in upstreams],
        "kind": "full",
        "layer": "intermediate",
        "domain": domain,
        "owner": "data-science@example.com",
        "tags": ["ml", domain],
        "grain": ["record_id"],
        "contract": {"columns": {c: t for c, t in columns}},
    }
    catalog.files["pipelines/__init__.py"] = '"""Python models of the benchmark spec."""\n'
    catalog.files[f"pipelines/{module}.py"] = _python_module(name, [m.name for m in upstreams])
    catalog.register(Model(name, "intermediate", domain, noun, columns, spec))


_MART_COLUMNS = [
    ("record_count", "bigint"),
    ("distinct_records", "bigint"),
    ("total_amount", "decimal(18,2)"),
    ("total_quantity", "bigint"),
    ("avg_amount", "double"),
]
_MART_AGGREGATES = [
    "COUNT(*) AS record_count",
    "COUNT(DISTINCT record_id) AS distinct_records",
    "SUM(amount) AS total_amount",
    "SUM(quantity) AS total_quantity",
    "AVG(amount) AS avg_amount",
]


def _windows(by_customer: bool, dim: str) -> dict[str, tuple[str, str]]:
    """Ranks of customers, or trends along the days of each category or status: name -> (type, SQL)."""
    if by_customer:
        return {
            "amount_rank": ("integer", "RANK() OVER (ORDER BY g.total_amount DESC)"),
            "amount_decile": ("integer", "NTILE(10) OVER (ORDER BY g.total_amount)"),
            "amount_percentile": ("double", "PERCENT_RANK() OVER (ORDER BY g.total_amount)"),
        }
    part = f"PARTITION BY g.{dim} ORDER BY g.event_date"
    return {
        "running_amount": ("decimal(18,2)", f"SUM(g.total_amount) OVER ({part} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"),
        "amount_7d_avg": ("double", f"AVG(g.total_amount) OVER ({part} ROWS BETWEEN 6 PRECEDING AND CURRENT ROW)"),
        "amount_change": ("decimal(18,2)", f"g.total_amount - LAG(g.total_amount) OVER ({part})"),
        "daily_rank": ("integer", "RANK() OVER (PARTITION BY g.event_date ORDER BY g.total_amount DESC)"),
    }


def add_mart(catalog: Catalog, domain: str) -> None:
    rng = catalog.rng
    k = catalog.next_number()
    pool_layer = "intermediate" if rng.random() < 0.8 else "staging"
    main = catalog.pick(pool_layer, domain if rng.random() < 0.5 else None) or catalog.pick("staging")
    second = catalog.pick("intermediate", None, [main]) if rng.random() < 0.5 else None
    by_customer = rng.random() < 0.35
    dim = rng.choice(["category", "status"])
    keys = ["customer_id"] if by_customer else ["event_date", dim]
    metric = rng.choice(["revenue", "volume", "activity", "performance"])
    ctes = [
        f"grouped AS (\n  SELECT\n{_block(keys + _MART_AGGREGATES)}\n  FROM {main.name}\n"
        f"  WHERE status <> 'cancelled'\n  GROUP BY {', '.join(keys)}\n)"
    ]
    columns = [(c, dict(INTERFACE)[c]) for c in keys] + _MART_COLUMNS
    expressions = {c: f"g.{c}" for c, _ in columns}
    join = ""
    if second:
        on = keys[0]
        ctes.append(
            f"related AS (\n  SELECT\n    {on},\n    SUM(amount) AS related_amount\n"
            f"  FROM {second.name}\n  GROUP BY {on}\n)"
        )
        join = f"LEFT JOIN related AS r\n  ON r.{on} = g.{on}\n"
        columns.append(("related_amount", "decimal(18,2)"))
        expressions["related_amount"] = "COALESCE(r.related_amount, 0)"
    for name, (type_, expression) in _windows(by_customer, dim).items():
        columns.append((name, type_))
        expressions[name] = expression
    projection = _projection(columns, expressions, cast_all=True)  # published: always typed
    has_contract = catalog.wants_contract()
    sql = (
        "WITH " + ",\n".join(ctes) + f"\nSELECT\n{_block(projection, 2)}\nFROM grouped AS g\n{join}"
        f"WHERE g.{EDIT_FROM}"
    )
    certified = rng.random() < 0.25
    grain = "customer" if by_customer else f"day_{dim}"
    spec = {
        "name": f"marts.{domain}_{metric}_by_{grain}_{k:04d}",
        "description": f"{metric.capitalize()} of {main.name} per {grain.replace('_', ' and ')}, with trends and ranks.",
        "kind": rng.choices(["full", "view"], [4, 1])[0],
        "layer": "marts",
        "domain": domain,
        "owner": catalog.owner(),
        "tags": ["certified", "bi"] if certified else ["bi"],
        "grain": keys,
        "attributes": {"complexity": rng.randrange(1, 10)},
    }
    catalog.add(Model(spec["name"], "marts", domain, metric, columns, spec), sql, has_contract)


_PYTHON_MODULE = '''"""{name}: how far each record's amount is from its customer's mean (a meshgen Python model).

Called as ``predict(inputs)``; ``inputs.table(name)`` returns an upstream listed
in ``depends_on`` as a pandas DataFrame. Deterministic.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = {columns!r}
DTYPES = {dtypes!r}


def predict(inputs) -> pd.DataFrame:
    frame = inputs.table("{first}")
    if frame.empty:
        return pd.DataFrame({{c: pd.Series(dtype=DTYPES[c]) for c in COLUMNS}})[COLUMNS]
    frame = frame[COLUMNS[:-1]].copy()
    amount = frame["amount"].astype("float64")
    mean = amount.groupby(frame["customer_id"]).transform("mean")
    frame["score"] = ((amount - mean).abs() / mean.where(mean > 0)).fillna(0.0)
{related}    return frame[COLUMNS].sort_values("record_id").reset_index(drop=True)
'''
_RELATED = '''    related = inputs.table("{second}")
    counts = related.groupby("customer_id").size().rename("related_count")
    frame = frame.join(counts, on="customer_id")
    frame["score"] = frame["score"] * (1 + frame["related_count"].fillna(0).clip(upper=10) / 10)
    frame = frame.drop(columns="related_count")
'''


def _python_module(name: str, upstreams: list[str]) -> str:
    pandas = {"bigint": "int64", "integer": "Int32", "date": "object", "timestamp": "datetime64[ns]",
              "varchar": "object", "decimal(18,2)": "float64", "double": "float64"}
    columns = INTERFACE + [("score", "double")]
    related = _RELATED.format(second=upstreams[1]) if len(upstreams) > 1 else ""
    return _PYTHON_MODULE.format(
        name=name,
        columns=[c for c, _ in columns],
        dtypes={c: pandas[t] for c, t in columns},
        first=upstreams[0],
        related=related,
    )
